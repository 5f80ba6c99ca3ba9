//! The step Jacobians of a rollout in factored form, the one kernel behind the `precision = "f32"`
//! mode: every cell's A_t is a skip diagonal plus diagonals around one stacked weight,
//!
//! * output-side gates: A_t v = a_t ⊙ v + Σ_k d_{t,k} ⊙ (W_k v)  (tanh RNN, GRU, MLP layers),
//! * input-side gate:   A_t v = a_t ⊙ v + W (d_t ⊙ v)            (leaky RNN, rate form),
//!
//! so one generic kernel (GEMM into scratch + one elementwise pass, as the cells' own f64 steps)
//! runs any cell in any [`Real`] scalar. Cells export their factors once per rollout
//! ([`crate::StepModel::step_factors`]); [`FactoredStep::cast`] rounds them to f32. The f64
//! instantiation is the test oracle that the export reproduces each cell's own A_t.

use faer::{Mat, MatMut, MatRef};
use gentk_linalg::Real;
use gentk_linalg::kernels::gemm_step;
use gentk_linalg::scalar::{narrow, narrow_mat};

use crate::rollout::{Rollout, StepModel};

/// The skip diagonal a_t.
#[derive(Debug, Clone)]
pub enum Skip<T> {
    /// a_t = 0.
    None,
    /// a_t = c·1 (leaky RNN: 1 − dt; residual MLP: 1).
    Const(T),
    /// A per-site diagonal, N x H row-major (GRU: ζ_t).
    Sites(Vec<T>),
}

/// Which side of the weight the gate diagonals sit on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateSide {
    /// d ⊙ (W v): the diagonal scales the weight's output (one diagonal per stacked gate block).
    Out,
    /// W (d ⊙ v): the diagonal scales the weight's input (one gate only).
    In,
}

/// A_t of every step of one rollout, as skip + gate diagonals + weights, in scalar `T`.
#[derive(Debug, Clone)]
pub struct FactoredStep<T> {
    batch: usize,
    time: usize,
    hidden: usize,
    gates: usize,
    side: GateSide,
    skip: Skip<T>,
    /// N x (gates·H) row-major: site s, gate k at `[s·gH + k·H ..][..H]`.
    diag: Vec<T>,
    /// (gates·H) x H weights, column-major.
    weights: Vec<Mat<T>>,
    /// The weight of step t; `None`: A_t = 0 (an MLP's first layer).
    weight_at: Vec<Option<usize>>,
}

impl FactoredStep<f64> {
    /// Factors of a `[batch, time, hidden]` rollout. `diag` holds `gates` per-site diagonals
    /// interleaved per site (N x (gates·H)); every weight is (gates·H) x H; `weight_at[t]` names
    /// step t's weight (length `time`). Shapes are the caller's invariant (checked in debug).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        (batch, time, hidden): (usize, usize, usize),
        side: GateSide,
        skip: Skip<f64>,
        gates: usize,
        diag: Vec<f64>,
        weights: Vec<MatRef<'_, f64>>,
        weight_at: Vec<Option<usize>>,
    ) -> Self {
        debug_assert_eq!(diag.len(), batch * time * gates * hidden);
        debug_assert_eq!(weight_at.len(), time);
        debug_assert!(side == GateSide::Out || gates == 1);
        debug_assert!(
            weights
                .iter()
                .all(|w| w.nrows() == gates * hidden && w.ncols() == hidden)
        );
        FactoredStep {
            batch,
            time,
            hidden,
            gates,
            side,
            skip,
            diag,
            weights: weights.into_iter().map(|w| w.to_owned()).collect(),
            weight_at,
        }
    }

    /// The same factors rounded to `U` (f32 for the single-precision mode).
    pub fn cast<U: Real>(&self) -> FactoredStep<U> {
        FactoredStep {
            batch: self.batch,
            time: self.time,
            hidden: self.hidden,
            gates: self.gates,
            side: self.side,
            skip: match &self.skip {
                Skip::None => Skip::None,
                Skip::Const(c) => Skip::Const(U::of(*c)),
                Skip::Sites(s) => Skip::Sites(narrow(s)),
            },
            diag: narrow(&self.diag),
            weights: self
                .weights
                .iter()
                .map(|w| narrow_mat(w.as_ref()))
                .collect(),
            weight_at: self.weight_at.clone(),
        }
    }
}

/// The skip diagonal of one column.
#[derive(Clone, Copy)]
enum SkipRow<'a, T> {
    None,
    Const(T),
    Row(&'a [T]),
}

