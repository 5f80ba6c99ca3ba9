//! Builds the analysed model of a point from its spec (recurrent cells with planting, MLPs) and rolls
//! it out on the task data.

use gentk_models::*;
use gentk_spec::{Arch, Spec};
use gentk_tasks::Dataset;

use super::error::{MeasureError, Result};

/// The analysed model: a recurrent cell or an MLP.
pub(crate) enum Built {
    /// Recurrent cells.
    Rec(Box<dyn Recurrent>),
    /// MLPs (depth as time).
    Mlp(Mlp),
}

impl Built {
    /// The model as a step model.
    pub(crate) fn sm(&self) -> &dyn StepModel {
        match self {
            Built::Rec(m) => m.as_ref(),
            Built::Mlp(m) => m,
        }
    }

    /// Its parameters.
    pub(crate) fn params_mut(&mut self) -> &mut Params {
        match self {
            Built::Rec(m) => m.params_mut(),
            Built::Mlp(m) => m.params_mut(),
        }
    }

    /// The rollout on the task data.
    pub(crate) fn rollout(&self, d: &Dataset) -> Result<Rollout> {
        crate::phases::time(crate::phases::Phase::Rollout, || self.rollout_untimed(d))
    }

    fn rollout_untimed(&self, d: &Dataset) -> Result<Rollout> {
        Ok(match self {
            Built::Rec(m) => m.rollout(&d.inputs, d.n, d.time, None)?,
            Built::Mlp(m) => {
                let x: Vec<f64> = (0..d.n)
                    .flat_map(|b| (0..d.n_in).map(move |c| (b, c)))
                    .map(|(b, c)| d.input(b, 0, c))
                    .collect();
                m.forward(&x, d.n)?
            }
        })
    }
}

/// The model of a point, initialised from its seed (and planted when asked).
pub(crate) fn build_model(spec: &Spec, n_x: usize, seed: u64) -> Result<Built> {
    let m = &spec.model;
    Ok(match m.arch {
        Arch::LeakyRnn | Arch::LinearRnn => {
            let mut c = LeakyRnnConfig::new(n_x, m.hidden);
            c.dt = m.dt;
            c.linear = m.arch == Arch::LinearRnn;
            c.bias = m.bias.unwrap_or(false);
            let mut r = LeakyRnn::init(c, m.gain, seed)?;
            if m.fixed_points > 0 {
                r.plant_fixed_points(m.fixed_points, seed)?;
            }
            Built::Rec(Box::new(r))
        }
        Arch::Rnn => {
            let b = m.bias.unwrap_or(true);
            Built::Rec(Box::new(TanhRnn::init(
                TanhRnnConfig {
                    input: n_x,
                    hidden: m.hidden,
                    bias_ih: b,
                    bias_hh: b,
                },
                m.gain,
                seed,
            )?))
        }
        Arch::Gru => Built::Rec(Box::new(Gru::init(
            GruConfig {
                input: n_x,
                hidden: m.hidden,
                bias: m.bias.unwrap_or(true),
            },
            m.gain,
            seed,
        )?)),
        Arch::MlpRelu | Arch::MlpResidual => {
            let depth = m
                .depth
                .ok_or_else(|| MeasureError::Unsupported("an MLP without model.depth".into()))?;
            let mut c = if m.arch == Arch::MlpRelu {
                MlpConfig::deep_relu(n_x, m.hidden, depth)
            } else {
                MlpConfig::residual_tanh(n_x, m.hidden, depth)
            };
            c.bias = m.bias.unwrap_or(true);
            Built::Mlp(Mlp::init(c, m.gain, seed)?)
        }
        Arch::Attention => {
            return Err(MeasureError::Unsupported(
                "the attention block is measured by measure::attention".into(),
            ));
        }
    })
}
