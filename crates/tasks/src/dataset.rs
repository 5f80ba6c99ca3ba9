//! A generated dataset (inputs and targets as `[n, T, channels]` row-major tensors) and seeded batch
//! sampling.

use rand::seq::index;
use rand_chacha::ChaCha8Rng;

use crate::error::{Result, TaskError};

/// Inputs and targets of one task instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Number of trials n.
    pub n: usize,
    /// Steps per trial T.
    pub time: usize,
    /// Input channels.
    pub n_in: usize,
    /// Target channels (0 when the task has no targets).
    pub n_out: usize,
    /// `[n, T, n_in]`.
    pub inputs: Vec<f64>,
    /// `[n, T, n_out]`.
    pub targets: Vec<f64>,
}

impl Dataset {
    /// An all-zero dataset of the given sizes.
    pub fn zeros(n: usize, time: usize, n_in: usize, n_out: usize) -> Self {
        Dataset {
            n,
            time,
            n_in,
            n_out,
            inputs: vec![0.0; n * time * n_in],
            targets: vec![0.0; n * time * n_out],
        }
    }

    /// Mutable input entry (trial, step, channel).
    pub fn input_mut(&mut self, b: usize, t: usize, c: usize) -> &mut f64 {
        &mut self.inputs[(b * self.time + t) * self.n_in + c]
    }
    /// Input entry.
    pub fn input(&self, b: usize, t: usize, c: usize) -> f64 {
        self.inputs[(b * self.time + t) * self.n_in + c]
    }
    /// Mutable target entry.
    pub fn target_mut(&mut self, b: usize, t: usize, c: usize) -> &mut f64 {
        &mut self.targets[(b * self.time + t) * self.n_out + c]
    }
    /// Target entry.
    pub fn target(&self, b: usize, t: usize, c: usize) -> f64 {
        self.targets[(b * self.time + t) * self.n_out + c]
    }

    /// The trials `idx`, in that order.
    pub fn select(&self, idx: &[usize]) -> Result<Dataset> {
        if let Some(&bad) = idx.iter().find(|&&i| i >= self.n) {
            return Err(TaskError::Invalid {
                field: "batch index",
                reason: format!("{bad} ≥ n = {}", self.n),
            });
        }
        let (ti, to) = (self.time * self.n_in, self.time * self.n_out);
        let mut out = Dataset::zeros(idx.len(), self.time, self.n_in, self.n_out);
        for (k, &i) in idx.iter().enumerate() {
            out.inputs[k * ti..(k + 1) * ti].copy_from_slice(&self.inputs[i * ti..(i + 1) * ti]);
            out.targets[k * to..(k + 1) * to].copy_from_slice(&self.targets[i * to..(i + 1) * to]);
        }
        Ok(out)
    }

    /// The first `size` trials.
    pub fn head(&self, size: usize) -> Result<Dataset> {
        self.select(&(0..size.min(self.n)).collect::<Vec<_>>())
    }
}

/// Draws training batches from a dataset: a uniformly random subset (without replacement) from a
/// seeded stream when `shuffle`, else always the first `size` trials in order (kpflow's
/// noise-free wrapper).
#[derive(Debug, Clone)]
pub struct BatchSampler {
    size: usize,
    shuffle: bool,
    rng: ChaCha8Rng,
}

/// Stream purpose of batch sampling.
pub const BATCH_PURPOSE: u64 = (1 << 41) + 1;

impl BatchSampler {
    /// A sampler of batches of `size` trials.
    pub fn new(size: usize, shuffle: bool, seed: u64) -> Result<Self> {
        if size == 0 {
            return Err(TaskError::Invalid {
                field: "batch_size",
                reason: "must be ≥ 1".into(),
            });
        }
        Ok(BatchSampler {
            size,
            shuffle,
            rng: gentk_linalg::probes::stream(seed, BATCH_PURPOSE),
        })
    }

    /// The next batch.
    pub fn next(&mut self, data: &Dataset) -> Result<Dataset> {
        if self.size > data.n {
            return Err(TaskError::Invalid {
                field: "batch_size",
                reason: format!("{} exceeds the {} trials of the dataset", self.size, data.n),
            });
        }
        if self.shuffle {
            let idx = index::sample(&mut self.rng, data.n, self.size).into_vec();
            data.select(&idx)
        } else {
            data.head(self.size)
        }
    }
}
