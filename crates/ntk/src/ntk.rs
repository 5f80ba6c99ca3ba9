//! The global empirical NTK of one rollout as operators: P, P⁻¹, J_θ, K (Kronecker core and
//! autodiff), NTK_S = P K P* (and the independent full-model path (P J_θ)(P J_θ)*), P P*, the output
//! NTK, and the weight-site Gram's modes.

use std::sync::Arc;

use faer::{Mat, MatMut, MatRef};
use gentk_linalg::kernels::{par_columns_chunked, with_scratch};
use gentk_linalg::{Adjoint, Compose, Dense, Gram, Identity, Kron, LinearOp, Precision, Shape};
use gentk_models::recursion::{propagate_adjoint_op, propagate_op};
use gentk_models::{AttentionBlock, AttentionTape, FactoredStep, Readout, Rollout, StepModel};

use crate::error::{NtkError, Result};
use crate::jacobian::ParamJacobian;
use crate::kernel::KroneckerCore;
use crate::propagation::{PROBE_CHUNK, Propagation, PropagationInverse};
use crate::source::Source;

/// Marks a composite as self-adjoint (apply_adjoint = apply), e.g. P K P*.
pub struct SelfAdjoint<A>(pub A);

impl<A: LinearOp> LinearOp for SelfAdjoint<A> {
    fn shape_in(&self) -> &Shape {
        self.0.shape_in()
    }
    fn shape_out(&self) -> &Shape {
        self.0.shape_out()
    }
    fn apply_block(&self, x: MatRef<'_, f64>, y: MatMut<'_, f64>) {
        self.0.apply_block(x, y)
    }
    fn apply_adjoint_block(&self, x: MatRef<'_, f64>, y: MatMut<'_, f64>) {
        self.0.apply_block(x, y)
    }
    fn is_self_adjoint(&self) -> bool {
        true
    }
}

fn view(s: &[f32], n: usize, c: usize) -> MatRef<'_, f32> {
    MatRef::from_column_major_slice(s, n, c)
}

fn view_mut(s: &mut [f32], n: usize, c: usize) -> MatMut<'_, f32> {
    MatMut::from_column_major_slice_mut(s, n, c)
}

/// NTK_S = P K P* with K by its Kronecker core, fused per probe chunk: each chunk runs P*, K and
/// P back to back on one core (P*'s result lands in the output block, K's in a pooled n x chunk
/// buffer), so no full-size intermediate is allocated and one parallel region covers the block.
pub struct NtkState<'a> {
    p: Propagation<'a>,
    k: KroneckerCore,
}

impl NtkState<'_> {
    /// Probes per chunk for a block of `k`: at most [`PROBE_CHUNK`] and at least two chunks when
    /// k > 1 (both cores busy); a function of `k` only, so the bits never depend on the thread
    /// count.
    pub fn chunk(k: usize) -> usize {
        k.div_ceil(2).clamp(1, PROBE_CHUNK)
    }
    /// Flops of one probe (K's core plus P and P*; PAPER.md §5.12).
    pub fn flops_per_probe(&self) -> u64 {
        self.k.flops_per_probe() + 2 * self.p.flops_per_probe()
    }
    /// K by its Kronecker core.
    pub fn k(&self) -> &KroneckerCore {
        &self.k
    }
}

impl LinearOp for NtkState<'_> {
    fn shape_in(&self) -> &Shape {
        self.p.shape_in()
    }
    fn shape_out(&self) -> &Shape {
        self.p.shape_out()
    }
    fn apply_block(&self, x: MatRef<'_, f64>, y: MatMut<'_, f64>) {
        let n = x.nrows();
        if let Some(f) = self.p.factors_f32() {
            // Single precision: P* reads the f64 chunk and writes f32, K runs in f32 between two
            // pooled n x chunk f32 buffers (both fully overwritten, so not zeroed), P reads f32
            // and writes the f64 result.
            return par_columns_chunked(x, y, Self::chunk(x.ncols()), |xc, yc| {
                let c = xc.ncols();
                with_scratch(2 * n * c, |buf: &mut [f32]| {
                    let (a, b) = buf.split_at_mut(n * c);
                    propagate_adjoint_op(f, xc, view_mut(a, n, c));
                    self.k.apply_f32(view(a, n, c), view_mut(b, n, c));
                    propagate_op(f, view(b, n, c), yc);
                })
            });
        }
        par_columns_chunked(x, y, Self::chunk(x.ncols()), |xc, mut yc| {
            let c = xc.ncols();
            self.p.apply_adjoint_block(xc, yc.as_mut());
            // K overwrites its output (apply_one zeroes it), so the buffer is not zero-filled.
            with_scratch(n * c, |buf: &mut [f64]| {
                let mut kq = MatMut::from_column_major_slice_mut(buf, n, c);
                self.k.apply_block(yc.as_ref(), kq.as_mut());
                self.p.apply_block(kq.as_ref(), yc);
            });
        });
    }
    fn apply_adjoint_block(&self, x: MatRef<'_, f64>, y: MatMut<'_, f64>) {
        self.apply_block(x, y)
    }
    fn is_self_adjoint(&self) -> bool {
        true
    }
}
/// NTK_S = (P J_θ)(P J_θ)*, the full-model (autodiff) path.
pub type NtkFull<'a> = Gram<Compose<Propagation<'a>, ParamJacobian<'a>>>;
/// The readout map R = I_N ⊗ W_out from states to outputs.
pub type ReadoutMap = Kron<Identity, Dense>;

