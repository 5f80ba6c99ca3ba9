//! Errors of tables, charts and file writes, each naming the file.

use std::path::PathBuf;

/// A table, chart or file that could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// File system errors, with the path and what was being done.
    #[error("{path}: {what}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// What was being done (e.g. "writing").
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// Table (Parquet) errors.
    #[error("table {path}: {message}")]
    Table {
        /// The file.
        path: PathBuf,
        /// The error.
        message: String,
    },
    /// Chart errors (a plot that selects nothing, a missing column, a drawing failure).
    #[error("chart {path}: {source}")]
    Chart {
        /// The file.
        path: PathBuf,
        /// Why.
        source: ChartError,
    },
}

/// Why a chart cannot be drawn.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    /// The table lacks a column the chart names.
    #[error("plot `{plot}`: the table has no column `{column}`")]
    NoColumn {
        /// The chart's file stem.
        plot: String,
        /// The missing column.
        column: String,
    },
    /// The chart's keys do not suit its kind (validation refuses these in specs; this guards
    /// direct callers).
    #[error("plot `{plot}`: {needs}")]
    Keys {
        /// The chart's file stem.
        plot: String,
        /// What the kind needs.
        needs: String,
    },
    /// The rows the chart selects leave nothing to draw.
    #[error("plot `{plot}`: {what}")]
    Empty {
        /// The chart's file stem.
        plot: String,
        /// What is missing.
        what: String,
    },
    /// The drawing backend failed.
    #[error("drawing failed: {0}")]
    Draw(String),
}

impl ChartError {
    /// A backend failure.
    pub(crate) fn draw(e: impl std::fmt::Display) -> Self {
        ChartError::Draw(e.to_string())
    }
}

/// Result alias.
pub type Result<T, E = ReportError> = std::result::Result<T, E>;

pub(crate) fn io(
    path: impl Into<PathBuf>,
    what: &'static str,
) -> impl FnOnce(std::io::Error) -> ReportError {
    let path = path.into();
    move |source| ReportError::Io { path, what, source }
}
