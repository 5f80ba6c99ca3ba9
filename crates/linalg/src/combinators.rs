//! Operator combinators (generic structs, no boxing on hot paths). Constructors check shapes and
//! return errors naming both shapes; application never allocates more than one intermediate block.

use faer::{Mat, MatMut, MatRef};

use crate::error::Result;
use crate::op::{LinearOp, apply_adjoint_new, apply_new, check_same, check_square};
use crate::shape::Shape;

/// A*: swaps apply and apply_adjoint.
#[derive(Debug, Clone)]
pub struct Adjoint<A>(pub A);

impl<A: LinearOp> LinearOp for Adjoint<A> {
    fn shape_in(&self) -> &Shape {
        self.0.shape_out()
    }
    fn shape_out(&self) -> &Shape {
        self.0.shape_in()
    }
    fn apply_block(&self, x: MatRef<'_, f64>, y: MatMut<'_, f64>) {
        self.0.apply_adjoint_block(x, y)
    }
    fn apply_adjoint_block(&self, x: MatRef<'_, f64>, y: MatMut<'_, f64>) {
        self.0.apply_block(x, y)
    }
    fn is_self_adjoint(&self) -> bool {
        self.0.is_self_adjoint()
    }
}

/// A ∘ B (apply B, then A); adjoint B* A*.
#[derive(Debug, Clone)]
pub struct Compose<A, B> {
    a: A,
    b: B,
}

impl<A: LinearOp, B: LinearOp> Compose<A, B> {
    /// A ∘ B; requires A's input size to equal B's output size.
    pub fn new(a: A, b: B) -> Result<Self> {
        check_same(
            "compose (A.shape_in vs B.shape_out)",
            a.shape_in(),
            b.shape_out(),
        )?;
        Ok(Compose { a, b })
    }
}

impl<A: LinearOp, B: LinearOp> LinearOp for Compose<A, B> {
    fn shape_in(&self) -> &Shape {
        self.b.shape_in()
    }
    fn shape_out(&self) -> &Shape {
        self.a.shape_out()
    }
    fn apply_block(&self, x: MatRef<'_, f64>, y: MatMut<'_, f64>) {
        let t = apply_new(&self.b, x);
        self.a.apply_block(t.as_ref(), y);
    }
    fn apply_adjoint_block(&self, x: MatRef<'_, f64>, y: MatMut<'_, f64>) {
        let t = apply_adjoint_new(&self.a, x);
        self.b.apply_adjoint_block(t.as_ref(), y);
    }
}

/// [A B]: x = [x_A; x_B] ↦ A x_A + B x_B (two maps into one space, e.g. a Jacobian over two
/// parameter groups); adjoint y ↦ [A* y; B* y].
#[derive(Debug, Clone)]
pub struct Concat<A, B> {
    a: A,
    b: B,
    shape_in: Shape,
}

impl<A: LinearOp, B: LinearOp> Concat<A, B> {
    /// [A B]; requires equal output sizes. The input is flat, `|A.in| + |B.in|` long.
    pub fn new(a: A, b: B) -> Result<Self> {
        check_same(
            "concat (A.shape_out vs B.shape_out)",
            a.shape_out(),
            b.shape_out(),
        )?;
        let n = a.shape_in().numel() + b.shape_in().numel();
        Ok(Concat {
            a,
            b,
            shape_in: Shape::flat("concat", n),
        })
    }
}

impl<A: LinearOp, B: LinearOp> LinearOp for Concat<A, B> {
    fn shape_in(&self) -> &Shape {
        &self.shape_in
    }
    fn shape_out(&self) -> &Shape {
        self.a.shape_out()
    }
    fn apply_block(&self, x: MatRef<'_, f64>, mut y: MatMut<'_, f64>) {
        let na = self.a.shape_in().numel();
        self.a.apply_block(x.subrows(0, na), y.as_mut());
        let t = apply_new(&self.b, x.subrows(na, x.nrows() - na));
        y += &t;
    }
    fn apply_adjoint_block(&self, x: MatRef<'_, f64>, mut y: MatMut<'_, f64>) {
        let na = self.a.shape_in().numel();
        let rest = y.nrows() - na;
        self.a.apply_adjoint_block(x, y.as_mut().subrows_mut(0, na));
        self.b
            .apply_adjoint_block(x, y.as_mut().subrows_mut(na, rest));
    }
}

/// A A* on A's output space (self-adjoint, PSD).
#[derive(Debug, Clone)]
pub struct Gram<A>(pub A);

impl<A: LinearOp> LinearOp for Gram<A> {
    fn shape_in(&self) -> &Shape {
        self.0.shape_out()
    }
    fn shape_out(&self) -> &Shape {
        self.0.shape_out()
    }
    fn apply_block(&self, x: MatRef<'_, f64>, y: MatMut<'_, f64>) {
        let t = apply_adjoint_new(&self.0, x);
        self.0.apply_block(t.as_ref(), y);
    }
    fn apply_adjoint_block(&self, x: MatRef<'_, f64>, y: MatMut<'_, f64>) {
        self.apply_block(x, y)
    }
    fn is_self_adjoint(&self) -> bool {
        true
    }
}

