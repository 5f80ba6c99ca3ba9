//! Neumann-series solves of A x = b (x = Σ_k (I − A)^k b), converging iff ρ(I − A) < 1 and exact
//! after T terms when I − A is nilpotent of index T (the causal D_zF = I − 𝒥S of a T-step RNN).

use faer::{Mat, MatMut, MatRef};

use crate::error::{Result, invalid};
use crate::op::{LinearOp, apply_adjoint_new, apply_new, check_square};
use crate::shape::Shape;

/// Outcome of a Neumann solve.
#[derive(Debug, Clone)]
pub struct NeumannSolve {
    /// The solution block.
    pub x: Mat<f64>,
    /// Loop iterations (terms added after the first).
    pub iterations: usize,
    /// Whether ‖term‖ ≤ tol·‖x‖ was reached (per column, all columns).
    pub converged: bool,
}

fn run(
    x0: MatRef<'_, f64>,
    max_iter: usize,
    tol: f64,
    apply: impl Fn(MatRef<'_, f64>) -> Mat<f64>,
) -> NeumannSolve {
    let mut x = x0.to_owned();
    let mut term = x0.to_owned();
    for it in 0..max_iter {
        if term.norm_l2() <= tol * x.norm_l2() {
            return NeumannSolve {
                x,
                iterations: it,
                converged: true,
            };
        }
        let at = apply(term.as_ref());
        term -= &at;
        x += &term;
    }
    let converged = term.norm_l2() <= tol * x.norm_l2();
    NeumannSolve {
        x,
        iterations: max_iter,
        converged,
    }
}

/// Solves A X = B by term ← term − A·term, X ← X + term, up to `max_iter` iterations or until
/// ‖term‖ ≤ tol·‖X‖ (Frobenius norms over the block).
pub fn neumann_solve<A: LinearOp>(
    a: &A,
    b: MatRef<'_, f64>,
    max_iter: usize,
    tol: f64,
) -> Result<NeumannSolve> {
    check_square("neumann_solve", a)?;
    crate::op::check_len("neumann_solve", a.shape_out(), b.nrows())?;
    Ok(run(b, max_iter, tol, |t| apply_new(a, t)))
}

/// A⁻¹ as an operator: apply runs the Neumann solve of A x = b, the adjoint that of A* x = b.
#[derive(Debug, Clone)]
pub struct NeumannInverse<A> {
    a: A,
    max_iter: usize,
    tol: f64,
}

impl<A: LinearOp> NeumannInverse<A> {
    /// A⁻¹ by Neumann series with at most `max_iter` loop iterations (`max_iter` + 1 terms; T − 1
    /// iterations make it exact for a T-step causal system).
    pub fn new(a: A, max_iter: usize, tol: f64) -> Result<Self> {
        check_square("neumann_inverse", &a)?;
        if tol.is_nan() || tol < 0.0 {
            return Err(invalid("tol", "must be a non-negative number"));
        }
        Ok(NeumannInverse { a, max_iter, tol })
    }
}

impl<A: LinearOp> LinearOp for NeumannInverse<A> {
    fn shape_in(&self) -> &Shape {
        self.a.shape_out()
    }
    fn shape_out(&self) -> &Shape {
        self.a.shape_in()
    }
    fn apply_block(&self, x: MatRef<'_, f64>, mut y: MatMut<'_, f64>) {
        let s = run(x, self.max_iter, self.tol, |t| apply_new(&self.a, t));
        y.copy_from(&s.x);
    }
    fn apply_adjoint_block(&self, x: MatRef<'_, f64>, mut y: MatMut<'_, f64>) {
        let s = run(x, self.max_iter, self.tol, |t| {
            apply_adjoint_new(&self.a, t)
        });
        y.copy_from(&s.x);
    }
    fn is_self_adjoint(&self) -> bool {
        self.a.is_self_adjoint()
    }
}
