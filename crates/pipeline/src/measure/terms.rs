//! F13-extras (PAPER §12.3, the trace paper's "Estimating Related Terms"): quantities of the logit
//! NTK NTK_f = J_f J_fᵀ of a trained classifier — ‖NTK_f‖_F² = tr(NTK_f²), the alignment
//! cos_F(NTK_f, NTK₀) from three traces, and eff_rank = tr(NTK_f)²/tr(NTK_f²) — each by Hutch++
//! at every budget and rerun, against its value from the materialised kernels.
//!
//! J_f is the Jacobian of the readout's outputs at the last step (an MLP's logits) with respect to
//! every parameter: [W_out · last step · P J_θ | ∂f/∂θ_out]. Costs are counted in one-sided
//! passes (an NTK matvec is two, an NTK² matvec four); the direct value's cost is materialising
//! each kernel it needs (n NTK matvecs each). Wall times go to the point's timings.

use faer::{Mat, MatMut, MatRef};
use gentk_linalg::trace::{HutchppSplit, hutchpp};
use gentk_linalg::{Compose, Concat, Dense, Gram, Identity, Kron, LinearOp, Shape, materialize};
use gentk_models::{Readout, Rollout};
use gentk_ntk::GlobalNtk;
use gentk_report::Row;
use gentk_spec::{Measure, Statistic};

use super::build::build_model;
use super::error::{MeasureError, Result};
use super::trace::{LastSteps, draw_seed};
use super::{Snapshot, base_row};

/// ∂f/∂θ_out of a bias-carrying readout f = W z + b at fixed states z `[B, H]`:
/// (dW `[n_y, H]` row-major, db `[n_y]`) ↦ dW z_b + db for each trial b, `[B, 1, n_y]`.
pub struct ReadoutJacobian {
    z: Mat<f64>,
    ny: usize,
    shape_in: Shape,
    shape_out: Shape,
}

impl ReadoutJacobian {
    /// At the states `z` (B x H) for `ny` outputs with a bias.
    pub fn new(z: Mat<f64>, ny: usize) -> Self {
        let (b, h) = (z.nrows(), z.ncols());
        ReadoutJacobian {
            z,
            ny,
            shape_in: Shape::flat("readout", ny * h + ny),
            shape_out: Shape::state(b, 1, ny),
        }
    }
}

impl LinearOp for ReadoutJacobian {
    fn shape_in(&self) -> &Shape {
        &self.shape_in
    }
    fn shape_out(&self) -> &Shape {
        &self.shape_out
    }
    fn apply_block(&self, x: MatRef<'_, f64>, mut y: MatMut<'_, f64>) {
        let (b, h, ny) = (self.z.nrows(), self.z.ncols(), self.ny);
        for j in 0..x.ncols() {
            for s in 0..b {
                for o in 0..ny {
                    let w: f64 = (0..h).map(|i| x[(o * h + i, j)] * self.z[(s, i)]).sum();
                    y[(s * ny + o, j)] = w + x[(ny * h + o, j)];
                }
            }
        }
    }
    fn apply_adjoint_block(&self, x: MatRef<'_, f64>, mut y: MatMut<'_, f64>) {
        let (b, h, ny) = (self.z.nrows(), self.z.ncols(), self.ny);
        for j in 0..x.ncols() {
            for o in 0..ny {
                for i in 0..h {
                    y[(o * h + i, j)] = (0..b).map(|s| x[(s * ny + o, j)] * self.z[(s, i)]).sum();
                }
                y[(ny * h + o, j)] = (0..b).map(|s| x[(s * ny + o, j)]).sum();
            }
        }
    }
}

/// The logit Jacobian J_f of a rollout: `[θ_model; θ_readout]` → outputs at the last step.
pub fn logit_jacobian<'a>(
    g: &GlobalNtk<'a>,
    ro: &Rollout,
    readout: &Readout,
) -> Result<impl LinearOp + 'a> {
    let (b, t, h) = (ro.batch, ro.time, ro.hidden);
    let ny = readout.output_size();
    if readout.bias().is_none() {
        return Err(MeasureError::Unsupported(
            "logit_ntk of a readout without a bias".into(),
        ));
    }
    let w = Dense::with_shapes(
        readout.weight().to_owned(),
        Shape::flat("hidden", h),
        Shape::flat("output", ny),
    )?;
    let out = Kron::new(Identity::new(Shape::flat("site", b)), w);
    let last = LastSteps::new(b, t, h, 1);
    let model = Compose::new(out, Compose::new(last, g.dz_dtheta()?)?)?;
    let z = Mat::from_fn(b, h, |s, i| ro.states[((s * t) + t - 1) * h + i]);
    Ok(Concat::new(model, ReadoutJacobian::new(z, ny))?)
}

