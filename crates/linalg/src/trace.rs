//! Trace estimators (PAPER.md §5.2). Budgets count applications of the operator whose trace is
//! estimated; probes are drawn from (seed, purpose) streams, applied as blocks.
//!
//! | estimator | error for PSD A at budget m (Meyer et al. 2021; Epperly et al. 2024) |
//! |---|---|
//! | Hutchinson | Var = 2‖A‖_F² (Gaussian), 2(‖A‖_F² − Σ a_ii²) (Rademacher), per probe |
//! | Hutch++ / NA-Hutch++ | O(tr A / m) relative, exact once the sketch spans range(A) |
//! | XTrace / XNysTrace | exchangeable; ≤ Hutch++ error, with a built-in standard error |

use faer::linalg::triangular_solve::{
    solve_lower_triangular_in_place, solve_upper_triangular_in_place,
};
use faer::{Mat, MatRef, Par, Side};

use crate::error::{LinalgError, Result, invalid};
use crate::estimate::Estimate;
use crate::kernels::{
    col_dots, mean_stderr, mul, orthonormalize, pin_sequential, pinv, thin_qr, tmul, trace,
};
use crate::op::{LinearOp, apply_adjoint_new, apply_new, check_square};
use crate::probes::{ProbeKind, purpose, seeded_block};

fn need_square<A: LinearOp + ?Sized>(what: &str, a: &A) -> Result<usize> {
    check_square(what, a)?;
    Ok(a.shape_in().numel())
}

fn need_budget(budget: usize, min: usize, what: &str) -> Result<()> {
    if budget < min {
        return Err(invalid(
            "budget",
            format!("{what} needs at least {min} matvecs, got {budget}"),
        ));
    }
    Ok(())
}

/// Σ_i e_iᵀ A e_i with d applications of A (in blocks of 256).
pub fn direct_trace<A: LinearOp + ?Sized>(a: &A) -> Result<Estimate> {
    let d = need_square("direct_trace", a)?;
    let mut t = 0.0;
    let mut start = 0;
    while start < d {
        let w = 256.min(d - start);
        let e = Mat::from_fn(d, w, |i, j| if i == start + j { 1.0 } else { 0.0 });
        let y = apply_new(a, e.as_ref());
        t += (0..w).map(|j| y[(start + j, j)]).sum::<f64>();
        start += w;
    }
    Ok(Estimate::exact(t, d))
}

/// Hutchinson: mean of ωᵀAω over `budget` i.i.d. probes.
pub fn hutchinson<A: LinearOp + ?Sized>(
    a: &A,
    budget: usize,
    seed: u64,
    kind: ProbeKind,
) -> Result<Estimate> {
    let d = need_square("hutchinson", a)?;
    need_budget(budget, 1, "Hutchinson")?;
    let om = seeded_block(seed, purpose::RESIDUAL, kind, d, budget);
    let y = apply_new(a, om.as_ref());
    let samples = col_dots(om.as_ref(), y.as_ref());
    let (mean, se) = mean_stderr(&samples);
    Ok(Estimate::random(mean, budget, se))
}

/// How Hutch++ divides its budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HutchppSplit {
    /// kpflow's library split: k = ⌊m/3⌋ sketch, k projection, k residual probes, residual scaled
    /// by **1/k** (kpflow's 3/m is wrong unless 3 | m).
    #[default]
    Library,
    /// The trace-paper split: q = ⌊m/6⌋ (+ parity fix) sketch, s = ⌊(m−q)/2⌋ residual probes;
    /// direct trace when m > d.
    TracePaper,
}

/// Hutch++ (Meyer, Musco, Musco, Woodruff 2021) with Rademacher probes.
pub fn hutchpp<A: LinearOp + ?Sized>(
    a: &A,
    budget: usize,
    seed: u64,
    split: HutchppSplit,
) -> Result<Estimate> {
    let d = need_square("hutchpp", a)?;
    let (q, s) = match split {
        HutchppSplit::Library => {
            need_budget(budget, 3, "Hutch++ (library split)")?;
            (budget / 3, budget / 3)
        }
        HutchppSplit::TracePaper => {
            if budget > d {
                return direct_trace(a);
            }
            need_budget(budget, 6, "Hutch++ (trace-paper split)")?;
            let mut q = budget / 6;
            let s = (budget - q) / 2;
            q += (budget - q) % 2;
            (q, s)
        }
    };
    hutchpp_sizes(a, d, q, s, seed)
}

