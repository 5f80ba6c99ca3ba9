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

/// Largest dimension an exact statistic materialises (gentk-linalg's one limit).
pub const EXACT_LIMIT: usize = gentk_linalg::DENSE_LIMIT;

/// Which partial trace a space/time rank keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Keep hidden, trace (batch, time): a spatial rank.
    Space,
    /// Keep (batch, time), trace hidden: a temporal rank.
    Time,
}

impl Keep {
    /// The kept axis names.
    pub fn axes(self) -> &'static [&'static str] {
        match self {
            Keep::Space => SPACE,
            Keep::Time => TIME,
        }
    }
}

/// A statistic of a symmetric PSD operator on `[batch, time, hidden]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PsdStatistic {
    /// tr A.
    Trace,
    /// ‖A‖_F².
    Fro2,
    /// PR(A) = tr(A)²/‖A‖_F².
    EffRank,
    /// PR of a partial trace (textbook or compression; compress_sum and compress_mean give the same
    /// PR).
    EffRankPartial(Keep, PtraceVariant),
    /// The k largest eigenvalues.
    TopEigs(usize),
    /// Every eigenvalue (exact only).
    Spectrum,
}

/// How a statistic is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Estimator {
    /// Materialise the operator (refused above `limit`) and compute densely.
    Exact {
        /// Largest dimension materialised (normally [`EXACT_LIMIT`]).
        limit: usize,
    },
    /// Seeded randomized estimators with a matvec budget.
    Randomized {
        /// Operator applications (U-statistic samples for textbook partial PRs).
        budget: usize,
        /// Probe seed.
        seed: u64,
    },
}

/// One value of a statistic with what it cost and how sure it is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StatValue {
    /// Eigenvalue index (top_eigs, spectrum), else `None`.
    pub index: Option<usize>,
    /// The value.
    pub value: f64,
    /// Standard error, where the estimator has one.
    pub stderr: Option<f64>,
    /// Operator applications spent (an exact statistic: the n applications that materialise it).
    pub matvecs: usize,
    /// True when the value is exact up to rounding (dense path, or the budget covered the space).
    pub exact: bool,
}

fn one(value: f64, stderr: Option<f64>, matvecs: usize, exact: bool) -> Vec<StatValue> {
    vec![StatValue {
        index: None,
        value,
        stderr,
        matvecs,
        exact,
    }]
}

/// `stat` of the operator A (= F F* when `factor` is given, which the textbook partial PRs use
/// through the U-statistic) on `shape`, by `est`: the one statistic → estimator mapping that the
/// pipeline and `gentk inspect` share.
pub fn statistic<A: LinearOp, F: LinearOp>(
    a: &A,
    factor: Option<&F>,
    shape: &Shape,
    stat: PsdStatistic,
    est: Estimator,
) -> Result<Vec<StatValue>> {
    let n = a.shape_in().numel();
    let (b, seed) = match est {
        Estimator::Exact { limit } => {
            let dense = gentk_linalg::materialize(a, limit)?;
            let mut out = dense_statistic(dense.as_ref(), shape, stat)?;
            for v in &mut out {
                v.matvecs = n;
            }
            return Ok(out);
        }
        Estimator::Randomized { budget, seed } => (budget, seed),
    };
    Ok(match stat {
        PsdStatistic::Trace => {
            let e = hutchpp(a, b, seed, HutchppSplit::Library)?;
            one(e.value, e.stderr, e.matvecs, e.exact)
        }
        PsdStatistic::Fro2 => {
            let e = frobenius_norm(a, b, seed)?;
            one(
                e.value * e.value,
                e.stderr.map(|x| 2.0 * e.value * x),
                2 * e.matvecs,
                e.exact,
            )
        }
        // Participation ratios are ratios of estimates: their standard errors are jackknifed.
        PsdStatistic::EffRank => {
            let e = participation_ratio(
                a,
                PrOptions {
                    budget: b,
                    seed,
                    exact_limit: 0,
                },
            )?;
            one(e.value, e.stderr, e.matvecs, e.exact)
        }
        PsdStatistic::EffRankPartial(keep, variant) => match (variant, factor) {
            (PtraceVariant::Textbook, Some(f)) => {
                let u = ustat_partial_pr(f, keep.axes(), b, seed)?;
                one(u.textbook, u.stderr_textbook, u.matvecs, false)
            }
            _ => {
                let e = participation_ratio_partial(
                    a,
                    keep.axes(),
                    variant,
                    PrOptions {
                        budget: b,
                        seed,
                        exact_limit: b,
                    },
                )?;
                one(e.value, e.stderr, e.matvecs, e.exact)
            }
        },
        PsdStatistic::TopEigs(k) => {
            let r = top_eigenpairs(
                a,
                k.min(n),
                EigOptions {
                    max_matvecs: b.max(2 * k),
                    dense_limit: 0,
                    seed,
                    ..Default::default()
                },
            )?;
            r.values
                .into_iter()
                .enumerate()
                .map(|(i, value)| StatValue {
                    index: Some(i),
                    value,
                    stderr: None,
                    matvecs: r.matvecs,
                    exact: false,
                })
                .collect()
        }
        PsdStatistic::Spectrum => {
            return Err(crate::NtkError::Invalid(
                "the whole spectrum has no randomized estimator; use the exact estimator".into(),
            ));
        }
    })
}

