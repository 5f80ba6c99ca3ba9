//! The error type of gentk-models: names the tensor, parameter or field at fault.

/// Errors from model construction, parameter handling and weight files.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    /// A configuration value outside its valid range.
    #[error("invalid model configuration `{field}`: {reason}")]
    Config {
        /// Field name.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Data whose size disagrees with the model's dimensions.
    #[error("{what}: expected {expected} values ({shape}), got {actual}")]
    Size {
        /// What was passed (inputs, h0, parameter vector ...).
        what: String,
        /// Shape description.
        shape: String,
        /// Expected length.
        expected: usize,
        /// Actual length.
        actual: usize,
    },
    /// A parameter name that the layout does not have.
    #[error("unknown parameter `{name}` (known: {known})")]
    UnknownParam {
        /// The requested name.
        name: String,
        /// The layout's names, comma separated.
        known: String,
    },
    /// A weight file problem tied to one tensor.
    #[error("tensor `{tensor}`: {reason}")]
    Tensor {
        /// The state_dict name.
        tensor: String,
        /// What is wrong (missing, shape, dtype, non-finite, mismatch with a tied copy ...).
        reason: String,
    },
    /// A weight file that cannot be parsed at all.
    #[error("weight file: {0}")]
    File(String),
    /// Non-finite values produced by a forward pass.
    #[error("non-finite state at batch {batch}, step {step}")]
    NonFinite {
        /// Trial index.
        batch: usize,
        /// Step (1-based).
        step: usize,
    },
}

/// Result alias.
pub type Result<T, E = ModelError> = std::result::Result<T, E>;

pub(crate) fn config(field: &'static str, reason: impl Into<String>) -> ModelError {
    ModelError::Config {
        field,
        reason: reason.into(),
    }
}

pub(crate) fn check_size(what: &str, shape: &str, expected: usize, actual: usize) -> Result<()> {
    if expected == actual {
        Ok(())
    } else {
        Err(ModelError::Size {
            what: what.to_string(),
            shape: shape.to_string(),
            expected,
            actual,
        })
    }
}
