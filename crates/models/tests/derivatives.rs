//! Every derivative proven three ways: central finite differences (f64), adjoint identities, and a
//! dense Jacobian of the whole unrolled model against the step-by-step recursion. Plus weight-site
//! reconstruction of the parameter JVP. Covers every recurrent cell and the MLPs (depth = time).

mod common;

use common::*;
use faer::Mat;
use gentk_models::*;

const B: usize = 3;
const T: usize = 4;
const NX: usize = 2;
const H: usize = 5;

fn inputs(seed: u64) -> Vec<f64> {
    randn(B * T * NX, seed)
}

fn prev_at(ro: &Rollout, t: usize) -> Vec<f64> {
    (0..B)
        .flat_map(|b| ro.site_row(&ro.prev, H, b, t).to_vec())
        .collect()
}

fn rel(a: &[f64], b: &[f64]) -> f64 {
    let d = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).powi(2))
        .sum::<f64>()
        .sqrt();
    let s = a
        .iter()
        .map(|x| x * x)
        .sum::<f64>()
        .sqrt()
        .max(b.iter().map(|x| x * x).sum::<f64>().sqrt());
    d / s.max(1e-300)
}

#[test]
fn state_jvp_matches_central_finite_differences() {
    for (name, m) in every_model(NX, H, T) {
        let ro = m.run(&inputs(1), B, T, Some(&randn(B * H, 2)));
        let sm = m.sm();
        for t in [0, 1, T - 1] {
            // One probe per trial: column b belongs to trial b.
            let v = randn(B * H, 3 + t as u64);
            let vm = Mat::from_fn(H, B, |i, b| v[b * H + i]);
            let mut jv = Mat::zeros(H, B);
            sm.state_jvp(&ro, t, vm.as_ref(), jv.as_mut());
            let eps = 1e-6;
            let p = prev_at(&ro, t);
            let plus: Vec<f64> = p.iter().zip(&v).map(|(a, b)| a + eps * b).collect();
            let minus: Vec<f64> = p.iter().zip(&v).map(|(a, b)| a - eps * b).collect();
            let (fp, fm) = (
                sm.step(&ro, t, &plus).unwrap(),
                sm.step(&ro, t, &minus).unwrap(),
            );
            let fd: Vec<f64> = fp
                .iter()
                .zip(&fm)
                .map(|(a, b)| (a - b) / (2.0 * eps))
                .collect();
            let an: Vec<f64> = (0..B)
                .flat_map(|b| (0..H).map(move |i| (b, i)))
                .map(|(b, i)| jv[(i, b)])
                .collect();
            let e = rel(&an, &fd);
            let zero = fd.iter().all(|x| x.abs() < 1e-9) && an.iter().all(|x| *x == 0.0);
            assert!(
                e < 1e-8 || zero,
                "{name} step {t}: state JVP vs FD rel err {e:e}"
            );
        }
    }
}

#[test]
fn param_jvp_matches_central_finite_differences_at_every_site() {
    for (name, mut m) in every_model(NX, H, T) {
        let ro = m.run(&inputs(4), B, T, None);
        let nth = m.sm().params().layout().len();
        let dth = randn(nth, 5);
        let mut jv = vec![0.0; ro.state_dim()];
        m.sm().param_jvp(&ro, &dth, &mut jv);
        let eps = 1e-6;
        let theta = m.sm().params().values().to_vec();
        let mut fd = vec![0.0; ro.state_dim()];
        for sign in [1.0, -1.0] {
            m.sm_mut()
                .params_mut()
                .values_mut()
                .iter_mut()
                .zip(theta.iter().zip(&dth))
                .for_each(|(p, (t, d))| *p = t + sign * eps * d);
            // States frozen: each step from the recorded z_{t−1}.
            for t in 0..T {
                let f = m.sm().step(&ro, t, &prev_at(&ro, t)).unwrap();
                for b in 0..B {
                    for i in 0..H {
                        fd[ro.site(b, t) * H + i] += sign * f[b * H + i] / (2.0 * eps);
                    }
                }
            }
        }
        m.sm_mut().params_mut().values_mut().copy_from_slice(&theta);
        let e = rel(&jv, &fd);
        assert!(e < 1e-8, "{name}: param JVP vs FD rel err {e:e}");
    }
}

