//! Training: the BPTT gradient against finite differences of the loss and against the adjoint
//! identity of P; optimiser semantics; subsets; early stopping; checkpoints; divergence; determinism.

mod common;

use common::*;
use faer::Mat;
use gentk_models::train::adjoint_recursion;
use gentk_models::*;
use gentk_tasks::{BatchSampler, MemoryProConfig, memory_pro};

fn batch(b: usize, t: usize, nx: usize, ny: usize, seed: u64) -> Batch {
    Batch {
        batch: b,
        time: t,
        inputs: randn(b * t * nx, seed),
        targets: randn(b * t * ny, seed + 1),
    }
}

#[test]
fn bptt_gradient_matches_finite_differences_of_the_loss() {
    let (b, t, nx, h, ny) = (2, 5, 2, 4, 3);
    for (name, mut m) in all_models(nx, h) {
        let mut r = Readout::init(h, ny, true, 1).unwrap();
        let bt = batch(b, t, nx, ny, 2);
        let lg = loss_and_grad(&*m, &r, &bt, Loss::Mse).unwrap();
        let eps = 1e-6;
        let th = m.params().values().to_vec();
        for p in [0, th.len() / 2, th.len() - 1] {
            let mut f = [0.0; 2];
            for (k, s) in [1.0, -1.0].into_iter().enumerate() {
                m.params_mut().values_mut()[p] = th[p] + s * eps;
                f[k] = loss_and_grad(&*m, &r, &bt, Loss::Mse).unwrap().loss;
            }
            m.params_mut().values_mut()[p] = th[p];
            let fd = (f[0] - f[1]) / (2.0 * eps);
            assert!(
                (fd - lg.grad_model[p]).abs() < 1e-7 * (1.0 + fd.abs()),
                "{name} θ[{p}]: fd {fd} vs {}",
                lg.grad_model[p]
            );
        }
        let rv = r.params().values().to_vec();
        for p in [0, rv.len() - 1] {
            let mut f = [0.0; 2];
            for (k, s) in [1.0, -1.0].into_iter().enumerate() {
                r.params_mut().values_mut()[p] = rv[p] + s * eps;
                f[k] = loss_and_grad(&*m, &r, &bt, Loss::Mse).unwrap().loss;
            }
            r.params_mut().values_mut()[p] = rv[p];
            let fd = (f[0] - f[1]) / (2.0 * eps);
            assert!(
                (fd - lg.grad_readout[p]).abs() < 1e-7 * (1.0 + fd.abs()),
                "{name} readout[{p}]"
            );
        }
    }
}

#[test]
fn bptt_adjoint_is_p_star_of_the_error() {
    // ⟨P* Err, v⟩ = ⟨Err, P v⟩ with P v from the forward recursion of step JVPs.
    let (b, t, nx, h, ny) = (3, 6, 2, 5, 2);
    for (name, m) in all_models(nx, h) {
        let r = Readout::init(h, ny, true, 3).unwrap();
        let lg = loss_and_grad(&*m, &r, &batch(b, t, nx, ny, 4), Loss::Mse).unwrap();
        let ro = &lg.rollout;
        let v = randn(ro.state_dim(), 5);
        let mut pv = v.clone();
        let mut prev = Mat::<f64>::zeros(h, b);
        for tt in 0..t {
            let mut a = Mat::zeros(h, b);
            m.state_jvp(ro, tt, prev.as_ref(), a.as_mut());
            for bb in 0..b {
                for i in 0..h {
                    let s = ro.site(bb, tt) * h + i;
                    pv[s] += a[(i, bb)];
                    prev[(i, bb)] = pv[s];
                }
            }
        }
        let (l, rr) = (dot(&lg.adjoint, &v), dot(&lg.err, &pv));
        assert!(
            (l - rr).abs() < 1e-12 * (l.abs() + rr.abs()),
            "{name}: {l} vs {rr}"
        );
        assert_eq!(adjoint_recursion(&*m, ro, &lg.err), lg.adjoint);
    }
}

fn toy() -> (LeakyRnn, Readout) {
    (
        LeakyRnn::init(LeakyRnnConfig::new(3, 8), 1.0, 1).unwrap(),
        Readout::init(8, 3, true, 1).unwrap(),
    )
}

