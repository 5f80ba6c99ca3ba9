//! Top-k eigenpairs of a symmetric operator: seeded block Lanczos with full reorthogonalisation and
//! Rayleigh–Ritz on the whole Krylov basis, stopped by the Ritz residuals ‖A v − θ v‖; or a dense
//! eigendecomposition when the dimension is small.

use faer::{Mat, MatRef};

use crate::error::{Result, invalid};
use crate::kernels::{gemm, mul, orthonormalize, pin_sequential, sym_eig_desc, tmul};
use crate::op::{LinearOp, apply_new, check_square, materialize};
use crate::probes::{ProbeKind, purpose, seeded_block};
use crate::trace::project_out;

/// Which end of the spectrum "top" means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Which {
    /// Largest algebraic eigenvalues (PSD operators: the dominant modes).
    #[default]
    Largest,
    /// Largest |λ| (indefinite operators).
    LargestMagnitude,
}

/// Options of [`top_eigenpairs`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EigOptions {
    /// Probe block size (0 = k).
    pub block: usize,
    /// Matvec budget (applications of A, one per probe column).
    pub max_matvecs: usize,
    /// Stop when every wanted residual ‖A v − θ v‖ ≤ tol · max|θ|.
    pub tol: f64,
    /// Seed of the start block.
    pub seed: u64,
    /// Dimensions up to this are materialised and solved densely.
    pub dense_limit: usize,
    /// Which eigenvalues are wanted.
    pub which: Which,
}

impl Default for EigOptions {
    fn default() -> Self {
        EigOptions {
            block: 0,
            max_matvecs: 2000,
            tol: 1e-10,
            seed: 0,
            dense_limit: 1500,
            which: Which::Largest,
        }
    }
}

/// Eigenpairs with their certificates.
#[derive(Debug, Clone)]
pub struct EigResult {
    /// Eigenvalues in the order of `which` (descending, or by descending |λ|).
    pub values: Vec<f64>,
    /// Unit eigenvectors as columns (d x k), flattened in the operator's shape.
    pub vectors: Mat<f64>,
    /// ‖A v_i − λ_i v_i‖ for each pair (computed from stored A·basis, no extra matvecs).
    pub residuals: Vec<f64>,
    /// Block iterations (0 for the dense path).
    pub iterations: usize,
    /// Applications of A.
    pub matvecs: usize,
    /// Whether every residual met the tolerance.
    pub converged: bool,
    /// Whether the dense path was used.
    pub dense: bool,
}

fn order(vals: &[f64], which: Which) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..vals.len()).collect();
    match which {
        Which::Largest => idx.sort_by(|&a, &b| vals[b].total_cmp(&vals[a])),
        Which::LargestMagnitude => idx.sort_by(|&a, &b| vals[b].abs().total_cmp(&vals[a].abs())),
    }
    idx
}

