//! Proofs of the operator identities: NTK_S = P K P* = (dz/dθ)(dz/dθ)ᵀ against a finite-difference
//! Jacobian of the whole unrolled model; Kronecker core = autodiff K (and the closed forms per
//! architecture); P P⁻¹ = I; Neumann = recursion; adjoint identities; one SGD step to first order.

use faer::Mat;
use gentk_linalg::probes::{ProbeKind, purpose, seeded_block};
use gentk_linalg::*;
use gentk_models::*;
use gentk_ntk::*;

const B: usize = 2;
const T: usize = 4;
const NX: usize = 2;
const H: usize = 3;

fn randn(n: usize, seed: u64) -> Vec<f64> {
    seeded_block(seed, purpose::FIXTURE + 9, ProbeKind::Gaussian, n, 1)
        .col_as_slice(0)
        .to_vec()
}

enum Any {
    Rec(Box<dyn Recurrent>),
    Mlp(Mlp),
}

impl Any {
    fn sm(&self) -> &dyn StepModel {
        match self {
            Any::Rec(m) => m.as_ref(),
            Any::Mlp(m) => m,
        }
    }
    fn sm_mut(&mut self) -> &mut dyn StepModel {
        match self {
            Any::Rec(m) => m.as_mut(),
            Any::Mlp(m) => m,
        }
    }
    fn run(&self, x: &[f64], h0: Option<&[f64]>) -> Rollout {
        match self {
            Any::Rec(m) => m.rollout(x, B, T, h0).unwrap(),
            Any::Mlp(m) => m.forward(&x[..B * NX], B).unwrap(),
        }
    }
}

fn models() -> Vec<(&'static str, Any)> {
    let leaky = |dt: f64, linear: bool, bias: bool| {
        let mut c = LeakyRnnConfig::new(NX, H);
        c.dt = dt;
        c.linear = linear;
        c.bias = bias;
        Any::Rec(Box::new(LeakyRnn::init(c, 1.5, 1).unwrap()))
    };
    vec![
        ("leaky dt=1", leaky(1.0, false, false)),
        ("leaky dt=0.7", leaky(0.7, false, false)),
        ("leaky dt=0.7 bias", leaky(0.7, false, true)),
        ("linear rnn", leaky(1.0, true, false)),
        (
            "tanh rnn",
            Any::Rec(Box::new(
                TanhRnn::init(TanhRnnConfig::new(NX, H), 2.0, 2).unwrap(),
            )),
        ),
        (
            "tanh rnn no bias",
            Any::Rec(Box::new(
                TanhRnn::init(
                    TanhRnnConfig {
                        input: NX,
                        hidden: H,
                        bias_ih: false,
                        bias_hh: false,
                    },
                    2.0,
                    2,
                )
                .unwrap(),
            )),
        ),
        (
            "gru",
            Any::Rec(Box::new(Gru::init(GruConfig::new(NX, H), 3.0, 3).unwrap())),
        ),
        (
            "residual tanh mlp",
            Any::Mlp(Mlp::init(MlpConfig::residual_tanh(NX, H, T), 1.2, 4).unwrap()),
        ),
        (
            "deep relu mlp",
            Any::Mlp(Mlp::init(MlpConfig::deep_relu(NX, H, T), 1.5, 5).unwrap()),
        ),
    ]
}

fn rel(a: &Mat<f64>, b: &Mat<f64>) -> f64 {
    (a - b).norm_l2() / a.norm_l2().max(b.norm_l2())
}

/// dz/dθ of the whole forward pass by the 4-point central stencil (error O(ε⁴)).
fn fd_jacobian(m: &mut Any, x: &[f64], h0: Option<&[f64]>) -> Mat<f64> {
    let th = m.sm().params().values().to_vec();
    let n = m.run(x, h0).states.len();
    let eps = 1e-3;
    let mut j = Mat::zeros(n, th.len());
    for p in 0..th.len() {
        for (c, w) in [(2.0, -1.0), (1.0, 8.0), (-1.0, -8.0), (-2.0, 1.0)] {
            m.sm_mut().params_mut().values_mut().copy_from_slice(&th);
            m.sm_mut().params_mut().values_mut()[p] += c * eps;
            let z = m.run(x, h0).states;
            for i in 0..n {
                j[(i, p)] += w * z[i] / (12.0 * eps);
            }
        }
    }
    m.sm_mut().params_mut().values_mut().copy_from_slice(&th);
    j
}

