#![allow(dead_code)]
//! Shared fixtures: every model variant at small sizes, random data from a fixture stream.

use gentk_linalg::probes::{ProbeKind, purpose, seeded_block};
use gentk_models::*;

pub fn randn(n: usize, seed: u64) -> Vec<f64> {
    seeded_block(seed, purpose::FIXTURE + 7, ProbeKind::Gaussian, n, 1)
        .col_as_slice(0)
        .to_vec()
}

pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Every model variant the derivative tests cover, with a readable name. Gains chosen so the
/// dynamics are neither trivial nor saturated; biases randomised so no factor is special.
pub fn all_models(nx: usize, h: usize) -> Vec<(&'static str, Box<dyn Recurrent>)> {
    let leaky = |dt: f64, linear: bool, bias: bool, noise: bool| {
        let mut c = LeakyRnnConfig::new(nx, h);
        c.dt = dt;
        c.linear = linear;
        c.bias = bias;
        if noise {
            c.noise_std = Some(0.1);
            c.noise_seed = 5;
        }
        Box::new(LeakyRnn::init(c, 1.5, 11).unwrap()) as Box<dyn Recurrent>
    };
    let tanh = |bi: bool, bh: bool| {
        let c = TanhRnnConfig {
            input: nx,
            hidden: h,
            bias_ih: bi,
            bias_hh: bh,
        };
        Box::new(TanhRnn::init(c, 2.0, 12).unwrap()) as Box<dyn Recurrent>
    };
    let gru = |bias: bool| {
        let c = GruConfig {
            input: nx,
            hidden: h,
            bias,
        };
        Box::new(Gru::init(c, 3.0, 13).unwrap()) as Box<dyn Recurrent>
    };
    vec![
        ("leaky dt=1", leaky(1.0, false, false, false)),
        ("leaky dt=0.7", leaky(0.7, false, false, false)),
        ("leaky dt=0.7 bias+noise", leaky(0.7, false, true, true)),
        ("linear leaky", leaky(1.0, true, false, false)),
        ("tanh rnn (2 biases)", tanh(true, true)),
        ("tanh rnn (b_ih only)", tanh(true, false)),
        ("tanh rnn (no bias)", tanh(false, false)),
        ("gru", gru(true)),
        ("gru (no bias)", gru(false)),
    ]
}
