//! Errors of gentk-ntk.

use gentk_linalg::LinalgError;
use gentk_models::ModelError;

/// Everything that can go wrong building or analysing the NTK operators.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NtkError {
    /// From the models (unknown parameter names, bad inputs, non-finite states).
    #[error(transparent)]
    Model(#[from] ModelError),
    /// From the estimators (budgets, shapes, factorisations).
    #[error(transparent)]
    Linalg(#[from] LinalgError),
    /// A request that cannot be met (e.g. an exact computation above its size limit).
    #[error("{0}")]
    Invalid(String),
}

/// Result alias.
pub type Result<T, E = NtkError> = std::result::Result<T, E>;
