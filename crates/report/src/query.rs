//! SQL over a result table, by polars' SQL engine: how a claim selects the number(s) it is about
//! (`value.sql` in a spec). The table is registered as `t`; a query returns one number (one row,
//! one column) or one number per group (two columns: the group's label, then the number).
//!
//! Determinism: polars sums a GROUP BY in per-thread partitions, so aggregates are bit-identical
//! run to run only with `POLARS_MAX_THREADS=1` (the gentk binary sets it at start-up; the
//! workspace's `.cargo/config.toml` sets it for tests).

use polars::prelude::*;
use polars::sql::SQLContext;
use polars_lazy::frame::{IntoLazy, OptFlags};

use crate::table::{Cell, Table};

/// A query that could not run or did not return numbers.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct QueryError(pub String);

/// One number of a query's result: its group label (empty for a single number) and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Grouped {
    /// The first column's value when the query returns two columns, else empty.
    pub group: String,
    /// The number (NaN for a SQL null).
    pub value: f64,
}

fn column_of(name: &str, cells: Vec<&Cell>) -> Column {
    let name: PlSmallStr = name.into();
    match cells.iter().find(|c| !matches!(c, Cell::F(None))) {
        Some(Cell::I(_)) => Column::new(
            name,
            cells
                .iter()
                .map(|c| match c {
                    Cell::I(v) => *v,
                    _ => None,
                })
                .collect::<Vec<Option<i64>>>(),
        ),
        Some(Cell::S(_)) => Column::new(
            name,
            cells
                .iter()
                .map(|c| match c {
                    Cell::S(v) => v.clone(),
                    _ => None,
                })
                .collect::<Vec<Option<String>>>(),
        ),
        Some(Cell::B(_)) => Column::new(
            name,
            cells
                .iter()
                .map(|c| match c {
                    Cell::B(v) => *v,
                    _ => None,
                })
                .collect::<Vec<Option<bool>>>(),
        ),
        _ => Column::new(
            name,
            cells
                .iter()
                .map(|c| match c {
                    Cell::F(v) => *v,
                    _ => None,
                })
                .collect::<Vec<Option<f64>>>(),
        ),
    }
}

/// The table as a polars frame (column types from its cells).
pub fn frame_of(t: &Table) -> Result<DataFrame, QueryError> {
    let cols: Vec<Column> = t
        .columns
        .iter()
        .enumerate()
        .map(|(j, name)| column_of(name, t.rows.iter().map(|r| &r[j]).collect()))
        .collect();
    DataFrame::new(t.rows.len(), cols).map_err(|e| QueryError(e.to_string()))
}

/// Runs `sql` on the table (registered as `t`) and returns the result as a frame.
pub fn run(t: &Table, sql: &str) -> Result<DataFrame, QueryError> {
    let mut ctx = SQLContext::new();
    ctx.register("t", frame_of(t)?.lazy());
    ctx.execute(sql)
        .and_then(|lf| lf.with_optimizations(claim_optimizations()).collect())
        .map_err(|e| QueryError(e.to_string()))
}

/// The optimizations a claim's query runs with. Not the default set: polars' order-observation
/// pass drops an ORDER BY in front of a GROUP BY, and then a two-level aggregate (a GROUP BY over
/// a CTE's groups) sums in hash order, which varies run to run. But predicate and projection
/// pushdown stay on: they change no result, and without them a self-join filtered in its WHERE
/// (`FROM t a JOIN t b ON … WHERE a.measure = 'x'`) materialises the whole product of the table
/// with itself first — hundreds of millions of rows for a table with trajectories in it, which
/// exhausted memory.
fn claim_optimizations() -> OptFlags {
    OptFlags::TYPE_COERCION | OptFlags::PREDICATE_PUSHDOWN | OptFlags::PROJECTION_PUSHDOWN
}

/// The optimised plan of `sql` on the table, as polars prints it (to check where filters run).
pub fn plan(t: &Table, sql: &str) -> Result<String, QueryError> {
    let mut ctx = SQLContext::new();
    ctx.register("t", frame_of(t)?.lazy());
    ctx.execute(sql)
        .and_then(|lf| {
            lf.with_optimizations(claim_optimizations())
                .describe_optimized_plan()
        })
        .map_err(|e| QueryError(e.to_string()))
}

/// Runs `sql` on the table (registered as `t`) and returns the result as cells (`gentk query`).
pub fn table(t: &Table, sql: &str) -> Result<Table, QueryError> {
    crate::table::of_frame(&run(t, sql)?).map_err(|e| QueryError(e.to_string()))
}

