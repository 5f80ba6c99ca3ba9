//! Initialisation statistics against PyTorch's definitions, planted fixed points, and safetensors
//! round trips and refusals.

mod common;

use common::*;
use faer::Mat;
use gentk_models::weights::{params_tensors, write_tensors};
use gentk_models::*;

fn mean_var(v: &[f64]) -> (f64, f64) {
    let m = v.iter().sum::<f64>() / v.len() as f64;
    (
        m,
        v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64,
    )
}

#[test]
fn rnn_and_gru_tensors_are_uniform_with_pytorch_bounds() {
    let h = 256;
    let m = TanhRnn::init(TanhRnnConfig::new(3, h), 1.0, 1).unwrap();
    let bound = 1.0 / (h as f64).sqrt();
    for e in m.params().layout().entries() {
        let v = m.params().tensor(&e.name).unwrap();
        assert!(
            v.iter().all(|x| x.abs() <= bound),
            "{} out of bounds",
            e.name
        );
    }
    let (mean, var) = mean_var(m.params().tensor("rnn.weight_hh_l0").unwrap());
    assert!(mean.abs() < 3.0 * (var / (h * h) as f64).sqrt());
    assert!(
        (var * 3.0 * h as f64 - 1.0).abs() < 0.02,
        "variance {var} vs 1/(3H)"
    );
    let g = Gru::init(GruConfig::new(3, h), 1.0, 2).unwrap();
    let (_, var) = mean_var(g.params().tensor("rnn.weight_hh_l0").unwrap());
    assert!((var * 3.0 * h as f64 - 1.0).abs() < 0.02);
    assert_eq!(g.params().layout().len(), 3 * (h * 3 + h * h + 2 * h));
}

#[test]
fn gain_scales_only_w_hh_and_the_spectral_radius_is_about_0577_g() {
    let h = 256;
    for g in [0.5, 2.0] {
        let a = TanhRnn::init(TanhRnnConfig::new(3, h), 1.0, 3).unwrap();
        let b = TanhRnn::init(TanhRnnConfig::new(3, h), g, 3).unwrap();
        let (wa, wb) = (
            a.params().tensor("rnn.weight_hh_l0").unwrap(),
            b.params().tensor("rnn.weight_hh_l0").unwrap(),
        );
        assert!(wa.iter().zip(wb).all(|(x, y)| (g * x - y).abs() < 1e-15));
        assert_eq!(
            a.params().tensor("rnn.weight_ih_l0").unwrap(),
            b.params().tensor("rnn.weight_ih_l0").unwrap()
        );
        let w = b.params().matrix("rnn.weight_hh_l0").unwrap().to_owned();
        let rho = w
            .eigenvalues()
            .unwrap()
            .iter()
            .map(|z| z.norm())
            .fold(0.0, f64::max);
        let want = g / 3f64.sqrt();
        assert!(
            (rho - want).abs() < 0.05 * want,
            "g={g}: ρ = {rho} vs {want}"
        );
    }
}

#[test]
fn leaky_rnn_uses_linear_defaults_and_readout_too() {
    let (nx, h) = (4, 64);
    let m = LeakyRnn::init(LeakyRnnConfig::new(nx, h), 1.0, 4).unwrap();
    let win = m.params().tensor("rnn.weight_ih_l0").unwrap();
    assert!(
        win.iter().all(|x| x.abs() <= 0.5) && win.iter().any(|x| x.abs() > 0.4),
        "U(±1/√n_x) for n_x = 4"
    );
    let (_, var) = mean_var(m.params().tensor("rnn.weight_hh_l0").unwrap());
    assert!((var * 3.0 * h as f64 - 1.0).abs() < 0.05);
    let r = Readout::init(h, 3, true, 4).unwrap();
    assert!(r.params().values().iter().all(|x| x.abs() <= 1.0 / 8.0));
}

