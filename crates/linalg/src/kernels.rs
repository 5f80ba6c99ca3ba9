//! Dense kernels on faer, all with a pinned `Par::Seq` so results never depend on the thread count
//! (faer's factorisations differ bitwise between `Par` values; DEPS.md §5). Parallelism, where used,
//! goes across fixed-size column chunks whose boundaries do not depend on the number of threads.

use std::sync::Once;

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, MatRef, Par, Side};
use rayon::prelude::*;

use crate::error::{LinalgError, Result};
use crate::scalar::Real;

/// Probe columns per parallel work item. Fixed, so chunk boundaries (and bits) never depend on the
/// thread count.
pub const COLUMN_CHUNK: usize = 32;

static PIN: Once = Once::new();

/// Pins faer's global parallelism (used by its factorisations) to `Par::Seq`. Called by every
/// estimator; idempotent and cheap.
pub fn pin_sequential() {
    PIN.call_once(|| faer::set_global_parallelism(Par::Seq));
}

/// `c <- alpha a b` (or `c += alpha a b` with `accumulate`), sequential GEMM.
pub fn gemm<T: Real>(
    c: MatMut<'_, T>,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    alpha: T,
    accumulate: bool,
) {
    let acc = if accumulate {
        Accum::Add
    } else {
        Accum::Replace
    };
    matmul(c, acc, a, b, alpha, Par::Seq);
}

/// `c <- alpha a b` (or `+=`) with the columns of `c` split into at most 4 fixed chunks computed in
/// parallel. Chunk boundaries depend only on the shape, so the bits never depend on the thread count.
pub fn gemm_par<T: Real>(
    mut c: MatMut<'_, T>,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    alpha: T,
    accumulate: bool,
) {
    let n = c.ncols();
    let chunk = n.div_ceil(4).max(32);
    if n <= chunk {
        gemm(c, a, b, alpha, accumulate);
        return;
    }
    let mut items = Vec::with_capacity(4);
    let mut rest = c.as_mut();
    let mut start = 0;
    while start < n {
        let w = chunk.min(n - start);
        let (head, tail) = rest.split_at_col_mut(w);
        items.push((b.subcols(start, w), head));
        rest = tail;
        start += w;
    }
    items
        .into_par_iter()
        .for_each(|(bc, cc)| gemm(cc, a, bc, alpha, accumulate));
}

/// `c <- alpha a b` (or `+=`) for one step of a time recursion: sequential when already running
/// inside a rayon worker (the caller splits probe chunks across the cores, and splitting each step
/// again would only shrink the GEMMs), column-split parallel ([`gemm_par`]) otherwise. Either way
/// the split depends only on the call path and the shape, never on the thread count.
pub fn gemm_step<T: Real>(
    c: MatMut<'_, T>,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    alpha: T,
    accumulate: bool,
) {
    if rayon::current_thread_index().is_some() {
        gemm(c, a, b, alpha, accumulate)
    } else {
        gemm_par(c, a, b, alpha, accumulate)
    }
}

/// Runs `f` on a zeroed buffer of `len` scalars taken from a per-thread pool (one per scalar type),
/// so the operators' hot loops (recursion step blocks, per-chunk intermediates) reuse memory across
/// calls instead of paying fresh pages for every application (faer's `*_scratch` pattern). Nested
/// calls (a rayon worker that steals another job while waiting) get another buffer, never the same
/// one.
pub fn with_buffer<T: Real, R>(len: usize, f: impl FnOnce(&mut [T]) -> R) -> R {
    with_scratch(len, |buf: &mut [T]| {
        buf.fill(T::default());
        f(buf)
    })
}

/// [`with_buffer`] without the zero fill, for buffers the caller overwrites entirely before
/// reading (contents on entry unspecified; results must never depend on them).
pub fn with_scratch<T: Real, R>(len: usize, f: impl FnOnce(&mut [T]) -> R) -> R {
    let mut buf = T::pool_take();
    if buf.len() < len {
        buf.resize(len, T::default());
    }
    let r = f(&mut buf[..len]);
    T::pool_put(buf);
    r
}