fn hutchpp_sizes<A: LinearOp + ?Sized>(
    a: &A,
    d: usize,
    q: usize,
    s: usize,
    seed: u64,
) -> Result<Estimate> {
    pin_sequential();
    let om = seeded_block(seed, purpose::SKETCH, ProbeKind::Rademacher, d, q);
    let y = apply_new(a, om.as_ref());
    let qm = orthonormalize(y.as_ref());
    let aq = apply_new(a, qm.as_ref());
    let t1 = trace(tmul(qm.as_ref(), aq.as_ref()).as_ref());
    let mut matvecs = q + qm.ncols();
    if qm.ncols() >= d || s == 0 {
        return Ok(if qm.ncols() >= d {
            Estimate::exact(t1, matvecs)
        } else {
            Estimate::random(t1, matvecs, None)
        });
    }
    let psi = seeded_block(seed, purpose::RESIDUAL, ProbeKind::Rademacher, d, s);
    let psi_perp = project_out(qm.as_ref(), psi.as_ref());
    let ap = apply_new(a, psi_perp.as_ref());
    matvecs += s;
    let samples = col_dots(psi_perp.as_ref(), ap.as_ref());
    let (t2, se) = mean_stderr(&samples);
    Ok(Estimate::random(t1 + t2, matvecs, se))
}

/// X − Q (Qᵀ X).
pub(crate) fn project_out(q: MatRef<'_, f64>, x: MatRef<'_, f64>) -> Mat<f64> {
    let c = tmul(q, x);
    let mut out = x.to_owned();
    crate::kernels::gemm(out.as_mut(), q, c.as_ref(), -1.0, true);
    out
}

/// NA-Hutch++ (non-adaptive; all probes can be applied in one round): sketch sizes m/6 (S, via A*),
/// m/3 (R) and the rest (G), as recommended by its authors.
pub fn na_hutchpp<A: LinearOp + ?Sized>(a: &A, budget: usize, seed: u64) -> Result<Estimate> {
    let d = need_square("na_hutchpp", a)?;
    need_budget(budget, 6, "NA-Hutch++")?;
    pin_sequential();
    let (ns, nr) = (budget / 6, budget / 3);
    let ng = budget - ns - nr;
    let s = seeded_block(seed, purpose::SKETCH, ProbeKind::Rademacher, d, ns);
    let r = seeded_block(seed, purpose::SKETCH2, ProbeKind::Rademacher, d, nr);
    let g = seeded_block(seed, purpose::RESIDUAL, ProbeKind::Rademacher, d, ng);
    let z = apply_new(a, r.as_ref()); // A R
    let w = apply_adjoint_new(a, s.as_ref()); // Aᵀ S, so Wᵀ = Sᵀ A
    let ag = apply_new(a, g.as_ref());
    let x = pinv(tmul(s.as_ref(), z.as_ref()).as_ref(), 1e-12)?; // (Sᵀ A R)⁺
    let wz = tmul(w.as_ref(), z.as_ref()); // Sᵀ A A R
    let low = trace(mul(x.as_ref(), wz.as_ref()).as_ref());
    // Residual samples: g_iᵀ A g_i − (Gᵀ Z X Wᵀ G)_ii.
    let gz = tmul(g.as_ref(), z.as_ref());
    let wg = tmul(w.as_ref(), g.as_ref());
    let corr = mul(mul(gz.as_ref(), x.as_ref()).as_ref(), wg.as_ref());
    let direct = col_dots(g.as_ref(), ag.as_ref());
    let samples: Vec<f64> = (0..ng).map(|i| direct[i] - corr[(i, i)]).collect();
    let (res, se) = mean_stderr(&samples);
    Ok(Estimate::random(low + res, budget, se))
}

/// Gaussian columns rescaled to norm √d (XTrace's "improved" test vectors).
fn sphere_block(seed: u64, d: usize, m: usize) -> Mat<f64> {
    let mut om = seeded_block(seed, purpose::SKETCH, ProbeKind::Gaussian, d, m);
    for j in 0..m {
        let c = om.col_as_slice_mut(j);
        let n = c.iter().map(|v| v * v).sum::<f64>().sqrt();
        let f = (d as f64).sqrt() / n;
        c.iter_mut().for_each(|v| *v *= f);
    }
    om
}

/// R⁻¹ of an upper-triangular R.
fn upper_inverse(r: MatRef<'_, f64>) -> Mat<f64> {
    let mut inv = Mat::<f64>::identity(r.nrows(), r.nrows());
    solve_upper_triangular_in_place(r, inv.as_mut(), Par::Seq);
    inv
}

/// Columns s_i = (row i of R⁻¹)/‖·‖, the leave-one-out directions of XTrace.
fn loo_directions(r: MatRef<'_, f64>) -> Mat<f64> {
    let ri = upper_inverse(r);
    let m = ri.nrows();
    let mut s = Mat::from_fn(m, m, |i, j| ri[(j, i)]);
    for j in 0..m {
        let c = s.col_as_slice_mut(j);
        let n = c.iter().map(|v| v * v).sum::<f64>().sqrt();
        c.iter_mut().for_each(|v| *v /= n);
    }
    s
}