#[test]
fn xavier_normal_and_orthogonal_match_their_definitions() {
    let mut rng = init::rng(5, init::purpose::INIT);
    let x = init::xavier_normal(&mut rng, 64, 16, 1.0);
    let (_, var) = mean_var(&x);
    assert!(
        (var / (2.0 / 80.0) - 1.0).abs() < 0.1,
        "xavier variance {var}"
    );
    for (r, c) in [(64, 64), (64, 16), (16, 64)] {
        let q = init::orthogonal(&mut rng, r, c, 1.0);
        let m = Mat::from_fn(r, c, |i, j| q[i * c + j]);
        let g = if r >= c {
            m.transpose() * &m
        } else {
            &m * m.transpose()
        };
        let n = r.min(c);
        assert!(
            (g - Mat::<f64>::identity(n, n)).norm_max() < 1e-12,
            "orthogonal {r}x{c}"
        );
    }
}

#[test]
fn planted_fixed_points_are_fixed_points() {
    let mut c = LeakyRnnConfig::new(3, 256);
    c.dt = 0.7;
    let mut m = LeakyRnn::init(c, 1.0, 6).unwrap();
    let dirs = m.plant_fixed_points(5, 7).unwrap();
    let w = m.params().matrix("rnn.weight_hh_l0").unwrap().to_owned();
    let residual = |d: &[f64]| {
        let s: Vec<f64> = d.iter().map(|x| x.tanh()).collect();
        (0..256)
            .map(|i| {
                (0.3 * d[i] + 0.7 * (0..256).map(|j| w[(i, j)] * s[j]).sum::<f64>() - d[i]).powi(2)
            })
            .sum::<f64>()
            .sqrt()
            / d.iter().map(|x| x * x).sum::<f64>().sqrt()
    };
    assert!(
        residual(&dirs[4]) < 1e-12,
        "last planted point: {}",
        residual(&dirs[4])
    );
    for d in &dirs[..4] {
        let r = residual(d);
        assert!(
            r < 0.3 && r > 1e-6,
            "earlier points hold approximately: {r}"
        );
    }
    // Rolled out with zero input from the last point, the state stays put; the origin too.
    let ro = m
        .rollout(&vec![0.0; 10 * 3], 1, 10, Some(&dirs[4]))
        .unwrap();
    let last = &ro.states[9 * 256..];
    assert!(
        last.iter()
            .zip(&dirs[4])
            .all(|(a, b)| (a - b).abs() < 1e-10)
    );
    let ro = m.rollout(&vec![0.0; 10 * 3], 1, 10, None).unwrap();
    assert!(ro.states.iter().all(|x| *x == 0.0));
}

fn model_bytes() -> (Box<dyn Recurrent>, Readout, Vec<u8>) {
    let m = Gru::init(GruConfig::new(3, 8), 2.0, 8).unwrap();
    let r = Readout::init(8, 2, true, 8).unwrap();
    let bytes = save_model(&m, Some(&r)).unwrap();
    (Box::new(m), r, bytes)
}

#[test]
fn safetensors_round_trip_is_exact() {
    let (m, r, bytes) = model_bytes();
    let loaded = load_model(&read_state_dict(&bytes).unwrap(), Arch::Gru).unwrap();
    assert_eq!(loaded.model.params(), m.params());
    assert_eq!(loaded.readout.as_ref().unwrap(), &r);
    for (arch, model) in [
        (
            Arch::Rnn,
            Box::new(
                TanhRnn::init(
                    TanhRnnConfig {
                        input: 2,
                        hidden: 4,
                        bias_ih: true,
                        bias_hh: false,
                    },
                    1.0,
                    1,
                )
                .unwrap(),
            ) as Box<dyn Recurrent>,
        ),
        (
            Arch::LeakyRnn { dt: 0.7 },
            Box::new(LeakyRnn::init(LeakyRnnConfig::new(2, 4), 1.0, 1).unwrap()),
        ),
    ] {
        let b = save_model(&*model, None).unwrap();
        let l = load_model(&read_state_dict(&b).unwrap(), arch).unwrap();
        assert_eq!(l.model.params(), model.params());
        assert!(l.readout.is_none());
    }
}

