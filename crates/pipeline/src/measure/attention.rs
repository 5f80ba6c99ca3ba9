//! The attention block (arch `attention`, PAPER §6.5) in the runner: one forward pass of a freshly
//! initialised block on the point's inputs, then every measurement through the common operator
//! stack ([`GlobalNtk::attention`]: K by its Kronecker core over the pre-activation state, P = dV/du,
//! NTK_S of x ↦ V) with the same statistics as the RNNs; `data_pr` is the input PR of x_in (after
//! Fourier features); `kron_error` is F1's dense finite-difference check of the fine-grained state.

use faer::MatRef;
use gentk_linalg::rank::data_pr;
use gentk_models::{AttentionBlock, AttentionConfig, Positional};
use gentk_ntk::GlobalNtk;
use gentk_ntk::attention::{FineChecks, attention_fine_checks};
use gentk_spec::{Operator, PositionalKind, Spec, Statistic};
use gentk_tasks::Dataset;

use super::checks::operator_adjoint_defect;
use super::error::{MeasureError, Result};
use super::{Val, gaussian_pr, ntk_rows, ntk_stat, rows_of};

/// Finite-difference step of the dense checks (truncation ~h⁴, round-off ~ε/h: both ≲ 1e-12).
const FD_STEP: f64 = 1e-3;

/// The block of a spec: D = `model.d_model` (else `hidden`), heads = `model.heads` (1), MLP width
/// = `model.mlp_hidden` (2·D), outputs = `model.outputs` (1), the positional term and Fourier
/// features as given, no mask.
pub fn build(spec: &Spec, d_input: usize, time: usize, seed: u64) -> Result<AttentionBlock> {
    let m = &spec.model;
    let d_model = m.attention_width();
    let cfg = AttentionConfig {
        d_input,
        d_model,
        n_heads: m.heads.unwrap_or(1),
        mlp_hidden: m.mlp_width(),
        d_output: m.outputs.unwrap_or(1),
        max_seq_len: time.max(128),
        positional: match m.positional_kind() {
            PositionalKind::Off => Positional::Off,
            PositionalKind::Learned => Positional::Learned,
            PositionalKind::Sinusoidal => Positional::Sinusoidal {
                components: m.pe_components.unwrap_or(d_model),
            },
        },
        fourier_freqs: m.fourier_features,
        causal: false,
    };
    Ok(AttentionBlock::init(cfg, seed)?)
}

/// How many Fourier frequencies 2^j (j < n_freqs) leave no fractional bits in 2^j·x at the median
/// |x|: f64 has 52 fraction bits, so with |x| ∈ [2^e, 2^(e+1)) they run out at j = 52 − e, and
/// sin/cos(2π2^j x) no longer depend on x's value (PAPER §10.4).
pub fn aliased_frequencies(x: &[f64], n_freqs: Option<usize>) -> usize {
    let Some(k) = n_freqs else { return 0 };
    let mut mags: Vec<f64> = x.iter().map(|v| v.abs()).filter(|v| *v > 0.0).collect();
    if mags.is_empty() {
        return 0;
    }
    mags.sort_by(f64::total_cmp);
    let e = mags[mags.len() / 2].log2().floor() as i64;
    let first = (52 - e).max(0) as usize;
    k.saturating_sub(first)
}

/// The rows of every measurement of one attention point.
pub fn measure_all(spec: &Spec, data: &Dataset, seed: u64) -> Result<super::PointOutput> {
    let block = build(spec, data.n_in, data.time, seed)?;
    let tape = crate::phases::time(crate::phases::Phase::Rollout, || {
        block.forward(&data.inputs, data.n, data.time)
    })?;
    let g = GlobalNtk::attention(&block, &tape);
    let mut checks: Option<FineChecks> = None;
    let mut out = super::PointOutput::default();
    for (mi, m) in spec.measures.iter().enumerate() {
        let mseed = seed.wrapping_add(1 + mi as u64);
        let started = std::time::Instant::now();
        let one = |v: f64| rows_of(m, seed, Val::one(v));
        let rows = match (m.operator, m.statistic) {
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
                one(if m.operator == Operator::K {
                    c.k_error
                } else {
                    c.ntk_error
                })
            }
            (op, Statistic::AdjointDefect) => {
                one(operator_adjoint_defect(&g, op, m.k.max(1), mseed)
                    .map_err(|e| e.in_measure(&m.name))?)
            }
            (Operator::Data, Statistic::AliasedFrequencies) => {
                one(aliased_frequencies(&data.inputs, block.config().fourier_freqs) as f64)
            }
            (Operator::Data, Statistic::DataPrGaussian) => {
                let x = tape.input_features();
                one(gaussian_pr(x.nrows(), x.ncols()))
            }
            (Operator::Data, Statistic::DataPr) => {
                // The input PR of what the block sees, x_in (after Fourier features), uncentered.
                let x: MatRef<'_, f64> = tape.input_features();
                one(data_pr(x, false))
            }
            (
                _,
                Statistic::TimeSpectrum
                | Statistic::TemporalModes
                | Statistic::TemporalModesWeighted
                | Statistic::WeightedModes,
            ) => ntk_rows(&g, m, seed, mseed).map_err(|e| e.in_measure(&m.name))?,
            _ => rows_of(
                m,
                seed,
                ntk_stat(&g, m, mseed).map_err(|e| e.in_measure(&m.name))?,
            ),
        };
        out.rows.extend(rows);
        crate::phases::add(crate::phases::Phase::Measures, started.elapsed());
        let seconds = started.elapsed().as_secs_f64();
        out.timings
            .push(super::measure_timing(m, seed, None, seconds));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::aliased_frequencies;

    #[test]
    fn frequencies_run_out_of_fraction_bits_at_52_minus_the_exponent() {
        // Median |x| = 0.75 ∈ [2^-1, 2^0): 2^j x is an integer from j = 53 on.
        let x = [0.75, -0.7, 0.8, -0.76, 0.74];
        assert_eq!(aliased_frequencies(&x, None), 0);
        assert_eq!(aliased_frequencies(&x, Some(53)), 0);
        assert_eq!(aliased_frequencies(&x, Some(60)), 7);
        // And that is where the feature stops depending on x: for an x ∈ [1/2, 1) with a full
        // mantissa, 2^51·x still has fraction bits, 2^53·x is an integer.
        assert_ne!((2f64.powi(51) * 0.7).fract(), 0.0);
        assert_eq!((2f64.powi(53) * 0.7).fract(), 0.0);
        // Median |x| ∈ [4, 8) (exponent 2, three above −1): three fewer frequencies resolved.
        assert_eq!(aliased_frequencies(&[5.0, -6.0, 4.5], Some(60)), 10);
    }
}