#[test]
fn ntk_equals_the_outer_product_of_the_unrolled_jacobian() {
    for (name, mut m) in models() {
        let x = randn(B * T * NX, 1);
        let h0 = randn(B * H, 2);
        let h0 = matches!(m, Any::Rec(_)).then_some(h0);
        let jfd = fd_jacobian(&mut m, &x, h0.as_deref());
        let ro = m.run(&x, h0.as_deref());
        let g = GlobalNtk::new(m.sm(), &ro);
        let ntk = materialize(&g.ntk().unwrap(), 4096).unwrap();
        let want = &jfd * jfd.transpose();
        let e = rel(&ntk, &want);
        assert!(e < 1e-9, "{name}: NTK_S vs (dz/dθ)(dz/dθ)ᵀ rel err {e:e}");
        let full = materialize(&g.ntk_full().unwrap(), 4096).unwrap();
        let e = rel(&ntk, &full);
        assert!(e < 1e-13, "{name}: P K P* vs (P J)(P J)* rel err {e:e}");
        let dz = materialize(&g.dz_dtheta().unwrap(), 4096).unwrap();
        assert!(rel(&dz, &jfd) < 1e-9, "{name}: P J_θ vs dz/dθ");
    }
}

#[test]
fn kronecker_core_equals_autodiff_k() {
    for (name, m) in models() {
        let x = randn(B * T * NX, 3);
        let ro = m.run(&x, None);
        let g = GlobalNtk::new(m.sm(), &ro);
        let k = materialize(&g.k().unwrap(), 4096).unwrap();
        let ka = materialize(&g.k_autodiff().unwrap(), 4096).unwrap();
        let e = rel(&k, &ka);
        assert!(e < 1e-13, "{name}: K core vs autodiff rel err {e:e}");
        // Per-weight blocks sum to K, and each equals the autodiff K of that tensor alone.
        let names: Vec<String> = m
            .sm()
            .params()
            .layout()
            .names()
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut sum = Mat::<f64>::zeros(k.nrows(), k.ncols());
        for n in &names {
            let gs = GlobalNtk::new(m.sm(), &ro).with_subset(&[n.as_str()]);
            let kw = materialize(&gs.k().unwrap(), 4096).unwrap();
            let kwa = materialize(&gs.k_autodiff().unwrap(), 4096).unwrap();
            assert!(
                rel(&kw, &kwa) < 1e-13 || kwa.norm_l2() < 1e-300,
                "{name}/{n}"
            );
            sum += &kw;
        }
        assert!(rel(&sum, &k) < 1e-13, "{name}: Σ_w K_w vs K");
    }
}

fn site_gram(rows: &[Vec<f64>]) -> Mat<f64> {
    Mat::from_fn(rows.len(), rows.len(), |i, j| {
        rows[i].iter().zip(&rows[j]).map(|(a, b)| a * b).sum()
    })
}

fn kron_identity(g: &Mat<f64>, h: usize) -> Mat<f64> {
    Mat::from_fn(g.nrows() * h, g.ncols() * h, |r, c| {
        if r % h == c % h {
            g[(r / h, c / h)]
        } else {
            0.0
        }
    })
}

#[test]
fn closed_forms_of_k_per_architecture() {
    let x = randn(B * T * NX, 5);
    // Leaky RNN: K = dt² (G ⊗ I_H), G over sites [tanh z_{t−1}; x_t] (+1 with a bias).
    for (dt, bias) in [(1.0, false), (0.7, false), (0.7, true)] {
        let mut c = LeakyRnnConfig::new(NX, H);
        c.dt = dt;
        c.bias = bias;
        let m = LeakyRnn::init(c, 1.5, 6).unwrap();
        let ro = m.rollout(&x, B, T, Some(&randn(B * H, 7))).unwrap();
        let rows: Vec<Vec<f64>> = (0..B * T)
            .map(|s| {
                let mut v: Vec<f64> = ro.prev[s * H..(s + 1) * H]
                    .iter()
                    .map(|h| h.tanh())
                    .collect();
                v.extend_from_slice(&ro.inputs[s * NX..(s + 1) * NX]);
                if bias {
                    v.push(1.0);
                }
                v
            })
            .collect();
        let want = kron_identity(&(site_gram(&rows) * faer::Scale(dt * dt)), H);
        let k = materialize(&GlobalNtk::new(&m, &ro).k().unwrap(), 4096).unwrap();
        assert!(
            rel(&k, &want) < 1e-13,
            "leaky dt={dt} bias={bias}: {:e}",
            rel(&k, &want)
        );
    }
    // nn.RNN: K = 𝒟 (G ⊗ I) 𝒟, G = z_{t−1}·z' + x·x' + 2, 𝒟 = diag(1 − z_t²).
    let m = TanhRnn::init(TanhRnnConfig::new(NX, H), 2.0, 8).unwrap();
    let ro = m.rollout(&x, B, T, None).unwrap();
    let rows: Vec<Vec<f64>> = (0..B * T)
        .map(|s| {
            let mut v = ro.prev[s * H..(s + 1) * H].to_vec();
            v.extend_from_slice(&ro.inputs[s * NX..(s + 1) * NX]);
            v.extend([1.0, 1.0]);
            v
        })
        .collect();
    let d: Vec<f64> = ro.states.iter().map(|z| 1.0 - z * z).collect();
    let gi = kron_identity(&site_gram(&rows), H);
    let want = Mat::from_fn(gi.nrows(), gi.ncols(), |r, c| d[r] * gi[(r, c)] * d[c]);
    let k = materialize(&GlobalNtk::new(&m, &ro).k().unwrap(), 4096).unwrap();
    assert!(rel(&k, &want) < 1e-13, "nn.RNN: {:e}", rel(&k, &want));
}