/// `o += a ⊙ x + d ⊙ u` in one pass (the skip term fused into the first gate's).
fn fused_add<T: Real>(a: SkipRow<'_, T>, x: &[T], d: &[T], u: &[T], o: &mut [T]) {
    let h = o.len();
    match a {
        SkipRow::None => (0..h).for_each(|i| o[i] += d[i] * u[i]),
        SkipRow::Const(c) => (0..h).for_each(|i| o[i] += c * x[i] + d[i] * u[i]),
        SkipRow::Row(r) => (0..h).for_each(|i| o[i] += r[i] * x[i] + d[i] * u[i]),
    }
}

impl<T: Real> FactoredStep<T> {
    fn site(&self, col: usize, t: usize) -> usize {
        (col % self.batch) * self.time + t
    }

    fn skip_row(&self, s: usize) -> SkipRow<'_, T> {
        let h = self.hidden;
        match &self.skip {
            Skip::None => SkipRow::None,
            Skip::Const(c) => SkipRow::Const(*c),
            Skip::Sites(a) => SkipRow::Row(&a[s * h..(s + 1) * h]),
        }
    }
}

/// One step of the propagation recursions on H x m column-major blocks held as slices: the
/// interface [`crate::recursion`] runs P and P* through, for the cells' own f64 steps and for
/// [`FactoredStep`] in any scalar.
pub trait StepOp<T: Real>: Sync {
    /// `(batch, time, hidden)` of the rollout.
    fn dims(&self) -> (usize, usize, usize);
    /// Scratch entries a block of `cols` columns needs.
    fn scratch_len(&self, cols: usize) -> usize;
    /// `out += A_t v`.
    fn jvp_add(&self, t: usize, v: &[T], out: &mut [T], scratch: &mut [T]);
    /// `out += A_tᵀ w`.
    fn vjp_add(&self, t: usize, w: &[T], out: &mut [T], scratch: &mut [T]);
}

impl<T: Real> StepOp<T> for FactoredStep<T> {
    fn dims(&self) -> (usize, usize, usize) {
        (self.batch, self.time, self.hidden)
    }
    fn scratch_len(&self, cols: usize) -> usize {
        self.gates * self.hidden * cols
    }
    fn jvp_add(&self, t: usize, v: &[T], out: &mut [T], scratch: &mut [T]) {
        let Some(wi) = self.weight_at[t] else {
            return;
        };
        let (h, gh, m) = (self.hidden, self.gates * self.hidden, v.len() / self.hidden);
        let w = self.weights[wi].as_ref();
        let u = &mut scratch[..gh * m];
        let one = T::of(1.0);
        match self.side {
            GateSide::Out => {
                let vm = MatRef::from_column_major_slice(v, h, m);
                gemm_step(
                    MatMut::from_column_major_slice_mut(u, gh, m),
                    w,
                    vm,
                    one,
                    false,
                );
                for (j, (uj, oj)) in u.chunks_exact(gh).zip(out.chunks_exact_mut(h)).enumerate() {
                    let s = self.site(j, t);
                    let d = &self.diag[s * gh..(s + 1) * gh];
                    let vj = &v[j * h..(j + 1) * h];
                    fused_add(self.skip_row(s), vj, &d[..h], &uj[..h], oj);
                    for (dk, uk) in d.chunks_exact(h).zip(uj.chunks_exact(h)).skip(1) {
                        for i in 0..h {
                            oj[i] += dk[i] * uk[i];
                        }
                    }
                }
            }
            GateSide::In => {
                let rows = u.chunks_exact_mut(h).zip(v.chunks_exact(h));
                for (j, ((uj, vj), oj)) in rows.zip(out.chunks_exact_mut(h)).enumerate() {
                    let s = self.site(j, t);
                    let d = &self.diag[s * h..(s + 1) * h];
                    match self.skip_row(s) {
                        SkipRow::None => (0..h).for_each(|i| uj[i] = d[i] * vj[i]),
                        SkipRow::Const(c) => (0..h).for_each(|i| {
                            uj[i] = d[i] * vj[i];
                            oj[i] += c * vj[i];
                        }),
                        SkipRow::Row(a) => (0..h).for_each(|i| {
                            uj[i] = d[i] * vj[i];
                            oj[i] += a[i] * vj[i];
                        }),
                    }
                }
                let um = MatRef::from_column_major_slice(&*u, h, m);
                gemm_step(
                    MatMut::from_column_major_slice_mut(out, h, m),
                    w,
                    um,
                    one,
                    true,
                );
            }
        }
    }
    fn vjp_add(&self, t: usize, w: &[T], out: &mut [T], scratch: &mut [T]) {
        let Some(wi) = self.weight_at[t] else {
            return;
        };
        let (h, gh, m) = (self.hidden, self.gates * self.hidden, w.len() / self.hidden);
        let wt = self.weights[wi].transpose();
        let g = &mut scratch[..gh * m];
        let one = T::of(1.0);
        match self.side {
            GateSide::Out => {
                let rows = g.chunks_exact_mut(gh).zip(w.chunks_exact(h));
                for (j, ((gj, wj), oj)) in rows.zip(out.chunks_exact_mut(h)).enumerate() {
                    let s = self.site(j, t);
                    let d = &self.diag[s * gh..(s + 1) * gh];
                    for (dk, gk) in d.chunks_exact(h).zip(gj.chunks_exact_mut(h)) {
                        for i in 0..h {
                            gk[i] = dk[i] * wj[i];
                        }
                    }
                    match self.skip_row(s) {
                        SkipRow::None => {}
                        SkipRow::Const(c) => (0..h).for_each(|i| oj[i] += c * wj[i]),
                        SkipRow::Row(a) => (0..h).for_each(|i| oj[i] += a[i] * wj[i]),
                    }
                }
                let gm = MatRef::from_column_major_slice(&*g, gh, m);
                gemm_step(
                    MatMut::from_column_major_slice_mut(out, h, m),
                    wt,
                    gm,
                    one,
                    true,
                );
            }
            GateSide::In => {
                let wm = MatRef::from_column_major_slice(w, h, m);
                gemm_step(
                    MatMut::from_column_major_slice_mut(g, h, m),
                    wt,
                    wm,
                    one,
                    false,
                );
                for (j, (gj, oj)) in g.chunks_exact(h).zip(out.chunks_exact_mut(h)).enumerate() {
                    let s = self.site(j, t);
                    let d = &self.diag[s * h..(s + 1) * h];
                    fused_add(self.skip_row(s), &w[j * h..(j + 1) * h], d, gj, oj);
                }
            }
        }
    }
}

