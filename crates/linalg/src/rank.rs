//! Participation ratios (effective ranks) PR(A) = tr(A)² / ‖A‖_F² of full operators and of both
//! partial-trace variants (PAPER.md §1.4, §5.5–5.7), with exact dense paths for small kept
//! dimensions and the U-statistic estimator of the textbook partial-trace PR.

use faer::{Mat, MatRef};

use crate::combinators::Gram;
use crate::error::{Result, invalid};
use crate::estimate::{Estimate, jackknife_stderr};
use crate::kernels::{frob_dot, gemm, symmetrize, trace};
use crate::norms::alignment;
use crate::op::{LinearOp, apply_new, check_square, materialize};
use crate::partial::{Compress, PartialTrace, PtraceVariant};
use crate::primitives::Identity;
use crate::probes::{ProbeKind, purpose, seeded_block};
use crate::shape::AxisSplit;

/// Budget, seed and the dimension up to which the exact (materialise + dense) path is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrOptions {
    /// Probes for the randomized path (applications of the operator whose PR is estimated).
    pub budget: usize,
    /// Probe seed.
    pub seed: u64,
    /// Largest (kept) dimension that is materialised and computed exactly.
    pub exact_limit: usize,
}

impl Default for PrOptions {
    fn default() -> Self {
        PrOptions {
            budget: 100,
            seed: 0,
            exact_limit: 3000,
        }
    }
}

/// PR of a list of eigenvalues: (Σλ)² / Σλ².
pub fn pr_of_eigenvalues(lambda: &[f64]) -> f64 {
    let s: f64 = lambda.iter().sum();
    let s2: f64 = lambda.iter().map(|l| l * l).sum();
    s * s / s2
}

/// PR of a dense symmetric matrix: tr(M)² / ‖M‖_F².
pub fn pr_dense(m: MatRef<'_, f64>) -> f64 {
    let t = trace(m);
    t * t / m.squared_norm_l2()
}

/// PR(A) = tr(A)² / ‖A‖_F² of a square symmetric operator. Exact (d applications) when
/// d ≤ `exact_limit`; otherwise kpflow's estimator d·cos²(A, I) with shared orthonormal probes
/// (consistent, exact when budget ≥ d).
pub fn participation_ratio<A: LinearOp>(a: &A, opts: PrOptions) -> Result<Estimate> {
    check_square("participation_ratio", a)?;
    let d = a.shape_in().numel();
    if d <= opts.exact_limit {
        let m = symmetrize(materialize(a, opts.exact_limit)?.as_ref());
        return Ok(Estimate::exact(pr_dense(m.as_ref()), d));
    }
    let id = Identity::new(a.shape_in().clone());
    let al = alignment(a, &id, opts.budget, opts.seed)?;
    let value = d as f64 * al.cos * al.cos;
    Ok(Estimate {
        value,
        matvecs: al.probes,
        // Delta method through PR = d·cos²: se(PR) = 2·d·|cos|·se(cos).
        stderr: al.stderr.map(|s| 2.0 * d as f64 * al.cos.abs() * s),
        exact: al.exact,
    })
}

/// eff_rank_sq(A) := PR(A A*), kpflow's default "grammian" rank, only under its explicit name.
pub fn eff_rank_sq<A: LinearOp>(a: &A, opts: PrOptions) -> Result<Estimate> {
    participation_ratio(&Gram(a), opts)
}

/// PR of a partial trace of a square operator, keeping the named axes, in the named variant.
/// Compressions (sum and mean give the same PR) cost one A application per probe and are exact
/// when the kept dimension ≤ `exact_limit`. The textbook variant is exact when the **full**
/// dimension ≤ `exact_limit` (A is materialised); otherwise each probe costs n applications of A —
/// prefer [`ustat_partial_pr`] when A = F F* is available through F.
pub fn participation_ratio_partial<A: LinearOp>(
    a: &A,
    keep: &[&str],
    variant: PtraceVariant,
    opts: PrOptions,
) -> Result<Estimate> {
    match variant {
        PtraceVariant::CompressSum => participation_ratio(&Compress::sum(a, keep)?, opts),
        PtraceVariant::CompressMean => participation_ratio(&Compress::mean(a, keep)?, opts),
        PtraceVariant::Textbook => {
            let pt = PartialTrace::new(a, keep)?;
            let d = a.shape_in().numel();
            if d <= opts.exact_limit {
                let full = materialize(a, opts.exact_limit)?;
                let m = dense_partial_trace(full.as_ref(), &AxisSplit::new(a.shape_in(), keep)?);
                return Ok(Estimate::exact(
                    pr_dense(symmetrize(m.as_ref()).as_ref()),
                    d,
                ));
            }
            let n = d / pt.shape_in().numel();
            let mut e = participation_ratio(&pt, opts)?;
            e.matvecs *= n;
            Ok(e)
        }
    }
}