#[test]
fn sgd_momentum_and_adam_follow_pytorch_semantics() {
    let bt = batch(2, 4, 3, 3, 6);
    // Plain SGD: θ₁ = θ₀ − lr·g₀.
    let (mut m, mut r) = toy();
    let g0 = loss_and_grad(&m, &r, &bt, Loss::Mse).unwrap();
    let th0 = m.params().values().to_vec();
    let cfg = TrainConfig {
        optimizer: Optimizer::sgd(0.1),
        iterations: 1,
        tol: None,
        ..Default::default()
    };
    train(&mut m, &mut r, &cfg, |_| Ok(bt.clone()), |_| Ok(())).unwrap();
    for i in 0..th0.len() {
        assert!((m.params().values()[i] - (th0[i] - 0.1 * g0.grad_model[i])).abs() < 1e-15);
    }
    // Adam's first step moves every coordinate by ≈ lr·sign(g).
    let (mut m, mut r) = toy();
    let cfg = TrainConfig {
        optimizer: Optimizer::adam(1e-3),
        iterations: 1,
        tol: None,
        ..Default::default()
    };
    train(&mut m, &mut r, &cfg, |_| Ok(bt.clone()), |_| Ok(())).unwrap();
    for i in 0..th0.len() {
        let g = g0.grad_model[i];
        let want = th0[i] - 1e-3 * g / (g.abs() + 1e-8);
        assert!((m.params().values()[i] - want).abs() < 1e-12);
    }
    // Momentum: second step uses buf = μ g₀ + g₁.
    let (mut m, mut r) = toy();
    let cfg = TrainConfig {
        optimizer: Optimizer::Sgd {
            lr: 0.1,
            momentum: 0.9,
        },
        iterations: 2,
        tol: None,
        ..Default::default()
    };
    let (mut m2, mut r2) = toy();
    train(
        &mut m2,
        &mut r2,
        &TrainConfig {
            iterations: 1,
            ..cfg.clone()
        },
        |_| Ok(bt.clone()),
        |_| Ok(()),
    )
    .unwrap();
    let g1 = loss_and_grad(&m2, &r2, &bt, Loss::Mse).unwrap();
    train(&mut m, &mut r, &cfg, |_| Ok(bt.clone()), |_| Ok(())).unwrap();
    for i in 0..th0.len() {
        let want =
            th0[i] - 0.1 * g0.grad_model[i] - 0.1 * (0.9 * g0.grad_model[i] + g1.grad_model[i]);
        assert!((m.params().values()[i] - want).abs() < 1e-13);
    }
}

#[test]
fn only_the_trainable_subset_moves_and_clipping_bounds_the_step() {
    let bt = batch(2, 4, 3, 3, 7);
    let (mut m, mut r) = toy();
    let (m0, r0) = (m.params().clone(), r.params().clone());
    let cfg = TrainConfig {
        optimizer: Optimizer::sgd(0.5),
        iterations: 3,
        tol: None,
        trainable: Some(vec!["rnn.weight_hh_l0".into()]),
        grad_clip: Some(1e-3),
        ..Default::default()
    };
    train(&mut m, &mut r, &cfg, |_| Ok(bt.clone()), |_| Ok(())).unwrap();
    assert_eq!(r.params(), &r0);
    assert_eq!(
        m.params().tensor("rnn.weight_ih_l0").unwrap(),
        m0.tensor("rnn.weight_ih_l0").unwrap()
    );
    let moved: f64 = m
        .params()
        .tensor("rnn.weight_hh_l0")
        .unwrap()
        .iter()
        .zip(m0.tensor("rnn.weight_hh_l0").unwrap())
        .map(|(a, b)| (a - b).powi(2))
        .sum::<f64>()
        .sqrt();
    assert!(
        moved > 0.0 && moved <= 3.0 * 0.5 * 1e-3 * (1.0 + 1e-9),
        "clipped steps: moved {moved}"
    );
    let bad = TrainConfig {
        trainable: Some(vec!["rnn.weight_xx".into()]),
        ..cfg
    };
    assert!(
        train(&mut m, &mut r, &bad, |_| Ok(bt.clone()), |_| Ok(()))
            .unwrap_err()
            .to_string()
            .contains("rnn.weight_xx")
    );
}

