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
    #[error("chart {path}: {message}")]
    Chart {
        /// The file.
        path: PathBuf,
        /// The error.
        message: String,
    },
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