/// A step model's own f64 steps ([`StepModel::state_jvp_add`]) as a [`StepOp`].
pub struct ModelStep<'a, M: ?Sized> {
    /// The model.
    pub model: &'a M,
    /// Its rollout.
    pub ro: &'a Rollout,
}

impl<M: StepModel + ?Sized> StepOp<f64> for ModelStep<'_, M> {
    fn dims(&self) -> (usize, usize, usize) {
        (self.ro.batch, self.ro.time, self.ro.hidden)
    }
    fn scratch_len(&self, cols: usize) -> usize {
        self.model.step_scratch_len(cols)
    }
    fn jvp_add(&self, t: usize, v: &[f64], out: &mut [f64], scratch: &mut [f64]) {
        let (h, m) = (self.ro.hidden, v.len() / self.ro.hidden);
        let v = MatRef::from_column_major_slice(v, h, m);
        let out = MatMut::from_column_major_slice_mut(out, h, m);
        self.model.state_jvp_add(self.ro, t, v, out, scratch);
    }
    fn vjp_add(&self, t: usize, w: &[f64], out: &mut [f64], scratch: &mut [f64]) {
        let (h, m) = (self.ro.hidden, w.len() / self.ro.hidden);
        let w = MatRef::from_column_major_slice(w, h, m);
        let out = MatMut::from_column_major_slice_mut(out, h, m);
        self.model.state_vjp_add(self.ro, t, w, out, scratch);
    }
}

/// Interleaves per-gate N x H site arrays into one N x (gates·H) array (site-major), the layout
/// [`FactoredStep`] reads, each scaled by `scale`.
pub fn interleave(parts: &[&[f64]], hidden: usize, scale: f64) -> Vec<f64> {
    let g = parts.len();
    let n = parts.first().map_or(0, |p| p.len() / hidden);
    let mut out = vec![0.0; n * g * hidden];
    for s in 0..n {
        for (k, p) in parts.iter().enumerate() {
            let dst = &mut out[(s * g + k) * hidden..(s * g + k + 1) * hidden];
            dst.iter_mut()
                .zip(&p[s * hidden..(s + 1) * hidden])
                .for_each(|(d, v)| *d = scale * v);
        }
    }
    out
}