/// The output NTK R NTK_S R*.
pub type OutputNtk<'a> =
    SelfAdjoint<Compose<ReadoutMap, Compose<NtkState<'a>, Adjoint<ReadoutMap>>>>;

/// Builder of the operators of one rollout (or one forward pass of the attention block).
pub struct GlobalNtk<'a> {
    src: Source<'a>,
    subset: Option<Vec<String>>,
    /// The step factors in f32 when the operators run in single precision.
    low: Option<Arc<FactoredStep<f32>>>,
}

impl<'a> GlobalNtk<'a> {
    /// The operators of `ro`, a rollout of `model` (all parameters acting on the state).
    pub fn new(model: &'a dyn StepModel, ro: &'a Rollout) -> Self {
        Self::of(Source::Step { model, ro })
    }

    /// The operators of the attention block's x ↦ V at one forward pass (PAPER.md §6.5): the
    /// state is V `[batch, time, width]`, K the Kronecker core over its pre-activation state, P
    /// = dV/du, J_θ the weight-site map, NTK_S = P K P* = (dV/dθ)(dV/dθ)*.
    pub fn attention(block: &'a AttentionBlock, tape: &'a AttentionTape) -> Self {
        Self::of(Source::Attention { block, tape })
    }

    /// The operators of any source.
    pub fn of(src: Source<'a>) -> Self {
        GlobalNtk {
            src,
            subset: None,
            low: None,
        }
    }

    /// Runs P, P*, K and NTK_S (and everything built on them: P P*, the output NTK) in `precision`.
    /// f32: the rollout's step factors and the site groups are rounded to f32 once and the GEMMs
    /// and recursions run in f32; operators keep f64 inputs and outputs, so estimators reduce in
    /// f64. J_θ, P⁻¹ and the autodiff K stay in f64. The attention block has no f32 path.
    pub fn with_precision(mut self, precision: Precision) -> Result<Self> {
        self.low = match (precision, self.src) {
            (Precision::F64, _) => None,
            (Precision::F32, Source::Step { model, ro }) => {
                let f = model.step_factors(ro).ok_or_else(|| {
                    NtkError::Invalid(format!(
                        "precision = \"f32\" is not available for the {} model",
                        model.arch()
                    ))
                })?;
                Some(Arc::new(f.cast::<f32>()))
            }
            (Precision::F32, Source::Attention { .. }) => {
                return Err(NtkError::Invalid(
                    "precision = \"f32\" is implemented for step models (RNNs, GRU, MLPs), \
                     not the attention block"
                        .into(),
                ));
            }
        };
        Ok(self)
    }

    /// The precision the operators run in.
    pub fn precision(&self) -> Precision {
        if self.low.is_some() {
            Precision::F32
        } else {
            Precision::F64
        }
    }

    /// Restricts K, J_θ and the NTK to the named tensors (e.g. only `rnn.weight_hh_l0`).
    pub fn with_subset(mut self, names: &[&str]) -> Self {
        self.subset = Some(names.iter().map(|s| s.to_string()).collect());
        self
    }

    fn subset(&self) -> Option<Vec<&str>> {
        self.subset
            .as_ref()
            .map(|v| v.iter().map(|s| s.as_str()).collect())
    }

