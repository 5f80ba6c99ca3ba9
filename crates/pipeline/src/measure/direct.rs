//! Measurements that do not apply NTK_S: the model's activity, its resolvent (I − W_hh)⁻¹ and the
//! Gaussian surrogate of the phase diagram (PAPER §9.3–9.4, F6/F7), state norms, and the closed-form
//! temporal filter of a scalar linear recurrence (§3.11, F8). They are cheap and exact, which is why
//! F6 and F7 can compare them against the (estimated) NTK ranks point by point.

use faer::Mat;
use gentk_linalg::probes::{ProbeKind, seeded_block};
use gentk_linalg::rank::data_pr;
use gentk_models::{Rollout, StepModel};

use gentk_models::names::W_HH;
use gentk_spec::{Measure, Operator, Spec, Statistic};

use super::Val;
use super::error::{MeasureError, Result};

/// RNG purpose of the Gaussian surrogate matrix (disjoint from probes, models and tasks).
pub const SURROGATE_PURPOSE: u64 = 1 << 44;

/// Default length T_max of the scalar filter (F8).
pub const FILTER_T_MAX: usize = 20;

/// Weights w_t, t = 1…T_max−1, of the temporal filter of z_{t+1} = g z_t + x_t: the sum over
/// start times s of products of impulse responses g^s · g^{s+t} (s + t < T_max), i.e. the t-th
/// off-diagonal sum of the scalar P Pᵀ. Equal to g^t (1 − g^{2(T_max−t)})/(1 − g²).
pub fn scalar_filter(g: f64, t_max: usize) -> Vec<f64> {
    let impulse: Vec<f64> = (0..t_max).map(|s| g.powi(s as i32)).collect();
    (1..t_max)
        .map(|t| (0..t_max - t).map(|s| impulse[s] * impulse[s + t]).sum())
        .collect()
}

/// PR(R Rᵀ) for R = (I − W)⁻¹ from the singular values σ of I − W: the eigenvalues of R Rᵀ are
/// σ⁻², so no inverse is formed. Errors when I − W is singular to working precision.
pub fn resolvent_pr(w: faer::MatRef<'_, f64>) -> Result<f64> {
    let n = w.nrows();
    let m = Mat::<f64>::from_fn(n, n, |i, j| f64::from(i == j) - w[(i, j)]);
    let s = m
        .singular_values()
        .map_err(|e| MeasureError::Numerical(format!("SVD of I − W failed: {e:?}")))?;
    let smax = s.first().copied().unwrap_or(0.0);
    if s.iter().any(|&x| x <= smax * 1e-14) {
        return Err(MeasureError::Numerical(
            "I − W is singular to working precision: the resolvent does not exist".into(),
        ));
    }
    let (a, b) = s.iter().fold((0.0, 0.0), |acc, &x| {
        (acc.0 + x.powi(-2), acc.1 + x.powi(-4))
    });
    Ok(a * a / b)
}

/// Spectral radius max |λ(W)|.
pub fn spectral_radius(w: faer::MatRef<'_, f64>) -> Result<f64> {
    let ev = w
        .eigenvalues()
        .map_err(|e| MeasureError::Numerical(format!("eigenvalues of W failed: {e:?}")))?;
    Ok(ev.iter().map(|z| z.re.hypot(z.im)).fold(0.0, f64::max))
}

/// kpflow's activity matrix V_k = [z_t; x_t] over the B·T sites (rows b·T + t).
pub(crate) fn activity_matrix(ro: &Rollout) -> Mat<f64> {
    let (h, nx) = (ro.hidden, ro.input);
    Mat::from_fn(ro.sites(), h + nx, |i, j| {
        if j < h {
            ro.states[i * h + j]
        } else {
            ro.inputs[i * nx + j - h]
        }
    })
}

/// The model's square recurrent weight W_hh (gain included).
fn recurrent_weight(model: &dyn StepModel, hidden: usize) -> Result<Mat<f64>> {
    let w = model.params().tensor(W_HH).map_err(|_| {
        MeasureError::Unsupported(format!(
            "operator `resolvent` needs the recurrent weight `{W_HH}` (leaky-rnn, linear-rnn, rnn)"
        ))
    })?;
    if w.len() != hidden * hidden {
        return Err(MeasureError::Unsupported(format!(
            "operator `resolvent` needs a square H x H `{W_HH}`; this model's has {} entries",
            w.len()
        )));
    }
    Ok(Mat::from_fn(hidden, hidden, |i, j| w[i * hidden + j]))
}

fn resolvent_stat(w: faer::MatRef<'_, f64>, m: &Measure) -> Result<f64> {
    let n = w.nrows() as f64;
    match m.statistic {
        Statistic::EffRank => resolvent_pr(w),
        Statistic::Bias => Ok(1.0 - resolvent_pr(w)? / n),
        // kpflow's compat form 1 − cos_F(R Rᵀ, I) = 1 − √(PR/n) (cos_F(A, I) = tr A/(‖A‖_F √n)).
        Statistic::BiasCompat => Ok(1.0 - (resolvent_pr(w)? / n).sqrt()),
        Statistic::SpectralRadius => spectral_radius(w),
        other => Err(MeasureError::Unsupported(format!(
            "statistic `{other}` of operator `{}`",
            m.operator
        ))),
    }
}