/// Dense textbook partial trace of a materialised operator: M[i,i'] = Σ_j A[(i,j),(i',j)].
pub fn dense_partial_trace(a: MatRef<'_, f64>, split: &AxisSplit) -> Mat<f64> {
    let (ko, to) = (&split.kept_offset, &split.traced_offset);
    Mat::from_fn(ko.len(), ko.len(), |i, k| {
        to.iter().map(|&t| a[(ko[i] + t, ko[k] + t)]).sum()
    })
}

/// Dense compression of a materialised operator: M[i,i'] = Σ_{j,j'} A[(i,j),(i',j')] (× 1/n if mean).
pub fn dense_compress(a: MatRef<'_, f64>, split: &AxisSplit, mean: bool) -> Mat<f64> {
    let (ko, to) = (&split.kept_offset, &split.traced_offset);
    let s = if mean { 1.0 / to.len() as f64 } else { 1.0 };
    Mat::from_fn(ko.len(), ko.len(), |i, k| {
        s * to
            .iter()
            .map(|&t| to.iter().map(|&u| a[(ko[i] + t, ko[k] + u)]).sum::<f64>())
            .sum::<f64>()
    })
}

/// Both partial-trace PRs of A = F F* from the same forward samples of F.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UStatPr {
    /// PR of the textbook Tr_n(F F*).
    pub textbook: f64,
    /// PR of the compression C_n(F F*).
    pub compression: f64,
    /// Unbiased estimate of tr(Tr_n(F F*)) = ‖F‖_F².
    pub trace: f64,
    /// Unbiased estimate of tr(Tr_n(F F*)²).
    pub trace_sq_textbook: f64,
    /// Unbiased estimate of tr(C_n(F F*)²).
    pub trace_sq_compression: f64,
    /// Jackknife standard error of `textbook` (leave one sample out; `None` below 3 samples).
    pub stderr_textbook: Option<f64>,
    /// Jackknife standard error of `compression`.
    pub stderr_compression: Option<f64>,
    /// Forward passes of F (samples).
    pub matvecs: usize,
}

