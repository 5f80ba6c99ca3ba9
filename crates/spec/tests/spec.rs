//! The spec: every committed spec round-trips and resolves at every preset; every class of bad spec
//! is refused before any computation with file:line:column and the key (sweep and preset
//! overrides located where they were written).

use std::path::{Path, PathBuf};

use gentk_spec::{Spec, load, resolve};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gentk-spec-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A small valid spec (two gains of a 4-unit nn.RNN); the tests mutate it line by line.
const BASE: &str = include_str!("fixtures/base.toml");

#[test]
fn every_spec_round_trips_and_resolves_at_every_preset() {
    let mut n = 0;
    for dir in ["experiments", "experiments/examples"] {
        for e in std::fs::read_dir(root().join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_none_or(|x| x != "toml") {
                continue;
            }
            let sf = load(&p).unwrap_or_else(|e| panic!("{e}"));
            let text = toml::to_string(&sf.spec).unwrap();
            let back: Spec = toml::from_str(&text).unwrap();
            assert_eq!(back, sf.spec, "{}", p.display());
            assert!(!resolve(&sf, "cpu").unwrap().points.is_empty());
            for preset in sf.spec.presets.keys() {
                resolve(&sf, preset).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            }
            n += 1;
        }
    }
    assert!(n >= 19, "{n} specs");
}

/// The error of a bad spec (load or resolve at `full` when it has that preset, else `cpu`).
fn error_of(d: &Path, name: &str, text: &str) -> (PathBuf, String) {
    let p = write(d, name, text);
    let err = match load(&p) {
        Err(e) => e.to_string(),
        Ok(sf) => {
            let preset = if sf.spec.presets.contains_key("full") {
                "full"
            } else {
                "cpu"
            };
            resolve(&sf, preset)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_else(|| panic!("{name} should fail"))
        }
    };
    (p, err)
}

#[test]
fn bad_specs_give_located_errors() {
    let d = tmp("bad");
    let check = |name: &str, text: &str, needles: &[&str]| {
        let (p, err) = error_of(&d, name, text);
        assert!(
            err.starts_with(&format!("{}:", p.display())),
            "{name}: no file location: {err}"
        );
        for n in needles {
            assert!(err.contains(n), "{name}: `{n}` missing from: {err}");
        }
    };
    check(
        "typo.toml",
        &BASE.replace("hidden = 4", "hiden = 4"),
        &[":7:", "hiden", "did you mean `hidden`"],
    );
    check(
        "type.toml",
        &BASE.replace("hidden = 4", "hidden = \"four\""),
        &[":7:", "model.hidden", "invalid type"],
    );
    check(
        "range.toml",
        &BASE.replace("hidden = 4", "hidden = 4\ndt = 2.0"),
        &[":8:", "model.dt", "(0, 1]"],
    );
    check(
        "empty.toml",
        &BASE.replace("[0.5, 1.5]", "[]"),
        &[":22:", "model.gain", "empty"],
    );
    check(
        "operator.toml",
        &BASE.replace("operator = \"ntk\"", "operator = \"ntks\""),
        &[":18:", "operator", "ntks", "did you mean `ntk`"],
    );
    check(
        "arch.toml",
        &BASE.replace("arch = \"rnn\"", "arch = \"lstm\""),
        &[":6:", "model.arch", "lstm"],
    );
    check(
        "task.toml",
        &BASE.replace("gaussian_sequences", "gaussian"),
        &["task", "gaussian"],
    );
    check(
        "preset.toml",
        &(BASE.to_string() + "\n[presets.full.model]\nhidden = 0\n"),
        &[":25:", "model.hidden", "≥ 1"],
    );
    // A value set by the sweep is located at the sweep axis, with the point.
    check(
        "swept.toml",
        &BASE.replace("\"model.gain\" = [0.5, 1.5]", "\"model.dt\" = [0.5, 1.5]"),
        &[":22:", "model.dt", "(0, 1]", "model.dt=1.5"],
    );
    check(
        "nan.toml",
        &BASE.replace("[0.5, 1.5]", "[0.5, nan]"),
        &[":22:", "not finite"],
    );
    // The second measurement's error points at its own line, not the first one's.
    let two = BASE.to_string()
        + "\n[[measure]]\nname = \"second\"\noperator = \"p_inv\"\nstatistic = \"trace\"\n";
    check(
        "second.toml",
        &two,
        &[":27:", "measure[1].statistic", "p_inv"],
    );
    check(
        "randomized_spectrum.toml",
        &BASE.replace(
            "statistic = \"trace\"",
            "statistic = \"spectrum\"\nestimator = \"randomized\"",
        ),
        &[":20:", "measure[0].estimator", "no randomized estimator"],
    );
    check(
        "no_targets.toml",
        &BASE.replace("statistic = \"trace\"", "statistic = \"target_rayleigh\""),
        &[":19:", "target_rayleigh", "has none"],
    );
    check(
        "too_big.toml",
        &BASE
            .replace("n_samples = 2", "n_samples = 300")
            .replace("batch = 2", "batch = 300"),
        &["measure[0].estimator", "above the limit 4096", "randomized"],
    );
    check(
        "batch.toml",
        &BASE.replace("batch = 2", "batch = 3"),
        &[":14:", "task.batch", "exceeds the 2 trials"],
    );
    check(
        "train_mlp.toml",
        &(BASE.replace("arch = \"rnn\"", "arch = \"mlp-relu\"\ndepth = 2")
            + "\n[train]\noptimizer = \"sgd\"\nlr = 0.1\niterations = 2\nbatch_size = 2\n"),
        &["train", "recurrent models only"],
    );
    check(
        "measure_at.toml",
        &(BASE.to_string()
            + "\n[train]\noptimizer = \"sgd\"\nlr = 0.1\niterations = 2\nbatch_size = 2\nmeasure_at = [0, 5]\n"),
        &["train.measure_at", "beyond the last iteration 2"],
    );
    check(
        "seed_from.toml",
        &BASE.replace(
            "statistic = \"trace\"",
            "statistic = \"trace\"\nseed_from = [\"task.nope\"]",
        ),
        &[":20:", "seed_from", "task.nope"],
    );
    check(
        "resolvent_gru.toml",
        &BASE
            .replace("arch = \"rnn\"", "arch = \"gru\"")
            .replace("operator = \"ntk\"", "operator = \"resolvent\"")
            .replace("statistic = \"trace\"", "statistic = \"spectral_radius\""),
        &["square recurrent weight", "gru"],
    );
    check(
        "unknown_preset.toml",
        &BASE.replace("seed = 1", "seed = 1\n[presets.full.task]\nbatch = 0"),
        &[":5:", "task.batch", "≥ 1"],
    );
    let missing = load(&d.join("nope.toml")).unwrap_err().to_string();
    assert!(missing.contains("nope.toml"), "{missing}");
}