#[test]
fn gru_k_is_the_four_gate_sum() {
    // K = 𝒟_r(G_hx2 ⊗ I)𝒟_r + 𝒟_ζ(G_hx2 ⊗ I)𝒟_ζ + 𝒟_n(G_x1 ⊗ I)𝒟_n + 𝒟_n̂(G_h1 ⊗ I)𝒟_n̂, with the
    // factors read from weight sites and the Grams built here from z_{t−1} and x.
    let m = Gru::init(GruConfig::new(NX, H), 3.0, 9).unwrap();
    let ro = m.rollout(&randn(B * T * NX, 10), B, T, None).unwrap();
    let n = B * T;
    let hx: Vec<Vec<f64>> = (0..n)
        .map(|s| {
            [
                &ro.prev[s * H..(s + 1) * H],
                &ro.inputs[s * NX..(s + 1) * NX],
                &[1.0, 1.0],
            ]
            .concat()
        })
        .collect();
    let x1: Vec<Vec<f64>> = (0..n)
        .map(|s| [&ro.inputs[s * NX..(s + 1) * NX], &[1.0]].concat())
        .collect();
    let h1: Vec<Vec<f64>> = (0..n)
        .map(|s| [&ro.prev[s * H..(s + 1) * H], &[1.0]].concat())
        .collect();
    let (ghx, gx, gh) = (site_gram(&hx), site_gram(&x1), site_gram(&h1));
    let factor = |param: &str, rows_start: usize| -> Vec<f64> {
        let ws = m.weight_sites(&ro);
        let w = ws
            .iter()
            .find(|w| w.param == param && w.rows.start == rows_start)
            .unwrap();
        let SiteFactor::Diagonal(d) = &w.factor else {
            panic!()
        };
        (0..n * H).map(|r| d[(r / H, r % H)]).collect()
    };
    let (dr, dz, dn, dnh) = (
        factor("rnn.weight_ih_l0", 0),
        factor("rnn.weight_ih_l0", H),
        factor("rnn.weight_ih_l0", 2 * H),
        factor("rnn.weight_hh_l0", 2 * H),
    );
    let term = |g: &Mat<f64>, d: &[f64]| {
        let gi = kron_identity(g, H);
        Mat::from_fn(gi.nrows(), gi.ncols(), |r, c| d[r] * gi[(r, c)] * d[c])
    };
    let want = term(&ghx, &dr) + term(&ghx, &dz) + term(&gx, &dn) + term(&gh, &dnh);
    let k = materialize(&GlobalNtk::new(&m, &ro).k().unwrap(), 4096).unwrap();
    assert!(rel(&k, &want) < 1e-13, "GRU: {:e}", rel(&k, &want));
}

