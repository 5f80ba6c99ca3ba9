//! Identity checks of F1 (PAPER §12.3): adjoint defects of every operator, ‖P P⁻¹ − I‖, the block
//! structure of K (block-diagonal over hidden units, equal blocks for weight-based cells), ‖K‖_F
//! against dt²√H‖G‖_F, and the core alignment cos_F(C_h(A), G) of an operator's temporal compression
//! with the site Gram (v_exact: the model's weight sites; v_kpflow: [z_t; x_t], kpflow's choice).

use faer::Mat;
use gentk_linalg::norms::alignment;
use gentk_linalg::probes::{ProbeKind, seeded_block};
use gentk_linalg::{Compress, Dense, LinearOp, View, materialize};
use gentk_models::Rollout;
use gentk_ntk::GlobalNtk;
use gentk_ntk::analysis::TIME;

use gentk_ntk::analysis::EXACT_LIMIT;
use gentk_spec::{Estimator, Measure, Operator, Spec, Statistic};

use super::Val;
use super::error::{MeasureError, Result};

/// RNG purpose of the check vectors (disjoint from probes, models, tasks and surrogates).
const CHECK_PURPOSE: u64 = (1 << 44) + 16;

/// Whether `statistic` is computed here.
pub fn handles(statistic: Statistic) -> bool {
    use Statistic as S;
    matches!(
        statistic,
        S::AdjointDefect
            | S::InverseError
            | S::BlockDefect
            | S::BlockSpread
            | S::CoreNormRatio
            | S::CoreAlignExact
            | S::CoreAlignKpflow
    )
}

fn apply<A: LinearOp>(a: &A, x: &Mat<f64>, adjoint: bool) -> Mat<f64> {
    let rows = if adjoint {
        a.shape_in().numel()
    } else {
        a.shape_out().numel()
    };
    let mut y = Mat::zeros(rows, x.ncols());
    if adjoint {
        a.apply_adjoint_block(x.as_ref(), y.as_mut());
    } else {
        a.apply_block(x.as_ref(), y.as_mut());
    }
    y
}

/// max over `pairs` Gaussian pairs of |⟨A x, y⟩ − ⟨x, A* y⟩| / (‖A x‖ ‖y‖).
pub fn adjoint_defect<A: LinearOp>(a: &A, pairs: usize, seed: u64) -> f64 {
    let (n_in, n_out) = (a.shape_in().numel(), a.shape_out().numel());
    let x = seeded_block(seed, CHECK_PURPOSE, ProbeKind::Gaussian, n_in, pairs);
    let y = seeded_block(seed, CHECK_PURPOSE + 1, ProbeKind::Gaussian, n_out, pairs);
    let (ax, aty) = (apply(a, &x, false), apply(a, &y, true));
    (0..pairs)
        .map(|j| {
            let dot = |p: &Mat<f64>, q: &Mat<f64>| -> f64 {
                p.col(j)
                    .iter()
                    .zip(q.col(j).iter())
                    .map(|(u, v)| u * v)
                    .sum()
            };
            let lhs = dot(&ax, &y);
            let rhs = dot(&x, &aty);
            (lhs - rhs).abs() / (dot(&ax, &ax).sqrt() * dot(&y, &y).sqrt()).max(f64::MIN_POSITIVE)
        })
        .fold(0.0, f64::max)
}

/// (‖K − ⊕_i A_i‖_F / ‖K‖_F, max_{i,j} ‖A_i − A_j‖_F / ‖A_0‖_F) of a dense operator on sites × H
/// (state index = site·H + i), A_i[s, s'] = K[(s, i), (s', i)].
pub fn block_structure(k: faer::MatRef<'_, f64>, hidden: usize) -> (f64, f64) {
    let n = k.nrows();
    let sites = n / hidden;
    let (mut off, mut total) = (0.0, 0.0);
    for r in 0..n {
        for c in 0..n {
            let v = k[(r, c)] * k[(r, c)];
            total += v;
            if r % hidden != c % hidden {
                off += v;
            }
        }
    }
    let block =
        |i: usize| Mat::<f64>::from_fn(sites, sites, |a, b| k[(a * hidden + i, b * hidden + i)]);
    let blocks: Vec<Mat<f64>> = (0..hidden).map(block).collect();
    let norm0 = blocks[0].norm_l2().max(f64::MIN_POSITIVE);
    let mut spread: f64 = 0.0;
    for i in 0..hidden {
        for j in i + 1..hidden {
            spread = spread.max((&blocks[i] - &blocks[j]).norm_l2() / norm0);
        }
    }
    ((off / total.max(f64::MIN_POSITIVE)).sqrt(), spread)
}