/// Top-k eigenpairs of a symmetric operator.
pub fn top_eigenpairs<A: LinearOp>(a: &A, k: usize, opts: EigOptions) -> Result<EigResult> {
    check_square("top_eigenpairs", a)?;
    let d = a.shape_in().numel();
    if k == 0 || k > d {
        return Err(invalid(
            "k",
            format!("need 1 <= k <= dimension {d}, got {k}"),
        ));
    }
    pin_sequential();
    if d <= opts.dense_limit {
        return dense_top(a, k, opts);
    }
    let b = if opts.block == 0 { k } else { opts.block }.min(d);
    if opts.max_matvecs < b {
        return Err(invalid(
            "max_matvecs",
            format!("budget {} below one block of {b}", opts.max_matvecs),
        ));
    }
    let mut basis = orthonormalize(
        seeded_block(opts.seed, purpose::SKETCH, ProbeKind::Gaussian, d, b).as_ref(),
    );
    let mut a_basis = apply_new(a, basis.as_ref());
    let mut matvecs = b;
    let mut restart_seed = opts.seed;
    let mut iterations = 0;
    loop {
        iterations += 1;
        // Rayleigh–Ritz on span(basis).
        let t = tmul(basis.as_ref(), a_basis.as_ref());
        let (theta, y) = sym_eig_desc(t.as_ref())?;
        let idx = order(&theta, opts.which);
        let kk = k.min(theta.len());
        let yk = Mat::from_fn(y.nrows(), kk, |i, j| y[(i, idx[j])]);
        let vals: Vec<f64> = (0..kk).map(|j| theta[idx[j]]).collect();
        let v = mul(basis.as_ref(), yk.as_ref());
        let av = mul(a_basis.as_ref(), yk.as_ref());
        let residuals = residual_norms(av.as_ref(), v.as_ref(), &vals);
        let scale = vals
            .iter()
            .fold(0.0f64, |m, x| m.max(x.abs()))
            .max(f64::MIN_POSITIVE);
        let converged = kk == k && residuals.iter().all(|&r| r <= opts.tol * scale);
        let cols = basis.ncols();
        if converged || matvecs + b > opts.max_matvecs || cols + b > d {
            return Ok(EigResult {
                values: vals,
                vectors: v,
                residuals,
                iterations,
                matvecs,
                converged,
                dense: false,
            });
        }
        // Next Krylov block: A·(last block), orthogonalised twice against the whole basis.
        let last = a_basis.as_ref().subcols(cols - b, b);
        let mut w = project_out(basis.as_ref(), last);
        w = project_out(basis.as_ref(), w.as_ref());
        // Breakdown (an invariant subspace was found): continue with fresh random directions.
        let ref_norm = last.norm_l2().max(f64::MIN_POSITIVE);
        for j in 0..b {
            let nj = w.col_as_slice(j).iter().map(|x| x * x).sum::<f64>().sqrt();
            if nj <= 1e-10 * ref_norm {
                restart_seed = restart_seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let r = seeded_block(restart_seed, purpose::RESTART, ProbeKind::Gaussian, d, 1);
                let r = project_out(basis.as_ref(), r.as_ref());
                w.col_as_slice_mut(j).copy_from_slice(r.col_as_slice(0));
            }
        }
        let mut q = orthonormalize(w.as_ref());
        q = orthonormalize(project_out(basis.as_ref(), q.as_ref()).as_ref());
        let aq = apply_new(a, q.as_ref());
        matvecs += b;
        basis = hcat(basis.as_ref(), q.as_ref());
        a_basis = hcat(a_basis.as_ref(), aq.as_ref());
    }
}

fn hcat(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Mat<f64> {
    let mut out = Mat::zeros(a.nrows(), a.ncols() + b.ncols());
    out.as_mut().subcols_mut(0, a.ncols()).copy_from(a);
    out.as_mut().subcols_mut(a.ncols(), b.ncols()).copy_from(b);
    out
}

fn residual_norms(av: MatRef<'_, f64>, v: MatRef<'_, f64>, vals: &[f64]) -> Vec<f64> {
    (0..vals.len())
        .map(|j| {
            (0..v.nrows())
                .map(|i| {
                    let r = av[(i, j)] - vals[j] * v[(i, j)];
                    r * r
                })
                .sum::<f64>()
                .sqrt()
        })
        .collect()
}

fn dense_top<A: LinearOp>(a: &A, k: usize, opts: EigOptions) -> Result<EigResult> {
    let d = a.shape_in().numel();
    let m = materialize(a, opts.dense_limit)?;
    let (theta, u) = sym_eig_desc(m.as_ref())?;
    let idx = order(&theta, opts.which);
    let vectors = Mat::from_fn(d, k, |i, j| u[(i, idx[j])]);
    let values: Vec<f64> = (0..k).map(|j| theta[idx[j]]).collect();
    let mut av = Mat::zeros(d, k);
    gemm(av.as_mut(), m.as_ref(), vectors.as_ref(), 1.0, false);
    let residuals = residual_norms(av.as_ref(), vectors.as_ref(), &values);
    Ok(EigResult {
        values,
        vectors,
        residuals,
        iterations: 0,
        matvecs: d,
        converged: true,
        dense: true,
    })
}

/// All eigenvalues (descending) of a small symmetric operator, by materialisation.
pub fn dense_eigenvalues<A: LinearOp>(a: &A, limit: usize) -> Result<Vec<f64>> {
    check_square("dense_eigenvalues", a)?;
    let m = materialize(a, limit)?;
    crate::kernels::sym_eigvals_desc(m.as_ref())
}
