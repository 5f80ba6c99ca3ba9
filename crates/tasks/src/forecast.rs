//! The low-rank forecast task (PAPER.md §7.2): a K-dimensional latent linear system observed through
//! a random D-dimensional map, inputs and one-step-ahead targets through random sine features.

use serde::{Deserialize, Serialize};

use crate::dataset::Dataset;
use crate::error::{Result, positive};
use crate::rng::{self, FIXED, NOISE, STRUCTURE};

/// Low-rank forecast configuration (defaults = the paper's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LowRankForecastConfig {
    /// Trials.
    pub n_samples: usize,
    /// Steps per trial.
    #[serde(rename = "T")]
    pub time: usize,
    /// Observation dimension D.
    #[serde(rename = "D")]
    pub dim: usize,
    /// Latent dimension K.
    #[serde(rename = "K")]
    pub latent: usize,
    /// Seed of the fixed structure (A, C, feature maps).
    pub seed: u64,
    /// Seed of the trial data (latent initial states, observation noise).
    pub seed_data: u64,
    /// Input features.
    #[serde(rename = "D_inp")]
    pub d_inp: usize,
    /// Target features.
    #[serde(rename = "D_targ")]
    pub d_targ: usize,
    /// Observation noise std (applied when noise is on; kpflow: 0.01).
    pub noise_std: f64,
}

impl Default for LowRankForecastConfig {
    fn default() -> Self {
        LowRankForecastConfig {
            n_samples: 1000,
            time: 30,
            dim: 100,
            latent: 10,
            seed: 0,
            seed_data: 1,
            d_inp: 100,
            d_targ: 100,
            noise_std: 0.01,
        }
    }
}

impl LowRankForecastConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        positive("n_samples", self.n_samples)?;
        positive("T", self.time)?;
        positive("D", self.dim)?;
        positive("K", self.latent)?;
        positive("D_inp", self.d_inp)?;
        positive("D_targ", self.d_targ)?;
        crate::error::non_negative("noise_std", self.noise_std)
    }
}

/// The generated task with its latent trajectories (for tests and analyses).
#[derive(Debug, Clone, PartialEq)]
pub struct LowRankForecast {
    /// Inputs sin(W_inp x_t + b_inp), targets sin(W_targ x_{t+1} + b_targ).
    pub data: Dataset,
    /// Latent states z_t, `[n, T+1, K]`.
    pub z: Vec<f64>,
    /// Observations x_t = C z_t (+ noise), `[n, T+1, D]`.
    pub x: Vec<f64>,
    /// The latent map A (K x K, orthogonal), row-major.
    pub a: Vec<f64>,
    /// (W_inp [D_inp, D], b_inp, W_targ [D_targ, D], b_targ), row-major.
    pub features: (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>),
}

/// Generates the task. The structure comes from `cfg.seed` only and the trials from `cfg.seed_data`
/// only, so either can be varied alone; the `noise` flag adds observation noise from the data seed.
pub fn low_rank_forecast(cfg: &LowRankForecastConfig, noise: bool) -> Result<LowRankForecast> {
    cfg.validate()?;
    let (n, t_len, dd, k) = (cfg.n_samples, cfg.time, cfg.dim, cfg.latent);
    let mut sr = rng::stream(cfg.seed, FIXED);
    let mut draw = |len: usize| (0..len).map(|_| rng::normal(&mut sr)).collect::<Vec<f64>>();
    let g = draw(k * k);
    let c = draw(dd * k);
    let (w_inp, b_inp) = (draw(cfg.d_inp * dd), draw(cfg.d_inp));
    let (w_targ, b_targ) = (draw(cfg.d_targ * dd), draw(cfg.d_targ));
    gentk_linalg::kernels::pin_sequential();
    let a_mat = faer::Mat::from_fn(k, k, |i, j| g[i * k + j])
        .qr()
        .compute_thin_Q();
    let a: Vec<f64> = (0..k * k).map(|ij| a_mat[(ij / k, ij % k)]).collect();
    let mut dr = rng::stream(cfg.seed_data, STRUCTURE);
    let mut nr = rng::stream(cfg.seed_data, NOISE);
    let steps = t_len + 1;
    let mut z = vec![0.0; n * steps * k];
    let mut x = vec![0.0; n * steps * dd];
    for b in 0..n {
        for i in 0..k {
            z[b * steps * k + i] = rng::normal(&mut dr);
        }
        for t in 0..steps {
            let zt = b * steps * k + t * k;
            if t > 0 {
                let prev = zt - k;
                for i in 0..k {
                    let az: f64 = (0..k).map(|j| a[i * k + j] * z[prev + j]).sum();
                    z[zt + i] = 0.8 * z[prev + i] + 0.2 * az;
                }
            }
            let xt = b * steps * dd + t * dd;
            for i in 0..dd {
                x[xt + i] = (0..k).map(|j| c[i * k + j] * z[zt + j]).sum::<f64>();
                if noise {
                    x[xt + i] += cfg.noise_std * rng::normal(&mut nr);
                }
            }
        }
    }
    let feat = |w: &[f64], bias: &[f64], out: usize, xs: &[f64]| -> Vec<f64> {
        (0..out)
            .map(|o| ((0..dd).map(|i| w[o * dd + i] * xs[i]).sum::<f64>() + bias[o]).sin())
            .collect()
    };
    let mut data = Dataset::zeros(n, t_len, cfg.d_inp, cfg.d_targ);
    for b in 0..n {
        for t in 0..t_len {
            let xt = &x[b * steps * dd + t * dd..b * steps * dd + (t + 1) * dd];
            let xn = &x[b * steps * dd + (t + 1) * dd..b * steps * dd + (t + 2) * dd];
            for (o, v) in feat(&w_inp, &b_inp, cfg.d_inp, xt).into_iter().enumerate() {
                *data.input_mut(b, t, o) = v;
            }
            for (o, v) in feat(&w_targ, &b_targ, cfg.d_targ, xn)
                .into_iter()
                .enumerate()
            {
                *data.target_mut(b, t, o) = v;
            }
        }
    }
    Ok(LowRankForecast {
        data,
        z,
        x,
        a,
        features: (w_inp, b_inp, w_targ, b_targ),
    })
}
