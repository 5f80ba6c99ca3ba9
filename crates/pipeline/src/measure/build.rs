//! Builds the analysed model of a point from its spec (recurrent cells with planting, MLPs) and rolls
//! it out on the task data.

use gentk_models::*;
use gentk_tasks::Dataset;

use crate::spec::Spec;

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
    /// The rollout on the task data.
    pub(crate) fn rollout(&self, d: &Dataset) -> Result<Rollout, String> {
        match self {
            Built::Rec(m) => m
                .rollout(&d.inputs, d.n, d.time, None)
                .map_err(|e| e.to_string()),
            Built::Mlp(m) => {
                let x: Vec<f64> = (0..d.n)
                    .flat_map(|b| (0..d.n_in).map(move |c| (b, c)))
                    .map(|(b, c)| d.input(b, 0, c))
                    .collect();
                m.forward(&x, d.n).map_err(|e| e.to_string())
            }
        }
    }
}

/// The model of a point, initialised from its seed (and planted when asked).
pub(crate) fn build_model(spec: &Spec, n_x: usize, seed: u64) -> Result<Built, String> {
    let m = &spec.model;
    let e = |x: ModelError| x.to_string();
    Ok(match m.arch.as_str() {
        "leaky-rnn" | "linear-rnn" => {
            let mut c = LeakyRnnConfig::new(n_x, m.hidden);
            c.dt = m.dt;
            c.linear = m.arch == "linear-rnn";
            c.bias = m.bias.unwrap_or(false);
            let mut r = LeakyRnn::init(c, m.gain, seed).map_err(e)?;
            if m.fixed_points > 0 {
                r.plant_fixed_points(m.fixed_points, seed).map_err(e)?;
            }
            Built::Rec(Box::new(r))
        }
        "rnn" => {
            let b = m.bias.unwrap_or(true);
            Built::Rec(Box::new(
                TanhRnn::init(
                    TanhRnnConfig {
                        input: n_x,
                        hidden: m.hidden,
                        bias_ih: b,
                        bias_hh: b,
                    },
                    m.gain,
                    seed,
                )
                .map_err(e)?,
            ))
        }
        "gru" => Built::Rec(Box::new(
            Gru::init(
                GruConfig {
                    input: n_x,
                    hidden: m.hidden,
                    bias: m.bias.unwrap_or(true),
                },
                m.gain,
                seed,
            )
            .map_err(e)?,
        )),
        "mlp-relu" | "mlp-residual" => {
            let depth = m.depth.ok_or("model.depth is required for MLPs")?;
            let mut c = if m.arch == "mlp-relu" {
                MlpConfig::deep_relu(n_x, m.hidden, depth)
            } else {
                MlpConfig::residual_tanh(n_x, m.hidden, depth)
            };
            c.bias = m.bias.unwrap_or(true);
            Built::Mlp(Mlp::init(c, m.gain, seed).map_err(e)?)
        }
        other => return Err(format!("unknown architecture `{other}`")),
    })
}
