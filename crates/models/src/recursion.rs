//! The time recursions of the propagation operator on probe blocks, shared by the NTK operators
//! (P, P*) and by training (the BPTT adjoint a = P* Err is the same recursion on one column):
//! (P q)_t = q_t + A_t (P q)_{t−1}, (P* q)_t = q_t + A_{t+1}ᵀ (P* q)_{t+1}. Each step applies the
//! model's JVP/VJP to one H x (k·B) block (column p·B + b = probe p, trial b), so all trials and
//! probes of a step are one GEMM; step buffers come from a per-thread pool and are reused across
//! steps and calls.

use faer::{Mat, MatMut, MatRef};
use gentk_linalg::Real;
use gentk_linalg::kernels::with_buffer;

use crate::factored::{ModelStep, StepOp};
use crate::rollout::{Rollout, StepModel};

/// Gathers step `t` of every probe column into a new H x (k·B) block.
pub fn gather(ro: &Rollout, x: MatRef<'_, f64>, t: usize) -> Mat<f64> {
    let mut out = Mat::zeros(ro.hidden, x.ncols() * ro.batch);
    gather_into(ro, x, t, &mut out);
    out
}

/// [`gather`] into an existing H x (k·B) block (no allocation in the recursions' loops).
pub fn gather_into(ro: &Rollout, x: MatRef<'_, f64>, t: usize, out: &mut Mat<f64>) {
    let (b, h, tt) = (ro.batch, ro.hidden, ro.time);
    for p in 0..x.ncols() {
        let col = x.col(p);
        for bb in 0..b {
            let off = (bb * tt + t) * h;
            let dst = out.col_as_slice_mut(p * b + bb);
            for i in 0..h {
                dst[i] = col[off + i];
            }
        }
    }
}

/// Writes (or adds) an H x (k·B) step block into step `t` of the probe columns.
pub fn scatter(ro: &Rollout, blk: MatRef<'_, f64>, t: usize, mut y: MatMut<'_, f64>, add: bool) {
    let (b, h, tt) = (ro.batch, ro.hidden, ro.time);
    for p in 0..y.ncols() {
        for bb in 0..b {
            let off = (bb * tt + t) * h;
            let src = blk.col(p * b + bb);
            for i in 0..h {
                if add {
                    y[(off + i, p)] += src[i];
                } else {
                    y[(off + i, p)] = src[i];
                }
            }
        }
    }
}

/// Step `t` of every probe column into an H x (k·B) block held as a column-major slice, rounded
/// to the recursion's scalar (a plain copy when the types agree).
fn gather_step<X: Real, T: Real>(
    (b, tt, h): (usize, usize, usize),
    x: MatRef<'_, X>,
    t: usize,
    out: &mut [T],
) {
    for p in 0..x.ncols() {
        let col = x.col(p);
        let contiguous = col.try_as_col_major();
        for bb in 0..b {
            let off = (bb * tt + t) * h;
            let dst = &mut out[(p * b + bb) * h..(p * b + bb + 1) * h];
            match contiguous {
                Some(c) => dst
                    .iter_mut()
                    .zip(&c.as_slice()[off..off + h])
                    .for_each(|(d, v)| *d = T::of(v.wide())),
                None => dst
                    .iter_mut()
                    .enumerate()
                    .for_each(|(i, v)| *v = T::of(col[off + i].wide())),
            }
        }
    }
}

/// Writes an H x (k·B) step block (column-major slice) into step `t` of the probe columns,
/// converted to the output's scalar.
fn scatter_step<T: Real, Y: Real>(
    (b, tt, h): (usize, usize, usize),
    blk: &[T],
    t: usize,
    mut y: MatMut<'_, Y>,
) {
    for p in 0..y.ncols() {
        let mut col = y.as_mut().col_mut(p);
        for bb in 0..b {
            let off = (bb * tt + t) * h;
            let src = &blk[(p * b + bb) * h..(p * b + bb + 1) * h];
            match col.as_mut().try_as_col_major_mut() {
                Some(c) => c.as_slice_mut()[off..off + h]
                    .iter_mut()
                    .zip(src)
                    .for_each(|(d, v)| *d = Y::of(v.wide())),
                None => src
                    .iter()
                    .enumerate()
                    .for_each(|(i, v)| col[off + i] = Y::of(v.wide())),
            }
        }
    }
}

/// The shared loop of P and P*: `cur_t = x_t + step(other)` over `order`, where `other` is the
/// previous iteration's block. Two step blocks and the step's scratch come from one pooled buffer,
/// so the loop allocates nothing.
fn recurse<X: Real, Y: Real, T: Real, S: StepOp<T> + ?Sized>(
    s: &S,
    x: MatRef<'_, X>,
    mut y: MatMut<'_, Y>,
    adjoint: bool,
) {
    let dims @ (batch, time, h) = s.dims();
    let blk = h * x.ncols() * batch;
    with_buffer(
        2 * blk + s.scratch_len(x.ncols() * batch),
        |buf: &mut [T]| {
            let (a, rest) = buf.split_at_mut(blk);
            let (b, scratch) = rest.split_at_mut(blk);
            let (mut cur, mut other) = (a, b);
            for i in 0..time {
                let t = if adjoint { time - 1 - i } else { i };
                gather_step(dims, x, t, cur);
                if i > 0 {
                    if adjoint {
                        s.vjp_add(t + 1, other, cur, scratch);
                    } else {
                        s.jvp_add(t, other, cur, scratch);
                    }
                }
                scatter_step(dims, cur, t, y.as_mut());
                std::mem::swap(&mut cur, &mut other);
            }
        },
    )
}

/// y = P x for a block of state-space columns (forward in time).
pub fn propagate<M: StepModel + ?Sized>(
    m: &M,
    ro: &Rollout,
    x: MatRef<'_, f64>,
    y: MatMut<'_, f64>,
) {
    recurse(&ModelStep { model: m, ro }, x, y, false)
}

/// y = P* x for a block of state-space columns (backward in time: BPTT).
pub fn propagate_adjoint<M: StepModel + ?Sized>(
    m: &M,
    ro: &Rollout,
    x: MatRef<'_, f64>,
    y: MatMut<'_, f64>,
) {
    recurse(&ModelStep { model: m, ro }, x, y, true)
}

/// y = P x through any [`StepOp`] (e.g. a rollout's [`crate::FactoredStep`] in f32). The probe
/// columns may be in other scalars than the step's: each step block is rounded on gather and
/// converted back on scatter, so an f32 recursion reads and writes f64 columns without full-size
/// copies.
pub fn propagate_op<X: Real, Y: Real, T: Real, S: StepOp<T> + ?Sized>(
    s: &S,
    x: MatRef<'_, X>,
    y: MatMut<'_, Y>,
) {
    recurse(s, x, y, false)
}

/// y = P* x through any [`StepOp`] (as [`propagate_op`]).
pub fn propagate_adjoint_op<X: Real, Y: Real, T: Real, S: StepOp<T> + ?Sized>(
    s: &S,
    x: MatRef<'_, X>,
    y: MatMut<'_, Y>,
) {
    recurse(s, x, y, true)
}
