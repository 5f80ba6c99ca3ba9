//! J_θ: parameter space → state space, the immediate effect of δθ at every site with states frozen
//! (the model's parameter JVP; its adjoint is the parameter VJP), optionally restricted to a named
//! parameter subset (the other coordinates act as zero and receive zero). For the attention block
//! it is the weight-site map J_u into the pre-activation state.

use faer::{MatMut, MatRef};
use gentk_linalg::{LinearOp, Shape};
use gentk_models::rollout::for_columns;
use gentk_models::{Rollout, StepModel};

use crate::error::Result;
use crate::source::Source;

/// J_θ of a rollout, possibly restricted to a subset of tensors.
pub struct ParamJacobian<'a> {
    src: Source<'a>,
    mask: Option<Vec<bool>>,
    shape_in: Shape,
    shape_out: Shape,
}

impl<'a> ParamJacobian<'a> {
    /// J_θ over all parameters of `model` (subset: only these tensor names; None = all).
    pub fn new(model: &'a dyn StepModel, ro: &'a Rollout, subset: Option<&[&str]>) -> Result<Self> {
        Self::of(Source::Step { model, ro }, subset)
    }
    /// J_θ of any source.
    pub fn of(src: Source<'a>, subset: Option<&[&str]>) -> Result<Self> {
        let lay = src.layout();
        let mask = match subset {
            Some(names) => Some(lay.mask(names)?),
            None => None,
        };
        Ok(ParamJacobian {
            src,
            mask,
            shape_in: Shape::flat("param", lay.len()),
            shape_out: src.state_shape(),
        })
    }

    fn jvp(&self, x: MatRef<'_, f64>, y: MatMut<'_, f64>) {
        match self.src {
            Source::Step { model, ro } => model.param_jvp_block(ro, x, y),
            Source::Attention { block, tape } => {
                for_columns(x, y, |xc, yc| block.site_jvp(tape, xc, yc))
            }
        }
    }
    fn vjp(&self, x: MatRef<'_, f64>, y: MatMut<'_, f64>) {
        match self.src {
            Source::Step { model, ro } => model.param_vjp_block(ro, x, y),
            Source::Attention { block, tape } => {
                for_columns(x, y, |xc, yc| block.site_vjp(tape, xc, yc))
            }
        }
    }
}

impl LinearOp for ParamJacobian<'_> {
    fn shape_in(&self) -> &Shape {
        &self.shape_in
    }
    fn shape_out(&self) -> &Shape {
        &self.shape_out
    }
    fn apply_block(&self, x: MatRef<'_, f64>, y: MatMut<'_, f64>) {
        match &self.mask {
            None => self.jvp(x, y),
            Some(m) => {
                let masked =
                    faer::Mat::from_fn(
                        x.nrows(),
                        x.ncols(),
                        |i, j| if m[i] { x[(i, j)] } else { 0.0 },
                    );
                self.jvp(masked.as_ref(), y);
            }
        }
    }
    fn apply_adjoint_block(&self, x: MatRef<'_, f64>, mut y: MatMut<'_, f64>) {
        self.vjp(x, y.as_mut());
        if let Some(m) = &self.mask {
            for j in 0..y.ncols() {
                for i in 0..y.nrows() {
                    if !m[i] {
                        y[(i, j)] = 0.0;
                    }
                }
            }
        }
    }
}
