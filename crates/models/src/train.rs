//! Training by backpropagation through time with the models' own VJPs: MSE loss (mean over batch,
//! time and outputs, PyTorch's default) or cross-entropy on one-hot targets (an MLP classifier's
//! logits at its last layer), SGD (optional momentum) or Adam (PyTorch semantics),
//! optional gradient clipping, a trainable subset, early stopping, checkpoints before the step
//! (checkpoint 0 is the untouched initialisation) and divergence reported with its iteration.
//!
//! The gradient is the paper's pipeline: Err = ∇_z L, a = P* Err by the backward recursion
//! a_t = Err_t + A_{t+1}ᵀ a_{t+1}, ∇_θ L = J_θᵀ a (PAPER.md §3.2).

use faer::{MatMut, MatRef};
use gentk_linalg::kernels::gemm;

use crate::cells::Mlp;
use crate::error::ModelError;
use crate::params::Params;
use crate::readout::Readout;
use crate::rollout::{Recurrent, Rollout, StepModel};

/// A model [`train`] can fit: a step model with a forward pass on a batch. Recurrent cells read out
/// every step; an MLP (depth as time) reads out its last layer only.
pub trait Trainable: StepModel {
    /// The rollout on a batch's inputs.
    fn forward_batch(&self, batch: &Batch) -> Result<Rollout, ModelError>;
    /// Whether only the last step is read out (the batch's targets are `[B, 1, n_y]`).
    fn reads_last_step(&self) -> bool {
        false
    }
}

impl<T: Recurrent + ?Sized> Trainable for T {
    fn forward_batch(&self, batch: &Batch) -> Result<Rollout, ModelError> {
        self.rollout(&batch.inputs, batch.batch, batch.time, None)
    }
}

impl Trainable for Mlp {
    /// x is the batch's step 0 (`time` must be 1).
    fn forward_batch(&self, batch: &Batch) -> Result<Rollout, ModelError> {
        if batch.time != 1 {
            return Err(ModelError::Config {
                field: "time",
                reason: format!("an MLP batch has one step per sample, not {}", batch.time),
            });
        }
        self.forward(&batch.inputs, batch.batch)
    }
    fn reads_last_step(&self) -> bool {
        true
    }
}

/// The training loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Loss {
    /// Mean squared error over B·T·n_y (PyTorch's `MSELoss`).
    #[default]
    Mse,
    /// Softmax cross-entropy of the outputs as logits against one-hot targets, mean over the B·T
    /// read-out sites (PyTorch's `CrossEntropyLoss`).
    CrossEntropy,
}

impl Loss {
    /// The loss of outputs `y` against targets `t` (`sites` rows of `ny`) and its gradient ∂L/∂y.
    pub fn eval(self, y: &[f64], t: &[f64], sites: usize, ny: usize) -> (f64, Vec<f64>) {
        let mut e = vec![0.0; sites * ny];
        let mut loss = 0.0;
        match self {
            Loss::Mse => {
                let scale = 2.0 / (sites * ny) as f64;
                for i in 0..sites * ny {
                    let d = y[i] - t[i];
                    loss += d * d;
                    e[i] = scale * d;
                }
                loss /= (sites * ny) as f64;
            }
            Loss::CrossEntropy => {
                for s in 0..sites {
                    let (ys, ts) = (&y[s * ny..(s + 1) * ny], &t[s * ny..(s + 1) * ny]);
                    let max = ys.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let z: f64 = ys.iter().map(|v| (v - max).exp()).sum();
                    let log_z = max + z.ln();
                    let tsum: f64 = ts.iter().sum();
                    for o in 0..ny {
                        let p = (ys[o] - log_z).exp();
                        loss -= ts[o] * (ys[o] - log_z);
                        e[s * ny + o] = (tsum * p - ts[o]) / sites as f64;
                    }
                }
                loss /= sites as f64;
            }
        }
        (loss, e)
    }
}

/// The error a caller's batch source or checkpoint callback returns; kept as the typed source of
/// [`TrainError::Source`] / [`TrainError::Checkpoint`] rather than flattened to a string.
pub type CallbackError = Box<dyn std::error::Error + Send + Sync>;

