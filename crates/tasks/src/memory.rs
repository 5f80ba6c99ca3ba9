//! Memory-pro and its variants (one-hot, multi-task), PAPER.md §7.2 and §7.4.

use std::f64::consts::{PI, SQRT_2};

use rand::RngExt;
use serde::{Deserialize, Serialize};

use crate::dataset::Dataset;
use crate::error::{Result, invalid, non_negative, positive};
use crate::rng::{self, NOISE, STRUCTURE};

/// Memory-pro configuration (defaults = the paper's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MemoryProConfig {
    /// Stimulus epoch length.
    pub t_stim: usize,
    /// Memory epoch length.
    pub t_memory: usize,
    /// Response epoch length.
    pub t_response: usize,
    /// Trials.
    pub n_samples: usize,
    /// Stimulus amplitude A.
    pub amplitude: f64,
    /// Respond opposite to the stimulus.
    pub anti: bool,
    /// Show the stimulus for the whole trial.
    pub delay: bool,
    /// Input noise std before the √2 factor (kpflow: 0.1).
    pub noise_std: f64,
}

impl Default for MemoryProConfig {
    fn default() -> Self {
        MemoryProConfig {
            t_stim: 30,
            t_memory: 30,
            t_response: 30,
            n_samples: 1000,
            amplitude: 1.0,
            anti: false,
            delay: false,
            noise_std: 0.1,
        }
    }
}

impl MemoryProConfig {
    /// Total steps T = t_stim + t_memory + t_response.
    pub fn time(&self) -> usize {
        self.t_stim + self.t_memory + self.t_response
    }
    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        positive("t_stim", self.t_stim)?;
        positive("t_response", self.t_response)?;
        positive("n_samples", self.n_samples)?;
        non_negative("noise_std", self.noise_std)?;
        if !self.amplitude.is_finite() {
            return Err(invalid("amplitude", "must be finite"));
        }
        Ok(())
    }
}

/// Memory-pro: inputs [fixation, A cos θ, A sin θ], targets [fixation, ±A cos θ, ±A sin θ] in the
/// response epoch. Noise-free: θ_k = 2πk/n in order, no noise; with noise: θ ~ U[0, 2π) and inputs
/// + N(0, 1)·noise_std·√2.
pub fn memory_pro(cfg: &MemoryProConfig, noise: bool, seed: u64) -> Result<Dataset> {
    cfg.validate()?;
    let (n, t_len) = (cfg.n_samples, cfg.time());
    let fix_end = cfg.t_stim + cfg.t_memory;
    let mut r = rng::stream(seed, STRUCTURE);
    let mut d = Dataset::zeros(n, t_len, 3, 3);
    let sign = if cfg.anti { -1.0 } else { 1.0 };
    for b in 0..n {
        let theta = if noise {
            r.random_range(0.0..2.0 * PI)
        } else {
            2.0 * PI * b as f64 / n as f64
        };
        let (c, s) = (cfg.amplitude * theta.cos(), cfg.amplitude * theta.sin());
        for t in 0..t_len {
            let fix = if t < fix_end { 1.0 } else { 0.0 };
            *d.input_mut(b, t, 0) = fix;
            *d.target_mut(b, t, 0) = fix;
            if cfg.delay || t < cfg.t_stim {
                *d.input_mut(b, t, 1) = c;
                *d.input_mut(b, t, 2) = s;
            }
            if t >= fix_end {
                *d.target_mut(b, t, 1) = sign * c;
                *d.target_mut(b, t, 2) = sign * s;
            }
        }
    }
    if noise {
        let mut nr = rng::stream(seed, NOISE);
        rng::add_noise(&mut d.inputs, cfg.noise_std * SQRT_2, &mut nr);
    }
    Ok(d)
}

/// One-hot memory-pro configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MemoryProOneHotConfig {
    /// The memory-pro timing, trials, anti/delay flags and noise.
    #[serde(flatten)]
    pub base: MemoryProConfig,
    /// Number of stimulus classes.
    pub n_angles: usize,
}

impl Default for MemoryProOneHotConfig {
    fn default() -> Self {
        MemoryProOneHotConfig {
            base: MemoryProConfig::default(),
            n_angles: 30,
        }
    }
}

impl MemoryProOneHotConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        self.base.validate()?;
        positive("n_angles", self.n_angles)
    }
}