/// `stat` of a dense matrix (symmetrised first) on `shape`; `matvecs` = 0 (the caller knows what
/// materialising it cost).
pub fn dense_statistic(
    a: MatRef<'_, f64>,
    shape: &Shape,
    stat: PsdStatistic,
) -> Result<Vec<StatValue>> {
    let a = gentk_linalg::kernels::symmetrize(a);
    let exact = |v: f64| one(v, None, 0, true);
    Ok(match stat {
        PsdStatistic::Trace => exact(gentk_linalg::kernels::trace(a.as_ref())),
        PsdStatistic::Fro2 => exact(a.squared_norm_l2()),
        PsdStatistic::EffRank => {
            let t = gentk_linalg::kernels::trace(a.as_ref());
            exact(t * t / a.squared_norm_l2())
        }
        PsdStatistic::EffRankPartial(keep, variant) => {
            let split = AxisSplit::new(shape, keep.axes())?;
            let m = if variant == PtraceVariant::Textbook {
                dense_partial_trace(a.as_ref(), &split)
            } else {
                dense_compress(a.as_ref(), &split, false)
            };
            exact(pr_dense(m.as_ref()))
        }
        PsdStatistic::TopEigs(_) | PsdStatistic::Spectrum => {
            let all = gentk_linalg::kernels::sym_eigvals_desc(a.as_ref())?;
            let k = match stat {
                PsdStatistic::TopEigs(k) => k.min(all.len()),
                _ => all.len(),
            };
            all.into_iter()
                .take(k)
                .enumerate()
                .map(|(i, value)| StatValue {
                    index: Some(i),
                    value,
                    stderr: None,
                    matvecs: 0,
                    exact: true,
                })
                .collect()
        }
    })
}

/// The fields of [`OperatorStats`] as statistics, in order, with their offsets from the report's
/// seed (`gentk inspect`'s stable seeding).
const REPORT: [(&str, PsdStatistic, u64); 8] = [
    ("trace", PsdStatistic::Trace, 0),
    ("fro2", PsdStatistic::Fro2, 1),
    ("eff_rank", PsdStatistic::EffRank, 2),
    (
        "eff_rank_space",
        PsdStatistic::EffRankPartial(Keep::Space, PtraceVariant::Textbook),
        3,
    ),
    (
        "eff_rank_time",
        PsdStatistic::EffRankPartial(Keep::Time, PtraceVariant::Textbook),
        4,
    ),
    (
        "eff_rank_space_kp",
        PsdStatistic::EffRankPartial(Keep::Space, PtraceVariant::CompressSum),
        5,
    ),
    (
        "eff_rank_time_kp",
        PsdStatistic::EffRankPartial(Keep::Time, PtraceVariant::CompressSum),
        6,
    ),
    ("top_eigs", PsdStatistic::TopEigs(0), 7),
];

fn fill(values: &[Vec<StatValue>]) -> OperatorStats {
    let v = |i: usize| values[i].first().map_or(f64::NAN, |x| x.value);
    OperatorStats {
        trace: v(0),
        fro2: v(1),
        eff_rank: v(2),
        eff_rank_space: v(3),
        eff_rank_time: v(4),
        eff_rank_space_kp: v(5),
        eff_rank_time_kp: v(6),
        top_eigs: values[7].iter().map(|x| x.value).collect(),
    }
}

fn with_top(stat: PsdStatistic, top: usize) -> PsdStatistic {
    match stat {
        PsdStatistic::TopEigs(_) => PsdStatistic::TopEigs(top),
        s => s,
    }
}

/// Exact statistics of a dense symmetric matrix on `shape` (`[batch, time, hidden]`).
pub fn exact_stats(a: MatRef<'_, f64>, shape: &Shape, top: usize) -> Result<OperatorStats> {
    let values = REPORT
        .iter()
        .map(|(_, s, _)| dense_statistic(a, shape, with_top(*s, top)))
        .collect::<Result<Vec<_>>>()?;
    Ok(fill(&values))
}

/// Randomized statistics of a PSD operator A = F F* with budget `m` per statistic (top eigenvalues:
/// 2m), each through [`statistic`] with seed `seed + k` for the k-th field: trace by Hutch++, ‖A‖_F²
/// by Hutch++ on A², PR by shared orthonormal probes, textbook partial-trace PRs by the U-statistic
/// on m forward samples of F, compression PRs exactly when the kept dimension ≤ m (else by probes),
/// top eigenvalues by block Lanczos.
pub fn randomized_stats<A: LinearOp, F: LinearOp>(
    a: &A,
    f: &F,
    m: usize,
    seed: u64,
    top: usize,
) -> Result<(OperatorStats, Uncertainty)> {
    let mut u = Uncertainty::default();
    let mut values = Vec::with_capacity(REPORT.len());
    for (name, stat, offset) in REPORT {
        let budget = if name == "top_eigs" {
            2 * m.max(top)
        } else {
            m
        };
        let v = statistic(
            a,
            Some(f),
            a.shape_in(),
            with_top(stat, top),
            Estimator::Randomized {
                budget,
                seed: seed.wrapping_add(offset),
            },
        )?;
        u.matvecs
            .insert(name.into(), v.first().map_or(0, |x| x.matvecs));
        if let Some(se) = v.first().and_then(|x| x.stderr) {
            u.stderr.insert(name.into(), se);
        }
        values.push(v);
    }
    Ok((fill(&values), u))
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
    /// Applications of the operator (its dimension when solved densely).
    pub matvecs: usize,
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
        matvecs: r.matvecs,
    })
}

/// Rayleigh quotient ⟨A q, q⟩/⟨q, q⟩ of a target direction (target-mode alignment).
pub fn target_rayleigh<A: LinearOp>(a: &A, q: &[f64]) -> Result<f64> {
    Ok(gentk_linalg::norms::rayleigh(a, q)?)
}
