//! The snapshots a point measures: its initialisation, or — with a `[train]` table — the checkpoints
//! of a BPTT run at the `measure_at` iterations (default: after the last iteration), each with the
//! model and readout parameters and the loss. A run is cached on its own (under
//! [`crate::cache::RUNS_DIR`]), keyed by what determines it, so specs that train the same model the
//! same way (F4 and F10's nfps = 0) share one run.

use std::path::Path;

use gentk_models::{
    Batch, Checkpoint, Loss, Optimizer, Params, Readout, StudentCase, TeacherStudent, TrainConfig,
    train,
};
use gentk_spec::{OptimizerKind, Spec, TrainLoss};
use gentk_tasks::{BatchSampler, Dataset, TaskConfig, generate};

use super::build::Built;
use super::error::{MeasureError, Result};

/// One measured state of a point's model.
pub(crate) struct Snap {
    /// GD iteration (none without training; 0 = initialisation).
    pub iteration: Option<i64>,
    /// Model parameters.
    pub model: Params,
    /// Readout parameters.
    pub readout: Params,
    /// Training loss at the checkpoint.
    pub loss: Option<f64>,
}

/// Where a run's batches come from (and, for a teacher, what it trains).
pub(crate) enum TrainData<'a> {
    /// `dataset_size` noisy trials of the task, drawn on their own; random batches.
    Task,
    /// These trials in order, full batch (a built target's analysed trials).
    Fixed(&'a Dataset),
    /// `dataset_size` trials of the task, drawn on their own and labelled by the teacher; random
    /// batches; only the case's tensors are trained (the shared readout is frozen).
    Teacher(&'a TeacherStudent, StudentCase),
}

/// The snapshots of a point (the model and readout are left at their final training state).
pub(crate) fn snapshots(
    spec: &Spec,
    task: &TaskConfig,
    built: &mut Built,
    readout: &mut Readout,
    seed: u64,
    runs: Option<&Path>,
    source: TrainData<'_>,
) -> Result<Vec<Snap>> {
    let Some(t) = &spec.train else {
        return Ok(vec![Snap {
            iteration: None,
            model: built.sm().params().clone(),
            readout: readout.params().clone(),
            loss: None,
        }]);
    };
    let key = crate::cache::run_key(spec, t, seed)
        .map_err(|e| MeasureError::Unsupported(format!("training run not hashable: {e}")))?;
    if let Some(cps) = runs.and_then(|dir| crate::cache::load_run(dir, &key)) {
        let (ml, rl) = (
            built.sm().params().layout().clone(),
            readout.params().layout().clone(),
        );
        return cps
            .into_iter()
            .map(|c| {
                Ok(Snap {
                    iteration: Some(c.iteration),
                    model: Params::from_values(ml.clone(), c.model)?,
                    readout: Params::from_values(rl.clone(), c.readout)?,
                    loss: Some(c.loss),
                })
            })
            .collect();
    }
    let data_seed = seed ^ super::DATA_SEED;
    let pool = || generate(&task.with_samples(t.dataset_size), true, data_seed ^ 1);
    let (train_data, shuffle, trainable) = match source {
        TrainData::Task => (pool()?, true, t.trainable.clone()),
        TrainData::Fixed(d) => (d.clone(), false, t.trainable.clone()),
        TrainData::Teacher(ts, case) => {
            let mut d = pool()?;
            d.targets = ts.targets(&d.inputs, d.n, d.time)?;
            d.n_out = ts.readout.output_size();
            let names = case.trained().iter().map(|n| n.to_string()).collect();
            (d, true, Some(names))
        }
    };
    let mut sampler = BatchSampler::new(t.batch_size, shuffle, seed ^ 2)?;
    let optimizer = match t.optimizer {
        OptimizerKind::Adam => Optimizer::adam(t.lr),
        OptimizerKind::Sgd => Optimizer::Sgd {
            lr: t.lr,
            momentum: t.momentum,
        },
    };
    let tc = TrainConfig {
        optimizer,
        loss: match t.loss {
            TrainLoss::Mse => Loss::Mse,
            TrainLoss::CrossEntropy => Loss::CrossEntropy,
        },
        iterations: t.iterations,
        grad_clip: t.grad_clip,
        trainable,
        tol: t.tol,
        log_every: 20,
        checkpoint_every: 1,
    };
    let want: Vec<usize> = if t.measure_at.is_empty() {
        vec![t.iterations]
    } else {
        t.measure_at.clone()
    };
    let mut snaps = Vec::new();
    let mut next = |_| {
        let b = sampler.next(&train_data)?;
        Ok(Batch {
            batch: b.n,
            time: b.time,
            inputs: b.inputs,
            targets: b.targets,
        })
    };
    let mut keep = |cp: &Checkpoint| {
        if want.contains(&cp.iteration) {
            snaps.push(Snap {
                iteration: Some(cp.iteration as i64),
                model: cp.model.clone(),
                readout: cp.readout.clone(),
                loss: Some(cp.loss),
            });
        }
        Ok(())
    };
    // An MLP (depth as time) is fitted on its last layer: the task's one step per sample.
    crate::phases::time(crate::phases::Phase::Training, || match built {
        Built::Rec(model) => train(model.as_mut(), readout, &tc, &mut next, &mut keep),
        Built::Mlp(model) => train(model, readout, &tc, &mut next, &mut keep),
    })?;
    if let Some(dir) = runs {
        let cps: Vec<crate::cache::Checkpoint> = snaps
            .iter()
            .map(|s| crate::cache::Checkpoint {
                iteration: s.iteration.unwrap_or(0),
                model: s.model.values().to_vec(),
                readout: s.readout.values().to_vec(),
                loss: s.loss.unwrap_or(f64::NAN),
            })
            .collect();
        // A run that cannot be stored (a non-finite loss) is simply recomputed next time.
        let _ = crate::cache::store_run(dir, &key, &cps);
    }
    Ok(snaps)
}