/// Runs `sql` on the table (registered as `t`) and returns its numbers.
pub fn query(t: &Table, sql: &str) -> Result<Vec<Grouped>, QueryError> {
    let err = |e: PolarsError| QueryError(e.to_string());
    let out = run(t, sql)?;
    let (group, value) = match out.columns() {
        [v] => (None, v),
        [g, v] => (Some(g), v),
        cols => {
            return Err(QueryError(format!(
                "a claim's query returns one column (the number) or two (group, number), not {}",
                cols.len()
            )));
        }
    };
    if !(value.dtype().is_primitive_numeric() || value.dtype().is_null()) {
        return Err(QueryError(format!(
            "the query's number column `{}` is {}, not numeric",
            value.name(),
            value.dtype()
        )));
    }
    let values = value.cast(&DataType::Float64).map_err(err)?;
    let values = values.f64().map_err(err)?;
    let labels: Vec<String> = match group {
        None => vec![String::new(); out.height()],
        Some(g) => {
            let g = g.as_materialized_series();
            (0..out.height())
                .map(|i| {
                    g.get(i)
                        .map(|v| v.to_string().trim_matches('"').to_string())
                        .map_err(err)
                })
                .collect::<Result<_, _>>()?
        }
    };
    Ok(labels
        .into_iter()
        .zip(values.iter())
        .map(|(group, v)| Grouped {
            group,
            value: v.unwrap_or(f64::NAN),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        let row = |g: i64, m: &str, v: f64| {
            vec![Cell::I(Some(g)), Cell::S(Some(m.into())), Cell::F(Some(v))]
        };
        Table {
            columns: vec!["task.D_inp".into(), "measure".into(), "value".into()],
            rows: vec![
                row(3, "a", 1.0),
                row(3, "b", 4.0),
                row(9, "a", 2.5),
                row(9, "b", 0.5),
            ],
        }
    }

    #[test]
    fn single_numbers_groups_and_errors() {
        let t = table();
        let one = query(&t, "SELECT max(value) FROM t WHERE measure = 'a'").unwrap();
        assert_eq!(
            one,
            vec![Grouped {
                group: String::new(),
                value: 2.5
            }]
        );
        // A self-join by a dotted sweep column: a / b per D_inp.
        let per = query(
            &t,
            "SELECT a.\"task.D_inp\", a.value / b.value FROM t a JOIN t b \
             ON a.\"task.D_inp\" = b.\"task.D_inp\" \
             WHERE a.measure = 'a' AND b.measure = 'b' ORDER BY 1",
        )
        .unwrap();
        assert_eq!(
            per,
            vec![
                Grouped {
                    group: "3".into(),
                    value: 0.25
                },
                Grouped {
                    group: "9".into(),
                    value: 5.0
                }
            ]
        );
        assert!(query(&t, "SELECT nope FROM t").is_err());
        assert!(
            query(&t, "SELECT measure FROM t")
                .unwrap_err()
                .0
                .contains("not numeric")
        );
        assert!(query(&t, "SELECT value, value, value FROM t").is_err());
    }
}

#[cfg(test)]
mod pushdown {
    use super::*;

    /// A self-join filtered in its WHERE is filtered before the join, so it never materialises
    /// the product of the table with itself.
    #[test]
    fn self_join_filters_run_before_the_join() {
        let t = Table {
            columns: vec!["measure".into(), "iteration".into(), "value".into()],
            rows: (0..6)
                .map(|i| {
                    vec![
                        Cell::S(Some(if i % 2 == 0 { "x" } else { "y" }.into())),
                        Cell::I(Some(i / 2)),
                        Cell::F(Some(i as f64)),
                    ]
                })
                .collect(),
        };
        let sql = "SELECT max(a.value / b.value) FROM t a JOIN t b ON a.iteration = b.iteration \
                   WHERE a.measure = 'y' AND b.measure = 'x' AND b.value > 0";
        let p = plan(&t, sql).unwrap();
        let join = p.find("JOIN").unwrap_or_else(|| panic!("no join in:\n{p}"));
        let after = &p[join..];
        assert!(
            after.matches("FILTER").count() + after.matches("SELECTION").count() >= 2,
            "both join inputs should be filtered below the join:\n{p}"
        );
        let v = query(&t, sql).unwrap();
        assert_eq!(v[0].value, 3.0 / 2.0);
    }
}
