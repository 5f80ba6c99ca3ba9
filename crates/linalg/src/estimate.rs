//! The value every estimator returns: the estimate, what it cost, and how sure it is.

/// An estimate with its cost in operator applications and, where the estimator has one, a standard
/// error (of the mean of its i.i.d. components).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// The estimated quantity.
    pub value: f64,
    /// Applications of the operator being estimated (A or A*, one probe each) that were spent.
    pub matvecs: usize,
    /// Standard error, when the estimator is an average of i.i.d. terms.
    pub stderr: Option<f64>,
    /// True when the value is exact up to rounding (dense path, or the budget covered the space).
    pub exact: bool,
}

impl Estimate {
    pub(crate) fn exact(value: f64, matvecs: usize) -> Self {
        Estimate {
            value,
            matvecs,
            stderr: Some(0.0),
            exact: true,
        }
    }
    pub(crate) fn random(value: f64, matvecs: usize, stderr: Option<f64>) -> Self {
        Estimate {
            value,
            matvecs,
            stderr,
            exact: false,
        }
    }
}