/// The v_exact site Gram on all (trial, step) sites: Σ over the K core's groups of S Sᵀ placed at the
/// sites where the group acts (block diagonal over steps for MLPs, whose weights act at one layer).
pub(crate) fn site_gram(g: &GlobalNtk<'_>, ro: &Rollout) -> Result<Mat<f64>> {
    let core = g.k()?;
    let (n, time) = (ro.sites(), ro.time);
    let mut acc = Mat::<f64>::zeros(n, n);
    for group in core.groups() {
        let len = group.steps.len();
        let gg = group.gram();
        let global = |r: usize| (r / len) * time + group.steps.start + r % len;
        for r in 0..gg.nrows() {
            for c in 0..gg.ncols() {
                acc[(global(r), global(c))] += gg[(r, c)];
            }
        }
    }
    Ok(acc)
}

/// G_k = V_k V_kᵀ with kpflow's V_k = [z_t; x_t].
fn kpflow_gram(ro: &Rollout) -> Mat<f64> {
    let v = super::direct::activity_matrix(ro);
    &v * v.transpose()
}

/// cos_F(C_h(A), G): dense when `exact`, else the seeded alignment estimator with `budget` probes
/// (with its jackknife standard error).
fn core_align<A: LinearOp>(a: &A, gram: Mat<f64>, m: &Measure, seed: u64) -> Result<Val> {
    let c = Compress::sum(a, TIME)?;
    if m.estimator == Estimator::Exact {
        let dense = materialize(&c, EXACT_LIMIT)?;
        let dot: f64 = dense
            .col_iter()
            .zip(gram.col_iter())
            .map(|(p, q)| p.iter().zip(q.iter()).map(|(u, v)| u * v).sum::<f64>())
            .sum();
        return Ok(Val {
            matvecs: dense.ncols() as i64,
            ..Val::one(dot / (dense.norm_l2() * gram.norm_l2()))[0]
        });
    }
    let shape = c.shape_in().clone();
    let gop = View::new(Dense::new(gram), shape.clone(), shape)?;
    let al = alignment(&c, &gop, m.budget, seed)?;
    Ok(Val {
        matvecs: al.probes as i64,
        stderr: al.stderr,
        exact: al.exact,
        ..Val::one(al.cos)[0]
    })
}

/// The adjoint defect of one of the operators of `g` (any source).
pub fn operator_adjoint_defect(
    g: &GlobalNtk<'_>,
    op: Operator,
    pairs: usize,
    seed: u64,
) -> Result<f64> {
    Ok(match op {
        Operator::P => adjoint_defect(&g.p(), pairs, seed),
        Operator::PInv => adjoint_defect(&g.p_inv()?, pairs, seed),
        Operator::JTheta => adjoint_defect(&g.j_theta()?, pairs, seed),
        Operator::K => adjoint_defect(&g.k()?, pairs, seed),
        Operator::KAutodiff => adjoint_defect(&g.k_autodiff()?, pairs, seed),
        Operator::Ntk => adjoint_defect(&g.ntk()?, pairs, seed),
        Operator::PpStar => adjoint_defect(&g.pp_star(), pairs, seed),
        op => {
            return Err(MeasureError::Unsupported(format!(
                "adjoint_defect of `{op}`"
            )));
        }
    })
}

