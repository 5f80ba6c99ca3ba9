//! Randomized low-rank factorisations: randomized SVD (Halko–Martinsson–Tropp) for any operator and
//! the numerically stable Nyström approximation for PSD operators.

use faer::linalg::triangular_solve::solve_lower_triangular_in_place;
use faer::{Mat, Par, Side};

use crate::error::{LinalgError, Result, invalid};
use crate::kernels::{mul, orthonormalize, pin_sequential, symmetrize, tmul};
use crate::op::{LinearOp, apply_adjoint_new, apply_new};
use crate::probes::{ProbeKind, purpose, seeded_block};

/// A truncated SVD A ≈ U diag(s) Vᵀ.
#[derive(Debug, Clone)]
pub struct LowRankSvd {
    /// Left singular vectors (n_out x r).
    pub u: Mat<f64>,
    /// Singular values, nonincreasing.
    pub s: Vec<f64>,
    /// Right singular vectors (n_in x r).
    pub v: Mat<f64>,
    /// Applications of A plus applications of A*.
    pub matvecs: usize,
}

/// Randomized SVD of rank `rank` with `oversample` extra probes and `power_iters` subspace
/// iterations (each costs one A and one A* block).
pub fn randomized_svd<A: LinearOp>(
    a: &A,
    rank: usize,
    oversample: usize,
    power_iters: usize,
    seed: u64,
) -> Result<LowRankSvd> {
    let (n_in, n_out) = (a.shape_in().numel(), a.shape_out().numel());
    if rank == 0 || rank > n_in.min(n_out) {
        return Err(invalid(
            "rank",
            format!("need 1 <= rank <= {}", n_in.min(n_out)),
        ));
    }
    pin_sequential();
    let l = (rank + oversample).min(n_in.min(n_out));
    let om = seeded_block(seed, purpose::SKETCH, ProbeKind::Gaussian, n_in, l);
    let mut q = orthonormalize(apply_new(a, om.as_ref()).as_ref());
    let mut matvecs = l;
    for _ in 0..power_iters {
        let z = orthonormalize(apply_adjoint_new(a, q.as_ref()).as_ref());
        q = orthonormalize(apply_new(a, z.as_ref()).as_ref());
        matvecs += 2 * l;
    }
    let bt = apply_adjoint_new(a, q.as_ref()); // Bᵀ = A* Q (n_in x l)
    matvecs += l;
    let svd = bt.thin_svd().map_err(|e| LinalgError::Factorization {
        what: "SVD (randomized SVD core)",
        reason: format!("{e:?}"),
    })?;
    // Bᵀ = Ub S Vbᵀ  =>  B = Vb S Ubᵀ, A ≈ Q B = (Q Vb) S Ubᵀ.
    let sv = svd.S().column_vector();
    let u = mul(q.as_ref(), svd.V().subcols(0, rank));
    let v = svd.U().subcols(0, rank).to_owned();
    Ok(LowRankSvd {
        u,
        s: (0..rank).map(|i| sv[i]).collect(),
        v,
        matvecs,
    })
}

/// A PSD low-rank approximation A ≈ U diag(λ) Uᵀ.
#[derive(Debug, Clone)]
pub struct Nystrom {
    /// Orthonormal eigenvector estimates (d x r).
    pub u: Mat<f64>,
    /// Eigenvalue estimates, nonincreasing, ≥ 0.
    pub lambda: Vec<f64>,
    /// Applications of A.
    pub matvecs: usize,
}

/// Stable randomized Nyström approximation (Tropp, Yurtsever, Udell, Cevher 2017) of a PSD operator
/// from `sketch` probes (one block), truncated to `rank`.
pub fn nystrom<A: LinearOp>(a: &A, rank: usize, sketch: usize, seed: u64) -> Result<Nystrom> {
    crate::op::check_square("nystrom", a)?;
    let d = a.shape_in().numel();
    if rank == 0 || rank > sketch || sketch > d {
        return Err(invalid(
            "rank",
            format!("need 1 <= rank <= sketch <= {d}, got rank {rank}, sketch {sketch}"),
        ));
    }
    pin_sequential();
    let om = orthonormalize(
        seeded_block(seed, purpose::SKETCH, ProbeKind::Gaussian, d, sketch).as_ref(),
    );
    let mut y = apply_new(a, om.as_ref());
    let nu = f64::EPSILON * (d as f64).sqrt() * y.norm_l2();
    for j in 0..om.ncols() {
        for i in 0..d {
            y[(i, j)] += nu * om[(i, j)];
        }
    }
    let c = symmetrize(tmul(om.as_ref(), y.as_ref()).as_ref());
    let llt = c.llt(Side::Lower).map_err(|e| LinalgError::Factorization {
        what: "Cholesky (Nyström core; A must be PSD)",
        reason: format!("{e:?}"),
    })?;
    // B = Y L⁻ᵀ  <=>  Bᵀ = L⁻¹ Yᵀ.
    let mut bt = y.transpose().to_owned();
    solve_lower_triangular_in_place(llt.L(), bt.as_mut(), Par::Seq);
    let svd = bt.thin_svd().map_err(|e| LinalgError::Factorization {
        what: "SVD (Nyström core)",
        reason: format!("{e:?}"),
    })?;
    // Bᵀ = Ub S Vbᵀ => B = Vb S Ubᵀ: eigenvectors Vb, eigenvalues S² − ν.
    let sv = svd.S().column_vector();
    let lambda = (0..rank).map(|i| (sv[i] * sv[i] - nu).max(0.0)).collect();
    Ok(Nystrom {
        u: svd.V().subcols(0, rank).to_owned(),
        lambda,
        matvecs: om.ncols(),
    })
}