/// Training failures.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// NaN/Inf loss, gradient or parameters.
    #[error("training diverged at iteration {iteration}: {what}")]
    Diverged {
        /// The iteration (0-based) at which it was detected.
        iteration: usize,
        /// What became non-finite.
        what: String,
    },
    /// A model error (bad shapes, non-finite states).
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The batch source failed.
    #[error("the batch source failed at iteration {iteration}")]
    Source {
        /// The iteration whose batch was requested.
        iteration: usize,
        /// The source's error.
        #[source]
        source: CallbackError,
    },
    /// A configuration value that cannot work.
    #[error("invalid training configuration `{field}`: {reason}")]
    Config {
        /// Field.
        field: &'static str,
        /// Reason.
        reason: String,
    },
    /// The checkpoint callback failed (e.g. a write error); nothing after it ran.
    #[error("the checkpoint callback failed at iteration {iteration}")]
    Checkpoint {
        /// Iteration of the checkpoint.
        iteration: usize,
        /// The callback's error.
        #[source]
        source: CallbackError,
    },
}

/// The optimiser.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Optimizer {
    /// SGD with optional momentum (PyTorch: buf ← μ buf + g, first step buf = g; p ← p − lr·buf).
    Sgd {
        /// Learning rate.
        lr: f64,
        /// Momentum μ (0: plain SGD).
        momentum: f64,
    },
    /// Adam with PyTorch's defaults unless set (β1 0.9, β2 0.999, eps 1e-8, bias correction).
    Adam {
        /// Learning rate.
        lr: f64,
        /// β1.
        beta1: f64,
        /// β2.
        beta2: f64,
        /// ε.
        eps: f64,
    },
}

impl Optimizer {
    /// Adam with PyTorch defaults.
    pub fn adam(lr: f64) -> Self {
        Optimizer::Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
    /// Plain SGD.
    pub fn sgd(lr: f64) -> Self {
        Optimizer::Sgd { lr, momentum: 0.0 }
    }
}

/// What to train and how.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    /// Optimiser.
    pub optimizer: Optimizer,
    /// Loss.
    pub loss: Loss,
    /// Iterations (upper bound; early stopping may end sooner).
    pub iterations: usize,
    /// Clip the total gradient norm of the trained parameters to this value.
    pub grad_clip: Option<f64>,
    /// Names of trained tensors (model and readout, e.g. `rnn.weight_hh_l0`); None = all.
    pub trainable: Option<Vec<String>>,
    /// Early stopping tolerance (kpflow: every 20 iterations record the loss; stop once ≥ 3 are
    /// recorded and (last recorded + current)/2 < tol).
    pub tol: Option<f64>,
    /// Record the loss every this many iterations (kpflow: 20).
    pub log_every: usize,
    /// Checkpoint every this many iterations, before the step (0 = only the first and the last).
    pub checkpoint_every: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            optimizer: Optimizer::sgd(1e-3),
            loss: Loss::Mse,
            iterations: 10_000,
            grad_clip: None,
            trainable: None,
            tol: Some(1e-3),
            log_every: 20,
            checkpoint_every: 100,
        }
    }
}

/// One training batch: inputs `[B, T, n_x]`, targets `[B, T, n_y]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Trials.
    pub batch: usize,
    /// Steps.
    pub time: usize,
    /// Inputs.
    pub inputs: Vec<f64>,
    /// Targets.
    pub targets: Vec<f64>,
}

/// A checkpoint: parameters before the step of `iteration`, and the loss there.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// Iteration.
    pub iteration: usize,
    /// Batch loss at that iteration.
    pub loss: f64,
    /// Model parameters.
    pub model: Params,
    /// Readout parameters.
    pub readout: Params,
}

/// What a training run did.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainReport {
    /// (iteration, batch loss) every `log_every` iterations.
    pub losses: Vec<(usize, f64)>,
    /// Iterations whose step was taken.
    pub steps: usize,
    /// Whether the tolerance ended the run.
    pub stopped_early: bool,
    /// Loss at the last evaluated iteration.
    pub final_loss: f64,
}

/// MSE loss and its gradient with respect to the model and readout parameters.
#[derive(Debug, Clone)]
pub struct LossGrad {
    /// Mean squared error over B·T·n_y.
    pub loss: f64,
    /// ∇ for the model's flat parameters.
    pub grad_model: Vec<f64>,
    /// ∇ for the readout's flat parameters.
    pub grad_readout: Vec<f64>,
    /// Err = ∇_z L (N x H).
    pub err: Vec<f64>,
    /// The BPTT adjoint a = P* Err (N x H).
    pub adjoint: Vec<f64>,
    /// The rollout the gradient was taken at.
    pub rollout: Rollout,
}