/// Evaluates one check of measurement `m` at a point.
pub fn measure(
    spec: &Spec,
    g: &GlobalNtk<'_>,
    ro: &Rollout,
    m: &Measure,
    seed: u64,
) -> Result<Vec<Val>> {
    use Operator as O;
    use Statistic as S;
    let pairs = m.k.max(1);
    let v = match (m.statistic, m.operator) {
        (S::AdjointDefect, op) => operator_adjoint_defect(g, op, pairs, seed)?,
        (S::InverseError, O::P) => {
            // ‖P P⁻¹ − I‖_F / √n, dense.
            let pinv = materialize(&g.p_inv()?, EXACT_LIMIT)?;
            let p = materialize(&g.p(), EXACT_LIMIT)?;
            let n = p.nrows();
            let d = &p * &pinv - Mat::<f64>::identity(n, n);
            d.norm_l2() / (n as f64).sqrt()
        }
        (S::BlockDefect | S::BlockSpread, O::K) => {
            let k = materialize(&g.k()?, EXACT_LIMIT)?;
            let (defect, spread) = block_structure(k.as_ref(), ro.hidden);
            if m.statistic == S::BlockDefect {
                defect
            } else {
                spread
            }
        }
        (S::CoreNormRatio, O::K) => {
            // ‖K‖_F / (dt² √H ‖G‖_F): 1 for weight-based cells (K = dt² G ⊗ I).
            let k = materialize(&g.k()?, EXACT_LIMIT)?;
            let dt = if spec.model.arch.is_leaky() {
                spec.model.dt
            } else {
                1.0
            };
            let gram = site_gram(g, ro)?;
            k.norm_l2() / (dt * dt * (ro.hidden as f64).sqrt() * gram.norm_l2())
        }
        (S::CoreAlignExact | S::CoreAlignKpflow, O::K | O::Ntk) => {
            let gram = if m.statistic == S::CoreAlignExact {
                site_gram(g, ro)?
            } else {
                kpflow_gram(ro)
            };
            return if m.operator == O::K {
                core_align(&g.k()?, gram, m, seed).map(|v| vec![v])
            } else {
                core_align(&g.ntk()?, gram, m, seed).map(|v| vec![v])
            };
        }
        (st, op) => {
            return Err(MeasureError::Unsupported(format!(
                "statistic `{st}` of operator `{op}`"
            )));
        }
    };
    Ok(Val::one(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_structure_of_kron_and_non_kron_matrices() {
        // G ⊗ I_H (state index site·H + i): no off-block mass, equal blocks.
        let (sites, h) = (4, 3);
        let gm = Mat::<f64>::from_fn(sites, sites, |a, b| 1.0 / (1.0 + a as f64 + b as f64));
        let kron = Mat::<f64>::from_fn(sites * h, sites * h, |r, c| {
            if r % h == c % h {
                gm[(r / h, c / h)]
            } else {
                0.0
            }
        });
        let (d, sp) = block_structure(kron.as_ref(), h);
        assert_eq!((d, sp), (0.0, 0.0));
        // D (G ⊗ I) D with unit-dependent D: block diagonal, unequal blocks.
        let scaled = Mat::<f64>::from_fn(sites * h, sites * h, |r, c| {
            kron[(r, c)] * (1.0 + (r % h) as f64)
        });
        let (d, sp) = block_structure(scaled.as_ref(), h);
        assert_eq!(d, 0.0);
        assert!((sp - 2.0).abs() < 1e-12, "{sp}");
        // A full matrix has off-block mass.
        let full = Mat::<f64>::from_fn(sites * h, sites * h, |_, _| 1.0);
        let (d, _) = block_structure(full.as_ref(), h);
        assert!((d - (2.0f64 / 3.0).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn adjoint_defect_detects_a_wrong_adjoint() {
        // A correct dense operator has defect ~1e-16; one whose adjoint is scaled does not.
        struct Wrong(Dense);
        impl LinearOp for Wrong {
            fn shape_in(&self) -> &gentk_linalg::Shape {
                self.0.shape_in()
            }
            fn shape_out(&self) -> &gentk_linalg::Shape {
                self.0.shape_out()
            }
            fn apply_block(&self, x: faer::MatRef<'_, f64>, y: faer::MatMut<'_, f64>) {
                self.0.apply_block(x, y)
            }
            fn apply_adjoint_block(&self, x: faer::MatRef<'_, f64>, mut y: faer::MatMut<'_, f64>) {
                self.0.apply_adjoint_block(x, y.as_mut());
                y *= faer::Scale(1.01);
            }
        }
        let a = seeded_block(3, CHECK_PURPOSE + 7, ProbeKind::Gaussian, 7, 5);
        assert!(adjoint_defect(&Dense::new(a.clone()), 4, 1) < 1e-14);
        assert!(adjoint_defect(&Wrong(Dense::new(a)), 4, 1) > 1e-3);
    }
}
