//! Errors of the runner: spec errors are located in the file (gentk-spec), point errors name the
//! point's sweep values and the measurement, file errors name the path.

use std::path::PathBuf;

use crate::measure::MeasureError;

/// Pipeline failures.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// A spec that does not parse or validate (located in its file).
    #[error(transparent)]
    Spec(#[from] gentk_spec::SpecError),
    /// A table, chart or file write.
    #[error(transparent)]
    Report(#[from] gentk_report::ReportError),
    /// A failure while computing one sweep point.
    #[error("{file}: point {index} ({params}): {source}")]
    Point {
        /// The spec file.
        file: PathBuf,
        /// Point index.
        index: usize,
        /// The point's sweep values.
        params: String,
        /// What failed (boxed: the error travels through every point's result).
        source: Box<MeasureError>,
    },
    /// A manifest that cannot be written.
    #[error("manifest {path}: {message}")]
    Manifest {
        /// The file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// A cache entry that cannot be written (reads that fail are misses, never data).
    #[error("cache {path}: {message}")]
    Cache {
        /// The entry.
        path: PathBuf,
        /// What failed.
        message: String,
    },
}

/// Result alias.
pub type Result<T, E = PipelineError> = std::result::Result<T, E>;
