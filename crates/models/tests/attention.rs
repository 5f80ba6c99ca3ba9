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

/// Relative l2 distance.
fn rel(a: &[f64], b: &[f64]) -> f64 {
    let d: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum();
    (d / dot(b, b)).sqrt()
}

#[test]
fn propagation_matches_finite_differences_of_the_injected_forward_pass() {
    // P = dV/du: an injection δu at the pre-activations, carried through the projections, the
    // softmax coupling and the gelu factors, against central differences of the forward pass
    // with ±ε δu injected.
    let (b, t) = (2, 5);
    for (name, cfg) in variants() {
        let m = AttentionBlock::init(cfg.clone(), 13).unwrap();
        let x = randn(b * t * cfg.d_input, 14);
        let tape = m.forward(&x, b, t).unwrap();
        let du = randn(b * t * cfg.state_width(), 15);
        let mut pdu = vec![0.0; du.len()];
        m.propagate(&tape, &du, &mut pdu);
        let eps = 1e-6;
        let at = |e: f64| {
            let inj: Vec<f64> = du.iter().map(|v| e * v).collect();
            m.state(&m.forward_injected(&x, b, t, Some(&inj)).unwrap())
        };
        let (p, q) = (at(eps), at(-eps));
        let fd: Vec<f64> = p
            .iter()
            .zip(&q)
            .map(|(a, c)| (a - c) / (2.0 * eps))
            .collect();
        let err = rel(&pdu, &fd);
        assert!(err < 1e-8, "{name}: P vs FD rel err {err:e}");
        // The zero injection is the plain forward pass.
        let zero = vec![0.0; du.len()];
        assert_eq!(
            m.state(&m.forward_injected(&x, b, t, Some(&zero)).unwrap()),
            m.state(&tape)
        );
    }
}

#[test]
fn adjoint_identities_of_the_propagation_and_the_site_map() {
    let (b, t) = (3, 4);
    for (name, cfg) in variants() {
        let m = AttentionBlock::init(cfg.clone(), 16).unwrap();
        let tape = m.forward(&randn(b * t * cfg.d_input, 17), b, t).unwrap();
        let n = b * t * cfg.state_width();
        let (x, y) = (randn(n, 18), randn(n, 19));
        let (mut px, mut pty) = (vec![0.0; n], vec![0.0; n]);
        m.propagate(&tape, &x, &mut px);
        m.propagate_adjoint(&tape, &y, &mut pty);
        let (l, r) = (dot(&px, &y), dot(&x, &pty));
        assert!(
            (l - r).abs() <= 1e-12 * (l.abs() + r.abs()),
            "{name} P: {l} vs {r}"
        );
        let nth = m.params().layout().len();
        let dth = randn(nth, 20);
        let (mut ju, mut jty) = (vec![0.0; n], vec![0.0; nth]);
        m.site_jvp(&tape, &dth, &mut ju);
        m.site_vjp(&tape, &y, &mut jty);
        let (l, r) = (dot(&ju, &y), dot(&dth, &jty));
        assert!(
            (l - r).abs() <= 1e-12 * (l.abs() + r.abs()),
            "{name} J_u: {l} vs {r}"
        );
    }
}

#[test]
fn the_site_map_is_the_weight_sites_in_their_channel_blocks() {
    // J_u δθ = Σ_j S_j δW_jᵀ placed in weight j's channel block, from the common WeightSite list
    // (bias: ones, learned positions: one-hot tokens against δPᵀ's transpose).
    let (b, t) = (2, 4);
    for (name, cfg) in variants() {
        let m = AttentionBlock::init(cfg.clone(), 21).unwrap();
        let tape = m.forward(&randn(b * t * cfg.d_input, 22), b, t).unwrap();
        let lay = m.params().layout().clone();
        let dth = randn(lay.len(), 23);
        let w = cfg.state_width();
        let mut ju = vec![0.0; b * t * w];
        m.site_jvp(&tape, &dth, &mut ju);
        let mut want = vec![0.0; b * t * w];
        for site in m.weight_sites(&tape) {
            let e = lay.get(&site.param).unwrap();
            let ch = site.channels.clone().unwrap();
            let s = &site.sites;
            for tok in 0..b * t {
                for (o, c) in ch.clone().enumerate() {
                    want[tok * w + c] += (0..s.ncols())
                        .map(|k| {
                            // [out, in] weights; the positional table is [pos, D].
                            let dw = if site.param == POS {
                                dth[e.offset + k * e.shape[1] + o]
                            } else {
                                dth[e.offset + o * s.ncols() + k]
                            };
                            dw * s[(tok, k)]
                        })
                        .sum::<f64>();
                }
            }
        }
        assert!(rel(&ju, &want) < 1e-14, "{name}");
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
