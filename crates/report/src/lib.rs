//! # gentk-report
//!
//! What a run leaves behind: result tables ([`table`]: rows → polars → Parquet, read back for
//! `show` and `diff`), charts ([`plot`]: plotters, PNG and SVG with DejaVu compiled in, byte-identical
//! run to run), and the one atomic writer every file goes through ([`io`]). It knows the spec's
//! chart schema but nothing of models or operators.

pub mod error;
pub mod io;
pub mod plot;
pub mod query;
pub mod table;

pub use error::{ReportError, Result};
pub use table::{Cell, Row, Table};