    /// The state shape `[batch, time, hidden]`.
    pub fn state_shape(&self) -> Shape {
        self.src.state_shape()
    }
    /// What the operators are of.
    pub fn source(&self) -> Source<'a> {
        self.src
    }

    /// P.
    pub fn p(&self) -> Propagation<'a> {
        let p = Propagation::of(self.src);
        match &self.low {
            Some(f) => p.single_precision(f.clone()),
            None => p,
        }
    }
    /// P⁻¹ (with the correct adjoint); a step model's only (the attention block's P maps
    /// pre-activations to V and has no recursion to invert).
    pub fn p_inv(&self) -> Result<PropagationInverse<'a>> {
        match self.src {
            Source::Step { model, ro } => Ok(PropagationInverse::new(model, ro)),
            Source::Attention { .. } => Err(NtkError::Invalid(
                "P⁻¹ is defined for recurrent models only, not the attention block".into(),
            )),
        }
    }
    /// J_θ.
    pub fn j_theta(&self) -> Result<ParamJacobian<'a>> {
        ParamJacobian::of(self.src, self.subset().as_deref())
    }
    /// K by the Kronecker core (the fast path).
    pub fn k(&self) -> Result<KroneckerCore> {
        let subset = self.subset();
        if let Some(names) = &subset {
            for n in names {
                self.src.layout().get(n)?;
            }
        }
        let (b, t, h) = self.src.dims();
        let k = KroneckerCore::from_sites(self.src.weight_sites(), subset.as_deref(), b, t, h);
        Ok(match self.low {
            Some(_) => k.single_precision(),
            None => k,
        })
    }
    /// K = J_θ J_θ* (the autodiff reference).
    pub fn k_autodiff(&self) -> Result<Gram<ParamJacobian<'a>>> {
        Ok(Gram(self.j_theta()?))
    }
    /// NTK_S = P K P*.
    pub fn ntk(&self) -> Result<NtkState<'a>> {
        // P and K are both built on the source's `[batch, time, hidden]` state.
        Ok(NtkState {
            p: self.p(),
            k: self.k()?,
        })
    }
    /// NTK_S = (P J_θ)(P J_θ)* through the whole unrolled model's JVP/VJP.
    pub fn ntk_full(&self) -> Result<NtkFull<'a>> {
        Ok(Gram(Compose::new(self.p(), self.j_theta()?)?))
    }
    /// dz/dθ = P J_θ (parameters → states), the factor F with NTK_S = F F*.
    pub fn dz_dtheta(&self) -> Result<Compose<Propagation<'a>, ParamJacobian<'a>>> {
        Ok(Compose::new(self.p(), self.j_theta()?)?)
    }
    /// P P*, the "functional" NTK (K = I).
    pub fn pp_star(&self) -> Gram<Propagation<'a>> {
        Gram(self.p())
    }
    /// R = I_N ⊗ W_out: states → outputs `[B, T, n_y]`.
    pub fn readout_map(&self, readout: &Readout) -> Result<ReadoutMap> {
        let n = match self.src {
            Source::Step { ro, .. } => ro.sites(),
            Source::Attention { .. } => {
                return Err(NtkError::Invalid(
                    "the attention block's state V has no readout".into(),
                ));
            }
        };
        let w = readout.weight().to_owned();
        let dense = Dense::with_shapes(
            w,
            Shape::flat("hidden", readout.hidden_size()),
            Shape::flat("output", readout.output_size()),
        )?;
        Ok(Kron::new(Identity::new(Shape::flat("site", n)), dense))
    }
    /// The output NTK R NTK_S R* on `[B, T, n_y]` (non-readout parameters).
    pub fn output_ntk(&self, readout: &Readout) -> Result<OutputNtk<'a>> {
        let r = self.readout_map(readout)?;
        let inner = Compose::new(self.ntk()?, Adjoint(self.readout_map(readout)?))?;
        Ok(SelfAdjoint(Compose::new(r, inner)?))
    }
}

/// Eigenvalues (descending) and modes of the Gram G = S Sᵀ of a site group, from the thin SVD of S:
/// λ_i = σ_i², modes as `[B, |steps|]` curves (row-major, one per eigenvalue).
pub fn gram_modes(sites: MatRef<'_, f64>, k: usize) -> Result<(Vec<f64>, Vec<Vec<f64>>)> {
    gentk_linalg::kernels::pin_sequential();
    let svd = sites
        .thin_svd()
        .map_err(|e| gentk_linalg::LinalgError::Factorization {
            what: "SVD (site matrix)",
            reason: format!("{e:?}"),
        })?;
    let s = svd.S().column_vector();
    let u = svd.U();
    let k = k.min(s.nrows());
    let vals = (0..s.nrows()).map(|i| s[i] * s[i]).collect();
    let modes = (0..k)
        .map(|j| (0..u.nrows()).map(|i| u[(i, j)]).collect())
        .collect();
    Ok((vals, modes))
}

/// A dense copy of a small operator's matrix (tests and `--exact`).
pub fn dense_matrix<A: LinearOp>(a: &A, limit: usize) -> Result<Mat<f64>> {
    Ok(gentk_linalg::materialize(a, limit)?)
}