/// XTrace (Epperly, Tropp, Webber 2024): the exchangeable leave-one-out Hutch++ with improved
/// normalisation; m/2 sketch probes and m/2 projections. Its standard error is the spread of the
/// m/2 leave-one-out estimates. Uses the direct trace when the budget covers the dimension.
pub fn xtrace<A: LinearOp + ?Sized>(a: &A, budget: usize, seed: u64) -> Result<Estimate> {
    let n = need_square("xtrace", a)?;
    if budget >= 2 * n {
        return direct_trace(a);
    }
    need_budget(budget, 4, "XTrace")?;
    pin_sequential();
    let m = budget / 2;
    let om = sphere_block(seed, n, m);
    let y = apply_new(a, om.as_ref());
    let (q, r) = thin_qr(y.as_ref());
    let z = apply_new(a, q.as_ref());
    let h = tmul(q.as_ref(), z.as_ref());
    // A numerically rank-deficient sketch means range(A) ⊆ range(Q): then tr(A) = tr(QᵀAQ) exactly
    // (and R⁻¹, which the leave-one-out terms need, does not exist).
    let rmax = (0..m).map(|i| r[(i, i)].abs()).fold(0.0, f64::max);
    if (0..m).any(|i| r[(i, i)].abs() <= 1e-12 * rmax) {
        return Ok(Estimate::exact(trace(h.as_ref()), 2 * m));
    }
    let s = loo_directions(r.as_ref());
    let w = tmul(q.as_ref(), om.as_ref());
    let hw = mul(h.as_ref(), w.as_ref());
    let t = tmul(z.as_ref(), om.as_ref());
    let hs = mul(h.as_ref(), s.as_ref());
    let r_hw = Mat::from_fn(m, m, |i, j| r[(i, j)] - hw[(i, j)]);
    let htw = tmul(h.as_ref(), w.as_ref());
    let t_htw = Mat::from_fn(m, m, |i, j| t[(i, j)] - htw[(i, j)]);
    let (dsw, dshs, dtw, dwhw) = (
        col_dots(w.as_ref(), s.as_ref()),
        col_dots(s.as_ref(), hs.as_ref()),
        col_dots(t.as_ref(), w.as_ref()),
        col_dots(w.as_ref(), hw.as_ref()),
    );
    let (dsrmhw, dtmhrs) = (
        col_dots(s.as_ref(), r_hw.as_ref()),
        col_dots(t_htw.as_ref(), s.as_ref()),
    );
    let wn2 = col_dots(w.as_ref(), w.as_ref());
    let trh = trace(h.as_ref());
    let nf = n as f64;
    let ests: Vec<f64> = (0..m)
        .map(|i| {
            let scale = (nf - m as f64 + 1.0) / (nf - wn2[i] + dsw[i] * dsw[i]);
            trh - dshs[i]
                + scale
                    * (-dtw[i]
                        + dwhw[i]
                        + dsw[i] * dsrmhw[i]
                        + dsw[i] * dsw[i] * dshs[i]
                        + dtmhrs[i] * dsw[i])
        })
        .collect();
    let (mean, se) = mean_stderr(&ests);
    Ok(Estimate::random(mean, 2 * m, se))
}

