//! Analyses of NTK operators: trace, Frobenius norm, effective ranks (overall, space = keep hidden,
//! time = keep (batch, time)) in both partial-trace variants, top eigenvalues — exactly from a dense
//! matrix or by seeded, budgeted estimators with matvec counts and standard errors.

use std::collections::BTreeMap;

use faer::MatRef;
use gentk_linalg::eig::{EigOptions, top_eigenpairs};
use gentk_linalg::norms::frobenius_norm;
use gentk_linalg::rank::{
    PrOptions, dense_compress, dense_partial_trace, participation_ratio,
    participation_ratio_partial, pr_dense, ustat_partial_pr,
};
use gentk_linalg::trace::{HutchppSplit, hutchpp};
use gentk_linalg::{AxisSplit, LinearOp, PtraceVariant, Shape};

use crate::error::Result;

/// Axes kept by a "space" rank.
pub const SPACE: &[&str] = &["hidden"];
/// Axes kept by a "time" rank.
pub const TIME: &[&str] = &["batch", "time"];

/// The statistics `gentk inspect` reports for K and NTK_S (DESIGN.md §4).
#[derive(Debug, Clone, PartialEq)]
pub struct OperatorStats {
    /// tr(A).
    pub trace: f64,
    /// ‖A‖_F².
    pub fro2: f64,
    /// PR(A) = tr(A)²/‖A‖_F².
    pub eff_rank: f64,
    /// PR of the textbook partial trace keeping hidden.
    pub eff_rank_space: f64,
    /// PR of the textbook partial trace keeping (batch, time).
    pub eff_rank_time: f64,
    /// PR of kpflow's compression keeping hidden.
    pub eff_rank_space_kp: f64,
    /// PR of kpflow's compression keeping (batch, time).
    pub eff_rank_time_kp: f64,
    /// Largest eigenvalues, descending.
    pub top_eigs: Vec<f64>,
}

/// Standard errors and matvec counts of randomized statistics, by field name.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Uncertainty {
    /// Standard errors where the estimator has one.
    pub stderr: BTreeMap<String, f64>,
    /// Operator applications (or factor passes) spent per statistic.
    pub matvecs: BTreeMap<String, usize>,
}

/// Exact statistics of a dense symmetric matrix on `shape` (`[batch, time, hidden]`).
pub fn exact_stats(a: MatRef<'_, f64>, shape: &Shape, top: usize) -> Result<OperatorStats> {
    let a = gentk_linalg::kernels::symmetrize(a);
    let trace = gentk_linalg::kernels::trace(a.as_ref());
    let fro2 = a.squared_norm_l2();
    let pr = |keep: &[&str], textbook: bool| -> Result<f64> {
        let split = AxisSplit::new(shape, keep)?;
        let m = if textbook {
            dense_partial_trace(a.as_ref(), &split)
        } else {
            dense_compress(a.as_ref(), &split, false)
        };
        Ok(pr_dense(m.as_ref()))
    };
    let eigs = gentk_linalg::kernels::sym_eigvals_desc(a.as_ref())?;
    Ok(OperatorStats {
        trace,
        fro2,
        eff_rank: trace * trace / fro2,
        eff_rank_space: pr(SPACE, true)?,
        eff_rank_time: pr(TIME, true)?,
        eff_rank_space_kp: pr(SPACE, false)?,
        eff_rank_time_kp: pr(TIME, false)?,
        top_eigs: eigs.into_iter().take(top).collect(),
    })
}