/// α A + β B (sum: α = β = 1; difference: α = 1, β = −1).
#[derive(Debug, Clone)]
pub struct LinComb<A, B> {
    a: A,
    b: B,
    alpha: f64,
    beta: f64,
}

impl<A: LinearOp, B: LinearOp> LinComb<A, B> {
    /// α A + β B; both operators must have the same input and output sizes.
    pub fn new(alpha: f64, a: A, beta: f64, b: B) -> Result<Self> {
        check_same(
            "linear combination (input shapes)",
            a.shape_in(),
            b.shape_in(),
        )?;
        check_same(
            "linear combination (output shapes)",
            a.shape_out(),
            b.shape_out(),
        )?;
        Ok(LinComb { a, b, alpha, beta })
    }
    /// A + B.
    pub fn sum(a: A, b: B) -> Result<Self> {
        Self::new(1.0, a, 1.0, b)
    }
    /// A − B.
    pub fn sub(a: A, b: B) -> Result<Self> {
        Self::new(1.0, a, -1.0, b)
    }
}

fn axpby(mut y: MatMut<'_, f64>, alpha: f64, a: MatRef<'_, f64>, beta: f64, b: MatRef<'_, f64>) {
    for j in 0..y.ncols() {
        for i in 0..y.nrows() {
            y[(i, j)] = alpha * a[(i, j)] + beta * b[(i, j)];
        }
    }
}

impl<A: LinearOp, B: LinearOp> LinearOp for LinComb<A, B> {
    fn shape_in(&self) -> &Shape {
        self.a.shape_in()
    }
    fn shape_out(&self) -> &Shape {
        self.a.shape_out()
    }
    fn apply_block(&self, x: MatRef<'_, f64>, y: MatMut<'_, f64>) {
        let (ya, yb) = (apply_new(&self.a, x), apply_new(&self.b, x));
        axpby(y, self.alpha, ya.as_ref(), self.beta, yb.as_ref());
    }
    fn apply_adjoint_block(&self, x: MatRef<'_, f64>, y: MatMut<'_, f64>) {
        let (ya, yb) = (apply_adjoint_new(&self.a, x), apply_adjoint_new(&self.b, x));
        axpby(y, self.alpha, ya.as_ref(), self.beta, yb.as_ref());
    }
    fn is_self_adjoint(&self) -> bool {
        self.a.is_self_adjoint() && self.b.is_self_adjoint()
    }
}

/// c · A.
#[derive(Debug, Clone)]
pub struct Scale<A> {
    a: A,
    c: f64,
}

impl<A: LinearOp> Scale<A> {
    /// c · A.
    pub fn new(c: f64, a: A) -> Self {
        Scale { a, c }
    }
}

impl<A: LinearOp> LinearOp for Scale<A> {
    fn shape_in(&self) -> &Shape {
        self.a.shape_in()
    }
    fn shape_out(&self) -> &Shape {
        self.a.shape_out()
    }
    fn apply_block(&self, x: MatRef<'_, f64>, mut y: MatMut<'_, f64>) {
        self.a.apply_block(x, y.as_mut());
        scale_in_place(y, self.c);
    }
    fn apply_adjoint_block(&self, x: MatRef<'_, f64>, mut y: MatMut<'_, f64>) {
        self.a.apply_adjoint_block(x, y.as_mut());
        scale_in_place(y, self.c);
    }
    fn is_self_adjoint(&self) -> bool {
        self.a.is_self_adjoint()
    }
}

fn scale_in_place(mut y: MatMut<'_, f64>, c: f64) {
    for j in 0..y.ncols() {
        for i in 0..y.nrows() {
            y[(i, j)] *= c;
        }
    }
}

/// (A + A*)/2 of a square operator.
#[derive(Debug, Clone)]
pub struct SymPart<A>(A);

impl<A: LinearOp> SymPart<A> {
    /// (A + A*)/2; A must be square.
    pub fn new(a: A) -> Result<Self> {
        check_square("symmetric part", &a)?;
        Ok(SymPart(a))
    }
}

impl<A: LinearOp> LinearOp for SymPart<A> {
    fn shape_in(&self) -> &Shape {
        self.0.shape_in()
    }
    fn shape_out(&self) -> &Shape {
        self.0.shape_in()
    }
    fn apply_block(&self, x: MatRef<'_, f64>, y: MatMut<'_, f64>) {
        let (ya, yb) = (apply_new(&self.0, x), apply_adjoint_new(&self.0, x));
        axpby(y, 0.5, ya.as_ref(), 0.5, yb.as_ref());
    }
    fn apply_adjoint_block(&self, x: MatRef<'_, f64>, y: MatMut<'_, f64>) {
        self.apply_block(x, y)
    }
    fn is_self_adjoint(&self) -> bool {
        true
    }
}

/// The same operator seen with new shapes of equal sizes (a reshape; no data moves).
#[derive(Debug, Clone)]
pub struct View<A> {
    a: A,
    shape_in: Shape,
    shape_out: Shape,
}

