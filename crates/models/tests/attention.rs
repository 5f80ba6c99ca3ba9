//! The attention block: x ↦ V derivatives by finite differences and the adjoint identity, in every
//! variant (heads, positions, Fourier features, causal mask); V's width; weight-site consistency.

mod common;

use common::*;
use gentk_models::attention::names::*;
use gentk_models::*;

fn small(pos: Positional, heads: usize, fourier: Option<usize>, causal: bool) -> AttentionConfig {
    AttentionConfig {
        d_input: if fourier.is_some() { 1 } else { 3 },
        d_model: 8,
        n_heads: heads,
        mlp_hidden: 6,
        d_output: 2,
        max_seq_len: 10,
        positional: pos,
        fourier_freqs: fourier,
        causal,
    }
}

fn variants() -> Vec<(&'static str, AttentionConfig)> {
    vec![
        ("1 head", small(Positional::Off, 1, None, false)),
        (
            "2 heads + learned positions",
            small(Positional::Learned, 2, None, false),
        ),
        (
            "4 heads + sinusoid(5)",
            small(Positional::Sinusoidal { components: 5 }, 4, None, false),
        ),
        ("fourier(3)", small(Positional::Off, 1, Some(3), false)),
        ("causal 2 heads", small(Positional::Off, 2, None, true)),
    ]
}

#[test]
fn param_jvp_matches_finite_differences_of_v() {
    let (b, t) = (2, 5);
    for (name, cfg) in variants() {
        let mut m = AttentionBlock::init(cfg.clone(), 3).unwrap();
        let x = randn(b * t * cfg.d_input, 1);
        let tape = m.forward(&x, b, t).unwrap();
        let nth = m.params().layout().len();
        let dth = randn(nth, 2);
        let jv = m.param_jvp(&tape, &dth);
        let th = m.params().values().to_vec();
        let eps = 1e-6;
        let mut fd = vec![0.0; jv.len()];
        for sign in [1.0, -1.0] {
            m.params_mut()
                .values_mut()
                .iter_mut()
                .zip(th.iter().zip(&dth))
                .for_each(|(p, (a, d))| *p = a + sign * eps * d);
            let v = m.state(&m.forward(&x, b, t).unwrap());
            fd.iter_mut()
                .zip(v)
                .for_each(|(f, v)| *f += sign * v / (2.0 * eps));
        }
        m.params_mut().values_mut().copy_from_slice(&th);
        let err = jv
            .iter()
            .zip(&fd)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>()
            .sqrt()
            / fd.iter().map(|v| v * v).sum::<f64>().sqrt();
        assert!(err < 1e-8, "{name}: rel err {err:e}");
    }
}

#[test]
fn adjoint_identity_of_the_parameter_jacobian() {
    let (b, t) = (3, 4);
    for (name, cfg) in variants() {
        let m = AttentionBlock::init(cfg.clone(), 4).unwrap();
        let tape = m.forward(&randn(b * t * cfg.d_input, 5), b, t).unwrap();
        let nth = m.params().layout().len();
        let (dth, g) = (randn(nth, 6), randn(b * t * cfg.state_width(), 7));
        let jv = m.param_jvp(&tape, &dth);
        let jtg = m.param_vjp(&tape, &g);
        let (l, r) = (dot(&jv, &g), dot(&dth, &jtg));
        assert!(
            (l - r).abs() <= 1e-12 * (l.abs() + r.abs()),
            "{name}: {l} vs {r}"
        );
        let w3 = m.params().layout().get(W_3).unwrap();
        assert!(
            jtg[w3.range()].iter().all(|v| *v == 0.0),
            "W_3 does not act on V"
        );
    }
}

#[test]
fn default_state_width_is_576_and_rows_are_probability_vectors() {
    let cfg = AttentionConfig::default();
    assert_eq!(cfg.state_width(), 576);
    let m = AttentionBlock::init(cfg.clone(), 0).unwrap();
    let tape = m.forward(&randn(2 * 50 * 8, 8), 2, 50).unwrap();
    assert_eq!(m.state(&tape).len(), 2 * 50 * 576);
    for p in &tape.probs {
        for i in 0..50 {
            let s: f64 = (0..50).map(|j| p[(i, j)]).sum();
            assert!((s - 1.0).abs() < 1e-12 && (0..50).all(|j| p[(i, j)] >= 0.0));
        }
    }
    let causal = AttentionBlock::init(small(Positional::Off, 2, None, true), 0).unwrap();
    let tape = causal.forward(&randn(5 * 3, 9), 1, 5).unwrap();
    assert!(
        tape.probs
            .iter()
            .all(|p| (0..5).all(|i| (i + 1..5).all(|j| p[(i, j)] == 0.0)))
    );
}