/// The value of a term from traces (t_a, t_b, t_c) of its operators (see [`terms`]).
fn combine(st: Statistic, t: &[f64]) -> f64 {
    match st {
        Statistic::Fro2 => t[0],
        Statistic::EffRank => t[0] * t[0] / t[1],
        _ => t[0] / (t[1] * t[2]).sqrt(),
    }
}

/// Every row of a related-term measure at one snapshot.
pub(crate) fn rows(s: &Snapshot<'_>, m: &Measure, seed: u64, mseed: u64) -> Result<Vec<Row>> {
    let g = s.ntk()?;
    let jf = logit_jacobian(&g, s.ro, s.readout)?;
    let jf = crate::phases::Timed(&jf);
    let af = Gram(&jf);
    let n = jf.shape_out().numel();
    let clock = std::time::Instant::now();
    let dense_f = materialize(&af, usize::MAX)?;
    let base = base_row(m, seed);
    let table_stat = match m.statistic {
        Statistic::AlignmentInit => "alignment",
        st => st.as_str(),
    };
    // (direct value, its cost in one-sided passes) from the materialised kernels.
    let fro2 = |a: &Mat<f64>, b: &Mat<f64>| -> f64 {
        (0..n)
            .flat_map(|i| (0..n).map(move |j| (i, j)))
            .map(|(i, j)| a[(i, j)] * b[(i, j)])
            .sum()
    };
    let trace = |a: &Mat<f64>| (0..n).map(|i| a[(i, i)]).sum::<f64>();
    // NTK₀: the same point's model and readout at initialisation.
    let init = if m.statistic == Statistic::AlignmentInit {
        let model = build_model(s.spec, s.data.n_in, s.seed)?;
        let ro0 = model.rollout(s.data)?;
        let r0 = Readout::init(
            s.readout.hidden_size(),
            s.readout.output_size(),
            true,
            s.seed,
        )?;
        Some((model, ro0, r0))
    } else {
        None
    };
    let g0 = init
        .as_ref()
        .map(|(m0, ro0, _)| GlobalNtk::new(m0.sm(), ro0));
    let j0 = match (&g0, &init) {
        (Some(g0), Some((_, ro0, r0))) => Some(logit_jacobian(g0, ro0, r0)?),
        _ => None,
    };
    let (direct, direct_cost) = match &j0 {
        None if m.statistic == Statistic::Fro2 => (fro2(&dense_f, &dense_f), 2 * n),
        None => (
            combine(m.statistic, &[trace(&dense_f), fro2(&dense_f, &dense_f)]),
            2 * n,
        ),
        Some(j0) => {
            let dense_0 = materialize(&Gram(j0), usize::MAX)?;
            let t = [
                fro2(&dense_f, &dense_0),
                fro2(&dense_f, &dense_f),
                fro2(&dense_0, &dense_0),
            ];
            (combine(m.statistic, &t), 4 * n)
        }
    };
    let direct_seconds = clock.elapsed().as_secs_f64();
    let direct_row = Row {
        statistic: table_stat.into(),
        estimator: "exact".into(),
        budget: None,
        value: direct,
        matvecs: direct_cost as i64,
        ..base.clone()
    };
    let mut timings = vec![Row {
        statistic: "seconds".into(),
        value: direct_seconds,
        ..direct_row.clone()
    }];
    let mut out = vec![direct_row];
    let mut budgets = m.trace_budgets();
    budgets.sort_unstable();
    budgets.dedup();
    // The kernel products whose traces the terms need, built once.
    let sq_f = Compose::new(&af, &af)?;
    let a0 = j0.as_ref().map(Gram);
    let products = match &a0 {
        Some(a0) => Some((Compose::new(&af, a0)?, Compose::new(a0, a0)?)),
        None => None,
    };
    for rerun in 0..m.reruns {
        for &budget in &budgets {
            let clock = std::time::Instant::now();
            let draw = |k: usize| draw_seed(mseed, k, budget, rerun);
            let pp = |op: &dyn LinearOp, k: usize| {
                hutchpp(op, budget, draw(k), HutchppSplit::TracePaper)
            };
            // (traces, passes): an NTK matvec is 2 one-sided passes, a product of two is 4.
            let (t, passes) = match (&products, m.statistic) {
                (None, Statistic::Fro2) => {
                    let e = pp(&sq_f, 0)?;
                    (vec![e.value], 4 * e.matvecs)
                }
                (None, _) => {
                    let (e1, e2) = (pp(&af, 0)?, pp(&sq_f, 1)?);
                    (vec![e1.value, e2.value], 2 * e1.matvecs + 4 * e2.matvecs)
                }
                (Some((cross, sq_0)), _) => {
                    let es = [pp(cross, 0)?, pp(&sq_f, 1)?, pp(sq_0, 2)?];
                    (
                        es.iter().map(|e| e.value).collect(),
                        4 * es.iter().map(|e| e.matvecs).sum::<usize>(),
                    )
                }
            };
            let seconds = clock.elapsed().as_secs_f64();
            let value = combine(m.statistic, &t);
            let row = Row {
                estimator: "hutchpp".into(),
                budget: Some(budget as i64),
                rerun: Some(rerun as i64),
                matvecs: passes as i64,
                ..base.clone()
            };
            timings.push(Row {
                statistic: "seconds".into(),
                value: seconds,
                ..row.clone()
            });
            out.push(Row {
                statistic: table_stat.into(),
                value,
                ..row.clone()
            });
            out.push(Row {
                statistic: "rel_error".into(),
                value: (value - direct).abs() / direct.abs(),
                ..row
            });
        }
    }
    s.timings.borrow_mut().extend(timings);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gentk_models::{Mlp, MlpConfig, StepModel};

    /// The logits at the last layer of an MLP with a readout, for flat parameters [θ; θ_out].
    fn logits(m: &Mlp, r: &Readout, x: &[f64], b: usize) -> Vec<f64> {
        let ro = m.forward(x, b).unwrap();
        let (t, h) = (ro.time, ro.hidden);
        let z: Vec<f64> = (0..b)
            .flat_map(|s| ro.states[(s * t + t - 1) * h..(s * t + t) * h].to_vec())
            .collect();
        r.apply(&z)
    }

    #[test]
    fn the_logit_jacobian_matches_finite_differences_over_every_parameter() {
        let (b, nx, h, depth, ny) = (3, 4, 5, 3, 2);
        let mut m = Mlp::init(MlpConfig::deep_relu(nx, h, depth), 1.0, 1).unwrap();
        let mut r = Readout::init(h, ny, true, 2).unwrap();
        let x: Vec<f64> = (0..b * nx)
            .map(|i| ((i * 7 % 11) as f64 - 5.0) / 3.0)
            .collect();
        let ro = m.forward(&x, b).unwrap();
        let (dense, adj) = {
            let g = GlobalNtk::new(&m, &ro);
            let jf = logit_jacobian(&g, &ro, &r).unwrap();
            (
                materialize(&jf, usize::MAX).unwrap(),
                materialize(&gentk_linalg::Adjoint(&jf), usize::MAX).unwrap(),
            )
        };
        let (nm, nr) = (m.params().layout().len(), r.params().layout().len());
        assert_eq!(dense.ncols(), nm + nr);
        let eps = 1e-6;
        let mut worst: f64 = 0.0;
        for p in 0..nm + nr {
            let mut f = [vec![], vec![]];
            for (k, sgn) in [1.0, -1.0].into_iter().enumerate() {
                let (vals, i) = if p < nm {
                    (m.params_mut().values_mut(), p)
                } else {
                    (r.params_mut().values_mut(), p - nm)
                };
                vals[i] += sgn * eps;
                f[k] = logits(&m, &r, &x, b);
                let vals = if p < nm {
                    m.params_mut().values_mut()
                } else {
                    r.params_mut().values_mut()
                };
                vals[i] -= sgn * eps;
            }
            for o in 0..b * ny {
                let fd = (f[0][o] - f[1][o]) / (2.0 * eps);
                worst = worst.max((fd - dense[(o, p)]).abs() / (1.0 + fd.abs()));
            }
        }
        assert!(worst < 1e-7, "J_f vs finite differences: {worst:e}");
        // The adjoint is the transpose.
        let d = (0..adj.nrows())
            .flat_map(|i| (0..adj.ncols()).map(move |j| (i, j)))
            .map(|(i, j)| (adj[(i, j)] - dense[(j, i)]).abs())
            .fold(0.0, f64::max);
        assert!(d < 1e-13, "adjoint defect {d:e}");
    }
}
