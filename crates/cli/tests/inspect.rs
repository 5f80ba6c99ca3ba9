//! `gentk inspect` end to end: the worked example in exact and randomized mode, h0 handling, and
//! every refusal (exit code ≠ 0, the offending tensor named).

use std::path::{Path, PathBuf};
use std::process::Command;

use gentk_models::weights::{params_tensors, write_tensors};
use gentk_models::{Gru, GruConfig, LeakyRnn, LeakyRnnConfig, Readout, StepModel, save_model};

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gentk-inspect-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn gentk(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gentk"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn write_inputs(
    dir: &Path,
    name: &str,
    b: usize,
    t: usize,
    nx: usize,
    h0: Option<(usize, Vec<f64>)>,
) -> PathBuf {
    let x: Vec<f64> = (0..b * t * nx).map(|i| ((i as f64) * 0.29).cos()).collect();
    let mut ts = vec![("inputs".to_string(), vec![b, t, nx], x)];
    if let Some((h, v)) = h0 {
        ts.push(("h0".to_string(), vec![b, h], v));
    }
    let p = dir.join(name);
    std::fs::write(&p, write_tensors(&ts).unwrap()).unwrap();
    p
}

fn leaky_files(dir: &Path) -> (PathBuf, PathBuf) {
    let m = LeakyRnn::init(LeakyRnnConfig::new(3, 8), 1.5, 1).unwrap();
    let r = Readout::init(8, 2, true, 1).unwrap();
    let w = dir.join("w.safetensors");
    std::fs::write(&w, save_model(&m, Some(&r)).unwrap()).unwrap();
    (w, write_inputs(dir, "x.safetensors", 3, 10, 3, None))
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s.trim()).unwrap()
}

#[test]
fn exact_and_randomized_reports_follow_the_contract_and_agree() {
    let d = tmpdir("contract");
    let (w, x) = leaky_files(&d);
    let (ok, out, err) = gentk(&[
        "inspect",
        "--arch",
        "leaky-rnn",
        "--weights",
        w.to_str().unwrap(),
        "--inputs",
        x.to_str().unwrap(),
        "--exact",
        "--json",
    ]);
    assert!(ok, "{err}");
    let e = json(&out);
    for key in [
        "arch", "batch", "time", "hidden", "inputs", "params", "exact", "k", "ntk", "p",
    ] {
        assert!(e.get(key).is_some(), "missing {key}");
    }
    for op in ["k", "ntk"] {
        for key in [
            "trace",
            "fro2",
            "eff_rank",
            "eff_rank_space",
            "eff_rank_time",
            "eff_rank_space_kp",
            "eff_rank_time_kp",
            "top_eigs",
        ] {
            assert!(e[op].get(key).is_some(), "missing {op}.{key}");
        }
        assert_eq!(e[op]["top_eigs"].as_array().unwrap().len(), 5);
    }
    assert_eq!(
        (
            e["batch"].as_u64(),
            e["time"].as_u64(),
            e["hidden"].as_u64()
        ),
        (Some(3), Some(10), Some(8))
    );
    // Leaky RNN: the space rank of K is exactly H.
    assert!((e["k"]["eff_rank_space"].as_f64().unwrap() - 8.0).abs() < 1e-9);
    let (ok, out, err) = gentk(&[
        "inspect",
        "--arch",
        "leaky-rnn",
        "--weights",
        w.to_str().unwrap(),
        "--inputs",
        x.to_str().unwrap(),
        "--matvecs",
        "240",
        "--seed",
        "3",
        "--json",
    ]);
    assert!(ok, "{err}");
    let r = json(&out);
    assert_eq!(r["seed"].as_u64(), Some(3));
    assert!(r["matvecs"]["ntk"]["trace"].as_u64().unwrap() > 0);
    for op in ["k", "ntk"] {
        let (a, b) = (
            r[op]["trace"].as_f64().unwrap(),
            e[op]["trace"].as_f64().unwrap(),
        );
        let se = r["stderr"][op]["trace"].as_f64().unwrap_or(0.0);
        assert!(
            (a - b).abs() <= 5.0 * se + 1e-8 * b,
            "{op} trace {a} vs exact {b} ± {se}"
        );
        let (a, b) = (
            r[op]["eff_rank"].as_f64().unwrap(),
            e[op]["eff_rank"].as_f64().unwrap(),
        );
        assert!(
            (a - b).abs() < 1e-8 * b,
            "{op} eff_rank exact at budget = dimension"
        );
    }
    // The table mode prints both operators.
    let (ok, out, _) = gentk(&[
        "inspect",
        "--arch",
        "leaky-rnn",
        "--weights",
        w.to_str().unwrap(),
        "--inputs",
        x.to_str().unwrap(),
        "--exact",
    ]);
    assert!(ok && out.contains("NTK_S") && out.contains("kpflow compression"));
}

