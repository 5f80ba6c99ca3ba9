//! The attention block (arch `attention`, PAPER §6.5) in the runner: F1's checks of its fine-grained
//! state — K = ⊕_j G_j ⊗ I against J_θ J_θᵀ of the explicit constraint map and P K Pᵀ against the
//! whole forward pass's NTK, both by dense 4-point finite differences (tiny sizes) — and the adjoint
//! defect of its x ↦ V Jacobian.

use gentk_models::{AttentionBlock, AttentionConfig, Positional};
use gentk_ntk::attention::{AttentionJacobian, FineChecks, attention_fine_checks};
use gentk_tasks::Dataset;

use gentk_spec::{Operator, Spec, Statistic};

use super::Val;
use super::checks::adjoint_defect;
use super::error::{MeasureError, Result};

/// Finite-difference step of the dense checks (truncation ~h⁴, round-off ~ε/h: both ≲ 1e-12).
const FD_STEP: f64 = 1e-3;

/// The block of a spec: d_model = `model.hidden`, heads = `model.heads` (1), MLP width =
/// `model.mlp_hidden` (2·hidden), outputs = `model.outputs` (1), no positions, no mask.
pub fn build(spec: &Spec, d_input: usize, time: usize, seed: u64) -> Result<AttentionBlock> {
    let m = &spec.model;
    let cfg = AttentionConfig {
        d_input,
        d_model: m.hidden,
        n_heads: m.heads.unwrap_or(1),
        mlp_hidden: m.mlp_hidden.unwrap_or(2 * m.hidden),
        d_output: m.outputs.unwrap_or(1),
        max_seq_len: time.max(128),
        positional: Positional::Off,
        fourier_freqs: None,
        causal: false,
    };
    Ok(AttentionBlock::init(cfg, seed)?)
}

/// Every measurement of one attention point, as (measure index, values).
pub fn measure_all(spec: &Spec, data: &Dataset, seed: u64) -> Result<Vec<(usize, Vec<Val>)>> {
    let block = build(spec, data.n_in, data.time, seed)?;
    let mut checks: Option<FineChecks> = None;
    let mut out = Vec::new();
    for (mi, m) in spec.measures.iter().enumerate() {
        let mseed = seed.wrapping_add(1 + mi as u64);
        let v = match (m.operator, m.statistic) {
            (Operator::K | Operator::Ntk, Statistic::KronError) => {
                let c = match checks {
                    Some(c) => c,
                    None => {
                        let c =
                            attention_fine_checks(&block, &data.inputs, data.n, data.time, FD_STEP)
                                .map_err(|e| MeasureError::from(e).in_measure(&m.name))?;
                        checks = Some(c);
                        c
                    }
                };
                if m.operator == Operator::K {
                    c.k_error
                } else {
                    c.ntk_error
                }
            }
            (Operator::JTheta, Statistic::AdjointDefect) => {
                let tape = block.forward(&data.inputs, data.n, data.time)?;
                adjoint_defect(&AttentionJacobian::new(&block, &tape), m.k.max(1), mseed)
            }
            (op, st) => {
                return Err(MeasureError::Unsupported(format!(
                    "arch `attention` with statistic `{st}` of operator `{op}`"
                ))
                .in_measure(&m.name));
            }
        };
        out.push((mi, Val::one(v)));
    }
    Ok(out)
}