/// A safetensors file in PyTorch's float32 layout written byte by byte from the documented format,
/// deliberately independent of `weights::write_tensors_f32` so the reader is checked against a
/// second implementation of the format
/// (8-byte little-endian header size, JSON header, raw little-endian data), as
/// `safetensors.torch.save_file(model.state_dict(), ...)` produces for a kpflow BasicRNN.
fn torch_style_f32(tensors: &[(&str, Vec<usize>, Vec<f32>)]) -> Vec<u8> {
    let mut header = String::from("{");
    let mut data = Vec::new();
    for (i, (name, shape, vals)) in tensors.iter().enumerate() {
        let start = data.len();
        vals.iter().for_each(|v| data.extend(v.to_le_bytes()));
        let shape_s = shape
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(",");
        if i > 0 {
            header.push(',');
        }
        header.push_str(&format!(
            "\"{name}\":{{\"dtype\":\"F32\",\"shape\":[{shape_s}],\"data_offsets\":[{start},{}]}}",
            data.len()
        ));
    }
    header.push('}');
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend(header.as_bytes());
    out.extend(data);
    out
}

#[test]
fn a_pytorch_style_f32_file_with_tied_copies_loads() {
    let (h, nx) = (4, 3);
    let wih: Vec<f32> = (0..h * nx).map(|i| i as f32 * 0.1).collect();
    let whh: Vec<f32> = (0..h * h).map(|i| (i as f32 - 8.0) * 0.05).collect();
    let wout: Vec<f32> = vec![0.5; 2 * h];
    let file = torch_style_f32(&[
        ("Wout.weight", vec![2, h], wout.clone()),
        ("rnn.cell.weight_hh", vec![h, h], whh.clone()),
        ("rnn.cell.weight_ih", vec![h, nx], wih.clone()),
        ("rnn.weight_hh_l0", vec![h, h], whh.clone()),
        ("rnn.weight_ih_l0", vec![h, nx], wih.clone()),
    ]);
    let l = load_model(&read_state_dict(&file).unwrap(), Arch::LeakyRnn { dt: 1.0 }).unwrap();
    assert_eq!(
        l.model.params().tensor("rnn.weight_hh_l0").unwrap()[3],
        whh[3] as f64
    );
    assert_eq!(l.readout.unwrap().output_size(), 2);
    // A tied copy that differs is refused, naming it.
    let mut bad = whh.clone();
    bad[0] += 1.0;
    let file = torch_style_f32(&[
        ("rnn.cell.weight_hh", vec![h, h], bad),
        ("rnn.weight_hh_l0", vec![h, h], whh),
        ("rnn.weight_ih_l0", vec![h, nx], wih),
    ]);
    let e = load_model(&read_state_dict(&file).unwrap(), Arch::LeakyRnn { dt: 1.0 })
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("rnn.cell.weight_hh") && e.contains("differs"),
        "{e}"
    );
}