#[test]
fn p_inverse_neumann_and_adjoint_identities() {
    for (name, m) in models() {
        let ro = m.run(&randn(B * T * NX, 11), None);
        let g = GlobalNtk::new(m.sm(), &ro);
        let n = ro.state_dim();
        let (p, pi) = (
            materialize(&g.p(), 4096).unwrap(),
            materialize(&g.p_inv().unwrap(), 4096).unwrap(),
        );
        assert!(
            (&p * &pi - Mat::<f64>::identity(n, n)).norm_max() < 1e-12,
            "{name}: P P⁻¹"
        );
        assert!(
            (&pi * &p - Mat::<f64>::identity(n, n)).norm_max() < 1e-12,
            "{name}: P⁻¹ P"
        );
        let pt = materialize(&Adjoint(g.p()), 4096).unwrap();
        assert!(
            rel(&pt, &p.transpose().to_owned()) < 1e-14,
            "{name}: P* = Pᵀ"
        );
        let pit = materialize(&Adjoint(g.p_inv().unwrap()), 4096).unwrap();
        assert!(
            rel(&pit, &pi.transpose().to_owned()) < 1e-14,
            "{name}: P⁻* = (P⁻¹)ᵀ (kpflow's bug absent)"
        );
        // Neumann series of P⁻¹ = I − 𝒥S is exact after T terms (T − 1 iterations), not before.
        let neu = materialize(
            &NeumannInverse::new(g.p_inv().unwrap(), T - 1, 0.0).unwrap(),
            4096,
        )
        .unwrap();
        assert!(rel(&neu, &p) < 1e-13, "{name}: Neumann vs recursion");
        if name.contains("tanh") || name.contains("gru") {
            let short = materialize(
                &NeumannInverse::new(g.p_inv().unwrap(), T - 2, 0.0).unwrap(),
                4096,
            )
            .unwrap();
            assert!(
                rel(&short, &p) > 1e-6,
                "{name}: T − 1 terms must not be exact"
            );
        }
        // Adjoint identities of every operator to 1e-12.
        let check = |label: &str,
                     op: &dyn Fn(&[f64]) -> Vec<f64>,
                     opt: &dyn Fn(&[f64]) -> Vec<f64>,
                     n_in: usize,
                     n_out: usize| {
            let (x, y) = (randn(n_in, 12), randn(n_out, 13));
            let (l, r): (f64, f64) = (
                op(&x).iter().zip(&y).map(|(a, b)| a * b).sum(),
                x.iter().zip(opt(&y)).map(|(a, b)| a * b).sum(),
            );
            assert!(
                (l - r).abs() <= 1e-12 * (l.abs() + r.abs()),
                "{name} {label}: {l} vs {r}"
            );
        };
        let nth = m.sm().params().layout().len();
        let (pp, pinv, j, k, ntk) = (
            g.p(),
            g.p_inv().unwrap(),
            g.j_theta().unwrap(),
            g.k().unwrap(),
            g.ntk().unwrap(),
        );
        check(
            "P",
            &|v| pp.apply(v).unwrap(),
            &|v| pp.apply_adjoint(v).unwrap(),
            n,
            n,
        );
        check(
            "P⁻¹",
            &|v| pinv.apply(v).unwrap(),
            &|v| pinv.apply_adjoint(v).unwrap(),
            n,
            n,
        );
        check(
            "J_θ",
            &|v| j.apply(v).unwrap(),
            &|v| j.apply_adjoint(v).unwrap(),
            nth,
            n,
        );
        check(
            "K",
            &|v| k.apply(v).unwrap(),
            &|v| k.apply_adjoint(v).unwrap(),
            n,
            n,
        );
        check(
            "NTK_S",
            &|v| ntk.apply(v).unwrap(),
            &|v| ntk.apply_adjoint(v).unwrap(),
            n,
            n,
        );
    }
}

#[test]
fn linear_rnn_closed_forms() {
    // P = Σ_d I_B ⊗ L^d ⊗ W^d and NTK_S = P (V Vᵀ ⊗ I) P*, V = [z_{t−1}; x_t].
    let mut c = LeakyRnnConfig::new(NX, H);
    c.linear = true;
    let m = LeakyRnn::init(c, 1.2, 14).unwrap();
    let ro = m.rollout(&randn(B * T * NX, 15), B, T, None).unwrap();
    let g = GlobalNtk::new(&m, &ro);
    let w = m.params().matrix("rnn.weight_hh_l0").unwrap().to_owned();
    let n = ro.state_dim();
    let mut want = Mat::<f64>::zeros(n, n);
    for b in 0..B {
        for t in 0..T {
            let mut wp = Mat::<f64>::identity(H, H);
            for s in (0..=t).rev() {
                for i in 0..H {
                    for j in 0..H {
                        want[((b * T + t) * H + i, (b * T + s) * H + j)] = wp[(i, j)];
                    }
                }
                wp = &wp * &w;
            }
        }
    }
    let p = materialize(&g.p(), 4096).unwrap();
    assert!(rel(&p, &want) < 1e-14);
    let rows: Vec<Vec<f64>> = (0..B * T)
        .map(|s| {
            [
                &ro.prev[s * H..(s + 1) * H],
                &ro.inputs[s * NX..(s + 1) * NX],
            ]
            .concat()
        })
        .collect();
    let core = kron_identity(&site_gram(&rows), H);
    let ntk = materialize(&g.ntk().unwrap(), 4096).unwrap();
    assert!(rel(&ntk, &(&p * core * p.transpose())) < 1e-13);
}

