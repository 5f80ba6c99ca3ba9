//! What the operators are of: a rollout of a step model (recurrent cells, MLPs with depth as time)
//! or one forward pass of the attention block (tokens as time, V's channels as the state). Both
//! give a `[batch, time, hidden]` state, weight sites for the Kronecker core, a propagation
//! operator and a parameter Jacobian at frozen states, so every operator of [`crate::GlobalNtk`]
//! and every statistic built on them serves both.

use gentk_linalg::Shape;
use gentk_models::{AttentionBlock, AttentionTape, ParamLayout, Rollout, StepModel, WeightSite};

/// The model and forward pass the operators linearise.
#[derive(Clone, Copy)]
pub enum Source<'a> {
    /// A rollout of a step model; the state is z_1..z_T.
    Step {
        /// The model.
        model: &'a dyn StepModel,
        /// Its rollout.
        ro: &'a Rollout,
    },
    /// A forward pass of the attention block; the state is V (PAPER.md §6.5), perturbed through
    /// its pre-activation state u (K = ⊕_j G_j ⊗ I) and P = dV/du.
    Attention {
        /// The block.
        block: &'a AttentionBlock,
        /// Its forward pass.
        tape: &'a AttentionTape,
    },
}

impl<'a> Source<'a> {
    /// (batch, time, hidden) of the state.
    pub fn dims(&self) -> (usize, usize, usize) {
        match self {
            Source::Step { ro, .. } => (ro.batch, ro.time, ro.hidden),
            Source::Attention { block, tape } => {
                (tape.batch, tape.time, block.config().state_width())
            }
        }
    }
    /// The state shape `[batch, time, hidden]`.
    pub fn state_shape(&self) -> Shape {
        let (b, t, h) = self.dims();
        Shape::state(b, t, h)
    }
    /// The parameter layout.
    pub fn layout(&self) -> &'a ParamLayout {
        match self {
            Source::Step { model, .. } => model.params().layout(),
            Source::Attention { block, .. } => block.params().layout(),
        }
    }
    /// Every weight's site vectors (and D factors, channel blocks).
    pub fn weight_sites(&self) -> Vec<WeightSite> {
        match self {
            Source::Step { model, ro } => model.weight_sites(ro),
            Source::Attention { block, tape } => block.weight_sites(tape),
        }
    }
    /// Flops of one probe through P (or P*), 2 per multiply-add, GEMMs only (PAPER.md §5.12):
    /// (T−1)·B step Jacobians for a step model; for the attention block the six projections
    /// (2·N·fan_in·fan_out) and, per trial and head, four T x T x d_h products.
    pub fn propagation_flops(&self) -> u64 {
        match self {
            Source::Step { model, ro } => {
                (ro.time.saturating_sub(1) * ro.batch) as u64 * model.state_jvp_flops()
            }
            Source::Attention { block, tape } => {
                let c = block.config();
                let n = (tape.batch * tape.time) as u64;
                let (d, m) = (c.d_model as u64, c.mlp_hidden as u64);
                let proj = 2 * n * (4 * d * d + d * m + m * m);
                let heads =
                    (tape.batch * c.n_heads * 8 * tape.time * tape.time * c.head_dim()) as u64;
                proj + heads
            }
        }
    }
}