/// XNysTrace (Epperly, Tropp, Webber 2024) for **PSD** A: exchangeable Nyström trace estimate with
/// `budget` matvecs (one block), shifted for stability.
pub fn xnystrace<A: LinearOp + ?Sized>(a: &A, budget: usize, seed: u64) -> Result<Estimate> {
    let n = need_square("xnystrace", a)?;
    if budget >= n {
        return direct_trace(a);
    }
    need_budget(budget, 2, "XNysTrace")?;
    pin_sequential();
    let m = budget;
    let om = sphere_block(seed, n, m);
    let mut y = apply_new(a, om.as_ref());
    let nu = f64::EPSILON * y.norm_l2() / (n as f64).sqrt();
    for j in 0..m {
        for i in 0..n {
            y[(i, j)] += nu * om[(i, j)];
        }
    }
    let (q, r) = thin_qr(y.as_ref());
    let h = crate::kernels::symmetrize(tmul(om.as_ref(), y.as_ref()).as_ref());
    let llt = h.llt(Side::Lower).map_err(|e| LinalgError::Factorization {
        what: "Cholesky (XNysTrace core; A must be PSD)",
        reason: format!("{e:?}"),
    })?;
    let l = llt.L();
    // B = R C⁻¹ with C = Lᵀ, i.e. Bᵀ = L⁻¹ Rᵀ.
    let mut bt = r.transpose().to_owned();
    solve_lower_triangular_in_place(l, bt.as_mut(), Par::Seq);
    // S = B L⁻¹ scaled by diag(H⁻¹)^{-1/2}: Sᵀ = L⁻ᵀ Bᵀ.
    let mut st = bt.clone();
    solve_upper_triangular_in_place(l.transpose(), st.as_mut(), Par::Seq);
    let mut linv = Mat::<f64>::identity(m, m);
    solve_lower_triangular_in_place(l, linv.as_mut(), Par::Seq);
    let hinv_diag: Vec<f64> = (0..m)
        .map(|i| (0..m).map(|k| linv[(k, i)] * linv[(k, i)]).sum())
        .collect();
    let s = Mat::from_fn(m, m, |i, j| st[(j, i)] / hinv_diag[j].sqrt());
    let w = tmul(q.as_ref(), om.as_ref());
    let b_fro2 = bt.squared_norm_l2();
    // Improved normalisation from the QR of Ω.
    let (qq, rr) = thin_qr(om.as_ref());
    let ww = tmul(qq.as_ref(), om.as_ref());
    let ss = loo_directions(rr.as_ref());
    let (wwn2, dssww) = (
        col_dots(ww.as_ref(), ww.as_ref()),
        col_dots(ss.as_ref(), ww.as_ref()),
    );
    let dsw = col_dots(s.as_ref(), w.as_ref());
    let sn2 = col_dots(s.as_ref(), s.as_ref());
    let nf = n as f64;
    let ests: Vec<f64> = (0..m)
        .map(|i| {
            let scale = (nf - m as f64 + 1.0) / (nf - wwn2[i] + dssww[i] * dssww[i]);
            b_fro2 - sn2[i] + dsw[i] * dsw[i] * scale - nu * nf
        })
        .collect();
    let (mean, se) = mean_stderr(&ests);
    Ok(Estimate::random(mean, m, se))
}

/// One-sided estimator of ‖Op‖_F² = tr(Op* Op) = tr(Op Op*) applying only Op (PAPER.md §5.2.4):
/// ⌊m/6⌋ Rademacher columns orthonormalised to Q give Σ‖Op Q_i‖² exactly; the remaining probes,
/// projected off Q, estimate the rest. Unbiased for any Q. Budget = passes of Op.
pub fn one_sided_trace<A: LinearOp + ?Sized>(op: &A, budget: usize, seed: u64) -> Result<Estimate> {
    need_budget(budget, 1, "one-sided trace")?;
    pin_sequential();
    let d = op.shape_in().numel();
    let q = budget / 6;
    let qm = if q > 0 {
        orthonormalize(seeded_block(seed, purpose::SKETCH, ProbeKind::Rademacher, d, q).as_ref())
    } else {
        Mat::zeros(d, 0)
    };
    let oq = apply_new(op, qm.as_ref());
    let tau_q = oq.squared_norm_l2();
    if qm.ncols() >= d {
        return Ok(Estimate::exact(tau_q, q));
    }
    let s = budget - q;
    let psi = seeded_block(seed, purpose::RESIDUAL, ProbeKind::Rademacher, d, s);
    let psi_perp = project_out(qm.as_ref(), psi.as_ref());
    let op_psi = apply_new(op, psi_perp.as_ref());
    let samples = col_dots(op_psi.as_ref(), op_psi.as_ref());
    let (tau, se) = mean_stderr(&samples);
    Ok(Estimate::random(tau_q + tau, budget, se))
}

/// FHutch: tr(J Jᵀ) from forward passes of J only (probes in J's input space, e.g. parameters).
pub fn fhutch<A: LinearOp + ?Sized>(j: &A, budget: usize, seed: u64) -> Result<Estimate> {
    one_sided_trace(j, budget, seed)
}

/// RHutch: tr(J Jᵀ) from adjoint passes Jᵀ only (probes in J's output space, e.g. states).
pub fn rhutch<A: LinearOp>(j: &A, budget: usize, seed: u64) -> Result<Estimate> {
    one_sided_trace(&crate::combinators::Adjoint(j), budget, seed)
}

/// tr(J Jᵀ) = Σ_k ‖J e_k‖² exactly, over the smaller of J's input and output bases
/// (min(n_in, n_out) one-sided passes).
pub fn direct_one_sided<A: LinearOp>(j: &A) -> Result<Estimate> {
    let (n_in, n_out) = (j.shape_in().numel(), j.shape_out().numel());
    let mut total = 0.0;
    let mut start = 0;
    let n = n_in.min(n_out);
    while start < n {
        let w = 256.min(n - start);
        let e = Mat::from_fn(n, w, |i, c| if i == start + c { 1.0 } else { 0.0 });
        let y = if n_in <= n_out {
            apply_new(j, e.as_ref())
        } else {
            apply_adjoint_new(j, e.as_ref())
        };
        total += y.squared_norm_l2();
        start += w;
    }
    Ok(Estimate::exact(total, n))
}