impl<A: LinearOp> View<A> {
    /// Reinterprets A's domain as `shape_in` and codomain as `shape_out`.
    pub fn new(a: A, shape_in: Shape, shape_out: Shape) -> Result<Self> {
        check_same("view (input)", a.shape_in(), &shape_in)?;
        check_same("view (output)", a.shape_out(), &shape_out)?;
        Ok(View {
            a,
            shape_in,
            shape_out,
        })
    }
}

impl<A: LinearOp> LinearOp for View<A> {
    fn shape_in(&self) -> &Shape {
        &self.shape_in
    }
    fn shape_out(&self) -> &Shape {
        &self.shape_out
    }
    fn apply_block(&self, x: MatRef<'_, f64>, y: MatMut<'_, f64>) {
        self.a.apply_block(x, y)
    }
    fn apply_adjoint_block(&self, x: MatRef<'_, f64>, y: MatMut<'_, f64>) {
        self.a.apply_adjoint_block(x, y)
    }
    fn is_self_adjoint(&self) -> bool {
        self.a.is_self_adjoint()
    }
}

/// Kronecker product A ⊗ B on shape (A.in…, B.in…): a vector is a row-major matrix Q
/// (|A.in| x |B.in|) and (A ⊗ B) q = vec(A Q Bᵀ). Cost: |A.in| applications of B and |B.out| of A
/// per probe, each done as one block call.
#[derive(Debug, Clone)]
pub struct Kron<A, B> {
    a: A,
    b: B,
    shape_in: Shape,
    shape_out: Shape,
}

fn concat(a: &Shape, b: &Shape) -> Shape {
    Shape::new(
        a.axes()
            .iter()
            .chain(b.axes())
            .map(|ax| (ax.name.clone(), ax.size)),
    )
}

impl<A: LinearOp, B: LinearOp> Kron<A, B> {
    /// A ⊗ B.
    pub fn new(a: A, b: B) -> Self {
        let shape_in = concat(a.shape_in(), b.shape_in());
        let shape_out = concat(a.shape_out(), b.shape_out());
        Kron {
            a,
            b,
            shape_in,
            shape_out,
        }
    }
}

/// vec(A Q Bᵀ) for every probe column, given block appliers for A and B.
fn kron_apply(
    x: MatRef<'_, f64>,
    mut y: MatMut<'_, f64>,
    (na_in, nb_in, na_out, nb_out): (usize, usize, usize, usize),
    apply_a: impl Fn(MatRef<'_, f64>, MatMut<'_, f64>),
    apply_b: impl Fn(MatRef<'_, f64>, MatMut<'_, f64>),
) {
    let k = x.ncols();
    // Rows of every Q_p side by side: a (nb_in x na_in·k) column-major block.
    let mut xs = Vec::with_capacity(nb_in * na_in * k);
    for p in 0..k {
        for r in 0..na_in * nb_in {
            xs.push(x[(r, p)]);
        }
    }
    let xv = MatRef::from_column_major_slice(&xs, nb_in, na_in * k);
    let mut w = Mat::zeros(nb_out, na_in * k);
    apply_b(xv, w.as_mut()); // column (p, i) = (Q_p Bᵀ)[i, :]
    let m = Mat::from_fn(na_in, nb_out * k, |i, c| {
        let (p, j) = (c / nb_out, c % nb_out);
        w[(j, p * na_in + i)]
    });
    let mut r = Mat::zeros(na_out, nb_out * k);
    apply_a(m.as_ref(), r.as_mut()); // column (p, j) = (A Q_p Bᵀ)[:, j]
    for p in 0..k {
        for a in 0..na_out {
            for j in 0..nb_out {
                y[(a * nb_out + j, p)] = r[(a, p * nb_out + j)];
            }
        }
    }
}

impl<A: LinearOp, B: LinearOp> LinearOp for Kron<A, B> {
    fn shape_in(&self) -> &Shape {
        &self.shape_in
    }
    fn shape_out(&self) -> &Shape {
        &self.shape_out
    }
    fn apply_block(&self, x: MatRef<'_, f64>, y: MatMut<'_, f64>) {
        let dims = (
            self.a.shape_in().numel(),
            self.b.shape_in().numel(),
            self.a.shape_out().numel(),
            self.b.shape_out().numel(),
        );
        kron_apply(
            x,
            y,
            dims,
            |u, v| self.a.apply_block(u, v),
            |u, v| self.b.apply_block(u, v),
        );
    }
    fn apply_adjoint_block(&self, x: MatRef<'_, f64>, y: MatMut<'_, f64>) {
        let dims = (
            self.a.shape_out().numel(),
            self.b.shape_out().numel(),
            self.a.shape_in().numel(),
            self.b.shape_in().numel(),
        );
        kron_apply(
            x,
            y,
            dims,
            |u, v| self.a.apply_adjoint_block(u, v),
            |u, v| self.b.apply_adjoint_block(u, v),
        );
    }
    fn is_self_adjoint(&self) -> bool {
        self.a.is_self_adjoint() && self.b.is_self_adjoint()
    }
}