#[test]
fn weight_sites_are_the_inputs_each_weight_multiplies() {
    // With only W_2 perturbed, δV is zero except δh2 = u2 δW_2ᵀ = sites(W_2) δW_2ᵀ; with only W_V
    // perturbed, δa_h = A_h (sites(W_V) δW_Vᵀ)_h.
    let cfg = small(Positional::Off, 2, None, false);
    let (b, t) = (2, 4);
    let m = AttentionBlock::init(cfg.clone(), 10).unwrap();
    let tape = m.forward(&randn(b * t * 3, 11), b, t).unwrap();
    let lay = m.params().layout().clone();
    let sites = m.weight_sites(&tape);
    let site = |n: &str| sites.iter().find(|s| s.param == n).unwrap().sites.clone();
    let width = cfg.state_width();
    let (d, mh) = (cfg.d_model, cfg.mlp_hidden);
    // W_2.
    let e = lay.get(W_2).unwrap();
    let mut dth = vec![0.0; lay.len()];
    let dw = randn(e.len(), 12);
    dth[e.range()].copy_from_slice(&dw);
    let jv = m.param_jvp(&tape, &dth);
    let u2 = site(W_2);
    for s in 0..b * t {
        for c in 0..width {
            let want = if c >= 5 * d + mh {
                let o = c - (5 * d + mh);
                (0..mh).map(|k| dw[o * mh + k] * u2[(s, k)]).sum::<f64>()
            } else {
                0.0
            };
            assert!((jv[s * width + c] - want).abs() < 1e-13);
        }
    }
    // W_V.
    let e = lay.get(W_V).unwrap();
    let mut dth = vec![0.0; lay.len()];
    let dw = randn(e.len(), 13);
    dth[e.range()].copy_from_slice(&dw);
    let jv = m.param_jvp(&tape, &dth);
    let h0 = site(W_V);
    let dh = d / 2;
    for bb in 0..b {
        for hd in 0..2 {
            let p = &tape.probs[bb * 2 + hd];
            for i in 0..t {
                for c in 0..dh {
                    let want: f64 = (0..t)
                        .map(|j| {
                            p[(i, j)]
                                * (0..d)
                                    .map(|k| dw[(hd * dh + c) * d + k] * h0[(bb * t + j, k)])
                                    .sum::<f64>()
                        })
                        .sum();
                    let got = jv[(bb * t + i) * width + 3 * d + hd * dh + c];
                    assert!((got - want).abs() < 1e-12, "{got} vs {want}");
                }
            }
        }
    }
}

#[test]
fn bad_attention_configs_are_errors() {
    let c = AttentionConfig {
        n_heads: 3,
        ..Default::default()
    };
    assert!(
        AttentionBlock::init(c, 0)
            .unwrap_err()
            .to_string()
            .contains("n_heads")
    );
    let c = AttentionConfig {
        fourier_freqs: Some(4),
        ..Default::default()
    };
    assert!(
        AttentionBlock::init(c, 0)
            .unwrap_err()
            .to_string()
            .contains("d_input = 1")
    );
    let m = AttentionBlock::init(AttentionConfig::default(), 0).unwrap();
    assert!(m.forward(&[0.0; 8 * 200], 1, 200).is_err());
    assert!(
        m.forward(&[0.0; 7], 1, 1)
            .unwrap_err()
            .to_string()
            .contains("inputs")
    );
}

#[test]
fn mlp_and_attention_parameters_round_trip_through_safetensors() {
    use gentk_models::weights::{load_params, save_params};
    let a = AttentionBlock::init(small(Positional::Learned, 2, None, false), 1).unwrap();
    let bytes = save_params(a.params()).unwrap();
    let back = load_params(&bytes, a.params().layout().clone()).unwrap();
    assert_eq!(&back, a.params());
    let m = Mlp::init(MlpConfig::residual_tanh(2, 7, 3), 1.0, 2).unwrap();
    let bytes = save_params(m.params()).unwrap();
    assert_eq!(
        &load_params(&bytes, m.params().layout().clone()).unwrap(),
        m.params()
    );
    // A layout mismatch names the tensor.
    let other = Mlp::init(MlpConfig::residual_tanh(2, 7, 2), 1.0, 2).unwrap();
    let e = load_params(&bytes, other.params().layout().clone())
        .unwrap_err()
        .to_string();
    assert!(e.contains("layers.2.") && e.contains("unexpected"), "{e}");
}