/// a = P* q by the backward recursion a_t = q_t + A_{t+1}ᵀ a_{t+1} (one column per trial).
pub fn adjoint_recursion<M: StepModel + ?Sized>(model: &M, ro: &Rollout, q: &[f64]) -> Vec<f64> {
    let mut a = vec![0.0; q.len()];
    crate::recursion::propagate_adjoint(
        model,
        ro,
        MatRef::from_column_major_slice(q, q.len(), 1),
        MatMut::from_column_major_slice_mut(&mut a, q.len(), 1),
    );
    a
}

/// Loss, Err, adjoint and gradients for one batch.
pub fn loss_and_grad<M: Trainable + ?Sized>(
    model: &M,
    readout: &Readout,
    batch: &Batch,
    kind: Loss,
) -> Result<LossGrad, TrainError> {
    let ro = model.forward_batch(batch)?;
    let (n, h, ny) = (ro.sites(), ro.hidden, readout.output_size());
    // The read-out sites: every step, or the last step of each trial (an MLP's last layer).
    let read: Vec<usize> = if model.reads_last_step() {
        (0..ro.batch).map(|b| b * ro.time + ro.time - 1).collect()
    } else {
        (0..n).collect()
    };
    let m = read.len();
    let shape = if model.reads_last_step() {
        format!("[{}, 1, {ny}]", batch.batch)
    } else {
        format!("[{}, {}, {ny}]", batch.batch, batch.time)
    };
    crate::error::check_size("targets", &shape, m * ny, batch.targets.len())?;
    let z: Vec<f64> = read
        .iter()
        .flat_map(|&s| ro.states[s * h..(s + 1) * h].iter().copied())
        .collect();
    let y = readout.apply(&z);
    let (loss, e) = kind.eval(&y, &batch.targets, m, ny);
    let em = MatRef::from_row_major_slice(&e, m, ny);
    // Err = e W_out at the read-out sites (N x H, zero elsewhere); dW = eᵀ Z, db = Σ e.
    let mut err_read = vec![0.0; m * h];
    gemm(
        faer::MatMut::from_row_major_slice_mut(&mut err_read, m, h),
        em,
        readout.weight(),
        1.0,
        false,
    );
    let mut err = vec![0.0; n * h];
    for (k, &s) in read.iter().enumerate() {
        err[s * h..(s + 1) * h].copy_from_slice(&err_read[k * h..(k + 1) * h]);
    }
    let mut grad_readout = vec![0.0; readout.params().layout().len()];
    gemm(
        faer::MatMut::from_row_major_slice_mut(&mut grad_readout[..ny * h], ny, h),
        em.transpose(),
        MatRef::from_row_major_slice(&z, m, h),
        1.0,
        false,
    );
    if readout.bias().is_some() {
        for o in 0..ny {
            grad_readout[ny * h + o] = (0..m).map(|s| e[s * ny + o]).sum();
        }
    }
    let adjoint = adjoint_recursion(model, &ro, &err);
    let mut grad_model = vec![0.0; model.params().layout().len()];
    model.param_vjp(&ro, &adjoint, &mut grad_model);
    Ok(LossGrad {
        loss,
        grad_model,
        grad_readout,
        err,
        adjoint,
        rollout: ro,
    })
}

/// Trials per parallel work item of [`batch_loss_grad`]: fixed, so the bits never depend on the
/// number of threads.
pub const TRIAL_CHUNK: usize = 32;

/// Loss and gradients of a batch, with the trials split into fixed chunks of [`TRIAL_CHUNK`] that run
/// in parallel (trials never interact in a forward or backward pass); chunk results are combined
/// in chunk order, weighted by their share of the batch.
pub fn batch_loss_grad<M: Trainable + ?Sized>(
    model: &M,
    readout: &Readout,
    batch: &Batch,
    kind: Loss,
) -> Result<(f64, Vec<f64>, Vec<f64>), TrainError> {
    use rayon::prelude::*;
    if batch.batch <= TRIAL_CHUNK {
        let lg = loss_and_grad(model, readout, batch, kind)?;
        return Ok((lg.loss, lg.grad_model, lg.grad_readout));
    }
    let (per_in, per_out) = (
        batch.inputs.len() / batch.batch,
        batch.targets.len() / batch.batch,
    );
    let chunks: Vec<Batch> = (0..batch.batch)
        .step_by(TRIAL_CHUNK)
        .map(|start| {
            let end = (start + TRIAL_CHUNK).min(batch.batch);
            Batch {
                batch: end - start,
                time: batch.time,
                inputs: batch.inputs[start * per_in..end * per_in].to_vec(),
                targets: batch.targets[start * per_out..end * per_out].to_vec(),
            }
        })
        .collect();
    let parts: Vec<Result<LossGrad, TrainError>> = chunks
        .par_iter()
        .map(|c| loss_and_grad(model, readout, c, kind))
        .collect();
    let mut loss = 0.0;
    let mut gm = vec![0.0; model.params().layout().len()];
    let mut gr = vec![0.0; readout.params().layout().len()];
    for (c, part) in chunks.iter().zip(parts) {
        let lg = part?;
        let w = c.batch as f64 / batch.batch as f64;
        loss += w * lg.loss;
        gm.iter_mut()
            .zip(&lg.grad_model)
            .for_each(|(a, b)| *a += w * b);
        gr.iter_mut()
            .zip(&lg.grad_readout)
            .for_each(|(a, b)| *a += w * b);
    }
    Ok((loss, gm, gr))
}

