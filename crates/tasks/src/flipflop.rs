//! The n-bit flip-flop task (PAPER.md §7.2).

use rand::RngExt;
use rand::seq::index;
use rand_distr::{Distribution, Poisson};
use serde::{Deserialize, Serialize};

use crate::dataset::Dataset;
use crate::error::{Result, invalid, positive};
use crate::rng::{self, NOISE, STRUCTURE};

/// Flip-flop configuration (defaults = the paper's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FlipFlopConfig {
    /// Steps per trial.
    #[serde(rename = "T")]
    pub time: usize,
    /// Trials.
    pub n_samples: usize,
    /// Mean steps between spikes per channel (−1: T/3).
    pub n_spike: i64,
    /// Memory channels.
    pub channels: usize,
    /// Add an "anti" channel (constant ±1 per trial) that flips the targets' sign.
    pub mix_anti: bool,
    /// Input noise std before the √2 factor (kpflow: 0.03).
    pub noise_std: f64,
}

impl Default for FlipFlopConfig {
    fn default() -> Self {
        FlipFlopConfig {
            time: 90,
            n_samples: 50_000,
            n_spike: 20,
            channels: 3,
            mix_anti: false,
            noise_std: 0.03,
        }
    }
}

impl FlipFlopConfig {
    /// Checks every field; returns the spike rate denominator n_spike (−1 → max(T/3, 1)).
    pub fn validate(&self) -> Result<f64> {
        positive("T", self.time)?;
        positive("n_samples", self.n_samples)?;
        positive("channels", self.channels)?;
        crate::error::non_negative("noise_std", self.noise_std)?;
        match self.n_spike {
            -1 => Ok((self.time / 3).max(1) as f64),
            k if k >= 1 => Ok(k as f64),
            k => Err(invalid(
                "n_spike",
                format!("must be ≥ 1 or −1 (T/3), got {k}"),
            )),
        }
    }
}

/// Inputs: per channel and time column, c ~ Poisson(n/n_spike) distinct trials get a ±1 spike;
/// targets hold the last nonzero input of each channel (0 before the first).
pub fn flip_flop(cfg: &FlipFlopConfig, noise: bool, seed: u64) -> Result<Dataset> {
    let n_spike = cfg.validate()?;
    let (n, t_len, ch) = (cfg.n_samples, cfg.time, cfg.channels);
    let n_in = ch + usize::from(cfg.mix_anti);
    let mut d = Dataset::zeros(n, t_len, n_in, ch);
    let mut r = rng::stream(seed, STRUCTURE);
    let pois = Poisson::new(n as f64 / n_spike).map_err(|e| invalid("n_spike", e.to_string()))?;
    for c in 0..ch {
        for t in 0..t_len {
            let count = (pois.sample(&mut r) as usize).min(n);
            for b in index::sample(&mut r, n, count) {
                *d.input_mut(b, t, c) = if r.random_bool(0.5) { 1.0 } else { -1.0 };
            }
        }
    }
    let anti: Vec<f64> = (0..n)
        .map(|_| {
            if cfg.mix_anti && r.random_bool(0.5) {
                -1.0
            } else {
                1.0
            }
        })
        .collect();
    for b in 0..n {
        for c in 0..ch {
            let mut held = 0.0;
            for t in 0..t_len {
                let x = d.input(b, t, c);
                if x != 0.0 {
                    held = x;
                }
                *d.target_mut(b, t, c) = held * anti[b];
            }
        }
        if cfg.mix_anti {
            for t in 0..t_len {
                *d.input_mut(b, t, ch) = anti[b];
            }
        }
    }
    if noise {
        let mut nr = rng::stream(seed, NOISE);
        rng::add_noise(
            &mut d.inputs,
            cfg.noise_std * std::f64::consts::SQRT_2,
            &mut nr,
        );
    }
    Ok(d)
}