#[test]
fn adjoint_identities_hold_for_state_and_parameter_derivatives() {
    for (name, m) in every_model(NX, H, T) {
        let ro = m.run(&inputs(6), B, T, None);
        let sm = m.sm();
        let k = 2 * B; // two probes per trial
        for t in 0..T {
            let v = Mat::from_fn(H, k, |i, j| randn(H * k, 7 + t as u64)[j * H + i]);
            let w = Mat::from_fn(H, k, |i, j| randn(H * k, 70 + t as u64)[j * H + i]);
            let (mut av, mut atw) = (Mat::zeros(H, k), Mat::zeros(H, k));
            sm.state_jvp(&ro, t, v.as_ref(), av.as_mut());
            sm.state_vjp(&ro, t, w.as_ref(), atw.as_mut());
            let l: f64 = (0..k)
                .map(|j| (0..H).map(|i| av[(i, j)] * w[(i, j)]).sum::<f64>())
                .sum();
            let r: f64 = (0..k)
                .map(|j| (0..H).map(|i| v[(i, j)] * atw[(i, j)]).sum::<f64>())
                .sum();
            assert!(
                (l - r).abs() <= 1e-13 * (l.abs() + r.abs()),
                "{name} step {t}: ⟨Av,w⟩={l} ⟨v,Aᵀw⟩={r}"
            );
        }
        let nth = sm.params().layout().len();
        let (dth, w) = (randn(nth, 8), randn(ro.state_dim(), 9));
        let mut jv = vec![0.0; ro.state_dim()];
        let mut jtw = vec![1e9; nth]; // vjp must overwrite
        sm.param_jvp(&ro, &dth, &mut jv);
        sm.param_vjp(&ro, &w, &mut jtw);
        let (l, r) = (dot(&jv, &w), dot(&dth, &jtw));
        assert!(
            (l - r).abs() <= 1e-13 * (l.abs() + r.abs()),
            "{name}: ⟨Jθ δθ, w⟩={l} ⟨δθ, Jθᵀ w⟩={r}"
        );
    }
}

#[test]
fn unrolled_dense_jacobian_equals_the_step_recursion() {
    // dz/dθ of the whole forward pass by central differences (n x n_θ), against the forward
    // recursion r_t = J_θ(t) δθ + A_t r_{t−1} built from the model's own step derivatives.
    for (name, mut m) in every_model(NX, H, T) {
        let x = inputs(10);
        let ro = m.run(&x, B, T, None);
        let (n, nth) = (ro.state_dim(), m.sm().params().layout().len());
        let theta = m.sm().params().values().to_vec();
        let eps = 1e-6;
        let mut dense = Mat::<f64>::zeros(n, nth);
        for p in 0..nth {
            for sign in [1.0, -1.0] {
                m.sm_mut().params_mut().values_mut().copy_from_slice(&theta);
                m.sm_mut().params_mut().values_mut()[p] += sign * eps;
                let z = m.run(&x, B, T, None).states;
                for i in 0..n {
                    dense[(i, p)] += sign * z[i] / (2.0 * eps);
                }
            }
        }
        m.sm_mut().params_mut().values_mut().copy_from_slice(&theta);
        let sm = m.sm();
        for p in 0..nth {
            let mut e = vec![0.0; nth];
            e[p] = 1.0;
            let mut jth = vec![0.0; n];
            sm.param_jvp(&ro, &e, &mut jth);
            let mut r = vec![0.0; n];
            let mut prev = Mat::<f64>::zeros(H, B);
            for t in 0..T {
                let mut a = Mat::zeros(H, B);
                sm.state_jvp(&ro, t, prev.as_ref(), a.as_mut());
                for b in 0..B {
                    for i in 0..H {
                        let s = ro.site(b, t) * H + i;
                        r[s] = jth[s] + a[(i, b)];
                        prev[(i, b)] = r[s];
                    }
                }
            }
            let col: Vec<f64> = (0..n).map(|i| dense[(i, p)]).collect();
            let e = rel(&r, &col);
            assert!(
                e < 1e-7 || col.iter().all(|c| c.abs() < 1e-9) && r.iter().all(|c| c.abs() < 1e-12),
                "{name}: column {p} of dz/dθ rel err {e:e}"
            );
        }
    }
}

