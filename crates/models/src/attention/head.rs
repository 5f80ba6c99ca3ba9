//! One attention head of one trial, a = A v with A = softmax(q kᵀ·s) over keys (s = 1/√d_h, rows
//! are queries), and its two derivatives. The row softmax and its Jacobian live here only:
//! dA = A ⊙ (dS·s − rowsum(A ⊙ dS·s)) and its transpose gS = s·A ⊙ (gA − rowsum(A ⊙ gA)).
//! Masked keys (causal) have A = 0, so both derivatives vanish there without a separate mask.

use faer::{Mat, MatMut, MatRef};
use gentk_linalg::kernels::gemm;

/// A = softmax(q kᵀ·scale) by rows (keys j > i masked when `causal`), T x T.
pub fn probabilities(q: MatRef<'_, f64>, k: MatRef<'_, f64>, scale: f64, causal: bool) -> Mat<f64> {
    let t = q.nrows();
    let mut a = Mat::zeros(t, k.nrows());
    gemm(a.as_mut(), q, k.transpose(), scale, false);
    for i in 0..t {
        let keys = if causal { i + 1 } else { a.ncols() };
        let row_max = (0..keys)
            .map(|j| a[(i, j)])
            .fold(f64::NEG_INFINITY, f64::max);
        let mut z = 0.0;
        for j in 0..a.ncols() {
            let e = if j < keys {
                (a[(i, j)] - row_max).exp()
            } else {
                0.0
            };
            a[(i, j)] = e;
            z += e;
        }
        for j in 0..a.ncols() {
            a[(i, j)] /= z;
        }
    }
    a
}

/// Row-softmax Jacobian applied in place: `x <- A ⊙ (x − rowsum(A ⊙ x))`, the JVP when x = dS·s
/// and the VJP (up to the factor s) when x = gA.
fn softmax_derivative(p: MatRef<'_, f64>, mut x: MatMut<'_, f64>) {
    for i in 0..p.nrows() {
        let m: f64 = (0..p.ncols()).map(|j| p[(i, j)] * x[(i, j)]).sum();
        for j in 0..p.ncols() {
            x[(i, j)] = p[(i, j)] * (x[(i, j)] - m);
        }
    }
}

/// The forward values of one head the derivatives read.
#[derive(Clone, Copy)]
pub struct Head<'a> {
    /// Attention probabilities A, T x T.
    pub p: MatRef<'a, f64>,
    /// Queries, keys, values of the head, T x d_h each.
    pub q: MatRef<'a, f64>,
    /// Keys.
    pub k: MatRef<'a, f64>,
    /// Values.
    pub v: MatRef<'a, f64>,
    /// 1/√d_h.
    pub scale: f64,
}

impl Head<'_> {
    /// da = dA v + A dv with dA the softmax JVP of dS = dq kᵀ + q dkᵀ; written into `da`.
    pub fn jvp(
        &self,
        dq: MatRef<'_, f64>,
        dk: MatRef<'_, f64>,
        dv: MatRef<'_, f64>,
        mut da: MatMut<'_, f64>,
    ) {
        let t = self.p.nrows();
        let mut ds = Mat::zeros(t, t);
        gemm(ds.as_mut(), dq, self.k.transpose(), self.scale, false);
        gemm(ds.as_mut(), self.q, dk.transpose(), self.scale, true);
        softmax_derivative(self.p, ds.as_mut());
        gemm(da.as_mut(), ds.as_ref(), self.v, 1.0, false);
        gemm(da.as_mut(), self.p, dv, 1.0, true);
    }

    /// The transpose of [`Head::jvp`]: from the cotangent `ga` of a, adds gq, gk, gv.
    pub fn vjp_add(
        &self,
        ga: MatRef<'_, f64>,
        gq: MatMut<'_, f64>,
        gk: MatMut<'_, f64>,
        gv: MatMut<'_, f64>,
    ) {
        let t = self.p.nrows();
        gemm(gv, self.p.transpose(), ga, 1.0, true);
        let mut gs = Mat::zeros(t, t);
        gemm(gs.as_mut(), ga, self.v.transpose(), 1.0, false);
        softmax_derivative(self.p, gs.as_mut());
        gemm(gq, gs.as_ref(), self.k, self.scale, true);
        gemm(gk, gs.transpose(), self.q, self.scale, true);
    }
}

/// The T x d_h block of trial `b`, head `hd` of a per-token N x D matrix.
pub(crate) fn block(m: &Mat<f64>, b: usize, hd: usize, time: usize, dh: usize) -> MatRef<'_, f64> {
    m.as_ref().submatrix(b * time, hd * dh, time, dh)
}