#[test]
fn a_nonzero_h0_is_used() {
    let d = tmpdir("h0");
    let (w, x) = leaky_files(&d);
    let x0 = write_inputs(&d, "x0.safetensors", 3, 10, 3, Some((8, vec![0.0; 24])));
    let x1 = write_inputs(
        &d,
        "x1.safetensors",
        3,
        10,
        3,
        Some((8, (0..24).map(|i| 0.1 * i as f64).collect())),
    );
    let run = |p: &Path| {
        json(
            &gentk(&[
                "inspect",
                "--arch",
                "leaky-rnn",
                "--weights",
                w.to_str().unwrap(),
                "--inputs",
                p.to_str().unwrap(),
                "--exact",
                "--json",
            ])
            .1,
        )
    };
    let (a, b, c) = (run(&x), run(&x0), run(&x1));
    assert_eq!(
        a["k"]["trace"], b["k"]["trace"],
        "explicit zero h0 = default"
    );
    assert_ne!(a["k"]["trace"], c["k"]["trace"], "a nonzero h0 changes K");
}

#[test]
fn bad_inputs_are_refused_naming_the_tensor() {
    let d = tmpdir("refusals");
    let (w, x) = leaky_files(&d);
    let (w_s, x_s) = (w.to_str().unwrap(), x.to_str().unwrap());
    let bad = |args: &[&str], needle: &str| {
        let (ok, _, err) = gentk(args);
        assert!(!ok, "should fail: {args:?}");
        assert!(
            err.contains(needle),
            "stderr should mention {needle:?}: {err}"
        );
    };
    // `gentk inspect --arch A --weights W --inputs X [extra…]` must fail mentioning `needle`.
    let refused = |arch: &str, weights: &Path, inputs: &Path, extra: &[&str], needle: &str| {
        let mut args = vec![
            "inspect",
            "--arch",
            arch,
            "--weights",
            weights.to_str().unwrap(),
            "--inputs",
            inputs.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        bad(&args, needle);
    };
    let write_weights = |name: &str, ts: &[(String, Vec<usize>, Vec<f64>)]| {
        let p = d.join(name);
        std::fs::write(&p, write_tensors(ts).unwrap()).unwrap();
        p
    };
    // Garbage weight file.
    let garbage = d.join("garbage.safetensors");
    std::fs::write(&garbage, b"definitely not safetensors").unwrap();
    refused("rnn", &garbage, &x, &[], "safetensors");
    // A GRU file read as an RNN: the recurrent weight's shape.
    let g = Gru::init(GruConfig::new(3, 4), 1.0, 0).unwrap();
    let gw = d.join("gru.safetensors");
    std::fs::write(&gw, save_model(&g, None).unwrap()).unwrap();
    refused("rnn", &gw, &x, &[], "rnn.weight_hh_l0");
    // Wrong tensor name; NaN in a weight.
    let m = LeakyRnn::init(LeakyRnnConfig::new(3, 8), 1.0, 0).unwrap();
    let mut ts = params_tensors(m.params());
    ts[0].0 = "rnn.weight_ih".into();
    refused(
        "leaky-rnn",
        &write_weights("wrongname.safetensors", &ts),
        &x,
        &[],
        "rnn.weight_ih_l0",
    );
    let mut ts = params_tensors(m.params());
    ts[1].2[3] = f64::NAN;
    refused(
        "leaky-rnn",
        &write_weights("nan.safetensors", &ts),
        &x,
        &[],
        "rnn.weight_hh_l0",
    );
    // Inputs with the wrong feature count, wrong h0 shape, missing `inputs`, an unexpected tensor.
    refused(
        "leaky-rnn",
        &w,
        &write_inputs(&d, "x5.safetensors", 2, 4, 5, None),
        &[],
        "inputs",
    );
    refused(
        "leaky-rnn",
        &w,
        &write_inputs(&d, "xh.safetensors", 2, 4, 3, Some((7, vec![0.0; 14]))),
        &[],
        "h0",
    );
    refused(
        "leaky-rnn",
        &w,
        &write_weights(
            "xm.safetensors",
            &[("x".into(), vec![1, 1, 3], vec![0.0; 3])],
        ),
        &[],
        "`x`",
    );
    // --exact above its limit; a missing file; a bad dt.
    refused(
        "leaky-rnn",
        &w,
        &write_inputs(&d, "big.safetensors", 120, 10, 3, None),
        &["--exact"],
        "4096",
    );
    bad(
        &[
            "inspect",
            "--arch",
            "leaky-rnn",
            "--weights",
            "/nonexistent/w.safetensors",
            "--inputs",
            x_s,
        ],
        "cannot read",
    );
    bad(
        &[
            "inspect",
            "--arch",
            "leaky-rnn",
            "--dt",
            "0",
            "--weights",
            w_s,
            "--inputs",
            x_s,
        ],
        "--dt",
    );
}

#[test]
fn the_readme_example_files_load() {
    // `gentk example-files` (float32, tied copies) is what the README shows.
    let d = tmpdir("example");
    let (ok, _, err) = gentk(&["example-files", d.to_str().unwrap()]);
    assert!(ok, "{err}");
    let (ok, out, err) = gentk(&[
        "inspect",
        "--arch",
        "leaky-rnn",
        "--weights",
        d.join("weights.safetensors").to_str().unwrap(),
        "--inputs",
        d.join("inputs.safetensors").to_str().unwrap(),
        "--exact",
        "--json",
    ]);
    assert!(ok, "{err}");
    assert_eq!(json(&out)["hidden"].as_u64(), Some(16));
}

#[test]
fn single_precision_inspect_agrees_with_f64_to_single_precision() {
    let d = tmpdir("precision");
    let (w, x) = leaky_files(&d);
    let run = |precision: &str| {
        let (ok, out, err) = gentk(&[
            "inspect",
            "--arch",
            "leaky-rnn",
            "--weights",
            w.to_str().unwrap(),
            "--inputs",
            x.to_str().unwrap(),
            "--exact",
            "--json",
            "--precision",
            precision,
        ]);
        assert!(ok, "{err}");
        json(&out)
    };
    let (a, b) = (run("f64"), run("f32"));
    assert_eq!(a["precision"], "f64");
    assert_eq!(b["precision"], "f32");
    for op in ["k", "ntk"] {
        for key in ["trace", "fro2", "eff_rank"] {
            let (u, v) = (a[op][key].as_f64().unwrap(), b[op][key].as_f64().unwrap());
            let rel = (u - v).abs() / u.abs();
            assert!(rel < 1e-5, "{op}.{key}: f64 {u} vs f32 {v}");
            assert!(u != v || op == "k", "{op}.{key}: f32 gave the f64 bits");
        }
    }
    let (ok, _, err) = gentk(&[
        "inspect",
        "--arch",
        "leaky-rnn",
        "--weights",
        w.to_str().unwrap(),
        "--inputs",
        x.to_str().unwrap(),
        "--precision",
        "f16",
    ]);
    assert!(!ok && err.contains("f16"), "{err}");
}