#[test]
fn one_sgd_step_moves_the_states_by_minus_eta_ntk_err_to_first_order() {
    // δz ≈ −η NTK_S ∇_z L for a step on the state parameters (readout frozen); the residual of the
    // prediction shrinks as η².
    let (nx, h, ny) = (2, 6, 2);
    let mut m = TanhRnn::init(TanhRnnConfig::new(nx, h), 1.5, 16).unwrap();
    let r = Readout::init(h, ny, true, 16).unwrap();
    let bt = Batch {
        batch: B,
        time: T,
        inputs: randn(B * T * nx, 17),
        targets: randn(B * T * ny, 18),
    };
    let lg = loss_and_grad(&m, &r, &bt, Loss::Mse).unwrap();
    let ro = lg.rollout.clone();
    let predicted_dir = GlobalNtk::new(&m, &ro)
        .ntk()
        .unwrap()
        .apply(&lg.err)
        .unwrap();
    let th = m.params().values().to_vec();
    let mut residuals = Vec::new();
    for eta in [1e-2, 5e-3] {
        m.params_mut()
            .values_mut()
            .iter_mut()
            .zip(th.iter().zip(&lg.grad_model))
            .for_each(|(p, (t, g))| *p = t - eta * g);
        let z1 = m.rollout(&bt.inputs, B, T, None).unwrap().states;
        let actual: Vec<f64> = z1.iter().zip(&ro.states).map(|(a, b)| a - b).collect();
        let res = actual
            .iter()
            .zip(&predicted_dir)
            .map(|(a, p)| (a + eta * p).powi(2))
            .sum::<f64>()
            .sqrt();
        let size = actual.iter().map(|a| a * a).sum::<f64>().sqrt();
        assert!(
            res < 0.05 * size,
            "η = {eta}: residual {res} vs step {size}"
        );
        residuals.push(res);
    }
    m.params_mut().values_mut().copy_from_slice(&th);
    let ratio = residuals[0] / residuals[1];
    assert!(
        (ratio - 4.0).abs() < 0.4,
        "residual should scale as η²: ratio {ratio}"
    );
}

#[test]
fn output_ntk_is_the_readout_sandwich() {
    let m = TanhRnn::init(TanhRnnConfig::new(NX, H), 1.5, 19).unwrap();
    let r = Readout::init(H, 2, true, 19).unwrap();
    let ro = m.rollout(&randn(B * T * NX, 20), B, T, None).unwrap();
    let g = GlobalNtk::new(&m, &ro);
    let ntk = materialize(&g.ntk().unwrap(), 4096).unwrap();
    let w = r.weight();
    let rm = Mat::from_fn(B * T * 2, B * T * H, |i, j| {
        if i / 2 == j / H {
            w[(i % 2, j % H)]
        } else {
            0.0
        }
    });
    let out = materialize(&g.output_ntk(&r).unwrap(), 4096).unwrap();
    assert!(rel(&out, &(&rm * ntk * rm.transpose())) < 1e-13);
    let pp = materialize(&g.pp_star(), 4096).unwrap();
    let p = materialize(&g.p(), 4096).unwrap();
    assert!(rel(&pp, &(&p * p.transpose())) < 1e-14);
}

/// Every variant of the attention block at toy size (heads, positions, Fourier features, mask).
fn attention_variants() -> Vec<(&'static str, AttentionConfig)> {
    let base = AttentionConfig {
        d_input: 2,
        d_model: 4,
        n_heads: 2,
        mlp_hidden: 3,
        d_output: 1,
        max_seq_len: 8,
        ..Default::default()
    };
    vec![
        ("2 heads", base.clone()),
        (
            "1 head, learned positions",
            AttentionConfig {
                n_heads: 1,
                positional: Positional::Learned,
                ..base.clone()
            },
        ),
        (
            "sinusoid(3), causal",
            AttentionConfig {
                positional: Positional::Sinusoidal { components: 3 },
                causal: true,
                ..base.clone()
            },
        ),
        (
            "fourier(2)",
            AttentionConfig {
                d_input: 1,
                fourier_freqs: Some(2),
                ..base
            },
        ),
    ]
}

