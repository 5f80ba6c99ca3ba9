//! PyTorch-compatible initialisations (in distribution, from explicit seeded streams), the gain on
//! W_hh and fixed-point planting (PAPER.md §6.1, §6.3, §6.4).

use faer::Mat;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// Stream ids for model randomness (disjoint from gentk-linalg's probe purposes).
pub mod purpose {
    /// Parameter initialisation.
    pub const INIT: u64 = 1 << 40;
    /// Planted fixed-point directions.
    pub const PLANT: u64 = (1 << 40) + 1;
    /// Per-step input noise of the leaky RNN.
    pub const NOISE: u64 = (1 << 40) + 2;
    /// Readout initialisation (independent of the cell's stream for the same seed).
    pub const READOUT: u64 = (1 << 40) + 3;
}

/// The ChaCha8 stream for (seed, purpose).
pub fn rng(seed: u64, purpose: u64) -> ChaCha8Rng {
    gentk_linalg::probes::stream(seed, purpose)
}

/// `n` draws from U(−bound, bound).
pub fn uniform(rng: &mut ChaCha8Rng, bound: f64, n: usize) -> Vec<f64> {
    (0..n).map(|_| rng.random_range(-bound..bound)).collect()
}

/// nn.RNN / nn.GRU default: every tensor U(±1/√H).
pub fn rnn_uniform(rng: &mut ChaCha8Rng, hidden: usize, n: usize) -> Vec<f64> {
    uniform(rng, 1.0 / (hidden as f64).sqrt(), n)
}

/// nn.RNN / nn.GRU initialisation of a whole parameter set: every tensor U(±1/√H), drawn in
/// state_dict order from (seed, INIT), then the `gain_on` tensor (W_hh) multiplied by `gain`.
pub fn pytorch_rnn_init(
    params: &mut crate::params::Params,
    hidden: usize,
    gain_on: &crate::params::ParamEntry,
    gain: f64,
    seed: u64,
) {
    let mut r = rng(seed, purpose::INIT);
    let entries = params.layout().entries().to_vec();
    for e in &entries {
        let v = rnn_uniform(&mut r, hidden, e.len());
        params.values_mut()[e.range()].copy_from_slice(&v);
    }
    params.values_mut()[gain_on.range()]
        .iter_mut()
        .for_each(|w| *w *= gain);
}

/// nn.Linear default (Kaiming-uniform with a = √5 for weights, and the bias rule): U(±1/√fan_in).
pub fn linear_uniform(rng: &mut ChaCha8Rng, fan_in: usize, n: usize) -> Vec<f64> {
    uniform(rng, 1.0 / (fan_in as f64).sqrt(), n)
}

/// `n` standard normal draws.
pub fn normal(rng: &mut ChaCha8Rng, n: usize) -> Vec<f64> {
    (0..n).map(|_| StandardNormal.sample(rng)).collect()
}

/// torch.nn.init.xavier_normal_: N(0, gain²·2/(fan_in + fan_out)) for a [fan_out, fan_in] weight.
pub fn xavier_normal(rng: &mut ChaCha8Rng, fan_out: usize, fan_in: usize, gain: f64) -> Vec<f64> {
    let std = gain * (2.0 / (fan_in + fan_out) as f64).sqrt();
    normal(rng, fan_out * fan_in)
        .into_iter()
        .map(|v| v * std)
        .collect()
}

/// torch.nn.init.orthogonal_ for a [rows, cols] weight: QR of a Gaussian (of the transpose when
/// rows < cols), Q's columns sign-fixed by diag(R), times `gain`. Row-major output.
pub fn orthogonal(rng: &mut ChaCha8Rng, rows: usize, cols: usize, gain: f64) -> Vec<f64> {
    gentk_linalg::kernels::pin_sequential();
    let (r, c) = if rows < cols {
        (cols, rows)
    } else {
        (rows, cols)
    };
    let g = normal(rng, r * c);
    let m = Mat::from_fn(r, c, |i, j| g[i * c + j]);
    let qr = m.qr();
    let q = qr.compute_thin_Q();
    let rr = qr.thin_R();
    let sign: Vec<f64> = (0..c)
        .map(|j| if rr[(j, j)] < 0.0 { -1.0 } else { 1.0 })
        .collect();
    let mut out = vec![0.0; rows * cols];
    for i in 0..rows {
        for j in 0..cols {
            // rows >= cols: W = Q; else W = Qᵀ.
            out[i * cols + j] = gain
                * if rows >= cols {
                    q[(i, j)] * sign[j]
                } else {
                    q[(j, i)] * sign[i]
                };
        }
    }
    out
}

/// Plants fixed points of the input-free leaky dynamics h ← (1−dt)h + dt·W tanh(h) in the row-major
/// H x H matrix `w` (PAPER.md §6.3): for each direction d ~ N(0, I_H), σ = tanh(d),
/// W ← d σᵀ/‖σ‖² + W (I − σσᵀ/‖σ‖²), so W σ = d and d is a fixed point (exactly for the last one).
/// Returns the directions d, in planting order.
pub fn plant_fixed_points(
    w: &mut [f64],
    hidden: usize,
    count: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<Vec<f64>> {
    let h = hidden;
    let mut dirs = Vec::with_capacity(count);
    for _ in 0..count {
        let d = normal(rng, h);
        let sigma: Vec<f64> = d.iter().map(|x| x.tanh()).collect();
        let s2: f64 = sigma.iter().map(|x| x * x).sum();
        // W σ (before the update), then W ← W − (Wσ − d) σᵀ/‖σ‖².
        let ws: Vec<f64> = (0..h)
            .map(|i| (0..h).map(|j| w[i * h + j] * sigma[j]).sum())
            .collect();
        for i in 0..h {
            let c = (ws[i] - d[i]) / s2;
            for j in 0..h {
                w[i * h + j] -= c * sigma[j];
            }
        }
        dirs.push(d);
    }
    dirs
}