/// U-statistic PRs (PAPER.md §5.7) of the partial traces of A = F F*, keeping the named axes of F's
/// output. With Y_i = F ξ_i (ξ_i ~ N(0, I)) reshaped to m x n: tr(M) ≈ mean ‖Y_i‖²,
/// tr(M²) ≈ mean_{i≠j} ‖Y_iᵀ Y_j‖² for M = Tr_n(A), and with y_i = Y_i 1: mean (y_iᵀ y_j)² for the
/// compression. Both ratio estimates are consistent (each of tr, tr² is unbiased).
pub fn ustat_partial_pr<F: LinearOp>(
    f: &F,
    keep: &[&str],
    samples: usize,
    seed: u64,
) -> Result<UStatPr> {
    if samples < 2 {
        return Err(invalid(
            "samples",
            "the U-statistic needs at least 2 samples",
        ));
    }
    let split = AxisSplit::new(f.shape_out(), keep)?;
    let (ko, to) = (&split.kept_offset, &split.traced_offset);
    let (m, n) = (ko.len(), to.len());
    let xi = seeded_block(
        seed,
        purpose::RESIDUAL,
        ProbeKind::Gaussian,
        f.shape_in().numel(),
        samples,
    );
    let y = apply_new(f, xi.as_ref());
    // Stack Y_i (m x n) side by side: Z = [Y_1 … Y_S] (m x nS).
    let z = Mat::from_fn(m, n * samples, |i, c| {
        let (s, j) = (c / n, c % n);
        y[(ko[i] + to[j], s)]
    });
    let sf = samples as f64;
    let t1 = z.squared_norm_l2() / sf;
    // Σ_{i≠j} ‖Y_iᵀY_j‖² = ‖Σ G_i‖² − Σ‖G_i‖² with G_i = Y_i Y_iᵀ (m x m), or from ZᵀZ blocks;
    // also each sample's share r_s = Σ_{j≠s} ‖Y_sᵀY_j‖² (for the leave-one-out values).
    let (pair_sum, row_sums) = if m * m * n * samples <= m * (n * samples) * (n * samples) {
        let gram_of = |s: usize| {
            let yi = z.subcols(s * n, n);
            let mut g = Mat::zeros(m, m);
            gemm(g.as_mut(), yi, yi.transpose(), 1.0, false);
            g
        };
        let mut total = Mat::<f64>::zeros(m, m);
        let mut norms = Vec::with_capacity(samples);
        for s in 0..samples {
            let g = gram_of(s);
            norms.push(g.squared_norm_l2());
            total += &g;
        }
        // r_s = ⟨Σ G, G_s⟩ − ‖G_s‖² (a second pass: the G_s are not kept).
        let rows = (0..samples)
            .map(|s| frob_dot(total.as_ref(), gram_of(s).as_ref()) - norms[s])
            .collect::<Vec<f64>>();
        (total.squared_norm_l2() - norms.iter().sum::<f64>(), rows)
    } else {
        let mut zz = Mat::zeros(n * samples, n * samples);
        gemm(zz.as_mut(), z.transpose(), z.as_ref(), 1.0, false);
        let mut rows = vec![0.0; samples];
        for (a, r) in rows.iter_mut().enumerate() {
            for b in 0..samples {
                if a != b {
                    let blk = zz.as_ref().submatrix(a * n, b * n, n, n);
                    *r += frob_dot(blk, blk);
                }
            }
        }
        (rows.iter().sum(), rows)
    };
    let t2 = pair_sum / (sf * (sf - 1.0));
    // Compression: y_i = Y_i 1_n.
    let yc = Mat::from_fn(m, samples, |i, s| {
        (0..n).map(|j| z[(i, s * n + j)]).sum::<f64>()
    });
    let c1 = yc.squared_norm_l2() / sf;
    let mut cc = Mat::zeros(samples, samples);
    gemm(cc.as_mut(), yc.transpose(), yc.as_ref(), 1.0, false);
    let mut c2 = 0.0;
    for a in 0..samples {
        for b in 0..samples {
            if a != b {
                c2 += cc[(a, b)] * cc[(a, b)];
            }
        }
    }
    c2 /= sf * (sf - 1.0);
    // Leave sample s out: each mean loses its terms and is renormalised (S − 1 samples, (S − 1)(S − 2)
    // ordered pairs).
    let (stderr_textbook, stderr_compression) = if samples >= 3 {
        let (s1, s2) = (sf - 1.0, (sf - 1.0) * (sf - 2.0));
        let ys: Vec<f64> = (0..samples)
            .map(|s| z.subcols(s * n, n).squared_norm_l2())
            .collect();
        let tb: Vec<f64> = (0..samples)
            .map(|s| {
                let t1s = (sf * t1 - ys[s]) / s1;
                t1s * t1s / ((pair_sum - 2.0 * row_sums[s]) / s2)
            })
            .collect();
        let cp: Vec<f64> = (0..samples)
            .map(|s| {
                let c1s = (sf * c1 - cc[(s, s)]) / s1;
                let rs: f64 = (0..samples)
                    .filter(|&b| b != s)
                    .map(|b| cc[(s, b)] * cc[(s, b)])
                    .sum();
                c1s * c1s / ((c2 * sf * (sf - 1.0) - 2.0 * rs) / s2)
            })
            .collect();
        (jackknife_stderr(&tb), jackknife_stderr(&cp))
    } else {
        (None, None)
    };
    Ok(UStatPr {
        textbook: t1 * t1 / t2,
        compression: c1 * c1 / c2,
        trace: t1,
        trace_sq_textbook: t2,
        trace_sq_compression: c2,
        stderr_textbook,
        stderr_compression,
        matvecs: samples,
    })
}

/// Data effective dimension data_pr(X; centered) of X (rows = samples, columns = features):
/// PR of XᵀX/N (uncentered) or of the covariance (centered).
pub fn data_pr(x: MatRef<'_, f64>, centered: bool) -> f64 {
    let (n, p) = (x.nrows(), x.ncols());
    let mut xc = x.to_owned();
    if centered {
        for j in 0..p {
            let mean = (0..n).map(|i| x[(i, j)]).sum::<f64>() / n as f64;
            for i in 0..n {
                xc[(i, j)] -= mean;
            }
        }
    }
    // PR is scale-invariant; use the smaller Gram (same nonzero spectrum).
    let g = if p <= n {
        crate::kernels::tmul(xc.as_ref(), xc.as_ref())
    } else {
        crate::kernels::mul(xc.as_ref(), xc.transpose())
    };
    pr_dense(g.as_ref())
}