/// |⟨A x, y⟩ − ⟨x, A* y⟩| / (‖A x‖ ‖y‖) for one Gaussian pair.
fn adjoint_defect(a: &impl LinearOp, seed: u64) -> f64 {
    let x = randn(a.shape_in().numel(), seed);
    let y = randn(a.shape_out().numel(), seed + 100);
    let (ax, aty) = (a.apply(&x).unwrap(), a.apply_adjoint(&y).unwrap());
    let dot = |p: &[f64], q: &[f64]| p.iter().zip(q).map(|(u, v)| u * v).sum::<f64>();
    (dot(&ax, &y) - dot(&x, &aty)).abs() / (dot(&ax, &ax) * dot(&y, &y)).sqrt()
}

#[test]
fn attention_ntk_in_the_common_stack_matches_finite_differences() {
    // NTK_S = P K P* with K the Kronecker core over the pre-activation state, against J Jᵀ of a
    // 4-point finite-difference Jacobian of the whole forward pass x ↦ V; K core = J_u J_u* (the
    // weight-site map); P K P* = (P J_u)(P J_u)*; adjoint identities of every factor.
    let (b, t) = (2, 3);
    for (name, cfg) in attention_variants() {
        let mut blk = AttentionBlock::init(cfg.clone(), 21).unwrap();
        let x = randn(b * t * cfg.d_input, 22);
        let tape = blk.forward(&x, b, t).unwrap();
        let (ntk, core, auto, full) = {
            let g = GlobalNtk::attention(&blk, &tape);
            assert_eq!(g.state_shape().numel(), b * t * cfg.state_width());
            for (what, d) in [
                ("P", adjoint_defect(&g.p(), 1)),
                ("K", adjoint_defect(&g.k().unwrap(), 2)),
                ("J_u", adjoint_defect(&g.j_theta().unwrap(), 3)),
                ("NTK", adjoint_defect(&g.ntk().unwrap(), 4)),
            ] {
                assert!(d < 1e-14, "{name}: adjoint defect of {what} {d:e}");
            }
            assert!(g.p_inv().is_err());
            (
                materialize(&g.ntk().unwrap(), 4096).unwrap(),
                materialize(&g.k().unwrap(), 4096).unwrap(),
                materialize(&g.k_autodiff().unwrap(), 4096).unwrap(),
                materialize(&g.ntk_full().unwrap(), 4096).unwrap(),
            )
        };
        assert!(rel(&core, &auto) < 1e-13, "{name}: K core vs J_u J_u*");
        assert!(
            rel(&ntk, &full) < 1e-13,
            "{name}: P K P* vs (P J_u)(P J_u)*"
        );
        let th = blk.params().values().to_vec();
        let n = blk.state(&tape).len();
        let eps = 1e-3;
        let mut j = Mat::<f64>::zeros(n, th.len());
        for p in 0..th.len() {
            for (c, w) in [(2.0, -1.0), (1.0, 8.0), (-1.0, -8.0), (-2.0, 1.0)] {
                blk.params_mut().values_mut().copy_from_slice(&th);
                blk.params_mut().values_mut()[p] += c * eps;
                let v = blk.state(&blk.forward(&x, b, t).unwrap());
                for i in 0..n {
                    j[(i, p)] += w * v[i] / (12.0 * eps);
                }
            }
        }
        blk.params_mut().values_mut().copy_from_slice(&th);
        let e = rel(&ntk, &(&j * j.transpose()));
        assert!(e < 1e-9, "{name}: attention NTK vs FD rel err {e:e}");
    }
}

#[test]
fn attention_kronecker_core_is_a_direct_sum_of_site_grams_over_channel_blocks() {
    // K[(s, c), (s', c')] = [c, c' in one block j] Σ_{weights of j} G_w[s, s'], G_w = S_w S_wᵀ,
    // built densely from the site variables; dropping the W_1 site changes K.
    let (b, t) = (2, 3);
    for (name, cfg) in attention_variants() {
        let blk = AttentionBlock::init(cfg.clone(), 31).unwrap();
        let tape = blk.forward(&randn(b * t * cfg.d_input, 32), b, t).unwrap();
        let g = GlobalNtk::attention(&blk, &tape);
        let core = materialize(&g.k().unwrap(), 4096).unwrap();
        let (nt, w) = (b * t, cfg.state_width());
        let mut want = Mat::<f64>::zeros(nt * w, nt * w);
        for site in blk.weight_sites(&tape) {
            let gram = site.sites.as_ref() * site.sites.transpose();
            for c in site.channels.clone().unwrap() {
                for s in 0..nt {
                    for s2 in 0..nt {
                        want[(s * w + c, s2 * w + c)] += gram[(s, s2)];
                    }
                }
            }
        }
        assert!(rel(&core, &want) < 1e-14, "{name}");
        let sub = g.with_subset(&[gentk_models::attention::names::W_2]);
        let k2 = materialize(&sub.k().unwrap(), 4096).unwrap();
        assert!(
            rel(&k2, &want) > 0.1,
            "{name}: a subset is not the whole core"
        );
    }
}

