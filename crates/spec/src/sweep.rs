//! Sweep expansion: grid axes combine as a Cartesian product (first key slowest), zipped axes advance
//! together as one more factor; generators (`linspace`, `logspace`, `int`) expand to lists. Each
//! point is a list of (dotted key path, value) overrides applied to the resolved spec.

use crate::error::Invalid;
use crate::locate::KeyPath;
use crate::schema::{Axis, Sweep};

/// One sweep point.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Position in the expansion order.
    pub index: usize,
    /// (key path, value) in axis order.
    pub values: Vec<(String, toml::Value)>,
}

impl Point {
    /// `key=value, …` for messages.
    pub fn label(&self) -> String {
        if self.values.is_empty() {
            return "single point".into();
        }
        self.values
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The values of one axis, or an error message naming it.
pub fn axis_values(key: &str, axis: &Axis) -> Result<Vec<toml::Value>, Invalid> {
    let at = |m: String| Invalid::new(KeyPath::keys(["sweep", "grid", key]), m);
    let vals = match axis {
        Axis::List(v) => v.clone(),
        Axis::Gen(g) => {
            let (spec, log) = match (g.linspace, g.logspace) {
                (Some(s), None) => (s, false),
                (None, Some(s)) => (s, true),
                _ => {
                    return Err(at(format!(
                        "sweep axis `{key}` needs exactly one of `linspace` or `logspace`"
                    )));
                }
            };
            let (a, b, n) = spec;
            if n == 0 || !a.is_finite() || !b.is_finite() {
                return Err(at(format!(
                    "sweep axis `{key}`: need finite bounds and a count ≥ 1"
                )));
            }
            (0..n)
                .map(|i| {
                    let f = if n == 1 {
                        a
                    } else {
                        a + (b - a) * i as f64 / (n - 1) as f64
                    };
                    let v = if log { 10f64.powf(f) } else { f };
                    if g.int {
                        toml::Value::Integer(v.round() as i64)
                    } else {
                        toml::Value::Float(v)
                    }
                })
                .collect()
        }
    };
    if vals.is_empty() {
        return Err(at(format!("sweep axis `{key}` is empty")));
    }
    if let Some(v) = vals
        .iter()
        .find(|v| matches!(v, toml::Value::Float(f) if !f.is_finite()))
    {
        return Err(at(format!("sweep axis `{key}`: value {v} is not finite")));
    }
    Ok(vals)
}

/// How many values an axis has, without generating them.
fn axis_len(axis: &Axis) -> usize {
    match axis {
        Axis::List(v) => v.len(),
        Axis::Gen(g) => g.linspace.or(g.logspace).map_or(0, |(_, _, n)| n),
    }
}

/// The number of points a sweep expands to, counted without expanding it (`None` on overflow).
pub fn count(sweep: &Sweep) -> Option<usize> {
    let zip = sweep.zip.values().map(axis_len).max();
    sweep
        .grid
        .values()
        .map(axis_len)
        .chain(zip)
        .try_fold(1usize, |acc, n| acc.checked_mul(n))
}

/// Expands a sweep into points (one point when there are no axes); refuses, before generating
/// anything, a sweep of more than `max_points` points.
pub fn expand(sweep: &Sweep, max_points: usize) -> Result<Vec<Point>, Invalid> {
    let first = sweep
        .grid
        .keys()
        .next()
        .map(|k| KeyPath::keys(["sweep", "grid", k.as_str()]))
        .or_else(|| {
            sweep
                .zip
                .keys()
                .next()
                .map(|k| KeyPath::keys(["sweep", "zip", k.as_str()]))
        })
        .unwrap_or_else(|| KeyPath::keys(["sweep"]));
    match count(sweep) {
        Some(n) if n <= max_points => {}
        n => {
            let sizes: Vec<String> = sweep
                .grid
                .iter()
                .chain(&sweep.zip)
                .map(|(k, a)| format!("{k}: {}", axis_len(a)))
                .collect();
            return Err(Invalid::new(
                first,
                format!(
                    "the sweep has {} points ({}), above the limit {max_points}; raise it with --max-points",
                    n.map_or("more than 2^64".to_string(), |n| n.to_string()),
                    sizes.join(", ")
                ),
            ));
        }
    }
    let mut factors: Vec<Vec<Vec<(String, toml::Value)>>> = Vec::new();
    for (k, a) in &sweep.grid {
        factors.push(
            axis_values(k, a)?
                .into_iter()
                .map(|v| vec![(k.clone(), v)])
                .collect(),
        );
    }
    if !sweep.zip.is_empty() {
        let cols: Vec<(String, Vec<toml::Value>)> = sweep
            .zip
            .iter()
            .map(|(k, a)| Ok((k.clone(), axis_values(k, a)?)))
            .collect::<Result<_, Invalid>>()?;
        let n = cols[0].1.len();
        if let Some((k, v)) = cols.iter().find(|(_, v)| v.len() != n) {
            return Err(Invalid::new(
                KeyPath::keys(["sweep", "zip", k.as_str()]),
                format!(
                    "zipped axes must have equal lengths: `{}` has {n}, `{k}` has {}",
                    cols[0].0,
                    v.len()
                ),
            ));
        }
        factors.push(
            (0..n)
                .map(|i| {
                    cols.iter()
                        .map(|(k, v)| (k.clone(), v[i].clone()))
                        .collect()
                })
                .collect(),
        );
    }
    let mut points = vec![Vec::new()];
    for f in &factors {
        let mut next = Vec::with_capacity(points.len() * f.len());
        for p in &points {
            for choice in f {
                let mut q: Vec<(String, toml::Value)> = p.clone();
                q.extend(choice.iter().cloned());
                next.push(q);
            }
        }
        points = next;
    }
    Ok(points
        .into_iter()
        .enumerate()
        .map(|(index, values)| Point { index, values })
        .collect())
}

/// Sets `value` at a dotted path in a TOML table (creating tables on the way).
pub fn set_path(table: &mut toml::Table, path: &str, value: toml::Value) -> Result<(), Invalid> {
    let at = |m: String| Invalid::new(KeyPath::keys(["sweep", "grid", path]), m);
    let mut parts: Vec<&str> = path.split('.').collect();
    let last = parts.pop().ok_or_else(|| at("empty sweep key".into()))?;
    let mut cur = table;
    for p in parts {
        let entry = cur
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = entry
            .as_table_mut()
            .ok_or_else(|| at(format!("sweep key `{path}`: `{p}` is not a table")))?;
    }
    cur.insert(last.to_string(), value);
    Ok(())
}
