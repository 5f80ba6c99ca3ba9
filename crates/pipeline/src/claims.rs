//! A spec's `[[claim]]`s checked against its table: each claim's aggregate(s) computed from the
//! rows it selects, compared, and recorded with both numbers in `claims.toml` beside the table, so
//! a figure's claims are data a reviewer can read and rerun (`gentk run --check`, `gentk check`)
//! instead of numbers typed into notes.

use std::collections::BTreeMap;

use gentk_report::Row;
use gentk_report::table::{Cell, Table};
use gentk_spec::locate::{KeyPath, Seg};
use gentk_spec::{Bound, Claim, Comparison, Invalid, Plan, Quantity, Select, Sql};
use serde::{Deserialize, Serialize};

/// The outcome of one claim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClaimResult {
    /// The claim's id (what the notes quote it by).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The sentence.
    pub says: String,
    /// Whether it holds (for every group when `per` is set).
    pub holds: bool,
    /// The compared value (at the deciding group: the first that fails, else the tightest).
    pub value: f64,
    /// The comparison.
    pub is: String,
    /// The bound it was compared with, at the same group.
    pub than: f64,
    /// The deciding group: `column = value` with `per`, a SQL query's group label (absent without
    /// groups).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// Groups checked (1 without `per`).
    pub groups: usize,
    /// Why it could not be evaluated (a selection without rows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl std::fmt::Display for ClaimResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} \"{}\": {} {} {}{}",
            if self.holds { "holds" } else { "FAILS" },
            self.says,
            fmt_num(self.value),
            self.is,
            fmt_num(self.than),
            self.at.as_ref().map_or(String::new(), |g| format!(
                " (at {g}, {} groups)",
                self.groups
            ))
        )?;
        if let Some(p) = &self.problem {
            write!(f, " — {p}")?;
        }
        Ok(())
    }
}

/// A number as claims print it (full precision, short where possible).
pub fn fmt_num(v: f64) -> String {
    Cell::F(Some(v)).to_string()
}

/// The claims file of a result folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClaimsFile {
    /// One entry per `[[claim]]`, in spec order.
    #[serde(default, rename = "claim")]
    pub claims: Vec<ClaimResult>,
}

/// Whether a table cell equals a spec value (numbers by value, text by text).
fn cell_is(cell: &Cell, v: &toml::Value) -> bool {
    let num = match v {
        toml::Value::Float(x) => Some(*x),
        toml::Value::Integer(i) => Some(*i as f64),
        _ => None,
    };
    match (cell, num, v) {
        (Cell::F(Some(a)), Some(b), _) => *a == b,
        (Cell::I(Some(a)), Some(b), _) => *a as f64 == b,
        (Cell::S(Some(a)), _, toml::Value::String(b)) => a == b,
        (Cell::S(Some(a)), _, toml::Value::Boolean(b)) => a == &b.to_string(),
        (Cell::B(Some(a)), _, toml::Value::Boolean(b)) => a == b,
        (c, _, other) => c.to_string() == other.to_string(),
    }
}

fn number(cell: &Cell) -> Option<f64> {
    match cell {
        Cell::F(v) => *v,
        Cell::I(v) => v.map(|i| i as f64),
        Cell::S(_) | Cell::B(_) => None,
    }
}

/// Why one side of a claim cannot be evaluated on a table (recorded as the claim's `problem`).
#[derive(Debug, thiserror::Error)]
enum SideError {
    /// A column the claim names is not in the table.
    #[error("the table has no column `{0}`")]
    NoColumn(String),
    /// The selection keeps no row.
    #[error("measure `{0}` selects no rows")]
    NoRows(String),
    /// The SQL failed.
    #[error("SQL: {0}")]
    Sql(#[from] gentk_report::query::QueryError),
    /// The SQL's result is not reproducible.
    #[error(
        "the SQL query's result changes between evaluations (a sum over a grouped subquery follows hash order: end the subquery with ORDER BY)"
    )]
    Unstable,
    /// The SQL returned nothing.
    #[error("the SQL query returns no rows")]
    SqlNoRows,
    /// The SQL returned a group twice.
    #[error("the SQL query returns group `{0}` twice (one row per group)")]
    DuplicateGroup(String),
}