/// The fused NTK_S (P*, K, P per probe chunk) is the composition P K P* of the separate operators,
/// on blocks whose chunking differs (1, 2 and 13 probes), and a probe's result does not depend on
/// the block it came in.
#[test]
fn fused_ntk_equals_the_composition_for_any_block() {
    for (name, m) in models() {
        let ro = m.run(&randn(B * T * NX, 3), None);
        let g = GlobalNtk::new(m.sm(), &ro);
        let fused = g.ntk().unwrap();
        let composed =
            Compose::new(g.p(), Compose::new(g.k().unwrap(), Adjoint(g.p())).unwrap()).unwrap();
        let n = ro.state_dim();
        for k in [1, 2, 13] {
            let x = Mat::from_fn(n, k, |i, j| randn(n * k, 40 + k as u64)[j * n + i]);
            let (mut a, mut b) = (Mat::zeros(n, k), Mat::zeros(n, k));
            fused.apply_block(x.as_ref(), a.as_mut());
            composed.apply_block(x.as_ref(), b.as_mut());
            assert!(rel(&a, &b) < 1e-13, "{name} k={k}: {:e}", rel(&a, &b));
            for j in 0..k {
                let mut one = Mat::zeros(n, 1);
                fused.apply_block(x.subcols(j, 1), one.as_mut());
                let d = (0..n)
                    .map(|i| (one[(i, 0)] - a[(i, j)]).abs())
                    .fold(0.0, f64::max);
                assert!(d <= 1e-13 * a.norm_max(), "{name} k={k} column {j}: {d:e}");
            }
        }
    }
}

/// The recursions' fused steps (`state_jvp_add`, `state_vjp_add`) equal `out + A v` and
/// `out + Aᵀ w` from the plain steps, on contiguous blocks and on strided views (the fallback).
#[test]
fn fused_steps_equal_the_plain_steps() {
    for (name, m) in models() {
        let ro = m.run(&randn(B * T * NX, 5), None);
        let sm = m.sm();
        let cols = 3 * B;
        let v = Mat::from_fn(H, cols, |i, j| randn(H * cols, 6)[j * H + i]);
        let o = Mat::from_fn(H, cols, |i, j| randn(H * cols, 7)[j * H + i]);
        let vt = v.transpose().to_owned(); // v = vtᵀ is a strided view
        let mut scratch = vec![0.0; sm.step_scratch_len(cols)];
        for t in 1..T {
            for adjoint in [false, true] {
                let mut want = Mat::zeros(H, cols);
                if adjoint {
                    sm.state_vjp(&ro, t, v.as_ref(), want.as_mut());
                } else {
                    sm.state_jvp(&ro, t, v.as_ref(), want.as_mut());
                }
                want += &o;
                for strided in [false, true] {
                    let src = if strided { vt.transpose() } else { v.as_ref() };
                    let mut got = o.clone();
                    if adjoint {
                        sm.state_vjp_add(&ro, t, src, got.as_mut(), &mut scratch);
                    } else {
                        sm.state_jvp_add(&ro, t, src, got.as_mut(), &mut scratch);
                    }
                    assert!(
                        rel(&want, &got) < 1e-14,
                        "{name} t={t} adjoint={adjoint} strided={strided}: {:e}",
                        rel(&want, &got)
                    );
                }
            }
        }
    }
}

/// The flop model of NTK_S for the leaky RNN is PAPER.md §5.12's count: K's core 4·N·(H+n_x)·H
/// (plus the bias column) and P, P* 2·H² per step and trial.
#[test]
fn flop_model_matches_the_cost_table() {
    let mut c = LeakyRnnConfig::new(NX, H);
    c.bias = true;
    let m = LeakyRnn::init(c, 1.0, 1).unwrap();
    let ro = m.rollout(&randn(B * T * NX, 8), B, T, None).unwrap();
    let g = GlobalNtk::new(&m, &ro);
    let n = (B * T) as u64;
    let (h, nx) = (H as u64, NX as u64);
    assert_eq!(g.k().unwrap().flops_per_probe(), 4 * n * (h + nx + 1) * h);
    assert_eq!(g.p().flops_per_probe(), 2 * ((T - 1) * B) as u64 * h * h);
    assert_eq!(
        g.ntk().unwrap().flops_per_probe(),
        4 * n * (h + nx + 1) * h + 4 * ((T - 1) * B) as u64 * h * h
    );
    let gru = Gru::init(GruConfig::new(NX, H), 1.0, 2).unwrap();
    let ro = gru.rollout(&randn(B * T * NX, 9), B, T, None).unwrap();
    assert_eq!(
        GlobalNtk::new(&gru, &ro).p().flops_per_probe(),
        6 * ((T - 1) * B) as u64 * h * h
    );
}

