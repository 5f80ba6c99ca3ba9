//! The `LinearOp` abstraction: a linear map between two shaped tensor spaces, applied to blocks of
//! probe vectors (columns of a column-major matrix) at once.

use std::sync::Arc;

use faer::{Mat, MatMut, MatRef};

use crate::error::{LinalgError, Result};
use crate::shape::Shape;

/// A linear operator A: R^{shape_in} -> R^{shape_out} with its adjoint.
///
/// Probe blocks are column-major matrices whose columns are flattened tensors (row-major in the
/// shape), so one call applies A to many probes; every estimator uses this path. Implementations
/// may assume the block dimensions are right (`nrows` = flattened size, equal column counts):
/// checked entry points live in [`LinearOpExt`]. Implementations must be deterministic: the result
/// may not depend on the number of rayon threads.
pub trait LinearOp: Send + Sync {
    /// Shape of the domain.
    fn shape_in(&self) -> &Shape;
    /// Shape of the codomain.
    fn shape_out(&self) -> &Shape;
    /// `y <- A x` for a block `x` (n_in x k); `y` (n_out x k) is overwritten.
    fn apply_block(&self, x: MatRef<'_, f64>, y: MatMut<'_, f64>);
    /// `y <- A* x` for a block `x` (n_out x k); `y` (n_in x k) is overwritten.
    fn apply_adjoint_block(&self, x: MatRef<'_, f64>, y: MatMut<'_, f64>);
    /// Whether A = A* is known structurally (lets estimators skip adjoint applications).
    fn is_self_adjoint(&self) -> bool {
        false
    }
}

macro_rules! forward_linear_op {
    ($($ty:ty),*) => {$(
        impl<T: LinearOp + ?Sized> LinearOp for $ty {
            fn shape_in(&self) -> &Shape { (**self).shape_in() }
            fn shape_out(&self) -> &Shape { (**self).shape_out() }
            fn apply_block(&self, x: MatRef<'_, f64>, y: MatMut<'_, f64>) { (**self).apply_block(x, y) }
            fn apply_adjoint_block(&self, x: MatRef<'_, f64>, y: MatMut<'_, f64>) {
                (**self).apply_adjoint_block(x, y)
            }
            fn is_self_adjoint(&self) -> bool { (**self).is_self_adjoint() }
        }
    )*};
}
forward_linear_op!(&T, Box<T>, Arc<T>);

/// Checked, allocating entry points for every [`LinearOp`].
pub trait LinearOpExt: LinearOp {
    /// Flattened input dimension.
    fn dim_in(&self) -> usize {
        self.shape_in().numel()
    }
    /// Flattened output dimension.
    fn dim_out(&self) -> usize {
        self.shape_out().numel()
    }
    /// `A x` for one flattened tensor.
    fn apply(&self, x: &[f64]) -> Result<Vec<f64>> {
        check_len("apply", self.shape_in(), x.len())?;
        let y = self.apply_to(MatRef::from_column_major_slice(x, x.len(), 1))?;
        Ok(y.col_as_slice(0).to_vec())
    }
    /// `A* x` for one flattened tensor.
    fn apply_adjoint(&self, x: &[f64]) -> Result<Vec<f64>> {
        check_len("apply_adjoint", self.shape_out(), x.len())?;
        let y = self.apply_adjoint_to(MatRef::from_column_major_slice(x, x.len(), 1))?;
        Ok(y.col_as_slice(0).to_vec())
    }
    /// `A X` for a probe block (columns are probes).
    fn apply_to(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
        check_len("apply_to", self.shape_in(), x.nrows())?;
        Ok(apply_new(self, x))
    }
    /// `A* X` for a probe block.
    fn apply_adjoint_to(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
        check_len("apply_adjoint_to", self.shape_out(), x.nrows())?;
        Ok(apply_adjoint_new(self, x))
    }
}
impl<T: LinearOp + ?Sized> LinearOpExt for T {}

pub(crate) fn check_len(context: &str, shape: &Shape, actual: usize) -> Result<()> {
    if shape.numel() == actual {
        Ok(())
    } else {
        Err(LinalgError::LengthMismatch {
            context: context.to_string(),
            shape: shape.clone(),
            expected: shape.numel(),
            actual,
        })
    }
}

pub(crate) fn check_square<A: LinearOp + ?Sized>(context: &str, a: &A) -> Result<()> {
    if a.shape_in().numel() == a.shape_out().numel() {
        Ok(())
    } else {
        Err(LinalgError::NotSquare {
            context: context.to_string(),
            shape_in: a.shape_in().clone(),
            shape_out: a.shape_out().clone(),
        })
    }
}

pub(crate) fn check_same(context: &str, expected: &Shape, actual: &Shape) -> Result<()> {
    if expected.numel() == actual.numel() {
        Ok(())
    } else {
        Err(LinalgError::ShapeMismatch {
            context: context.to_string(),
            expected: expected.clone(),
            actual: actual.clone(),
        })
    }
}

/// Unchecked `A X` into a fresh matrix (internal fast path).
pub(crate) fn apply_new<A: LinearOp + ?Sized>(a: &A, x: MatRef<'_, f64>) -> Mat<f64> {
    let mut y = Mat::zeros(a.shape_out().numel(), x.ncols());
    a.apply_block(x, y.as_mut());
    y
}

/// Unchecked `A* X` into a fresh matrix (internal fast path).
pub(crate) fn apply_adjoint_new<A: LinearOp + ?Sized>(a: &A, x: MatRef<'_, f64>) -> Mat<f64> {
    let mut y = Mat::zeros(a.shape_in().numel(), x.ncols());
    a.apply_adjoint_block(x, y.as_mut());
    y
}

/// Default largest dimension that [`materialize`] accepts (a 4096² f64 matrix is 128 MiB).
pub const DENSE_LIMIT: usize = 4096;

/// The dense matrix of A (n_out x n_in), built by applying A to the identity in blocks of 256
/// columns. Refuses when either dimension exceeds `limit`.
pub fn materialize<A: LinearOp + ?Sized>(a: &A, limit: usize) -> Result<Mat<f64>> {
    let (n_in, n_out) = (a.shape_in().numel(), a.shape_out().numel());
    let dim = n_in.max(n_out);
    if dim > limit {
        return Err(LinalgError::TooLarge {
            what: "materialize",
            dim,
            limit,
        });
    }
    let mut out = Mat::zeros(n_out, n_in);
    let mut start = 0;
    while start < n_in {
        let w = 256.min(n_in - start);
        let e = Mat::from_fn(n_in, w, |i, j| if i == start + j { 1.0 } else { 0.0 });
        a.apply_block(e.as_ref(), out.as_mut().subcols_mut(start, w));
        start += w;
    }
    Ok(out)
}
