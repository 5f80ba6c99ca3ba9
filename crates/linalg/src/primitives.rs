//! Leaf operators: identity, dense matrix, rank-one projector, diagonal, and an operator with a
//! prescribed spectrum (U diag(λ) Uᵀ), which the estimator tests and benches are built on.

use faer::{Mat, MatMut, MatRef};

use crate::error::{LinalgError, Result, invalid};
use crate::kernels::{gemm, par_columns, tmul};
use crate::op::LinearOp;
use crate::shape::Shape;

/// The identity on a shape.
#[derive(Debug, Clone)]
pub struct Identity {
    shape: Shape,
}

impl Identity {
    /// Identity on `shape`.
    pub fn new(shape: Shape) -> Self {
        Identity { shape }
    }
}

impl LinearOp for Identity {
    fn shape_in(&self) -> &Shape {
        &self.shape
    }
    fn shape_out(&self) -> &Shape {
        &self.shape
    }
    fn apply_block(&self, x: MatRef<'_, f64>, mut y: MatMut<'_, f64>) {
        y.copy_from(x);
    }
    fn apply_adjoint_block(&self, x: MatRef<'_, f64>, mut y: MatMut<'_, f64>) {
        y.copy_from(x);
    }
    fn is_self_adjoint(&self) -> bool {
        true
    }
}

/// A dense matrix M acting as q ↦ M q (column blocks multiplied by sequential GEMMs, fixed chunks in
/// parallel).
#[derive(Debug, Clone)]
pub struct Dense {
    m: Mat<f64>,
    shape_in: Shape,
    shape_out: Shape,
    symmetric: bool,
}

impl Dense {
    /// M with flat shapes `[in=ncols]` -> `[out=nrows]`.
    pub fn new(m: Mat<f64>) -> Self {
        let (r, c) = (m.nrows(), m.ncols());
        Dense {
            m,
            shape_in: Shape::flat("in", c),
            shape_out: Shape::flat("out", r),
            symmetric: false,
        }
    }

    /// M with named shapes; their sizes must match M's columns (input) and rows (output).
    pub fn with_shapes(m: Mat<f64>, shape_in: Shape, shape_out: Shape) -> Result<Self> {
        if shape_in.numel() != m.ncols() || shape_out.numel() != m.nrows() {
            return Err(LinalgError::ShapeMismatch {
                context: "Dense::with_shapes (matrix rows x cols)".into(),
                expected: Shape::new([("rows", m.nrows()), ("cols", m.ncols())]),
                actual: Shape::new([("rows", shape_out.numel()), ("cols", shape_in.numel())]),
            });
        }
        Ok(Dense {
            m,
            shape_in,
            shape_out,
            symmetric: false,
        })
    }

    /// Marks the operator self-adjoint after checking symmetry to `tol` (relative to max |m_ij|).
    pub fn symmetric(mut self, tol: f64) -> Result<Self> {
        let n = self.m.nrows();
        if n != self.m.ncols() {
            return Err(invalid("symmetric", "matrix is not square"));
        }
        let scale = self.m.norm_max().max(f64::MIN_POSITIVE);
        for j in 0..n {
            for i in 0..j {
                if (self.m[(i, j)] - self.m[(j, i)]).abs() > tol * scale {
                    return Err(invalid(
                        "symmetric",
                        format!("m[{i},{j}] != m[{j},{i}] beyond tolerance {tol}"),
                    ));
                }
            }
        }
        self.symmetric = true;
        Ok(self)
    }

    /// The matrix.
    pub fn matrix(&self) -> MatRef<'_, f64> {
        self.m.as_ref()
    }
}

impl LinearOp for Dense {
    fn shape_in(&self) -> &Shape {
        &self.shape_in
    }
    fn shape_out(&self) -> &Shape {
        &self.shape_out
    }
    fn apply_block(&self, x: MatRef<'_, f64>, y: MatMut<'_, f64>) {
        let m = self.m.as_ref();
        par_columns(x, y, |xc, yc| gemm(yc, m, xc, 1.0, false));
    }
    fn apply_adjoint_block(&self, x: MatRef<'_, f64>, y: MatMut<'_, f64>) {
        let mt = self.m.transpose();
        par_columns(x, y, |xc, yc| gemm(yc, mt, xc, 1.0, false));
    }
    fn is_self_adjoint(&self) -> bool {
        self.symmetric
    }
}

/// The rank-one map q ↦ ⟨q, x⟩ y (the outer product y xᵀ); its adjoint is q ↦ ⟨q, y⟩ x.
#[derive(Debug, Clone)]
pub struct Projector {
    x: Mat<f64>,
    y: Mat<f64>,
    shape_in: Shape,
    shape_out: Shape,
}