struct OptState {
    m: Vec<f64>,
    v: Vec<f64>,
    step: u64,
}

fn apply_update(opt: &Optimizer, p: &mut [f64], g: &[f64], mask: &[bool], st: &mut OptState) {
    st.step += 1;
    match *opt {
        Optimizer::Sgd { lr, momentum } => {
            for i in 0..p.len() {
                if !mask[i] {
                    continue;
                }
                let d = if momentum != 0.0 {
                    st.m[i] = if st.step == 1 {
                        g[i]
                    } else {
                        momentum * st.m[i] + g[i]
                    };
                    st.m[i]
                } else {
                    g[i]
                };
                p[i] -= lr * d;
            }
        }
        Optimizer::Adam {
            lr,
            beta1,
            beta2,
            eps,
        } => {
            let (bc1, bc2) = (
                1.0 - beta1.powi(st.step as i32),
                1.0 - beta2.powi(st.step as i32),
            );
            for i in 0..p.len() {
                if !mask[i] {
                    continue;
                }
                st.m[i] = beta1 * st.m[i] + (1.0 - beta1) * g[i];
                st.v[i] = beta2 * st.v[i] + (1.0 - beta2) * g[i] * g[i];
                let denom = (st.v[i] / bc2).sqrt() + eps;
                p[i] -= lr * (st.m[i] / bc1) / denom;
            }
        }
    }
}

fn validate(cfg: &TrainConfig) -> Result<(), TrainError> {
    let bad = |field, reason: &str| {
        Err(TrainError::Config {
            field,
            reason: reason.into(),
        })
    };
    let lr = match cfg.optimizer {
        Optimizer::Sgd { lr, momentum } => {
            if !(0.0..1.0).contains(&momentum) {
                return bad("momentum", "must lie in [0, 1)");
            }
            lr
        }
        Optimizer::Adam {
            lr,
            beta1,
            beta2,
            eps,
        } => {
            if !(0.0..1.0).contains(&beta1) || !(0.0..1.0).contains(&beta2) || eps <= 0.0 {
                return bad("betas/eps", "need 0 ≤ β < 1 and eps > 0");
            }
            lr
        }
    };
    if lr.is_nan() || lr <= 0.0 || lr.is_infinite() {
        return bad("lr", "must be a positive number");
    }
    if cfg.log_every == 0 {
        return bad("log_every", "must be ≥ 1");
    }
    if let Some(c) = cfg.grad_clip
        && (c.is_nan() || c <= 0.0)
    {
        return bad("grad_clip", "must be positive");
    }
    Ok(())
}

