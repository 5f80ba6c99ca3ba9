//! Result tables: rows → a polars DataFrame with self-describing columns → Parquet (zstd, explicit
//! statistics; byte-identical for identical frames), and back for `show` and `diff`.

use std::fs::File;
use std::path::Path;

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{ReportError, Result};

/// The error of the frame writer ([`frame`], [`parquet_bytes`]).
pub use polars::prelude::PolarsError;

/// One output row: a measurement's value with what produced it (the sweep values are added by the
/// runner). This is the table contract every figure shares (columns documented in
/// docs/experiments.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// Measurement name.
    pub measure: String,
    /// Operator measured.
    pub operator: String,
    /// Statistic.
    pub statistic: String,
    /// Eigenvalue / mode / filter index (null for a single value).
    pub index: Option<i64>,
    /// Training iteration the value belongs to (null without training).
    pub iteration: Option<i64>,
    /// The value (non-finite values survive the JSON cache as strings).
    #[serde(with = "json_f64")]
    pub value: f64,
    /// Standard error (randomized estimators that have one).
    #[serde(with = "json_f64::option")]
    pub stderr: Option<f64>,
    /// Operator applications spent.
    pub matvecs: i64,
    /// `exact` or `randomized`.
    pub estimator: String,
    /// Matvec budget, where one applied (a randomized estimate or a probe-based statistic).
    pub budget: Option<i64>,
    /// Partial-trace variant of space/time ranks (`-` otherwise).
    pub ptrace_variant: String,
    /// The point's derived seed.
    pub seed: i64,
    /// Trial of a mode component (`temporal_modes`), else null.
    pub trial: Option<i64>,
    /// Time step of a mode component (`temporal_modes`), else null.
    pub step: Option<i64>,
    /// Repetition of a randomized estimate with a fresh probe draw (trace estimation), else null.
    #[serde(default)]
    pub rerun: Option<i64>,
    /// The error tolerance ε a speed-up is taken at (trace estimation), else null.
    #[serde(default, with = "json_f64::option")]
    pub tolerance: Option<f64>,
}

/// f64 in JSON: finite values as numbers, NaN and ±inf as the strings "NaN", "inf", "-inf" (JSON
/// has no literal for them; serde_json would write `null` and fail to read it back as f64).
pub mod json_f64 {
    use serde::{Deserialize, Deserializer, Serializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Num(f64),
        Text(String),
    }

    fn from_repr<E: serde::de::Error>(r: Repr) -> Result<f64, E> {
        match r {
            Repr::Num(v) => Ok(v),
            Repr::Text(t) => match t.as_str() {
                "NaN" => Ok(f64::NAN),
                "inf" => Ok(f64::INFINITY),
                "-inf" => Ok(f64::NEG_INFINITY),
                other => Err(E::custom(format!("not a number: `{other}`"))),
            },
        }
    }

    /// Serialises one f64.
    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else if v.is_nan() {
            s.serialize_str("NaN")
        } else if *v > 0.0 {
            s.serialize_str("inf")
        } else {
            s.serialize_str("-inf")
        }
    }

    /// Deserialises one f64.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        from_repr(Repr::deserialize(d)?)
    }

    /// The same for `Option<f64>` (`null` is `None`).
    pub mod option {
        use serde::{Deserialize, Deserializer, Serializer};

        /// Serialises an optional f64.
        pub fn serialize<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
            match v {
                Some(x) => super::serialize(x, s),
                None => s.serialize_none(),
            }
        }

        /// Deserialises an optional f64.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
            Option::<super::Repr>::deserialize(d)?
                .map(super::from_repr)
                .transpose()
        }
    }
}

/// One cell of a table, for printing and diffing.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Float.
    F(Option<f64>),
    /// Integer.
    I(Option<i64>),
    /// Text.
    S(Option<String>),
    /// Boolean (a boolean sweep key, e.g. `model.bias`).
    B(Option<bool>),
}