/// The values a selection keeps, by group (one group `""` without `per`).
fn selected(
    t: &Table,
    s: &Select,
    per: Option<usize>,
) -> Result<BTreeMap<String, Vec<f64>>, SideError> {
    let col = |name: &str| {
        t.columns
            .iter()
            .position(|c| c == name)
            .ok_or_else(|| SideError::NoColumn(name.to_string()))
    };
    let (mi, vi) = (col("measure")?, col("value")?);
    let filters: Vec<(usize, &toml::Value)> = s
        .filter
        .iter()
        .map(|(c, v)| Ok((col(c)?, v)))
        .collect::<Result<_, SideError>>()?;
    let mut out: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for r in &t.rows {
        let is_measure = matches!(&r[mi], Cell::S(Some(m)) if *m == s.measure);
        if is_measure && filters.iter().all(|(i, v)| cell_is(&r[*i], v)) {
            let g = per.map_or(String::new(), |p| r[p].to_string());
            let entry = out.entry(g).or_default();
            if let Some(x) = number(&r[vi]).filter(|x| !x.is_nan()) {
                entry.push(x);
            }
        }
    }
    Ok(out)
}

/// Margin by which `a is b` holds (negative: fails); the deciding group has the least margin.
fn margin(is: Comparison, a: f64, b: f64, tol: f64) -> f64 {
    match is {
        Comparison::Lt | Comparison::Le => b + tol - a,
        Comparison::Gt | Comparison::Ge => a - (b - tol),
        Comparison::Eq => tol - (a - b).abs(),
    }
}

/// One side of a claim as a number per group (`""` alone without groups); `None` where the
/// aggregate does not exist.
fn side(
    t: &Table,
    q: Side<'_>,
    per: Option<usize>,
) -> Result<BTreeMap<String, Option<f64>>, SideError> {
    match q {
        Side::Select(s) => {
            let groups = selected(t, s, per)?;
            if groups.is_empty() {
                return Err(SideError::NoRows(s.measure.clone()));
            }
            Ok(groups
                .into_iter()
                .map(|(g, v)| (g, s.aggregate.of(&v)))
                .collect())
        }
        Side::Sql(q) => {
            let run = || gentk_report::query::query(t, &q.sql);
            let rows = run()?;
            // Polars aggregates groups in hash order, which changes between evaluations; a sum
            // over a grouped subquery then differs in its last bits. Such a claim could never be
            // byte-identical, so it is refused rather than recorded.
            for _ in 0..2 {
                let again = run()?;
                let same = again.len() == rows.len()
                    && again
                        .iter()
                        .zip(&rows)
                        .all(|(a, b)| a.group == b.group && a.value.to_bits() == b.value.to_bits());
                if !same {
                    return Err(SideError::Unstable);
                }
            }
            if rows.is_empty() {
                return Err(SideError::SqlNoRows);
            }
            let mut out = BTreeMap::new();
            for r in rows {
                if out.contains_key(&r.group) {
                    return Err(SideError::DuplicateGroup(r.group));
                }
                out.insert(r.group, Some(r.value).filter(|v| !v.is_nan()));
            }
            Ok(out)
        }
    }
}