#[test]
fn weight_sites_reconstruct_the_parameter_jvp() {
    for (name, m) in every_model(NX, H, T) {
        let ro = m.run(&inputs(11), B, T, None);
        let sm = m.sm();
        let lay = sm.params().layout().clone();
        let dth = randn(lay.len(), 12);
        let mut want = vec![0.0; ro.state_dim()];
        sm.param_jvp(&ro, &dth, &mut want);
        let mut got = vec![0.0; ro.state_dim()];
        let sites = sm.weight_sites(&ro);
        for ws in &sites {
            let e = lay.get(&ws.param).unwrap();
            let cols = if e.shape.len() == 2 { e.shape[1] } else { 1 };
            assert_eq!(ws.sites.ncols(), cols, "{name} {}", ws.param);
            assert_eq!(ws.sites.nrows(), B * ws.steps.len(), "{name} {}", ws.param);
            for (b, t) in (0..B).flat_map(|b| (0..T).map(move |t| (b, t))) {
                let Some(r) = ws.row(b, t) else { continue };
                let s = ro.site(b, t);
                for (k, row) in ws.rows.clone().enumerate() {
                    // (δW v(s))_k for the rows of this weight.
                    let u: f64 = (0..cols)
                        .map(|c| dth[e.offset + row * cols + c] * ws.sites[(r, c)])
                        .sum();
                    let d = match &ws.factor {
                        SiteFactor::Scalar(c) => *c,
                        SiteFactor::Diagonal(d) => d[(r, k)],
                    };
                    got[s * H + k] += d * u;
                }
            }
        }
        let e = rel(&got, &want);
        assert!(
            e < 1e-13,
            "{name}: Σ_w D_w(δW_w v_w) vs param JVP rel err {e:e}"
        );
        // Every parameter is covered by the weight sites (no tensor forgotten).
        for n in lay.names() {
            assert!(
                sites.iter().any(|c| c.param == n),
                "{name}: {n} has no weight site"
            );
        }
    }
}

#[test]
fn block_parameter_derivatives_equal_column_by_column() {
    for (name, m) in every_model(NX, H, T) {
        let ro = m.run(&inputs(13), B, T, None);
        let sm = m.sm();
        let (n, nth, k) = (ro.state_dim(), sm.params().layout().len(), 40);
        let d = Mat::from_fn(nth, k, |i, j| randn(nth * k, 14)[j * nth + i]);
        let mut out = Mat::zeros(n, k);
        sm.param_jvp_block(&ro, d.as_ref(), out.as_mut());
        let mut back = Mat::zeros(nth, k);
        sm.param_vjp_block(&ro, out.as_ref(), back.as_mut());
        for j in [0, 17, 39] {
            let col: Vec<f64> = (0..nth).map(|i| d[(i, j)]).collect();
            let mut y = vec![0.0; n];
            sm.param_jvp(&ro, &col, &mut y);
            assert!(
                y.iter().enumerate().all(|(i, v)| *v == out[(i, j)]),
                "{name}: block jvp column {j}"
            );
            let mut g = vec![0.0; nth];
            sm.param_vjp(&ro, &y, &mut g);
            assert!(
                g.iter().enumerate().all(|(i, v)| *v == back[(i, j)]),
                "{name}: block vjp column {j}"
            );
        }
    }
}