/// One-hot memory-pro: inputs [fixation, one-hot(k)] (1 + n_angles channels) during the stimulus
/// (or the whole trial if delay); targets fixation + ±one-hot during the response. Noise-free:
/// k = trial mod n_angles; with noise: k uniform.
pub fn memory_pro_one_hot(cfg: &MemoryProOneHotConfig, noise: bool, seed: u64) -> Result<Dataset> {
    cfg.validate()?;
    let base = &cfg.base;
    let (n, t_len, na) = (base.n_samples, base.time(), cfg.n_angles);
    let fix_end = base.t_stim + base.t_memory;
    let sign = if base.anti { -1.0 } else { 1.0 };
    let mut r = rng::stream(seed, STRUCTURE);
    let mut d = Dataset::zeros(n, t_len, 1 + na, 1 + na);
    for b in 0..n {
        let k = if noise { r.random_range(0..na) } else { b % na };
        for t in 0..t_len {
            let fix = if t < fix_end { 1.0 } else { 0.0 };
            *d.input_mut(b, t, 0) = fix;
            *d.target_mut(b, t, 0) = fix;
            if base.delay || t < base.t_stim {
                *d.input_mut(b, t, 1 + k) = 1.0;
            }
            if t >= fix_end {
                *d.target_mut(b, t, 1 + k) = sign;
            }
        }
    }
    if noise {
        let mut nr = rng::stream(seed, NOISE);
        rng::add_noise(&mut d.inputs, base.noise_std * SQRT_2, &mut nr);
    }
    Ok(d)
}

/// Multi-task configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MultiTaskConfig {
    /// Memory-pro timing, trials (split evenly over the 4 tasks) and noise; anti/delay are set per task.
    #[serde(flatten)]
    pub base: MemoryProConfig,
    /// Context epoch prepended to every trial.
    pub t_context: usize,
}

impl Default for MultiTaskConfig {
    fn default() -> Self {
        MultiTaskConfig {
            base: MemoryProConfig::default(),
            t_context: 30,
        }
    }
}

impl MultiTaskConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        self.base.validate()?;
        positive("t_context", self.t_context)?;
        if self.base.n_samples < 4 {
            return Err(invalid(
                "n_samples",
                "needs at least 4 trials (one per task)",
            ));
        }
        Ok(())
    }
}

/// MemPro, MemAnti, DelayPro, DelayAnti (n/4 trials each, in that order) behind a context epoch:
/// 7 input channels [fixation, cos, sin, task one-hot ×4] (task channels on during the context),
/// 3 target channels (fixation = 1 during the context). T = t_context + memory-pro T. The config is
/// never mutated (kpflow's `n_samples //= 4` side effect is not reproduced).
pub fn multi_task(cfg: &MultiTaskConfig, noise: bool, seed: u64) -> Result<Dataset> {
    cfg.validate()?;
    let per = cfg.base.n_samples / 4;
    let tc = cfg.t_context;
    let inner_t = cfg.base.time();
    let t_len = tc + inner_t;
    let mut d = Dataset::zeros(4 * per, t_len, 7, 3);
    let variants = [(false, false), (true, false), (false, true), (true, true)];
    for (k, (anti, delay)) in variants.into_iter().enumerate() {
        let sub_cfg = MemoryProConfig {
            n_samples: per,
            anti,
            delay,
            ..cfg.base.clone()
        };
        // Each task draws its trials from a child seed of its own.
        let sub = memory_pro(&sub_cfg, noise, rng::derive(seed, k as u64))?;
        for b in 0..per {
            let bb = k * per + b;
            for t in 0..tc {
                *d.input_mut(bb, t, 0) = 1.0;
                *d.input_mut(bb, t, 3 + k) = 1.0;
                *d.target_mut(bb, t, 0) = 1.0;
            }
            for t in 0..inner_t {
                for c in 0..3 {
                    *d.input_mut(bb, tc + t, c) = sub.input(b, t, c);
                    *d.target_mut(bb, tc + t, c) = sub.target(b, t, c);
                }
            }
        }
    }
    if noise {
        let mut nr = rng::stream(seed, NOISE);
        let std = cfg.base.noise_std * SQRT_2;
        for b in 0..d.n {
            for t in 0..t_len {
                for c in 0..7 {
                    if t < tc || c >= 3 {
                        *d.input_mut(b, t, c) += std * rng::normal(&mut nr);
                    }
                }
            }
        }
    }
    Ok(d)
}