impl std::fmt::Display for Cell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cell::F(Some(v))
                if *v == 0.0 || (v.abs() >= 1e-4 && v.abs() < 1e15) || !v.is_finite() =>
            {
                write!(f, "{v}")
            }
            Cell::F(Some(v)) => write!(f, "{v:e}"),
            Cell::I(Some(v)) => write!(f, "{v}"),
            Cell::S(Some(v)) => write!(f, "{v}"),
            Cell::B(Some(v)) => write!(f, "{v}"),
            _ => write!(f, "null"),
        }
    }
}

/// A table read back: column names and cells, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows.
    pub rows: Vec<Vec<Cell>>,
}

fn terr(path: &Path, e: impl std::fmt::Display) -> ReportError {
    ReportError::Table {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Builds the frame: one column per sweep key, typed by its values (Int64 when every value is an
/// integer, Boolean when every value is a boolean, Float64 when numeric, else text), then the row
/// fields.
pub fn frame(sweep_keys: &[String], rows: &[(Vec<toml::Value>, Row)]) -> PolarsResult<DataFrame> {
    use toml::Value as V;
    let n = rows.len();
    let mut cols: Vec<Column> = Vec::new();
    for (j, k) in sweep_keys.iter().enumerate() {
        let all = |f: fn(&V) -> bool| rows.iter().all(|(v, _)| f(&v[j]));
        let name = k.as_str().into();
        let col = if all(|v| matches!(v, V::Integer(_))) {
            let vals: Vec<i64> = rows
                .iter()
                .map(|(v, _)| v[j].as_integer().unwrap_or_default())
                .collect();
            Column::new(name, vals)
        } else if all(|v| matches!(v, V::Boolean(_))) {
            let vals: Vec<bool> = rows
                .iter()
                .map(|(v, _)| v[j].as_bool().unwrap_or_default())
                .collect();
            Column::new(name, vals)
        } else if all(|v| matches!(v, V::Integer(_) | V::Float(_))) {
            let vals: Vec<f64> = rows
                .iter()
                .map(|(v, _)| match &v[j] {
                    V::Integer(i) => *i as f64,
                    V::Float(f) => *f,
                    _ => f64::NAN,
                })
                .collect();
            Column::new(name, vals)
        } else {
            let vals: Vec<String> = rows
                .iter()
                .map(|(v, _)| match &v[j] {
                    V::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            Column::new(name, vals)
        };
        cols.push(col);
    }
    let s = |f: fn(&Row) -> String| rows.iter().map(|(_, r)| f(r)).collect::<Vec<String>>();
    let i = |f: fn(&Row) -> i64| rows.iter().map(|(_, r)| f(r)).collect::<Vec<i64>>();
    let oi =
        |f: fn(&Row) -> Option<i64>| rows.iter().map(|(_, r)| f(r)).collect::<Vec<Option<i64>>>();
    cols.push(Column::new("measure".into(), s(|r| r.measure.clone())));
    cols.push(Column::new("operator".into(), s(|r| r.operator.clone())));
    cols.push(Column::new("statistic".into(), s(|r| r.statistic.clone())));
    cols.push(Column::new("index".into(), oi(|r| r.index)));
    cols.push(Column::new("iteration".into(), oi(|r| r.iteration)));
    cols.push(Column::new(
        "value".into(),
        rows.iter().map(|(_, r)| r.value).collect::<Vec<f64>>(),
    ));
    cols.push(Column::new(
        "stderr".into(),
        rows.iter()
            .map(|(_, r)| r.stderr)
            .collect::<Vec<Option<f64>>>(),
    ));
    cols.push(Column::new("matvecs".into(), i(|r| r.matvecs)));
    cols.push(Column::new("estimator".into(), s(|r| r.estimator.clone())));
    cols.push(Column::new("budget".into(), oi(|r| r.budget)));
    cols.push(Column::new(
        "ptrace_variant".into(),
        s(|r| r.ptrace_variant.clone()),
    ));
    cols.push(Column::new("seed".into(), i(|r| r.seed)));
    cols.push(Column::new("trial".into(), oi(|r| r.trial)));
    cols.push(Column::new("step".into(), oi(|r| r.step)));
    cols.push(Column::new("rerun".into(), oi(|r| r.rerun)));
    cols.push(Column::new(
        "tolerance".into(),
        rows.iter()
            .map(|(_, r)| r.tolerance)
            .collect::<Vec<Option<f64>>>(),
    ));
    DataFrame::new(n, cols)
}

/// Writes a frame as Parquet bytes (zstd, statistics on: pinned so upgrades cannot change bytes),
/// with `metadata` as the file's key-value metadata (what produced it, readable by any Parquet
/// tool).
pub fn parquet_bytes(df: &mut DataFrame, metadata: &[(String, String)]) -> PolarsResult<Vec<u8>> {
    let mut buf = Vec::new();
    ParquetWriter::new(&mut buf)
        .with_compression(ParquetCompression::Zstd(None))
        .with_statistics(StatisticsOptions::default())
        .with_key_value_metadata(
            (!metadata.is_empty()).then(|| {
                polars::io::parquet::write::KeyValueMetadata::from_static(metadata.to_vec())
            }),
        )
        .finish(df)?;
    Ok(buf)
}

/// Writes the table of `rows` (with their sweep values under `sweep_keys`) to `path` atomically,
/// with `metadata` (e.g. `gentk.preset`, `gentk.spec_hash`) in the Parquet footer.
pub fn write(
    path: &Path,
    sweep_keys: &[String],
    rows: &[(Vec<toml::Value>, Row)],
    metadata: &[(String, String)],
) -> Result<()> {
    let bytes = frame(sweep_keys, rows)
        .and_then(|mut df| parquet_bytes(&mut df, metadata))
        .map_err(|e| terr(path, e))?;
    crate::io::write_atomic(path, &bytes)
}

/// The key-value metadata of a Parquet file, in file order.
pub fn metadata(path: &Path) -> Result<Vec<(String, String)>> {
    let f = File::open(path).map_err(crate::error::io(path, "opening"))?;
    let mut reader = ParquetReader::new(f);
    let meta = reader.get_metadata().map_err(|e| terr(path, e))?;
    Ok(meta
        .key_value_metadata()
        .iter()
        .flatten()
        .map(|kv| (kv.key.clone(), kv.value.clone().unwrap_or_default()))
        .collect())
}

/// Reads a Parquet file into cells.
pub fn read(path: &Path) -> Result<Table> {
    let f = File::open(path).map_err(crate::error::io(path, "opening"))?;
    let df = ParquetReader::new(f).finish().map_err(|e| terr(path, e))?;
    of_frame(&df).map_err(|e| terr(path, e))
}

/// Why a frame could not become cells.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// A column of a type tables do not hold.
    #[error("column `{column}` has unsupported type {dtype}")]
    Unsupported {
        /// The column.
        column: String,
        /// Its polars type.
        dtype: String,
    },
    /// Polars failed (a cast or a column access).
    #[error(transparent)]
    Polars(#[from] PolarsError),
}

/// A frame's cells (Float64, Int64, Boolean and String columns; other types are refused).
pub fn of_frame(df: &DataFrame) -> std::result::Result<Table, FrameError> {
    let columns: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut rows = vec![Vec::with_capacity(columns.len()); df.height()];
    for c in df.columns() {
        let s = c.as_materialized_series();
        match s.dtype() {
            DataType::Float64 | DataType::Float32 => {
                let s = s.cast(&DataType::Float64)?;
                let ca = s.f64()?;
                for (r, row) in rows.iter_mut().enumerate() {
                    row.push(Cell::F(ca.get(r)));
                }
            }
            dt if dt.is_integer() => {
                let s = s.cast(&DataType::Int64)?;
                let ca = s.i64()?;
                for (r, row) in rows.iter_mut().enumerate() {
                    row.push(Cell::I(ca.get(r)));
                }
            }
            DataType::Boolean => {
                let ca = s.bool()?;
                for (r, row) in rows.iter_mut().enumerate() {
                    row.push(Cell::B(ca.get(r)));
                }
            }
            DataType::String => {
                let ca = s.str()?;
                for (r, row) in rows.iter_mut().enumerate() {
                    row.push(Cell::S(ca.get(r).map(|x| x.to_string())));
                }
            }
            other => {
                return Err(FrameError::Unsupported {
                    column: c.name().to_string(),
                    dtype: format!("{other:?}"),
                });
            }
        }
    }
    Ok(Table { columns, rows })
}

/// The table as aligned text (for `gentk show` and git textconv).
pub fn render(t: &Table) -> String {
    let cells: Vec<Vec<String>> = t
        .rows
        .iter()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
    let widths: Vec<usize> = (0..t.columns.len())
        .map(|j| {
            cells
                .iter()
                .map(|r| r[j].chars().count())
                .chain([t.columns[j].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let line = |vals: Vec<&str>| {
        vals.iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
            + "\n"
    };
    out.push_str(&line(t.columns.iter().map(|s| s.as_str()).collect()));
    for r in &cells {
        out.push_str(&line(r.iter().map(|s| s.as_str()).collect()));
    }
    out
}

/// Cell-by-cell differences beyond |a − b| ≤ atol + rtol·|b| (numbers) or inequality (text).
pub fn diff(a: &Table, b: &Table, rtol: f64, atol: f64) -> Vec<String> {
    let mut out = Vec::new();
    if a.columns != b.columns {
        out.push(format!(
            "| columns | | {} | {} | |",
            a.columns.join(", "),
            b.columns.join(", ")
        ));
        return out;
    }
    if a.rows.len() != b.rows.len() {
        out.push(format!(
            "| rows | | {} | {} | |",
            a.rows.len(),
            b.rows.len()
        ));
    }
    for (i, (ra, rb)) in a.rows.iter().zip(&b.rows).enumerate() {
        for (j, (ca, cb)) in ra.iter().zip(rb).enumerate() {
            let changed = match (ca, cb) {
                (Cell::F(Some(x)), Cell::F(Some(y))) => {
                    !((x - y).abs() <= atol + rtol * y.abs() || (x.is_nan() && y.is_nan()))
                }
                (Cell::I(Some(x)), Cell::I(Some(y))) => {
                    ((x - y) as f64).abs() > atol + rtol * (*y as f64).abs()
                }
                _ => ca != cb,
            };
            if changed {
                let d = match (ca, cb) {
                    (Cell::F(Some(x)), Cell::F(Some(y))) => format!("{:.3e}", (x - y).abs()),
                    _ => String::new(),
                };
                out.push(format!("| {i} | {} | {ca} | {cb} | {d} |", a.columns[j]));
            }
        }
    }
    out
}

/// How far one statistic's values moved between two tables of the same rows (`gentk diff
/// --by-statistic`): the reviewer's view of a precision or version change.
#[derive(Debug, Clone, PartialEq)]
pub struct StatDelta {
    /// (measure, operator, statistic) of the group.
    pub key: [String; 3],
    /// Rows in the group with a finite value on both sides.
    pub rows: usize,
    /// max |a − b|.
    pub max_abs: f64,
    /// max |a − b| / max |b|: normwise, robust to entries near zero.
    pub normwise: f64,
    /// max over rows with b ≠ 0 of |a − b| / |b|.
    pub max_rel: f64,
}

/// Per (measure, operator, statistic) deltas of the `value` column, rows paired by position;
/// `None` when the tables do not share their columns and row count (or have no such columns).
pub fn deltas_by_statistic(a: &Table, b: &Table) -> Option<Vec<StatDelta>> {
    if a.columns != b.columns || a.rows.len() != b.rows.len() {
        return None;
    }
    let col = |n: &str| a.columns.iter().position(|c| c == n);
    let (m, o, st, v) = (
        col("measure")?,
        col("operator")?,
        col("statistic")?,
        col("value")?,
    );
    let text = |c: &Cell| match c {
        Cell::S(Some(s)) => s.clone(),
        other => other.to_string(),
    };
    let mut out: Vec<(StatDelta, f64)> = Vec::new();
    for (ra, rb) in a.rows.iter().zip(&b.rows) {
        let (Cell::F(Some(x)), Cell::F(Some(y))) = (&ra[v], &rb[v]) else {
            continue;
        };
        if !(x.is_finite() && y.is_finite()) {
            continue;
        }
        let key = [text(&rb[m]), text(&rb[o]), text(&rb[st])];
        let i = match out.iter().position(|(d, _)| d.key == key) {
            Some(i) => i,
            None => {
                out.push((
                    StatDelta {
                        key,
                        rows: 0,
                        max_abs: 0.0,
                        normwise: 0.0,
                        max_rel: 0.0,
                    },
                    0.0,
                ));
                out.len() - 1
            }
        };
        let (d, scale) = &mut out[i];
        let e = (x - y).abs();
        d.rows += 1;
        d.max_abs = d.max_abs.max(e);
        *scale = scale.max(y.abs());
        if *y != 0.0 {
            d.max_rel = d.max_rel.max(e / y.abs());
        }
    }
    Some(
        out.into_iter()
            .map(|(mut d, scale)| {
                d.normwise = if scale > 0.0 { d.max_abs / scale } else { 0.0 };
                d
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_group_by_statistic_and_separate_normwise_from_elementwise() {
        let t = |vals: &[(&str, f64)]| Table {
            columns: ["measure", "operator", "statistic", "value"]
                .map(String::from)
                .to_vec(),
            rows: vals
                .iter()
                .map(|(st, v)| {
                    vec![
                        Cell::S(Some("m".into())),
                        Cell::S(Some("ntk".into())),
                        Cell::S(Some(st.to_string())),
                        Cell::F(Some(*v)),
                    ]
                })
                .collect(),
        };
        let a = t(&[("trace", 10.0), ("trace", 1e-6), ("fro2", 4.0)]);
        let b = t(&[("trace", 10.5), ("trace", 2e-6), ("fro2", 4.0)]);
        let d = deltas_by_statistic(&a, &b).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].key[2], "trace");
        assert_eq!(d[0].rows, 2);
        assert!((d[0].max_abs - 0.5).abs() < 1e-15);
        assert!((d[0].normwise - 0.5 / 10.5).abs() < 1e-15);
        assert!((d[0].max_rel - 0.5).abs() < 1e-15, "{}", d[0].max_rel);
        assert_eq!((d[1].max_abs, d[1].max_rel), (0.0, 0.0));
        assert!(deltas_by_statistic(&a, &t(&[("trace", 1.0)])).is_none());
    }

    #[test]
    fn non_finite_values_round_trip_through_json() {
        let row = |value: f64, stderr: Option<f64>| Row {
            measure: "m".into(),
            operator: "ntk".into(),
            statistic: "trace".into(),
            index: None,
            iteration: None,
            value,
            stderr,
            matvecs: 0,
            estimator: "exact".into(),
            budget: Some(100),
            ptrace_variant: "-".into(),
            seed: 1,
            trial: None,
            step: None,
            rerun: None,
            tolerance: None,
        };
        for (v, se) in [
            (f64::INFINITY, Some(f64::NAN)),
            (f64::NEG_INFINITY, None),
            (1.0e-300, Some(2.5)),
        ] {
            let json = serde_json::to_string(&row(v, se)).unwrap();
            let back: Row = serde_json::from_str(&json).unwrap();
            assert_eq!(back.value.to_bits(), v.to_bits(), "{json}");
            assert_eq!(back.stderr.map(f64::is_nan), se.map(f64::is_nan), "{json}");
        }
        let nan: Row =
            serde_json::from_str(&serde_json::to_string(&row(f64::NAN, None)).unwrap()).unwrap();
        assert!(nan.value.is_nan());
    }
}
