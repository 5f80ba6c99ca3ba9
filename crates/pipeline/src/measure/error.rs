//! Errors of computing a point: the libraries' typed errors, with the measurement they belong to.

use gentk_linalg::LinalgError;
use gentk_models::{ModelError, TrainError};
use gentk_ntk::NtkError;
use gentk_tasks::TaskError;

/// A failure while computing one point.
#[derive(Debug, thiserror::Error)]
pub enum MeasureError {
    /// Operators and estimators (budgets, sizes, factorisations).
    #[error(transparent)]
    Linalg(#[from] LinalgError),
    /// Models (non-finite states, shapes).
    #[error(transparent)]
    Model(#[from] ModelError),
    /// Training (divergence, configuration).
    #[error(transparent)]
    Train(#[from] TrainError),
    /// NTK operators.
    #[error(transparent)]
    Ntk(#[from] NtkError),
    /// Task generation.
    #[error(transparent)]
    Task(#[from] TaskError),
    /// A numerical step that has no solution here (a singular resolvent, a failed SVD).
    #[error("{0}")]
    Numerical(String),
    /// A combination that validation should have refused (a bug if it ever shows).
    #[error("not implemented: {0} (validation should have refused this spec)")]
    Unsupported(String),
    /// The measurement a failure belongs to.
    #[error("measure `{name}`: {source}")]
    Measure {
        /// Measurement name.
        name: String,
        /// What failed.
        source: Box<MeasureError>,
    },
}

impl MeasureError {
    /// This error in the context of measurement `name`.
    pub fn in_measure(self, name: &str) -> Self {
        MeasureError::Measure {
            name: name.to_string(),
            source: Box::new(self),
        }
    }
}

/// Result alias.
pub type Result<T, E = MeasureError> = std::result::Result<T, E>;