/// A side of a claim that reads the table.
#[derive(Clone, Copy)]
enum Side<'a> {
    Select(&'a Select),
    Sql(&'a Sql),
}

/// Evaluates one claim on a table.
pub fn evaluate(c: &Claim, t: &Table) -> ClaimResult {
    let mut r = ClaimResult {
        id: c.id.clone(),
        says: c.says.clone(),
        holds: false,
        value: f64::NAN,
        is: c.is.symbol().to_string(),
        than: f64::NAN,
        at: None,
        groups: 0,
        problem: None,
    };
    let per = match &c.per {
        None => None,
        Some(p) => match t.columns.iter().position(|x| x == p) {
            Some(i) => Some(i),
            None => {
                r.problem = Some(format!("the table has no column `{p}`"));
                return r;
            }
        },
    };
    let lhs_side = match &c.value {
        Quantity::Select(s) => Side::Select(s),
        Quantity::Sql(q) => Side::Sql(q),
    };
    let lhs = match side(t, lhs_side, per) {
        Ok(v) => v,
        Err(e) => {
            r.problem = Some(e.to_string());
            return r;
        }
    };
    let rhs = match &c.than {
        Bound::Number(_) => None,
        Bound::Select(s) => Some(side(t, Side::Select(s), per)),
        Bound::Sql(q) => Some(side(t, Side::Sql(q), None)),
    };
    let rhs = match rhs.transpose() {
        Ok(v) => v,
        Err(e) => {
            r.problem = Some(e.to_string());
            return r;
        }
    };
    let grouped = lhs.len() > 1 || lhs.keys().any(|g| !g.is_empty());
    // (margin, holds, value, bound, group) per group.
    let mut checked: Vec<(f64, bool, f64, f64, &String)> = Vec::new();
    for (g, a) in &lhs {
        let b = match (&c.than, &rhs) {
            (Bound::Number(x), _) => Some(*x),
            // A bound without groups applies to every group of the value.
            (_, Some(map)) => map.get(g).or_else(|| map.get("")).copied().flatten(),
            _ => None,
        };
        let (Some(a), Some(b)) = (*a, b) else {
            r.problem = Some(format!(
                "no value to compare{}",
                if g.is_empty() {
                    String::new()
                } else {
                    format!(" at {g}")
                }
            ));
            return r;
        };
        checked.push((margin(c.is, a, b, c.tol), c.is.holds(a, b, c.tol), a, b, g));
    }
    let holds = checked.iter().all(|x| x.1);
    let Some(&(_, _, a, b, g)) = checked
        .iter()
        .find(|x| !x.1)
        .or_else(|| checked.iter().min_by(|x, y| x.0.total_cmp(&y.0)))
    else {
        r.problem = Some("no group to compare".into());
        return r;
    };
    r.holds = holds;
    r.value = a;
    r.than = b;
    r.groups = lhs.len();
    r.at = match (&c.per, grouped) {
        (Some(p), _) => Some(format!("{p} = {g}")),
        (None, true) => Some(g.clone()),
        (None, false) => None,
    };
    r
}

/// A table shaped like the one `plan` will produce (its sweep columns typed as the writer types
/// them, every row column, one row per point and measure) with placeholder values: what the SQL
/// of the claims is checked against before anything is computed.
fn table_like(plan: &Plan) -> Result<Table, TableLikeError> {
    let rows: Vec<(Vec<toml::Value>, Row)> = plan
        .points
        .iter()
        .flat_map(|p| {
            let values: Vec<toml::Value> = p.point.values.iter().map(|(_, v)| v.clone()).collect();
            plan.spec.measures.iter().map(move |m| {
                let row = Row {
                    measure: m.name.clone(),
                    operator: m.operator.as_str().into(),
                    statistic: m.statistic.as_str().into(),
                    index: Some(0),
                    iteration: Some(0),
                    value: 1.0,
                    stderr: Some(0.0),
                    matvecs: 0,
                    estimator: m.estimator.as_str().into(),
                    budget: Some(0),
                    ptrace_variant: m.variant.as_str().into(),
                    seed: 0,
                    trial: Some(0),
                    step: Some(0),
                    rerun: Some(0),
                    tolerance: Some(0.0),
                };
                (values.clone(), row)
            })
        })
        .collect();
    // The writer's own frame, so the sweep columns are typed exactly as in the real table.
    let df = gentk_report::table::frame(&plan.sweep_keys(), &rows)?;
    Ok(gentk_report::table::of_frame(&df)?)
}

/// Why the validation table of a plan could not be formed.
#[derive(Debug, thiserror::Error)]
enum TableLikeError {
    /// The table writer's frame failed.
    #[error("{0}")]
    Frame(#[from] gentk_report::table::PolarsError),
    /// The frame could not be read back as cells.
    #[error("{0}")]
    Cells(#[from] gentk_report::table::FrameError),
}

/// Runs every SQL query of the plan's claims on a table of its shape, so a misspelt column or a
/// syntax error is a located error at `gentk validate`, not a failed claim after the run.
pub fn check_queries(plan: &Plan) -> Result<(), Invalid> {
    let t = table_like(plan).map_err(|e| {
        Invalid::new(
            KeyPath(vec![Seg::Key("claim".into())]),
            format!("the table the claims read could not be formed: {e}"),
        )
    })?;
    for (i, c) in plan.spec.claims.iter().enumerate() {
        let than_sql = match &c.than {
            Bound::Sql(q) => Some(q),
            _ => None,
        };
        let value_sql = match &c.value {
            Quantity::Sql(q) => Some(q),
            Quantity::Select(_) => None,
        };
        for (field, q) in [("value", value_sql), ("than", than_sql)] {
            let Some(q) = q else { continue };
            if let Err(e) = gentk_report::query::query(&t, &q.sql) {
                return Err(Invalid::new(
                    KeyPath(vec![
                        Seg::Key("claim".into()),
                        Seg::Index(i),
                        Seg::Key(field.into()),
                        Seg::Key("sql".into()),
                    ]),
                    format!("claim `{}`: {e}", c.says),
                ));
            }
        }
    }
    Ok(())
}

/// Evaluates every claim of a spec.
pub fn evaluate_all(claims: &[Claim], t: &Table) -> Vec<ClaimResult> {
    claims.iter().map(|c| evaluate(c, t)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        let row = |m: &str, g: f64, v: f64| {
            vec![Cell::F(Some(g)), Cell::S(Some(m.into())), Cell::F(Some(v))]
        };
        Table {
            columns: vec!["model.gain".into(), "measure".into(), "value".into()],
            rows: vec![
                row("a", 0.5, 1.0),
                row("a", 0.5, 3.0),
                row("a", 1.5, 2.0),
                row("b", 0.5, 2.5),
                row("b", 1.5, 1.5),
            ],
        }
    }

    fn claim(text: &str) -> Claim {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn aggregates_groups_and_the_deciding_numbers() {
        let t = table();
        // Without groups: max of a = 3 < 4.
        let r = evaluate(
            &claim(
                "says = \"s\"\nvalue = { measure = \"a\", aggregate = \"max\" }\nis = \"<\"\nthan = 4",
            ),
            &t,
        );
        assert!(
            r.holds && r.value == 3.0 && r.than == 4.0 && r.groups == 1,
            "{r}"
        );
        // Per gain: median(a) vs min(b): 2 < 2.5 at 0.5 holds, 2 < 1.5 at 1.5 fails → reported.
        let r = evaluate(
            &claim(
                "says = \"s\"\nvalue = { measure = \"a\", aggregate = \"median\" }\nis = \"<\"\nthan = { measure = \"b\", aggregate = \"min\" }\nper = \"model.gain\"",
            ),
            &t,
        );
        assert!(!r.holds, "{r}");
        assert_eq!(
            (r.value, r.than, r.at.as_deref()),
            (2.0, 1.5, Some("model.gain = 1.5"))
        );
        // A filter on a sweep column, count and ==.
        let r = evaluate(
            &claim(
                "says = \"s\"\nvalue = { measure = \"a\", aggregate = \"count\", where = { \"model.gain\" = 0.5 } }\nis = \"==\"\nthan = 2",
            ),
            &t,
        );
        assert!(r.holds, "{r}");
        // Modes to a fraction of the sum: b's values 2.5, 1.5 reach 60 % with the largest alone.
        let r = evaluate(
            &claim(
                "says = \"s\"\nvalue = { measure = \"b\", aggregate = { modes_to = 0.6 } }\nis = \"==\"\nthan = 1",
            ),
            &t,
        );
        assert!(r.holds && r.value == 1.0, "{r}");
        // A measure that selects nothing is a failure with a reason, never a pass.
        let r = evaluate(
            &claim(
                "says = \"s\"\nvalue = { measure = \"zz\", aggregate = \"max\" }\nis = \"<\"\nthan = 1",
            ),
            &t,
        );
        assert!(!r.holds && r.problem.is_some(), "{r}");
    }
}
