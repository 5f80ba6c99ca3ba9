//! Errors of gentk-tasks: an impossible configuration value, named by its field.

/// A configuration or request the generators cannot satisfy.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TaskError {
    /// A field with an impossible value.
    #[error("invalid task configuration `{field}`: {reason}")]
    Invalid {
        /// The field name as written in a spec.
        field: &'static str,
        /// Why it is impossible.
        reason: String,
    },
}

/// Result alias.
pub type Result<T, E = TaskError> = std::result::Result<T, E>;

pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> TaskError {
    TaskError::Invalid {
        field,
        reason: reason.into(),
    }
}

pub(crate) fn positive(field: &'static str, v: usize) -> Result<()> {
    if v == 0 {
        Err(invalid(field, "must be ≥ 1"))
    } else {
        Ok(())
    }
}

pub(crate) fn non_negative(field: &'static str, v: f64) -> Result<()> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!("must be a finite number ≥ 0, got {v}"),
        ))
    }
}
