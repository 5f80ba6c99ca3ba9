//! The NTK of the attention block's weight-site tensor V (PAPER.md §6.5): J = dV/dθ over all
//! parameters, NTK = J J* on `[batch, time, width]`, through the block's hand-written JVP/VJP.

use faer::{MatMut, MatRef};
use gentk_linalg::{Gram, LinearOp, Shape};
use gentk_models::rollout::for_columns;
use gentk_models::{AttentionBlock, AttentionTape};

/// J = dV/dθ of one forward pass of the attention block.
pub struct AttentionJacobian<'a> {
    block: &'a AttentionBlock,
    tape: &'a AttentionTape,
    shape_in: Shape,
    shape_out: Shape,
}

impl<'a> AttentionJacobian<'a> {
    /// J for a recorded forward pass.
    pub fn new(block: &'a AttentionBlock, tape: &'a AttentionTape) -> Self {
        let width = block.config().state_width();
        AttentionJacobian {
            block,
            tape,
            shape_in: Shape::flat("param", block.params().layout().len()),
            shape_out: Shape::new([("batch", tape.batch), ("time", tape.time), ("site", width)]),
        }
    }
}

impl LinearOp for AttentionJacobian<'_> {
    fn shape_in(&self) -> &Shape {
        &self.shape_in
    }
    fn shape_out(&self) -> &Shape {
        &self.shape_out
    }
    fn apply_block(&self, x: MatRef<'_, f64>, y: MatMut<'_, f64>) {
        for_columns(x, y, |xc, yc| {
            yc.copy_from_slice(&self.block.param_jvp(self.tape, xc))
        });
    }
    fn apply_adjoint_block(&self, x: MatRef<'_, f64>, y: MatMut<'_, f64>) {
        for_columns(x, y, |xc, yc| {
            yc.copy_from_slice(&self.block.param_vjp(self.tape, xc))
        });
    }
}

/// The attention NTK J J* on V.
pub fn attention_ntk<'a>(
    block: &'a AttentionBlock,
    tape: &'a AttentionTape,
) -> Gram<AttentionJacobian<'a>> {
    Gram(AttentionJacobian::new(block, tape))
}
