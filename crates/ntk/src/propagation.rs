//! The propagation operator P = (I − 𝒥S)⁻¹ and its inverse, by recursions over the rollout tape:
//! (P q)_t = q_t + A_t (P q)_{t−1}, (P* q)_t = q_t + A_{t+1}ᵀ (P* q)_{t+1},
//! (P⁻¹ q)_t = q_t − A_t q_{t−1}, (P⁻* q)_t = q_t − A_{t+1}ᵀ q_{t+1}.
//! Step Jacobians are never materialised: each step applies the model's JVP/VJP to an H x (k·B)
//! block (column p·B + b = probe p, trial b), so all trials and probes of a step are one GEMM.

use std::sync::Arc;

use faer::{Mat, MatMut, MatRef};
use gentk_linalg::kernels::par_columns_chunked;
use gentk_linalg::{LinearOp, Shape};
use gentk_models::recursion::{
    gather, propagate, propagate_adjoint, propagate_adjoint_op, propagate_op, scatter,
};
use gentk_models::rollout::for_columns;
use gentk_models::{FactoredStep, Rollout, StepModel};

use crate::source::Source;

/// Probes per parallel work item of the recursions (fixed, so the bits never depend on the thread
/// count); each step is then an H x (8·B) GEMM.
pub const PROBE_CHUNK: usize = 8;

fn forward(m: &dyn StepModel, ro: &Rollout, x: MatRef<'_, f64>, y: MatMut<'_, f64>) {
    par_columns_chunked(x, y, PROBE_CHUNK, |xc, yc| propagate(m, ro, xc, yc));
}

fn backward(m: &dyn StepModel, ro: &Rollout, x: MatRef<'_, f64>, y: MatMut<'_, f64>) {
    par_columns_chunked(x, y, PROBE_CHUNK, |xc, yc| propagate_adjoint(m, ro, xc, yc));
}

/// P or P* on f64 columns through the f32 step factors: each step block is rounded to f32 as it
/// is gathered and widened as it is scattered, so no full-size f32 copy is made.
fn single(f: &FactoredStep<f32>, x: MatRef<'_, f64>, y: MatMut<'_, f64>, adjoint: bool) {
    par_columns_chunked(x, y, PROBE_CHUNK, |xc, yc| {
        if adjoint {
            propagate_adjoint_op(f, xc, yc);
        } else {
            propagate_op(f, xc, yc);
        }
    });
}

/// P: state → state (for the attention block, pre-activation injections → V, one probe per
/// parallel work item).
pub struct Propagation<'a> {
    src: Source<'a>,
    shape: Shape,
    /// The step factors in f32 when P runs in single precision.
    low: Option<Arc<FactoredStep<f32>>>,
}

impl<'a> Propagation<'a> {
    /// P for a rollout of `model`.
    pub fn new(model: &'a dyn StepModel, ro: &'a Rollout) -> Self {
        Self::of(Source::Step { model, ro })
    }
    /// P of any source.
    pub fn of(src: Source<'a>) -> Self {
        Propagation {
            shape: src.state_shape(),
            src,
            low: None,
        }
    }
    /// The same P run in single precision through a rollout's f32 step factors.
    pub fn single_precision(mut self, factors: Arc<FactoredStep<f32>>) -> Self {
        self.low = Some(factors);
        self
    }
    /// The f32 step factors, when P runs in single precision.
    pub fn factors_f32(&self) -> Option<&FactoredStep<f32>> {
        self.low.as_deref()
    }
}

impl Propagation<'_> {
    /// Flops of P (or P*) on one probe (PAPER.md §5.12; [`Source::propagation_flops`]).
    pub fn flops_per_probe(&self) -> u64 {
        self.src.propagation_flops()
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
        if let Some(f) = &self.low {
            return single(f, x, y, false);
        }
        match self.src {
            Source::Step { model, ro } => forward(model, ro, x, y),
            Source::Attention { block, tape } => {
                for_columns(x, y, |xc, yc| block.propagate(tape, xc, yc))
            }
        }
    }
    fn apply_adjoint_block(&self, x: MatRef<'_, f64>, y: MatMut<'_, f64>) {
        if let Some(f) = &self.low {
            return single(f, x, y, true);
        }
        match self.src {
            Source::Step { model, ro } => backward(model, ro, x, y),
            Source::Attention { block, tape } => {
                for_columns(x, y, |xc, yc| block.propagate_adjoint(tape, xc, yc))
            }
        }
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
        par_columns_chunked(x, y, PROBE_CHUNK, |xc, mut yc| {
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
        par_columns_chunked(x, y, PROBE_CHUNK, |xc, mut yc| {
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