fn memory_pro_source(seed: u64) -> impl FnMut(usize) -> Result<Batch, CallbackError> {
    let data = memory_pro(
        &MemoryProConfig {
            n_samples: 200,
            ..Default::default()
        },
        true,
        seed,
    )
    .unwrap();
    let mut sampler = BatchSampler::new(16, true, seed).unwrap();
    move |_| {
        let d = sampler.next(&data)?;
        Ok(Batch {
            batch: d.n,
            time: d.time,
            inputs: d.inputs,
            targets: d.targets,
        })
    }
}

#[test]
fn training_memory_pro_reduces_the_loss_with_checkpoints_and_is_deterministic() {
    let run = || {
        let mut c = LeakyRnnConfig::new(3, 32);
        c.dt = 0.7;
        let mut m = LeakyRnn::init(c, 1.0, 2).unwrap();
        let mut r = Readout::init(32, 3, true, 2).unwrap();
        let init = m.params().clone();
        let cfg = TrainConfig {
            optimizer: Optimizer::adam(1e-2),
            iterations: 300,
            tol: None,
            checkpoint_every: 100,
            ..Default::default()
        };
        let mut cps = Vec::new();
        let rep = train(&mut m, &mut r, &cfg, memory_pro_source(3), |c| {
            cps.push(c.clone());
            Ok(())
        })
        .unwrap();
        (rep, cps, init)
    };
    let (rep, cps, init) = run();
    assert_eq!(
        cps.iter().map(|c| c.iteration).collect::<Vec<_>>(),
        vec![0, 100, 200, 300]
    );
    assert_eq!(
        cps[0].model, init,
        "checkpoint 0 is the untouched initialisation"
    );
    assert!(
        rep.final_loss < 0.5 * rep.losses[0].1,
        "loss {} -> {}",
        rep.losses[0].1,
        rep.final_loss
    );
    assert_eq!(rep.losses.len(), 15);
    let (rep2, cps2, _) = run();
    assert_eq!(rep, rep2);
    assert_eq!(cps, cps2, "bit-identical checkpoints on rerun");
}

#[test]
fn early_stopping_and_divergence() {
    // A tolerance above the loss stops at the third recorded loss (iteration 40).
    let (mut m, mut r) = toy();
    let cfg = TrainConfig {
        optimizer: Optimizer::sgd(1e-3),
        iterations: 1000,
        tol: Some(1e9),
        checkpoint_every: 0,
        ..Default::default()
    };
    let mut its = Vec::new();
    let rep = train(&mut m, &mut r, &cfg, memory_pro_source(4), |c| {
        its.push(c.iteration);
        Ok(())
    })
    .unwrap();
    assert!(rep.stopped_early);
    assert_eq!(its, vec![0, 40]);
    assert_eq!(rep.steps, 40);
    // An absurd learning rate diverges; the error names the iteration and no checkpoint follows it.
    let (mut m, mut r) = toy();
    let cfg = TrainConfig {
        optimizer: Optimizer::sgd(1e6),
        iterations: 100,
        tol: None,
        checkpoint_every: 1,
        ..Default::default()
    };
    let mut last = 0;
    let e = train(&mut m, &mut r, &cfg, memory_pro_source(5), |c| {
        last = c.iteration;
        Ok(())
    })
    .unwrap_err();
    let TrainError::Diverged { iteration, .. } = e else {
        panic!("{e}")
    };
    assert!(last <= iteration, "no checkpoint after divergence");
    assert!(e.to_string().contains(&format!("iteration {iteration}")));
    // A failing checkpoint writer stops the run with its reason.
    let (mut m, mut r) = toy();
    let cfg = TrainConfig {
        iterations: 5,
        tol: None,
        ..Default::default()
    };
    let e = train(&mut m, &mut r, &cfg, memory_pro_source(6), |_| {
        Err("disk full".into())
    })
    .unwrap_err();
    assert!(
        matches!(e, TrainError::Checkpoint { iteration: 0, .. }),
        "{e}"
    );
    let source = std::error::Error::source(&e).expect("the callback's error is the source");
    assert_eq!(source.to_string(), "disk full");
}

