//! The time recursions of the propagation operator on probe blocks, shared by the NTK operators
//! (P, P*) and by training (the BPTT adjoint a = P* Err is the same recursion on one column):
//! (P q)_t = q_t + A_t (P q)_{t−1}, (P* q)_t = q_t + A_{t+1}ᵀ (P* q)_{t+1}. Each step applies the
//! model's JVP/VJP to one H x (k·B) block (column p·B + b = probe p, trial b), so all trials and
//! probes of a step are one GEMM; step buffers come from a per-thread pool and are reused across
//! steps and calls.

use faer::{Mat, MatMut, MatRef};
use gentk_linalg::kernels::with_buffer;

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

/// Step `t` of every probe column into an H x (k·B) block held as a column-major slice.
fn gather_step(ro: &Rollout, x: MatRef<'_, f64>, t: usize, out: &mut [f64]) {
    let (b, h, tt) = (ro.batch, ro.hidden, ro.time);
    for p in 0..x.ncols() {
        let col = x.col(p);
        let contiguous = col.try_as_col_major();
        for bb in 0..b {
            let off = (bb * tt + t) * h;
            let dst = &mut out[(p * b + bb) * h..(p * b + bb + 1) * h];
            match contiguous {
                Some(c) => dst.copy_from_slice(&c.as_slice()[off..off + h]),
                None => dst
                    .iter_mut()
                    .enumerate()
                    .for_each(|(i, v)| *v = col[off + i]),
            }
        }
    }
}

/// Writes an H x (k·B) step block (column-major slice) into step `t` of the probe columns.
fn scatter_step(ro: &Rollout, blk: &[f64], t: usize, mut y: MatMut<'_, f64>) {
    let (b, h, tt) = (ro.batch, ro.hidden, ro.time);
    for p in 0..y.ncols() {
        let mut col = y.as_mut().col_mut(p);
        for bb in 0..b {
            let off = (bb * tt + t) * h;
            let src = &blk[(p * b + bb) * h..(p * b + bb + 1) * h];
            match col.as_mut().try_as_col_major_mut() {
                Some(c) => c.as_slice_mut()[off..off + h].copy_from_slice(src),
                None => src.iter().enumerate().for_each(|(i, v)| col[off + i] = *v),
            }
        }
    }
}

/// The shared loop of P and P*: `cur_t = x_t + step(other)` over `order`, where `other` is the
/// previous iteration's block. Two step blocks and the model's scratch come from one pooled buffer,
/// so the loop allocates nothing.
fn recurse<M: StepModel + ?Sized>(
    m: &M,
    ro: &Rollout,
    x: MatRef<'_, f64>,
    mut y: MatMut<'_, f64>,
    adjoint: bool,
) {
    let (h, w) = (ro.hidden, x.ncols() * ro.batch);
    let blk = h * w;
    with_buffer(2 * blk + m.step_scratch_len(w), |buf| {
        let (a, rest) = buf.split_at_mut(blk);
        let (b, scratch) = rest.split_at_mut(blk);
        let (mut cur, mut other) = (a, b);
        for i in 0..ro.time {
            let t = if adjoint { ro.time - 1 - i } else { i };
            gather_step(ro, x, t, cur);
            if i > 0 {
                let v = MatRef::from_column_major_slice(&*other, h, w);
                let out = MatMut::from_column_major_slice_mut(&mut *cur, h, w);
                if adjoint {
                    m.state_vjp_add(ro, t + 1, v, out, scratch);
                } else {
                    m.state_jvp_add(ro, t, v, out, scratch);
                }
            }
            scatter_step(ro, cur, t, y.as_mut());
            std::mem::swap(&mut cur, &mut other);
        }
    })
}

/// y = P x for a block of state-space columns (forward in time).
pub fn propagate<M: StepModel + ?Sized>(
    m: &M,
    ro: &Rollout,
    x: MatRef<'_, f64>,
    y: MatMut<'_, f64>,
) {
    recurse(m, ro, x, y, false)
}

/// y = P* x for a block of state-space columns (backward in time: BPTT).
pub fn propagate_adjoint<M: StepModel + ?Sized>(
    m: &M,
    ro: &Rollout,
    x: MatRef<'_, f64>,
    y: MatMut<'_, f64>,
) {
    recurse(m, ro, x, y, true)
}