impl Projector {
    /// q ↦ ⟨q, x⟩ y with `x` of `shape_in` and `y` of `shape_out`.
    pub fn new(x: &[f64], shape_in: Shape, y: &[f64], shape_out: Shape) -> Result<Self> {
        crate::op::check_len("Projector x", &shape_in, x.len())?;
        crate::op::check_len("Projector y", &shape_out, y.len())?;
        Ok(Projector {
            x: Mat::from_fn(x.len(), 1, |i, _| x[i]),
            y: Mat::from_fn(y.len(), 1, |i, _| y[i]),
            shape_in,
            shape_out,
        })
    }
}

impl LinearOp for Projector {
    fn shape_in(&self) -> &Shape {
        &self.shape_in
    }
    fn shape_out(&self) -> &Shape {
        &self.shape_out
    }
    fn apply_block(&self, q: MatRef<'_, f64>, out: MatMut<'_, f64>) {
        let c = tmul(self.x.as_ref(), q);
        gemm(out, self.y.as_ref(), c.as_ref(), 1.0, false);
    }
    fn apply_adjoint_block(&self, q: MatRef<'_, f64>, out: MatMut<'_, f64>) {
        let c = tmul(self.y.as_ref(), q);
        gemm(out, self.x.as_ref(), c.as_ref(), 1.0, false);
    }
}

/// diag(d) on a shape.
#[derive(Debug, Clone)]
pub struct Diagonal {
    d: Vec<f64>,
    shape: Shape,
}

impl Diagonal {
    /// diag(d) with `d` laid out in `shape`.
    pub fn new(d: Vec<f64>, shape: Shape) -> Result<Self> {
        crate::op::check_len("Diagonal", &shape, d.len())?;
        Ok(Diagonal { d, shape })
    }
}

impl LinearOp for Diagonal {
    fn shape_in(&self) -> &Shape {
        &self.shape
    }
    fn shape_out(&self) -> &Shape {
        &self.shape
    }
    fn apply_block(&self, x: MatRef<'_, f64>, mut y: MatMut<'_, f64>) {
        for j in 0..x.ncols() {
            for i in 0..x.nrows() {
                y[(i, j)] = self.d[i] * x[(i, j)];
            }
        }
    }
    fn apply_adjoint_block(&self, x: MatRef<'_, f64>, y: MatMut<'_, f64>) {
        self.apply_block(x, y)
    }
    fn is_self_adjoint(&self) -> bool {
        true
    }
}

/// A symmetric operator with a prescribed spectrum: U diag(λ) Uᵀ with orthonormal U (d x r).
/// Cost per probe 4dr; this is how a "dense matrix with known spectrum" of dimension 10,000 stays
/// cheap in tests and benches.
#[derive(Debug, Clone)]
pub struct Spectral {
    u: Mat<f64>,
    lambda: Vec<f64>,
    shape: Shape,
}

impl Spectral {
    /// U diag(λ) Uᵀ; `u` must have `lambda.len()` columns (orthonormality is the caller's promise,
    /// see [`crate::testing::random_orthonormal`]).
    pub fn new(u: Mat<f64>, lambda: Vec<f64>) -> Result<Self> {
        if u.ncols() != lambda.len() {
            return Err(invalid(
                "lambda",
                format!(
                    "{} eigenvalues for {} eigenvectors",
                    lambda.len(),
                    u.ncols()
                ),
            ));
        }
        let shape = Shape::flat("n", u.nrows());
        Ok(Spectral { u, lambda, shape })
    }

    /// The eigenvalues as given.
    pub fn eigenvalues(&self) -> &[f64] {
        &self.lambda
    }

    /// The eigenvectors (columns).
    pub fn eigenvectors(&self) -> MatRef<'_, f64> {
        self.u.as_ref()
    }
}

impl LinearOp for Spectral {
    fn shape_in(&self) -> &Shape {
        &self.shape
    }
    fn shape_out(&self) -> &Shape {
        &self.shape
    }
    fn apply_block(&self, x: MatRef<'_, f64>, y: MatMut<'_, f64>) {
        let u = self.u.as_ref();
        par_columns(x, y, |xc, yc| {
            let mut c = tmul(u, xc);
            for j in 0..c.ncols() {
                for i in 0..c.nrows() {
                    c[(i, j)] *= self.lambda[i];
                }
            }
            gemm(yc, u, c.as_ref(), 1.0, false);
        });
    }
    fn apply_adjoint_block(&self, x: MatRef<'_, f64>, y: MatMut<'_, f64>) {
        self.apply_block(x, y)
    }
    fn is_self_adjoint(&self) -> bool {
        true
    }
}