#[test]
fn chunked_batch_gradient_equals_the_whole_batch_gradient() {
    let (b, t, nx, h, ny) = (70, 6, 3, 8, 3);
    let m = Gru::init(GruConfig::new(nx, h), 2.0, 9).unwrap();
    let r = Readout::init(h, ny, true, 9).unwrap();
    let bt = batch(b, t, nx, ny, 10);
    let whole = loss_and_grad(&m, &r, &bt, Loss::Mse).unwrap();
    let (loss, gm, gr) = batch_loss_grad(&m, &r, &bt, Loss::Mse).unwrap();
    assert!((loss - whole.loss).abs() < 1e-13 * whole.loss);
    let rel = |a: &[f64], b: &[f64]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).powi(2))
            .sum::<f64>()
            .sqrt()
            / b.iter().map(|y| y * y).sum::<f64>().sqrt()
    };
    assert!(rel(&gm, &whole.grad_model) < 1e-12 && rel(&gr, &whole.grad_readout) < 1e-12);
    // Thread-count independence of the chunked path.
    let pool = |n| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .unwrap()
    };
    let one = pool(1).install(|| batch_loss_grad(&m, &r, &bt, Loss::Mse).unwrap());
    let two = pool(2).install(|| batch_loss_grad(&m, &r, &bt, Loss::Mse).unwrap());
    assert_eq!(one, two);
}

#[test]
fn checkpoints_serialise_with_metadata_and_reload_exactly() {
    use gentk_models::weights::{checkpoint_bytes, read_metadata};
    let (mut m, mut r) = toy();
    let cfg = TrainConfig {
        iterations: 3,
        tol: None,
        checkpoint_every: 1,
        ..Default::default()
    };
    let mut cps = Vec::new();
    train(&mut m, &mut r, &cfg, memory_pro_source(8), |c| {
        cps.push(c.clone());
        Ok(())
    })
    .unwrap();
    let cp = &cps[2];
    let bytes = checkpoint_bytes(cp, "leaky-rnn").unwrap();
    let meta = read_metadata(&bytes).unwrap();
    assert_eq!(meta["iteration"], "2");
    assert_eq!(
        f64::from_bits(u64::from_str_radix(&meta["loss_bits"], 16).unwrap()),
        cp.loss
    );
    let loaded = load_model(
        &read_state_dict(&bytes).unwrap(),
        Arch::LeakyRnn { dt: 1.0 },
    )
    .unwrap();
    assert_eq!(loaded.model.params(), &cp.model);
    assert_eq!(loaded.readout.unwrap().params(), &cp.readout);
}

/// Every parameter's gradient against a central difference of the loss (model, then readout).
fn check_gradient<M: Trainable + ?Sized>(
    m: &mut M,
    r: &mut Readout,
    bt: &Batch,
    kind: Loss,
    what: &str,
) {
    let lg = loss_and_grad(m, r, bt, kind).unwrap();
    let eps = 1e-6;
    let fd = |f: [f64; 2]| (f[0] - f[1]) / (2.0 * eps);
    let th = m.params().values().to_vec();
    for p in 0..th.len() {
        let mut f = [0.0; 2];
        for (k, s) in [1.0, -1.0].into_iter().enumerate() {
            m.params_mut().values_mut()[p] = th[p] + s * eps;
            f[k] = loss_and_grad(m, r, bt, kind).unwrap().loss;
        }
        m.params_mut().values_mut()[p] = th[p];
        let d = fd(f);
        assert!(
            (d - lg.grad_model[p]).abs() < 1e-7 * (1.0 + d.abs()),
            "{what} θ[{p}]: fd {d} vs {}",
            lg.grad_model[p]
        );
    }
    let rv = r.params().values().to_vec();
    for p in 0..rv.len() {
        let mut f = [0.0; 2];
        for (k, s) in [1.0, -1.0].into_iter().enumerate() {
            r.params_mut().values_mut()[p] = rv[p] + s * eps;
            f[k] = loss_and_grad(m, r, bt, kind).unwrap().loss;
        }
        r.params_mut().values_mut()[p] = rv[p];
        let d = fd(f);
        assert!(
            (d - lg.grad_readout[p]).abs() < 1e-7 * (1.0 + d.abs()),
            "{what} readout[{p}]: fd {d} vs {}",
            lg.grad_readout[p]
        );
    }
}