/// Randomized statistics of a PSD operator A = F F* with budget `m` per statistic: trace by Hutch++,
/// ‖A‖_F² by Hutch++ on A², PR by shared orthonormal probes, textbook partial-trace PRs by the
/// U-statistic on m forward samples of F, compression PRs exactly when the kept dimension ≤ m
/// (else by probes), top eigenvalues by block Lanczos within 2m matvecs.
pub fn randomized_stats<A: LinearOp, F: LinearOp>(
    a: &A,
    f: &F,
    m: usize,
    seed: u64,
    top: usize,
) -> Result<(OperatorStats, Uncertainty)> {
    let mut u = Uncertainty::default();
    let tr = hutchpp(a, m, seed, HutchppSplit::Library)?;
    u.matvecs.insert("trace".into(), tr.matvecs);
    if let Some(s) = tr.stderr {
        u.stderr.insert("trace".into(), s);
    }
    let fro = frobenius_norm(a, m, seed.wrapping_add(1))?;
    let fro2 = fro.value * fro.value;
    u.matvecs.insert("fro2".into(), 2 * fro.matvecs);
    if let Some(s) = fro.stderr {
        u.stderr.insert("fro2".into(), 2.0 * fro.value * s);
    }
    let pr = participation_ratio(
        a,
        PrOptions {
            budget: m,
            seed: seed.wrapping_add(2),
            exact_limit: 0,
        },
    )?;
    u.matvecs.insert("eff_rank".into(), pr.matvecs);
    let us_space = ustat_partial_pr(f, SPACE, m.max(2), seed.wrapping_add(3))?;
    let us_time = ustat_partial_pr(f, TIME, m.max(2), seed.wrapping_add(4))?;
    u.matvecs.insert("eff_rank_space".into(), us_space.matvecs);
    u.matvecs.insert("eff_rank_time".into(), us_time.matvecs);
    let kp = |keep: &[&str], s: u64| -> Result<gentk_linalg::Estimate> {
        Ok(participation_ratio_partial(
            a,
            keep,
            PtraceVariant::CompressSum,
            PrOptions {
                budget: m,
                seed: s,
                exact_limit: m,
            },
        )?)
    };
    let (sk, tk) = (
        kp(SPACE, seed.wrapping_add(5))?,
        kp(TIME, seed.wrapping_add(6))?,
    );
    u.matvecs.insert("eff_rank_space_kp".into(), sk.matvecs);
    u.matvecs.insert("eff_rank_time_kp".into(), tk.matvecs);
    let n = a.shape_in().numel();
    let eig = top_eigenpairs(
        a,
        top.min(n),
        EigOptions {
            max_matvecs: 2 * m.max(top),
            dense_limit: 0,
            seed: seed.wrapping_add(7),
            tol: 1e-8,
            ..Default::default()
        },
    )?;
    u.matvecs.insert("top_eigs".into(), eig.matvecs);
    Ok((
        OperatorStats {
            trace: tr.value,
            fro2,
            eff_rank: pr.value,
            eff_rank_space: us_space.textbook,
            eff_rank_time: us_time.textbook,
            eff_rank_space_kp: sk.value,
            eff_rank_time_kp: tk.value,
            top_eigs: eig.values,
        },
        u,
    ))
}

/// Top eigenpairs with their residual certificates.
#[derive(Debug, Clone, PartialEq)]
pub struct Modes {
    /// Eigenvalues, descending.
    pub values: Vec<f64>,
    /// Unit eigenvectors, flattened in the operator's shape (e.g. `[batch, time]` for a temporal
    /// compression, `[hidden]` for a spatial one).
    pub vectors: Vec<Vec<f64>>,
    /// ‖A v − λ v‖ per pair.
    pub residuals: Vec<f64>,
}

/// Top-k eigenpairs of a symmetric operator (compose with `Compress` or `PartialTrace` to get
/// temporal [B, T] or spatial [H] modes).
pub fn top_modes<A: LinearOp>(a: &A, k: usize, opts: EigOptions) -> Result<Modes> {
    let r = top_eigenpairs(a, k, opts)?;
    let vectors = (0..r.vectors.ncols())
        .map(|j| r.vectors.col_as_slice(j).to_vec())
        .collect();
    Ok(Modes {
        values: r.values,
        vectors,
        residuals: r.residuals,
    })
}

/// Rayleigh quotient ⟨A q, q⟩/⟨q, q⟩ of a target direction (target-mode alignment).
pub fn target_rayleigh<A: LinearOp>(a: &A, q: &[f64]) -> Result<f64> {
    Ok(gentk_linalg::norms::rayleigh(a, q)?)
}