/// `a b` into a new matrix.
pub fn mul(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Mat<f64> {
    let mut c = Mat::zeros(a.nrows(), b.ncols());
    gemm(c.as_mut(), a, b, 1.0, false);
    c
}

/// `aᵀ b` into a new matrix.
pub fn tmul(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Mat<f64> {
    mul(a.transpose(), b)
}

/// Runs `f(x_chunk, y_chunk)` over fixed column chunks of `x`/`y` in parallel (rayon).
pub fn par_columns<F>(x: MatRef<'_, f64>, y: MatMut<'_, f64>, f: F)
where
    F: Fn(MatRef<'_, f64>, MatMut<'_, f64>) + Sync,
{
    par_columns_chunked(x, y, COLUMN_CHUNK, f)
}

/// [`par_columns`] with an explicit (fixed) chunk width.
pub fn par_columns_chunked<T: Real, U: Real, F>(
    x: MatRef<'_, T>,
    y: MatMut<'_, U>,
    chunk: usize,
    f: F,
) where
    F: Fn(MatRef<'_, T>, MatMut<'_, U>) + Sync,
{
    let k = x.ncols();
    let chunk = chunk.max(1);
    if k <= chunk {
        f(x, y);
        return;
    }
    let mut items = Vec::with_capacity(k.div_ceil(chunk));
    let mut rest = y;
    let mut start = 0;
    while start < k {
        let w = chunk.min(k - start);
        let (head, tail) = rest.split_at_col_mut(w);
        items.push((x.subcols(start, w), head));
        rest = tail;
        start += w;
    }
    items.into_par_iter().for_each(|(xc, yc)| f(xc, yc));
}

/// Orthonormal basis (thin Q of a Householder QR) of the columns of `y`; `ncols` = min(rows, cols).
pub fn orthonormalize(y: MatRef<'_, f64>) -> Mat<f64> {
    pin_sequential();
    let k = y.ncols().min(y.nrows());
    y.subcols(0, k).qr().compute_thin_Q()
}

/// Thin QR `y = Q R` (Q: n x k, R: k x k upper triangular).
pub fn thin_qr(y: MatRef<'_, f64>) -> (Mat<f64>, Mat<f64>) {
    pin_sequential();
    let qr = y.qr();
    (qr.compute_thin_Q(), qr.thin_R().to_owned())
}

/// Eigendecomposition of a symmetric matrix (lower triangle used), eigenvalues **descending**.
pub fn sym_eig_desc(s: MatRef<'_, f64>) -> Result<(Vec<f64>, Mat<f64>)> {
    pin_sequential();
    let sym = symmetrize(s);
    let evd = sym
        .self_adjoint_eigen(Side::Lower)
        .map_err(|e| LinalgError::Factorization {
            what: "symmetric eigendecomposition",
            reason: format!("{e:?}"),
        })?;
    let n = sym.nrows();
    let lam = evd.S().column_vector();
    let u = evd.U();
    let vals: Vec<f64> = (0..n).rev().map(|i| lam[i]).collect();
    let vecs = Mat::from_fn(n, n, |i, j| u[(i, n - 1 - j)]);
    Ok((vals, vecs))
}

/// Eigenvalues of a symmetric matrix, descending.
pub fn sym_eigvals_desc(s: MatRef<'_, f64>) -> Result<Vec<f64>> {
    pin_sequential();
    let sym = symmetrize(s);
    let mut v =
        sym.self_adjoint_eigenvalues(Side::Lower)
            .map_err(|e| LinalgError::Factorization {
                what: "symmetric eigenvalues",
                reason: format!("{e:?}"),
            })?;
    v.reverse();
    Ok(v)
}

/// (S + Sᵀ)/2.
pub fn symmetrize(s: MatRef<'_, f64>) -> Mat<f64> {
    Mat::from_fn(s.nrows(), s.ncols(), |i, j| 0.5 * (s[(i, j)] + s[(j, i)]))
}

/// Moore–Penrose pseudo-inverse by SVD; singular values below `rcond·σ_max` are dropped.
pub fn pinv(a: MatRef<'_, f64>, rcond: f64) -> Result<Mat<f64>> {
    pin_sequential();
    let svd = a.thin_svd().map_err(|e| LinalgError::Factorization {
        what: "SVD",
        reason: format!("{e:?}"),
    })?;
    let s = svd.S().column_vector();
    let smax = if s.nrows() > 0 { s[0] } else { 0.0 };
    let (u, v) = (svd.U(), svd.V());
    let mut vs = v.to_owned();
    for j in 0..s.nrows() {
        let inv = if s[j] > rcond * smax && s[j] > 0.0 {
            1.0 / s[j]
        } else {
            0.0
        };
        for i in 0..vs.nrows() {
            vs[(i, j)] *= inv;
        }
    }
    Ok(mul(vs.as_ref(), u.transpose()))
}

/// Trace of a square matrix.
pub fn trace(a: MatRef<'_, f64>) -> f64 {
    (0..a.nrows().min(a.ncols())).map(|i| a[(i, i)]).sum()
}

/// Σ_ij a_ij b_ij (Frobenius inner product).
pub fn frob_dot(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> f64 {
    let mut s = 0.0;
    for j in 0..a.ncols() {
        for i in 0..a.nrows() {
            s += a[(i, j)] * b[(i, j)];
        }
    }
    s
}

/// Per-column inner products ⟨a_j, b_j⟩.
pub fn col_dots(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Vec<f64> {
    (0..a.ncols())
        .map(|j| (0..a.nrows()).map(|i| a[(i, j)] * b[(i, j)]).sum())
        .collect()
}

/// Mean and standard error of the mean of a sample (`None` for fewer than two samples).
pub fn mean_stderr(xs: &[f64]) -> (f64, Option<f64>) {
    let n = xs.len();
    if n == 0 {
        return (0.0, None);
    }
    let mean = xs.iter().sum::<f64>() / n as f64;
    if n < 2 {
        return (mean, None);
    }
    let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1) as f64;
    (mean, Some((var / n as f64).sqrt()))
}
