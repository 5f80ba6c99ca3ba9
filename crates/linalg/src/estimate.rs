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

/// Jackknife standard error of an estimator from its leave-one-out values θ₍₋ᵢ₎ (one per
/// probe or sample): √((n−1)/n · Σ (θ₍₋ᵢ₎ − θ̄)²). Ratio estimators (participation ratios,
/// alignments) are not means of i.i.d. terms, so this is how they get an error bar; `None` below
/// two values or when a leave-one-out value is not finite.
pub fn jackknife_stderr(leave_one_out: &[f64]) -> Option<f64> {
    let n = leave_one_out.len();
    if n < 2 || leave_one_out.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let mean = leave_one_out.iter().sum::<f64>() / n as f64;
    let ss: f64 = leave_one_out.iter().map(|v| (v - mean) * (v - mean)).sum();
    Some(((n - 1) as f64 / n as f64 * ss).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// For the sample mean the jackknife error is exactly the textbook s/√n.
    #[test]
    fn jackknife_of_the_mean_is_the_standard_error() {
        let x = [1.0, 4.0, 2.0, 8.0, 5.0];
        let n = x.len() as f64;
        let total: f64 = x.iter().sum();
        let loo: Vec<f64> = x.iter().map(|v| (total - v) / (n - 1.0)).collect();
        let mean = total / n;
        let s2 = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
        let se = jackknife_stderr(&loo).unwrap();
        assert!((se - (s2 / n).sqrt()).abs() < 1e-12, "{se}");
        assert_eq!(jackknife_stderr(&[1.0]), None);
        assert_eq!(jackknife_stderr(&[1.0, f64::NAN]), None);
    }
}
