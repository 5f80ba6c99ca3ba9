//! The propagation operator P = (I − 𝒥S)⁻¹ and its inverse, by recursions over the rollout tape:
//! (P q)_t = q_t + A_t (P q)_{t−1}, (P* q)_t = q_t + A_{t+1}ᵀ (P* q)_{t+1},
//! (P⁻¹ q)_t = q_t − A_t q_{t−1}, (P⁻* q)_t = q_t − A_{t+1}ᵀ q_{t+1}.
//! Step Jacobians are never materialised: each step applies the model's JVP/VJP to an H x (k·B)
//! block (column p·B + b = probe p, trial b), so all trials and probes of a step are one GEMM.

use faer::{Mat, MatMut, MatRef};
use gentk_linalg::kernels::par_columns_chunked;

/// Probes per parallel work item of the recursions (fixed, so the bits never depend on the thread
/// count); each step is then an H x (8·B) GEMM.
pub const PROBE_CHUNK: usize = 8;

fn par_columns<F>(x: MatRef<'_, f64>, y: MatMut<'_, f64>, f: F)
where
    F: Fn(MatRef<'_, f64>, MatMut<'_, f64>) + Sync,
{
    par_columns_chunked(x, y, PROBE_CHUNK, f)
}
use gentk_linalg::{LinearOp, Shape};
use gentk_models::{Rollout, StepModel};

/// Gathers step `t` of every probe column into an H x (k·B) block.
pub(crate) fn gather(ro: &Rollout, x: MatRef<'_, f64>, t: usize) -> Mat<f64> {
    let mut out = Mat::zeros(ro.hidden, x.ncols() * ro.batch);
    gather_into(ro, x, t, &mut out);
    out
}

/// [`gather`] into an existing H x (k·B) block (no allocation in the recursions' loops).
pub(crate) fn gather_into(ro: &Rollout, x: MatRef<'_, f64>, t: usize, out: &mut Mat<f64>) {
    let (b, h, tt) = (ro.batch, ro.hidden, ro.time);
    let k = x.ncols();
    for p in 0..k {
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
pub(crate) fn scatter(
    ro: &Rollout,
    blk: MatRef<'_, f64>,
    t: usize,
    mut y: MatMut<'_, f64>,
    add: bool,
) {
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

fn forward(m: &dyn StepModel, ro: &Rollout, x: MatRef<'_, f64>, y: MatMut<'_, f64>) {
    par_columns(x, y, |xc, mut yc| {
        let w = xc.ncols() * ro.batch;
        let (mut cur, mut prev, mut a) = (
            Mat::zeros(ro.hidden, w),
            Mat::zeros(ro.hidden, w),
            Mat::zeros(ro.hidden, w),
        );
        for t in 0..ro.time {
            gather_into(ro, xc, t, &mut cur);
            if t > 0 {
                m.state_jvp(ro, t, prev.as_ref(), a.as_mut());
                cur += &a;
            }
            scatter(ro, cur.as_ref(), t, yc.as_mut(), false);
            std::mem::swap(&mut cur, &mut prev);
        }
    });
}

fn backward(m: &dyn StepModel, ro: &Rollout, x: MatRef<'_, f64>, y: MatMut<'_, f64>) {
    par_columns(x, y, |xc, mut yc| {
        let w = xc.ncols() * ro.batch;
        let (mut cur, mut next, mut a) = (
            Mat::zeros(ro.hidden, w),
            Mat::zeros(ro.hidden, w),
            Mat::zeros(ro.hidden, w),
        );
        for t in (0..ro.time).rev() {
            gather_into(ro, xc, t, &mut cur);
            if t + 1 < ro.time {
                m.state_vjp(ro, t + 1, next.as_ref(), a.as_mut());
                cur += &a;
            }
            scatter(ro, cur.as_ref(), t, yc.as_mut(), false);
            std::mem::swap(&mut cur, &mut next);
        }
    });
}

/// P: state → state.
pub struct Propagation<'a> {
    model: &'a dyn StepModel,
    ro: &'a Rollout,
    shape: Shape,
}

impl<'a> Propagation<'a> {
    /// P for a rollout of `model`.
    pub fn new(model: &'a dyn StepModel, ro: &'a Rollout) -> Self {
        Propagation {
            model,
            ro,
            shape: Shape::state(ro.batch, ro.time, ro.hidden),
        }
    }
}

impl LinearOp for Propagation<'_> {
    fn shape_in(&self) -> &Shape {
        &self.shape
    }
    fn shape_out(&self) -> &Shape {
        &self.shape
    }
    fn apply_block(&self, x: MatRef<'_, f64>, y: MatMut<'_, f64>) {
        forward(self.model, self.ro, x, y)
    }
    fn apply_adjoint_block(&self, x: MatRef<'_, f64>, y: MatMut<'_, f64>) {
        backward(self.model, self.ro, x, y)
    }
}

/// P⁻¹ = D_zF = I − 𝒥S, with its correct adjoint (kpflow's transposes the wrong step).
pub struct PropagationInverse<'a> {
    model: &'a dyn StepModel,
    ro: &'a Rollout,
    shape: Shape,
}

impl<'a> PropagationInverse<'a> {
    /// P⁻¹ for a rollout of `model`.
    pub fn new(model: &'a dyn StepModel, ro: &'a Rollout) -> Self {
        PropagationInverse {
            model,
            ro,
            shape: Shape::state(ro.batch, ro.time, ro.hidden),
        }
    }
}

impl LinearOp for PropagationInverse<'_> {
    fn shape_in(&self) -> &Shape {
        &self.shape
    }
    fn shape_out(&self) -> &Shape {
        &self.shape
    }
    /// (P⁻¹ q)_t = q_t − A_t q_{t−1}.
    fn apply_block(&self, x: MatRef<'_, f64>, y: MatMut<'_, f64>) {
        let (m, ro) = (self.model, self.ro);
        par_columns(x, y, |xc, mut yc| {
            yc.copy_from(xc);
            for t in 1..ro.time {
                let q = gather(ro, xc, t - 1);
                let mut a = Mat::zeros(q.nrows(), q.ncols());
                m.state_jvp(ro, t, q.as_ref(), a.as_mut());
                a *= faer::Scale(-1.0);
                scatter(ro, a.as_ref(), t, yc.as_mut(), true);
            }
        });
    }
    /// (P⁻* q)_t = q_t − A_{t+1}ᵀ q_{t+1}.
    fn apply_adjoint_block(&self, x: MatRef<'_, f64>, y: MatMut<'_, f64>) {
        let (m, ro) = (self.model, self.ro);
        par_columns(x, y, |xc, mut yc| {
            yc.copy_from(xc);
            for t in 0..ro.time.saturating_sub(1) {
                let q = gather(ro, xc, t + 1);
                let mut a = Mat::zeros(q.nrows(), q.ncols());
                m.state_vjp(ro, t + 1, q.as_ref(), a.as_mut());
                a *= faer::Scale(-1.0);
                scatter(ro, a.as_ref(), t, yc.as_mut(), true);
            }
        });
    }
}