/// Trains `model` and `readout` in place on batches from `next_batch(iteration)`. `on_checkpoint`
/// sees every checkpoint (iteration 0 is the initialisation; one more at the end); if it fails the
/// run stops with that error. Divergence stops the run with [`TrainError::Diverged`] and no
/// checkpoint of the diverged state is emitted.
pub fn train<M: Trainable + ?Sized>(
    model: &mut M,
    readout: &mut Readout,
    cfg: &TrainConfig,
    mut next_batch: impl FnMut(usize) -> Result<Batch, CallbackError>,
    mut on_checkpoint: impl FnMut(&Checkpoint) -> Result<(), CallbackError>,
) -> Result<TrainReport, TrainError> {
    validate(cfg)?;
    let (mlay, rlay) = (
        model.params().layout().clone(),
        readout.params().layout().clone(),
    );
    let (mask_m, mask_r) = match &cfg.trainable {
        None => (vec![true; mlay.len()], vec![true; rlay.len()]),
        Some(names) => {
            let mut mm = vec![false; mlay.len()];
            let mut mr = vec![false; rlay.len()];
            for n in names {
                if let Ok(e) = mlay.get(n) {
                    mm[e.range()].iter_mut().for_each(|x| *x = true);
                } else {
                    let e = rlay.get(n)?;
                    mr[e.range()].iter_mut().for_each(|x| *x = true);
                }
            }
            (mm, mr)
        }
    };
    let mut st_m = OptState {
        m: vec![0.0; mlay.len()],
        v: vec![0.0; mlay.len()],
        step: 0,
    };
    let mut st_r = OptState {
        m: vec![0.0; rlay.len()],
        v: vec![0.0; rlay.len()],
        step: 0,
    };
    let mut report = TrainReport {
        losses: Vec::new(),
        steps: 0,
        stopped_early: false,
        final_loss: f64::NAN,
    };
    let mut recorded: Vec<f64> = Vec::new();
    let emit = |it: usize,
                loss: f64,
                model: &M,
                readout: &Readout,
                cb: &mut dyn FnMut(&Checkpoint) -> Result<(), CallbackError>| {
        cb(&Checkpoint {
            iteration: it,
            loss,
            model: model.params().clone(),
            readout: readout.params().clone(),
        })
        .map_err(|source| TrainError::Checkpoint {
            iteration: it,
            source,
        })
    };
    for it in 0..cfg.iterations {
        let batch = next_batch(it).map_err(|source| TrainError::Source {
            iteration: it,
            source,
        })?;
        let (loss, gm, gr) =
            batch_loss_grad(&*model, readout, &batch, cfg.loss).map_err(|e| match e {
                TrainError::Model(ModelError::NonFinite { .. }) => TrainError::Diverged {
                    iteration: it,
                    what: "hidden state".into(),
                },
                other => other,
            })?;
        if !loss.is_finite() {
            return Err(TrainError::Diverged {
                iteration: it,
                what: format!("loss = {loss}"),
            });
        }
        report.final_loss = loss;
        if it % cfg.log_every == 0 {
            report.losses.push((it, loss));
        }
        if it == 0 || (cfg.checkpoint_every > 0 && it % cfg.checkpoint_every == 0) {
            emit(it, loss, &*model, readout, &mut on_checkpoint)?;
        }
        if let Some(tol) = cfg.tol {
            if it % 20 == 0 {
                recorded.push(loss);
            }
            if recorded.len() >= 3 && (recorded[recorded.len() - 1] + loss) / 2.0 < tol {
                report.stopped_early = true;
                if it != 0 && !(cfg.checkpoint_every > 0 && it % cfg.checkpoint_every == 0) {
                    emit(it, loss, &*model, readout, &mut on_checkpoint)?;
                }
                return Ok(report);
            }
        }
        let (mut gm, mut gr) = (gm, gr);
        if let Some(max) = cfg.grad_clip {
            let norm = gm
                .iter()
                .zip(&mask_m)
                .chain(gr.iter().zip(&mask_r))
                .filter(|(_, m)| **m)
                .map(|(g, _)| g * g)
                .sum::<f64>()
                .sqrt();
            let coef = max / (norm + 1e-6);
            if coef < 1.0 {
                gm.iter_mut().chain(gr.iter_mut()).for_each(|g| *g *= coef);
            }
        }
        if gm.iter().chain(&gr).any(|g| !g.is_finite()) {
            return Err(TrainError::Diverged {
                iteration: it,
                what: "gradient".into(),
            });
        }
        apply_update(
            &cfg.optimizer,
            model.params_mut().values_mut(),
            &gm,
            &mask_m,
            &mut st_m,
        );
        apply_update(
            &cfg.optimizer,
            readout.params_mut().values_mut(),
            &gr,
            &mask_r,
            &mut st_r,
        );
        report.steps += 1;
        if model
            .params()
            .values()
            .iter()
            .chain(readout.params().values())
            .any(|p| !p.is_finite())
        {
            return Err(TrainError::Diverged {
                iteration: it,
                what: "parameters".into(),
            });
        }
    }
    // Final checkpoint after the last step (its loss is evaluated on the next batch).
    let it = cfg.iterations;
    let batch = next_batch(it).map_err(|source| TrainError::Source {
        iteration: it,
        source,
    })?;
    let (loss, _, _) = batch_loss_grad(&*model, readout, &batch, cfg.loss)?;
    if !loss.is_finite() {
        return Err(TrainError::Diverged {
            iteration: it,
            what: format!("loss = {loss}"),
        });
    }
    report.final_loss = loss;
    emit(it, loss, &*model, readout, &mut on_checkpoint)?;
    Ok(report)
}
