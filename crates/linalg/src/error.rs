//! The one error type of gentk-linalg: every variant carries what a user needs to fix the call.

use crate::shape::Shape;

/// Errors raised by operator construction, checked application and estimators.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LinalgError {
    /// Two shapes that must agree do not (both are printed with their axis names).
    #[error("shape mismatch in {context}: expected {expected}, got {actual}")]
    ShapeMismatch {
        /// Which operation found the mismatch.
        context: String,
        /// The shape the operation requires.
        expected: Shape,
        /// The shape it was given.
        actual: Shape,
    },
    /// A flat vector or probe block whose length disagrees with the operator's shape.
    #[error("length mismatch in {context}: {shape} holds {expected} entries, got {actual}")]
    LengthMismatch {
        /// Which operation found the mismatch.
        context: String,
        /// The shape the data must fill.
        shape: Shape,
        /// Entries required.
        expected: usize,
        /// Entries supplied.
        actual: usize,
    },
    /// An axis name that the shape does not have.
    #[error("unknown axis `{axis}` in {shape}")]
    UnknownAxis {
        /// The requested name.
        axis: String,
        /// The shape that was searched.
        shape: Shape,
    },
    /// A parameter outside its valid range (budget 0, k > dimension, ...).
    #[error("invalid argument `{name}`: {reason}")]
    InvalidArgument {
        /// Parameter name as it appears in the API.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The operator must map a space to itself (square) for this operation.
    #[error("{context} needs a square operator, got {shape_in} -> {shape_out}")]
    NotSquare {
        /// Which operation needs squareness.
        context: String,
        /// Input shape.
        shape_in: Shape,
        /// Output shape.
        shape_out: Shape,
    },
    /// A dense factorisation failed (non-finite entries, no convergence).
    #[error("dense {what} failed: {reason}")]
    Factorization {
        /// eigendecomposition, SVD, Cholesky ...
        what: &'static str,
        /// faer's reason.
        reason: String,
    },
    /// The operator is too large for an exact/dense path.
    #[error("{what}: dimension {dim} exceeds the dense limit {limit}")]
    TooLarge {
        /// Which dense path refused.
        what: &'static str,
        /// The dimension requested.
        dim: usize,
        /// The configured limit.
        limit: usize,
    },
}

/// Result alias for this crate.
pub type Result<T, E = LinalgError> = std::result::Result<T, E>;

pub(crate) fn invalid(name: &'static str, reason: impl Into<String>) -> LinalgError {
    LinalgError::InvalidArgument {
        name,
        reason: reason.into(),
    }
}