#[test]
fn linear_rnn_step_jacobian_is_w() {
    let mut c = LeakyRnnConfig::new(NX, H);
    c.linear = true;
    let m = LeakyRnn::init(c, 1.0, 1).unwrap();
    let ro = m.rollout(&inputs(15), B, T, None).unwrap();
    let id = Mat::<f64>::identity(H, H);
    let mut a = Mat::zeros(H, H);
    m.state_jvp(&ro, 2, id.as_ref(), a.as_mut());
    let w = m.params().matrix(gentk_models::cells::leaky::W_HH).unwrap();
    assert!((0..H).all(|i| (0..H).all(|j| (a[(i, j)] - w[(i, j)]).abs() < 1e-15)));
}

#[test]
fn gru_step_jacobian_matches_the_paper_formula() {
    // A = diag(ζ) + diag(d_ζ) W_hz + diag(d_r) W_hr + diag(d_n̂) W_hn (PAPER.md §3.6), with every
    // factor recomputed here from (x, h_prev, θ), independently of the tape.
    let m = Gru::init(GruConfig::new(NX, H), 3.0, 21).unwrap();
    let x = inputs(16);
    let ro = m.rollout(&x, B, T, Some(&randn(B * H, 17))).unwrap();
    let (t, b) = (2, 1);
    let p = m.params();
    let (wi, wh) = (
        p.matrix("rnn.weight_ih_l0").unwrap(),
        p.matrix("rnn.weight_hh_l0").unwrap(),
    );
    let (bi, bh) = (
        p.tensor("rnn.bias_ih_l0").unwrap(),
        p.tensor("rnn.bias_hh_l0").unwrap(),
    );
    let xs = ro.site_row(&ro.inputs, NX, b, t);
    let hp = ro.site_row(&ro.prev, H, b, t);
    let lin = |w: faer::MatRef<f64>, v: &[f64], row: usize| {
        (0..v.len()).map(|c| w[(row, c)] * v[c]).sum::<f64>()
    };
    let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
    let mut want = Mat::<f64>::zeros(H, H);
    for i in 0..H {
        let r = sig(lin(wi, xs, i) + bi[i] + lin(wh, hp, i) + bh[i]);
        let z = sig(lin(wi, xs, H + i) + bi[H + i] + lin(wh, hp, H + i) + bh[H + i]);
        let c = lin(wh, hp, 2 * H + i) + bh[2 * H + i];
        let n = (lin(wi, xs, 2 * H + i) + bi[2 * H + i] + r * c).tanh();
        let dn = (1.0 - z) * (1.0 - n * n);
        let (dr, dz, dnh) = (dn * c * r * (1.0 - r), (hp[i] - n) * z * (1.0 - z), dn * r);
        for j in 0..H {
            want[(i, j)] = if i == j { z } else { 0.0 }
                + dz * wh[(H + i, j)]
                + dr * wh[(i, j)]
                + dnh * wh[(2 * H + i, j)];
        }
    }
    // Probe block: column (p, b') = e_p for b' = b, 0 otherwise.
    let v = Mat::from_fn(H, H * B, |i, col| {
        if col % B == b && i == col / B {
            1.0
        } else {
            0.0
        }
    });
    let mut a = Mat::zeros(H, H * B);
    m.state_jvp(&ro, t, v.as_ref(), a.as_mut());
    for pcol in 0..H {
        for i in 0..H {
            assert!(
                (a[(i, pcol * B + b)] - want[(i, pcol)]).abs() < 1e-13,
                "A[{i},{pcol}]"
            );
        }
    }
}

#[test]
fn mlp_sizes_match_the_trace_paper() {
    // Deep ReLU MLP: Linear(100, 64) + 14 × Linear(64, 64): n_θ = 6,464 + 14·4,160 = 64,704.
    let m = Mlp::init(MlpConfig::deep_relu(100, 64, 15), 1.0, 0).unwrap();
    assert_eq!(m.params().layout().len(), 64_704);
    let ro = m.forward(&randn(50 * 100, 1), 50).unwrap();
    assert_eq!(ro.states.len(), 50 * 15 * 64);
    // The final state slice is the final ReLU activation: non-negative.
    assert!((0..50).all(|b| ro.site_row(&ro.states, 64, b, 14).iter().all(|v| *v >= 0.0)));
}
