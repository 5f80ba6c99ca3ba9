#![allow(dead_code)]
//! Shared fixtures: every model variant at small sizes, random data from a fixture stream.

use gentk_linalg::probes::{ProbeKind, purpose, seeded_block};
#[allow(unused_imports)]
use gentk_models::StepModel;
use gentk_models::*;

pub fn randn(n: usize, seed: u64) -> Vec<f64> {
    seeded_block(seed, purpose::FIXTURE + 7, ProbeKind::Gaussian, n, 1)
        .col_as_slice(0)
        .to_vec()
}

pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// A model under test: a recurrent cell (inputs at every step) or an MLP (input at step 0, depth
/// = T).
pub enum AnyModel {
    /// Recurrent cell.
    Rec(Box<dyn Recurrent>),
    /// MLP with depth T.
    Mlp(Mlp),
}

impl AnyModel {
    pub fn sm(&self) -> &dyn StepModel {
        match self {
            AnyModel::Rec(m) => m.as_ref(),
            AnyModel::Mlp(m) => m,
        }
    }
    pub fn sm_mut(&mut self) -> &mut dyn StepModel {
        match self {
            AnyModel::Rec(m) => m.as_mut(),
            AnyModel::Mlp(m) => m,
        }
    }
    /// Forward pass on `[B, T, n_x]` inputs (an MLP uses the t = 0 slice).
    pub fn run(&self, x: &[f64], b: usize, t: usize, h0: Option<&[f64]>) -> Rollout {
        match self {
            AnyModel::Rec(m) => m.rollout(x, b, t, h0).unwrap(),
            AnyModel::Mlp(m) => {
                assert_eq!(m.config().depth, t);
                let nx = m.config().input;
                let x0: Vec<f64> = (0..b)
                    .flat_map(|i| x[i * t * nx..i * t * nx + nx].to_vec())
                    .collect();
                m.forward(&x0, b).unwrap()
            }
        }
    }
}

/// Every model the derivative tests cover: all recurrent variants and MLPs of depth `t`.
pub fn every_model(nx: usize, h: usize, t: usize) -> Vec<(&'static str, AnyModel)> {
    let mut v: Vec<(&'static str, AnyModel)> = all_models(nx, h)
        .into_iter()
        .map(|(n, m)| (n, AnyModel::Rec(m)))
        .collect();
    v.push((
        "deep relu mlp",
        AnyModel::Mlp(Mlp::init(MlpConfig::deep_relu(nx, h, t), 1.5, 14).unwrap()),
    ));
    v.push((
        "residual tanh mlp",
        AnyModel::Mlp(Mlp::init(MlpConfig::residual_tanh(nx, h, t), 1.2, 15).unwrap()),
    ));
    let mut nb = MlpConfig::residual_tanh(nx, h, t);
    nb.bias = false;
    v.push((
        "residual tanh mlp (no bias)",
        AnyModel::Mlp(Mlp::init(nb, 1.0, 16).unwrap()),
    ));
    v
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