#[test]
fn single_precision_operators_agree_with_f64_to_single_precision_error() {
    // precision = "f32": P, P*, K and NTK_S from f32 factors and f32 GEMMs, f64 in and out. Each
    // dense matrix within a few hundred f32 ulps of the f64 one (and not equal to it: the f32
    // path must actually run), and NTK_S symmetric to the same level.
    let eps32 = f64::from(f32::EPSILON);
    for (name, m) in models() {
        let ro = m.run(&randn(B * T * NX, 61), Some(&randn(B * H, 62)));
        let g64 = GlobalNtk::new(m.sm(), &ro);
        let g32 = GlobalNtk::new(m.sm(), &ro)
            .with_precision(Precision::F32)
            .unwrap();
        assert_eq!(g32.precision(), Precision::F32);
        let pairs = [
            (
                "P",
                materialize(&g64.p(), 4096).unwrap(),
                materialize(&g32.p(), 4096).unwrap(),
            ),
            (
                "K",
                materialize(&g64.k().unwrap(), 4096).unwrap(),
                materialize(&g32.k().unwrap(), 4096).unwrap(),
            ),
            (
                "NTK_S",
                materialize(&g64.ntk().unwrap(), 4096).unwrap(),
                materialize(&g32.ntk().unwrap(), 4096).unwrap(),
            ),
            (
                "P P*",
                materialize(&g64.pp_star(), 4096).unwrap(),
                materialize(&g32.pp_star(), 4096).unwrap(),
            ),
        ];
        for (what, a, b) in &pairs {
            let e = rel(a, b);
            assert!(
                e < 300.0 * eps32 && e > 1e-12,
                "{name}: {what} f32 vs f64 rel {e:e}"
            );
        }
        let n32 = &pairs[2].2;
        let asym = rel(n32, &n32.transpose().to_owned());
        assert!(asym < 300.0 * eps32, "{name}: f32 NTK_S asymmetry {asym:e}");
        // The fused f32 block equals the f32 factors composed one by one.
        let (p, k) = (&pairs[0].2, &pairs[1].2);
        let composed = p * k * p.transpose();
        assert!(
            rel(&composed, n32) < 300.0 * eps32,
            "{name}: fused f32 NTK_S vs P K P*"
        );
    }
}

#[test]
fn single_precision_blocks_are_bit_identical_for_any_thread_count() {
    let (name, m) = models().swap_remove(6);
    assert_eq!(name, "gru");
    let ro = m.run(&randn(B * T * NX, 71), None);
    let g = GlobalNtk::new(m.sm(), &ro)
        .with_precision(Precision::F32)
        .unwrap();
    let n = ro.state_dim();
    let x = Mat::from_fn(n, 37, |i, j| ((i * 31 + j * 17) % 23) as f64 / 23.0 - 0.5);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let (ntk, p) = (g.ntk().unwrap(), g.p());
            let mut y = Mat::zeros(n, 37);
            ntk.apply_block(x.as_ref(), y.as_mut());
            let mut z = Mat::zeros(n, 37);
            p.apply_adjoint_block(x.as_ref(), z.as_mut());
            (y, z)
        })
    };
    let (a, b) = (run(1), run(2));
    let bits = |m: &Mat<f64>| -> Vec<u64> {
        (0..m.ncols())
            .flat_map(|j| (0..m.nrows()).map(move |i| (i, j)))
            .map(|(i, j)| m[(i, j)].to_bits())
            .collect()
    };
    assert_eq!(
        bits(&a.0),
        bits(&b.0),
        "f32 NTK_S block depends on the thread count"
    );
    assert_eq!(
        bits(&a.1),
        bits(&b.1),
        "f32 P* block depends on the thread count"
    );
}

#[test]
fn single_precision_is_refused_for_the_attention_block() {
    let (_, cfg) = attention_variants().swap_remove(0);
    let blk = AttentionBlock::init(cfg.clone(), 21).unwrap();
    let tape = blk.forward(&randn(2 * 3 * cfg.d_input, 22), 2, 3).unwrap();
    let e = GlobalNtk::attention(&blk, &tape)
        .with_precision(Precision::F32)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("attention"), "{e}");
}
