//! Frobenius norm, relative difference, operator alignment and Rayleigh quotients (PAPER.md
//! §5.3–5.4).

use crate::combinators::{Gram, LinComb};
use crate::error::{LinalgError, Result, invalid};
use crate::estimate::Estimate;
use crate::kernels::{frob_dot, orthonormalize};
use crate::op::{LinearOp, LinearOpExt, apply_new, check_same};
use crate::probes::{ProbeKind, purpose, seeded_block};
use crate::trace::{HutchppSplit, hutchpp};

/// ‖A‖_F = √max(0, Hutch++(A A*)) (kpflow's definition). `budget` counts applications of A A*
/// (each one A and one A* pass). The standard error is propagated from the Hutch++ residual term:
/// se(‖A‖) ≈ se(‖A‖²)/(2‖A‖).
pub fn frobenius_norm<A: LinearOp>(a: &A, budget: usize, seed: u64) -> Result<Estimate> {
    let sq = hutchpp(&Gram(a), budget, seed, HutchppSplit::Library)?;
    let v = sq.value.max(0.0).sqrt();
    let se = sq
        .stderr
        .map(|s| if v > 0.0 { s / (2.0 * v) } else { s.sqrt() });
    Ok(Estimate {
        value: v,
        matvecs: sq.matvecs,
        stderr: se,
        exact: sq.exact,
    })
}

/// ‖A − B‖_F / max(atol, ‖A‖_F, ‖B‖_F), all three norms by Hutch++ with the same seed.
pub fn rel_diff<A: LinearOp, B: LinearOp>(
    a: &A,
    b: &B,
    budget: usize,
    seed: u64,
    atol: f64,
) -> Result<f64> {
    let diff = LinComb::sub(a, b)?;
    let nd = frobenius_norm(&diff, budget, seed)?.value;
    let na = frobenius_norm(a, budget, seed)?.value;
    let nb = frobenius_norm(b, budget, seed)?.value;
    Ok(nd / atol.max(na).max(nb))
}

/// Result of [`alignment`]: cos_F(A, B) and the three Frobenius inner products it is made of.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Alignment {
    /// tr(AᵀB) / (‖A‖_F ‖B‖_F), as a ratio of probe sums.
    pub cos: f64,
    /// Estimate of tr(AᵀB) (Σ⟨AΩ, BΩ⟩ with Ω = √(d/m) Q).
    pub inner: f64,
    /// Estimate of ‖A‖_F².
    pub norm_a2: f64,
    /// Estimate of ‖B‖_F².
    pub norm_b2: f64,
    /// Probes used (applications of A, and again of B).
    pub probes: usize,
    /// Standard error of `cos`: jackknife over the probe columns with the finite-population
    /// factor √(1 − m/d) of orthonormal probes drawn without replacement (0 when they span the
    /// space; `None` with one probe).
    pub stderr: Option<f64>,
    /// True when the probes spanned the whole input space (then every number is exact).
    pub exact: bool,
}

/// Operator alignment cos_F(A, B) = tr(AᵀB)/(‖A‖_F‖B‖_F) with shared orthonormal probes: Q from a
/// seeded Gaussian block (min(d, budget) columns), Ω = √(d/m) Q. A consistent ratio estimator,
/// exact when budget ≥ d; errors of the three sums largely cancel.
pub fn alignment<A: LinearOp, B: LinearOp>(
    a: &A,
    b: &B,
    budget: usize,
    seed: u64,
) -> Result<Alignment> {
    check_same("alignment (input shapes)", a.shape_in(), b.shape_in())?;
    check_same("alignment (output shapes)", a.shape_out(), b.shape_out())?;
    if budget == 0 {
        return Err(invalid("budget", "alignment needs at least one probe"));
    }
    let d = a.dim_in();
    let g = seeded_block(
        seed,
        purpose::ALIGNMENT,
        ProbeKind::Gaussian,
        d,
        budget.min(d),
    );
    let mut om = orthonormalize(g.as_ref());
    let m = om.ncols();
    let f = (d as f64 / m as f64).sqrt();
    for j in 0..m {
        om.col_as_slice_mut(j).iter_mut().for_each(|v| *v *= f);
    }
    let (ya, yb) = (apply_new(a, om.as_ref()), apply_new(b, om.as_ref()));
    let inner = frob_dot(ya.as_ref(), yb.as_ref());
    let (na, nb) = (ya.squared_norm_l2(), yb.squared_norm_l2());
    let denom = (na * nb).sqrt();
    // Leave probe j out: the three sums lose column j's terms (the √(d/m) scale cancels).
    let col = |y: &faer::Mat<f64>, z: &faer::Mat<f64>, j: usize| -> f64 {
        y.col_as_slice(j)
            .iter()
            .zip(z.col_as_slice(j))
            .map(|(u, v)| u * v)
            .sum()
    };
    let loo: Vec<f64> = (0..m)
        .map(|j| {
            let (ij, aj, bj) = (col(&ya, &yb, j), col(&ya, &ya, j), col(&yb, &yb, j));
            (inner - ij) / ((na - aj) * (nb - bj)).sqrt()
        })
        .collect();
    let fpc = (1.0 - m as f64 / d as f64).max(0.0).sqrt();
    let stderr = crate::estimate::jackknife_stderr(&loo).map(|s| s * fpc);
    if denom == 0.0 {
        return Err(LinalgError::InvalidArgument {
            name: "operators",
            reason: "an operator vanished on every probe; cosine undefined".into(),
        });
    }
    Ok(Alignment {
        cos: inner / denom,
        inner,
        norm_a2: na,
        norm_b2: nb,
        probes: m,
        stderr,
        exact: m >= d,
    })
}

/// Rayleigh quotient ⟨A q, q⟩ / ⟨q, q⟩ (e.g. target-mode alignment of an NTK).
pub fn rayleigh<A: LinearOp>(a: &A, q: &[f64]) -> Result<f64> {
    crate::op::check_square("rayleigh", a)?;
    let aq = a.apply(q)?;
    let qq: f64 = q.iter().map(|v| v * v).sum();
    if qq == 0.0 {
        return Err(invalid("q", "zero vector"));
    }
    Ok(aq.iter().zip(q).map(|(x, y)| x * y).sum::<f64>() / qq)
}