/// The closed-form filter rows of a spec whose measures are all `scalar_filter` (no model or data
/// is built): (index t, w_t).
pub fn filter_rows(spec: &Spec, m: &Measure) -> Result<Vec<Val>> {
    if m.statistic != Statistic::Weights {
        return Err(MeasureError::Unsupported(format!(
            "statistic `{}` of operator `scalar_filter`",
            m.statistic
        )));
    }
    let t_max = m.size.unwrap_or(FILTER_T_MAX);
    if t_max < 2 {
        return Err(MeasureError::Unsupported(format!(
            "scalar_filter with size (T_max) {t_max} < 2"
        )));
    }
    Ok(scalar_filter(spec.model.gain, t_max)
        .into_iter()
        .enumerate()
        .map(|(i, w)| Val {
            index: Some(i as i64 + 1),
            ..Val::one(w)[0]
        })
        .collect())
}

/// Evaluates a direct measurement at one point.
pub fn measure(
    spec: &Spec,
    model: &dyn StepModel,
    ro: &Rollout,
    m: &Measure,
    seed: u64,
) -> Result<Vec<Val>> {
    Ok(match (m.operator, m.statistic) {
        (Operator::Activity, Statistic::DataPr) => {
            Val::one(data_pr(activity_matrix(ro).as_ref(), false))
        }
        (Operator::Resolvent, _) => {
            let w = recurrent_weight(model, ro.hidden)?;
            Val::one(resolvent_stat(w.as_ref(), m)?)
        }
        (Operator::ResolventGaussian, _) => {
            // R = (I − g W)⁻¹, W ~ N(0, 1/n)^{n x n} independent of the model (kpflow's surrogate).
            let n = m.size.unwrap_or(ro.hidden);
            let w = seeded_block(seed, SURROGATE_PURPOSE, ProbeKind::Gaussian, n, n)
                * faer::Scale(spec.model.gain / (n as f64).sqrt());
            Val::one(resolvent_stat(w.as_ref(), m)?)
        }
        (Operator::States, Statistic::DataPr) => Val::one(data_pr(
            faer::MatRef::from_row_major_slice(&ro.states, ro.sites(), ro.hidden),
            false,
        )),
        (Operator::States, Statistic::MaxNorm) => {
            let h = ro.hidden;
            Val::one(
                ro.states
                    .chunks(h)
                    .map(|z| z.iter().map(|x| x * x).sum::<f64>().sqrt())
                    .fold(0.0, f64::max),
            )
        }
        (Operator::ScalarFilter, _) => filter_rows(spec, m)?,
        (op, st) => {
            return Err(MeasureError::Unsupported(format!(
                "statistic `{st}` of operator `{op}`"
            )));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_matches_closed_form() {
        for &g in &[0.1, 0.9, 1.1, 2.0] {
            let w = scalar_filter(g, 20);
            assert_eq!(w.len(), 19);
            for (i, &wt) in w.iter().enumerate() {
                let t = (i + 1) as i32;
                let closed = g.powi(t) * (1.0 - g.powi(2 * (20 - t))) / (1.0 - g * g);
                assert!((wt - closed).abs() <= 1e-12 * closed.abs(), "g {g} t {t}");
            }
            assert!((w[18] - g.powi(19)).abs() <= 4.0 * f64::EPSILON * g.powi(19));
        }
    }

    #[test]
    fn filter_check_value_is_exact_for_powers_of_two() {
        assert_eq!(scalar_filter(2.0, 20)[18], 524_288.0);
    }

    #[test]
    fn resolvent_pr_against_dense_inverse() {
        let n = 12;
        let w = seeded_block(7, SURROGATE_PURPOSE, ProbeKind::Gaussian, n, n)
            * faer::Scale(0.8 / (n as f64).sqrt());
        let m = Mat::<f64>::from_fn(n, n, |i, j| f64::from(i == j) - w[(i, j)]);
        let r = faer::linalg::solvers::DenseSolveCore::inverse(&m.partial_piv_lu());
        let rrt = &r * r.transpose();
        let tr: f64 = (0..n).map(|i| rrt[(i, i)]).sum();
        let fro2: f64 = (0..n)
            .flat_map(|i| (0..n).map(move |j| (i, j)))
            .map(|(i, j)| rrt[(i, j)].powi(2))
            .sum();
        let pr = resolvent_pr(w.as_ref()).unwrap();
        assert!((pr - tr * tr / fro2).abs() < 1e-10 * pr);
        // The compat bias 1 − √(PR/n) is 1 − cos_F(R Rᵀ, I) computed densely.
        let cos_i = tr / (fro2.sqrt() * (n as f64).sqrt());
        let m: Measure =
            toml::from_str("name = \"b\"\noperator = \"resolvent\"\nstatistic = \"bias_compat\"")
                .unwrap();
        let b = resolvent_stat(w.as_ref(), &m).unwrap();
        assert!((b - (1.0 - cos_i)).abs() < 1e-12, "{b} vs {}", 1.0 - cos_i);
        // Identity resolvent: PR = n; singular I − W is refused.
        assert!((resolvent_pr(Mat::<f64>::zeros(n, n).as_ref()).unwrap() - n as f64).abs() < 1e-12);
        assert!(resolvent_pr(Mat::<f64>::identity(n, n).as_ref()).is_err());
    }

    #[test]
    fn spectral_radius_of_rotation_and_diagonal() {
        let mut d = Mat::<f64>::zeros(3, 3);
        d[(0, 0)] = -2.5;
        d[(1, 1)] = 1.0;
        assert!((spectral_radius(d.as_ref()).unwrap() - 2.5).abs() < 1e-14);
        let r = Mat::<f64>::from_fn(2, 2, |i, j| match (i, j) {
            (0, 1) => -1.5,
            (1, 0) => 1.5,
            _ => 0.0,
        });
        assert!((spectral_radius(r.as_ref()).unwrap() - 1.5).abs() < 1e-14);
    }
}