#[test]
fn bad_weight_files_are_refused_naming_the_tensor() {
    let (m, _, _) = model_bytes();
    let good = params_tensors(m.params());
    let load = |t: &[(String, Vec<usize>, Vec<f64>)], arch| {
        read_state_dict(&write_tensors(t).unwrap())
            .and_then(|sd| load_model(&sd, arch))
            .err()
            .map(|e| e.to_string())
    };
    assert!(load(&good, Arch::Gru).is_none());
    // Missing tensor.
    let missing: Vec<_> = good
        .iter()
        .filter(|t| t.0 != "rnn.bias_hh_l0")
        .cloned()
        .collect();
    let e = load(&missing, Arch::Gru).unwrap();
    assert!(e.contains("rnn.bias_hh_l0"), "{e}");
    // Wrong shape.
    let mut wrong = good.clone();
    wrong[1].1 = vec![24, 4];
    wrong[1].2.truncate(96);
    let e = load(&wrong, Arch::Gru).unwrap();
    assert!(
        e.contains("rnn.weight_hh_l0") && e.contains("expected"),
        "{e}"
    );
    // NaN.
    let mut nan = good.clone();
    nan[0].2[5] = f64::NAN;
    let e = load(&nan, Arch::Gru).unwrap();
    assert!(
        e.contains("rnn.weight_ih_l0") && e.contains("non-finite"),
        "{e}"
    );
    // Unknown key.
    let mut extra = good.clone();
    extra.push(("rnn.weight_hh_l1".into(), vec![1], vec![0.0]));
    let e = load(&extra, Arch::Gru).unwrap();
    assert!(
        e.contains("rnn.weight_hh_l1") && e.contains("unexpected"),
        "{e}"
    );
    // Arch mismatch (a GRU file read as an RNN).
    let e = load(&good, Arch::Rnn).unwrap();
    assert!(e.contains("rnn.weight_hh_l0"), "{e}");
    // Garbage bytes.
    assert!(
        read_state_dict(b"not a file")
            .unwrap_err()
            .to_string()
            .contains("safetensors")
    );
}

#[test]
fn bad_configs_and_inputs_are_errors_not_panics() {
    let mut c = LeakyRnnConfig::new(3, 4);
    c.dt = 1.5;
    assert!(
        LeakyRnn::init(c, 1.0, 0)
            .unwrap_err()
            .to_string()
            .contains("dt")
    );
    let m = TanhRnn::init(TanhRnnConfig::new(3, 4), 1.0, 0).unwrap();
    assert!(
        m.rollout(&[0.0; 5], 1, 2, None)
            .unwrap_err()
            .to_string()
            .contains("inputs")
    );
    assert!(
        m.rollout(&[0.0; 6], 1, 2, Some(&[0.0; 3]))
            .unwrap_err()
            .to_string()
            .contains("h0")
    );
    assert!(m.rollout(&[], 0, 2, None).is_err());
    // Divergence is reported with its step.
    let big = TanhRnn::init(TanhRnnConfig::new(3, 4), 1.0, 0).unwrap();
    let x = vec![f64::INFINITY; 6];
    let e = big.rollout(&x, 1, 2, None).unwrap_err().to_string();
    assert!(e.contains("non-finite") && e.contains("step 1"), "{e}");
    let _ = randn(1, 0);
}

#[test]
fn teacher_student_rnn_init() {
    let g = 1.3;
    let m = TanhRnn::teacher_student(16, 64, g, 3).unwrap();
    assert!(!m.params().has("rnn.bias_hh_l0"));
    assert!(
        m.params()
            .tensor("rnn.bias_ih_l0")
            .unwrap()
            .iter()
            .all(|b| *b == 0.0)
    );
    let w = m.params().matrix("rnn.weight_hh_l0").unwrap().to_owned();
    let wtw = w.transpose() * &w;
    assert!((wtw - Mat::<f64>::identity(64, 64) * faer::Scale(g * g)).norm_max() < 1e-12);
    let (_, var) = mean_var(m.params().tensor("rnn.weight_ih_l0").unwrap());
    assert!(
        (var / (2.0 / 80.0) - 1.0).abs() < 0.15,
        "xavier variance {var}"
    );
}

#[test]
fn the_library_f32_writer_matches_the_independent_one() {
    let t = vec![
        ("a".to_string(), vec![2, 1], vec![1.5, -2.0]),
        ("b".to_string(), vec![3], vec![0.25, 0.0, 7.0]),
    ];
    let lib = gentk_models::weights::write_tensors_f32(&t);
    let ours = torch_style_f32(&[
        ("a", vec![2, 1], vec![1.5, -2.0]),
        ("b", vec![3], vec![0.25, 0.0, 7.0]),
    ]);
    assert_eq!(lib, ours);
}
