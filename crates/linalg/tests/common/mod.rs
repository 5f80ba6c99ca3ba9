#![allow(dead_code)]
//! Shared helpers of the linalg integration tests.

use faer::Mat;
use gentk_linalg::probes::{ProbeKind, seeded_block};
use gentk_linalg::{Dense, LinearOp, Shape, materialize};

pub fn gaussian(rows: usize, cols: usize, seed: u64) -> Mat<f64> {
    // Fixture stream, never one of the probe purposes.
    seeded_block(
        seed,
        gentk_linalg::probes::purpose::FIXTURE + 1,
        ProbeKind::Gaussian,
        rows,
        cols,
    )
}

pub fn dense(rows: usize, cols: usize, seed: u64) -> Dense {
    Dense::new(gaussian(rows, cols, seed))
}

pub fn dense_shaped(shape_out: Shape, shape_in: Shape, seed: u64) -> Dense {
    Dense::with_shapes(
        gaussian(shape_out.numel(), shape_in.numel(), seed),
        shape_in,
        shape_out,
    )
    .unwrap()
}

/// A random PSD matrix G Gᵀ (n x n, rank min(n, r)).
pub fn psd(n: usize, r: usize, seed: u64) -> Mat<f64> {
    let g = gaussian(n, r, seed);
    &g * g.transpose()
}

pub fn mat(op: &impl LinearOp) -> Mat<f64> {
    materialize(op, 4096).unwrap()
}

pub fn max_abs_diff(a: &Mat<f64>, b: &Mat<f64>) -> f64 {
    assert_eq!((a.nrows(), a.ncols()), (b.nrows(), b.ncols()));
    (a - b).norm_max()
}

pub fn rel_err(a: &Mat<f64>, b: &Mat<f64>) -> f64 {
    max_abs_diff(a, b) / a.norm_max().max(b.norm_max()).max(f64::MIN_POSITIVE)
}

/// ⟨A x, y⟩ − ⟨x, A* y⟩ relative to |⟨A x, y⟩| + |⟨x, A*y⟩|, with seeded random x, y.
pub fn adjoint_defect(op: &impl LinearOp, seed: u64) -> f64 {
    use gentk_linalg::LinearOpExt;
    let x = gaussian(op.dim_in(), 1, seed);
    let y = gaussian(op.dim_out(), 1, seed + 1);
    let ax = op.apply(x.col_as_slice(0)).unwrap();
    let aty = op.apply_adjoint(y.col_as_slice(0)).unwrap();
    let l: f64 = ax.iter().zip(y.col_as_slice(0)).map(|(a, b)| a * b).sum();
    let r: f64 = x.col_as_slice(0).iter().zip(&aty).map(|(a, b)| a * b).sum();
    (l - r).abs() / (l.abs() + r.abs()).max(f64::MIN_POSITIVE)
}

/// The Kronecker product of two dense matrices (row-major index convention: (i, j) -> i*nb + j).
pub fn kron_dense(a: &Mat<f64>, b: &Mat<f64>) -> Mat<f64> {
    Mat::from_fn(a.nrows() * b.nrows(), a.ncols() * b.ncols(), |r, c| {
        a[(r / b.nrows(), c / b.ncols())] * b[(r % b.nrows(), c % b.ncols())]
    })
}
