//! The time recursions of the propagation operator on probe blocks, shared by the NTK operators
//! (P, P*) and by training (the BPTT adjoint a = P* Err is the same recursion on one column):
//! (P q)_t = q_t + A_t (P q)_{t−1}, (P* q)_t = q_t + A_{t+1}ᵀ (P* q)_{t+1}. Each step applies the
//! model's JVP/VJP to one H x (k·B) block (column p·B + b = probe p, trial b), so all trials and
//! probes of a step are one GEMM; step buffers are reused across steps.

use faer::{Mat, MatMut, MatRef};

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

/// y = P x for a block of state-space columns (forward in time).
pub fn propagate<M: StepModel + ?Sized>(
    m: &M,
    ro: &Rollout,
    x: MatRef<'_, f64>,
    mut y: MatMut<'_, f64>,
) {
    let w = x.ncols() * ro.batch;
    let (mut cur, mut prev, mut a) = (
        Mat::zeros(ro.hidden, w),
        Mat::zeros(ro.hidden, w),
        Mat::zeros(ro.hidden, w),
    );
    for t in 0..ro.time {
        gather_into(ro, x, t, &mut cur);
        if t > 0 {
            m.state_jvp(ro, t, prev.as_ref(), a.as_mut());
            cur += &a;
        }
        scatter(ro, cur.as_ref(), t, y.as_mut(), false);
        std::mem::swap(&mut cur, &mut prev);
    }
}

/// y = P* x for a block of state-space columns (backward in time: BPTT).
pub fn propagate_adjoint<M: StepModel + ?Sized>(
    m: &M,
    ro: &Rollout,
    x: MatRef<'_, f64>,
    mut y: MatMut<'_, f64>,
) {
    let w = x.ncols() * ro.batch;
    let (mut cur, mut next, mut a) = (
        Mat::zeros(ro.hidden, w),
        Mat::zeros(ro.hidden, w),
        Mat::zeros(ro.hidden, w),
    );
    for t in (0..ro.time).rev() {
        gather_into(ro, x, t, &mut cur);
        if t + 1 < ro.time {
            m.state_vjp(ro, t + 1, next.as_ref(), a.as_mut());
            cur += &a;
        }
        scatter(ro, cur.as_ref(), t, y.as_mut(), false);
        std::mem::swap(&mut cur, &mut next);
    }
}
