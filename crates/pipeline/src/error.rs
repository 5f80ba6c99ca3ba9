//! Errors of the pipeline: every spec error carries the file, line, column and key path.

use std::path::PathBuf;

/// Pipeline failures.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// A spec that does not parse or validate, located in its file.
    #[error("{file}:{line}:{column}: {message}")]
    Spec {
        /// The spec file.
        file: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong (with the key path and, for typos, the nearest valid key).
        message: String,
    },
    /// A problem with one sweep point (its parameters are printed).
    #[error("point {index} ({params}): {message}")]
    Point {
        /// Point index.
        index: usize,
        /// The point's sweep values.
        params: String,
        /// The error.
        message: String,
    },
    /// File system errors, with the path.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
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
    /// Chart rendering errors.
    #[error("chart {path}: {message}")]
    Chart {
        /// The file.
        path: PathBuf,
        /// The error.
        message: String,
    },
}

/// Result alias.
pub type Result<T, E = PipelineError> = std::result::Result<T, E>;

pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> PipelineError {
    let path = path.into();
    move |source| PipelineError::Io { path, source }
}