/// One-hot targets `[b, 1, ny]` of labels b mod ny.
fn one_hot(b: usize, ny: usize) -> Vec<f64> {
    (0..b * ny)
        .map(|i| f64::from(u8::from(i % ny == (i / ny) % ny)))
        .collect()
}

#[test]
fn an_mlp_classifier_gradient_matches_finite_differences_for_both_losses() {
    // F13-extras' classifier: a ReLU MLP read out at its last layer only, softmax cross-entropy.
    let (b, nx, h, depth, ny) = (5, 4, 3, 2, 3);
    let mut m = Mlp::init(MlpConfig::deep_relu(nx, h, depth), 1.0, 3).unwrap();
    let mut r = Readout::init(h, ny, true, 4).unwrap();
    let bt = Batch {
        batch: b,
        time: 1,
        inputs: randn(b * nx, 5),
        targets: one_hot(b, ny),
    };
    for kind in [Loss::CrossEntropy, Loss::Mse] {
        check_gradient(&mut m, &mut r, &bt, kind, &format!("mlp {kind:?}"));
    }
    // Cross-entropy of the outputs by its definition, −mean_b log softmax(ŷ_b)[label_b].
    let ro = m.forward(&bt.inputs, b).unwrap();
    let last: Vec<f64> = (0..b)
        .flat_map(|s| ro.states[(s * depth + depth - 1) * h..(s * depth + depth) * h].to_vec())
        .collect();
    let y = r.apply(&last);
    let ce: f64 = (0..b)
        .map(|s| {
            let row = &y[s * ny..(s + 1) * ny];
            let lse = row.iter().map(|v| v.exp()).sum::<f64>().ln();
            lse - row[s % ny]
        })
        .sum::<f64>()
        / b as f64;
    let got = loss_and_grad(&m, &r, &bt, Loss::CrossEntropy).unwrap().loss;
    assert!((got - ce).abs() < 1e-14, "{got} vs {ce}");
    // A batch with more than one step is refused with a named field, not a panic.
    let bad = Batch {
        time: 2,
        inputs: randn(b * 2 * nx, 6),
        ..bt.clone()
    };
    assert!(loss_and_grad(&m, &r, &bad, Loss::Mse).is_err());
}

#[test]
fn cross_entropy_on_a_recurrent_cell_matches_finite_differences() {
    let (b, t, nx, h, ny) = (2, 3, 2, 3, 2);
    for (name, mut m) in all_models(nx, h).into_iter().take(2) {
        let mut r = Readout::init(h, ny, true, 1).unwrap();
        let bt = Batch {
            targets: one_hot(b * t, ny),
            ..batch(b, t, nx, ny, 2)
        };
        check_gradient(&mut *m, &mut r, &bt, Loss::CrossEntropy, name);
    }
}

#[test]
fn adam_fits_an_mlp_classifier_on_separable_clusters() {
    // Two well-separated Gaussian clusters: cross-entropy falls to a small fraction of log 2.
    let (n, nx, h) = (64, 6, 8);
    let mut m = Mlp::init(MlpConfig::deep_relu(nx, h, 2), 1.0, 7).unwrap();
    let mut r = Readout::init(h, 2, true, 8).unwrap();
    let noise = randn(n * nx, 9);
    let inputs: Vec<f64> = (0..n * nx)
        .map(|i| noise[i] * 0.3 + if (i / nx) % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    let bt = Batch {
        batch: n,
        time: 1,
        inputs,
        targets: one_hot(n, 2),
    };
    let cfg = TrainConfig {
        optimizer: Optimizer::adam(1e-2),
        loss: Loss::CrossEntropy,
        iterations: 200,
        tol: None,
        ..TrainConfig::default()
    };
    let rep = train(&mut m, &mut r, &cfg, |_| Ok(bt.clone()), |_| Ok(())).unwrap();
    let first = rep.losses[0].1;
    assert!(
        (first - 2f64.ln()).abs() < 0.5,
        "initial loss {first} near log 2"
    );
    assert!(
        rep.final_loss < 0.05 * first,
        "{} vs {first}",
        rep.final_loss
    );
}
