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
        &[
            "train",
            "one step (T = 1, got 5)",
            "targets (got 0 channels)",
        ],
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

/// The classes of hostile or careless specs (issue 12): absurd sizes, names that would escape
/// `results/`, values that used to fail only at compute time, charts that name what the table
/// lacks. Each is refused by `resolve` with the file, the line of the offending value and the key.
#[test]
fn hostile_specs_are_refused_up_front_with_locations() {
    let d = tmp("hostile");
    const TRAIN: &str = "\n[train]\noptimizer = \"sgd\"\nlr = 0.1\niterations = 2\nbatch_size = 2\ndataset_size = 2\n";
    const PLOT: &str = "\n[[plot]]\nfile = \"chart\"\nx = \"model.gain\"\n";
    const CLAIM: &str = "\n[[claim]]\nid = \"trace_max\"\nsays = \"s\"\nvalue = { measure = \"ntk trace\", aggregate = \"max\" }\nis = \">\"\nthan = 0\n";
    let long = "n".repeat(5000);
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        // 1. Absurd sizes: refused with an estimate, never allocated.
        ("hidden", BASE.replace("hidden = 4", "hidden = 1000000000").replace("statistic = \"trace\"", "statistic = \"trace\"\nestimator = \"randomized\""), vec![":7:", "model.hidden", "GiB", "--max-memory-gib"]),
        ("time", BASE.replace("T = 5", "T = 1000000000").replace("statistic = \"trace\"", "statistic = \"trace\"\nestimator = \"randomized\""), vec![":16:", "measure[0]", "estimated", "GiB"]),
        ("samples", BASE.replace("n_samples = 2", "n_samples = 1000000000000"), vec![":9:", "task", "GiB"]),
        ("budget", BASE.replace("statistic = \"trace\"", "statistic = \"trace\"\nestimator = \"randomized\"\nbudget = 1000000000000"), vec![":21:", "measure[0].budget", "GiB"]),
        ("filter", BASE.replace("operator = \"ntk\"\nstatistic = \"trace\"", "operator = \"scalar_filter\"\nstatistic = \"weights\"\nsize = 1000000000000"), vec![":20:", "measure[0].size", "GiB"]),
        ("gaussian", BASE.replace("operator = \"ntk\"\nstatistic = \"trace\"", "operator = \"resolvent_gaussian\"\nstatistic = \"eff_rank\"\nsize = 10000000"), vec![":20:", "measure[0].size", "GiB"]),
        ("iterations", BASE.to_string() + &TRAIN.replace("iterations = 2", "iterations = 1000000000000"), vec![":27:", "train.iterations", "flops", "--max-tflop"]),
        ("product", BASE.replace("\"model.gain\" = [0.5, 1.5]", "\"model.gain\" = { linspace = [0.0, 1.0, 100000] }\n\"model.dt\" = { linspace = [0.1, 1.0, 100000] }"), vec![":23:", "10000000000 points", "--max-points"]),
        ("linspace", BASE.replace("[0.5, 1.5]", "{ linspace = [0.0, 1.0, 1000000000000000] }"), vec![":22:", "1000000000000000 points"]),
        // 2. Names that are not one path component under results/.
        ("dotdot", BASE.replace("name = \"t\"", "name = \"../../x\""), vec![":2:", "experiment.name", "contains '/'"]),
        ("absolute", BASE.replace("name = \"t\"", "name = \"/tmp/x\""), vec![":2:", "experiment.name"]),
        ("inner", BASE.replace("name = \"t\"", "name = \"a/../../x\""), vec![":2:", "experiment.name"]),
        ("empty", BASE.replace("name = \"t\"", "name = \"\""), vec![":2:", "is empty"]),
        ("dot", BASE.replace("name = \"t\"", "name = \".\""), vec![":2:", "starts with a dot"]),
        ("nul", BASE.replace("name = \"t\"", "name = \"a\\u0000b\""), vec![":2:", "contains '\\0'"]),
        ("long", BASE.replace("name = \"t\"", &format!("name = \"{long}\"")), vec![":2:", "5000 characters"]),
        ("plot_file", BASE.to_string() + &PLOT.replace("\"chart\"", "\"../chart\""), vec![":25:", "plot[0].file"]),
        // 3. Values that used to fail at compute time.
        ("t0", BASE.replace("T = 5", "T = 0"), vec![":12:", "task.T", "≥ 1"]),
        ("n0", BASE.replace("n_samples = 2", "n_samples = 0"), vec![":11:", "task.n_samples", "≥ 1"]),
        ("noise", BASE.replace("kind = \"gaussian_sequences\"\nn_samples = 2\nT = 5\nd_input = 2", "kind = \"flip_flop\"\nn_samples = 2\nT = 5\nnoise_std = inf"), vec![":13:", "task.noise_std", "finite"]),
        ("gain", BASE.replace("hidden = 4", "hidden = 4\ngain = nan").replace("\"model.gain\" = [0.5, 1.5]", "\"task.batch\" = [1, 2]"), vec![":8:", "model.gain", "finite"]),
        ("lr", BASE.to_string() + &TRAIN.replace("lr = 0.1", "lr = nan"), vec![":26:", "train.lr", "finite"]),
        ("batch_size", BASE.to_string() + &TRAIN.replace("batch_size = 2", "batch_size = 0"), vec![":28:", "train.batch_size"]),
        ("batch_gt_dataset", BASE.to_string() + &TRAIN.replace("batch_size = 2", "batch_size = 3"), vec![":28:", "train.batch_size", "training set"]),
        ("trainable", BASE.to_string() + TRAIN + "trainable = [\"rnn.weight_xx\"]\n", vec![":30:", "train.trainable", "rnn.weight_xx", "rnn.weight_hh_l0"]),
        ("measure_at", BASE.replace("statistic = \"trace\"", "statistic = \"trace\"\nat = [1]") + TRAIN, vec![":20:", "measure[0].at", "not a checkpoint"]),
        ("at_untrained", BASE.replace("statistic = \"trace\"", "statistic = \"trace\"\nat = [1]"), vec![":20:", "measure[0].at", "no [train] table"]),
        ("train_seed_from", BASE.to_string() + TRAIN + "seed_from = [\"model.nope\"]\n", vec![":30:", "train.seed_from", "model.nope"]),
        ("mode_k", BASE.replace("kind = \"gaussian_sequences\"\nn_samples = 2\nT = 5\nd_input = 2", "kind = \"flip_flop\"\nn_samples = 2\nT = 5").replace("operator = \"ntk\"\nstatistic = \"trace\"", "operator = \"output\"\nstatistic = \"target_mode_alignment\"\nk = 7"), vec![":19:", "measure[0].k", "target mode k in 1..=3"]),
        ("outputs_size", BASE.replace("kind = \"gaussian_sequences\"\nn_samples = 2\nT = 5\nd_input = 2", "kind = \"flip_flop\"\nn_samples = 2\nT = 5").replace("operator = \"ntk\"\nstatistic = \"trace\"", "operator = \"output\"\nstatistic = \"outputs\"\nsize = 6"), vec![":19:", "measure[0].size", "1..=5"]),
        ("target_outputs", BASE.replace("hidden = 4", "hidden = 4\noutputs = 3") + "\n[target]\ncase = \"preferred\"\n", vec![":8:", "model.outputs", "one output"]),
        ("target_full_batch", BASE.to_string() + "\n[target]\ncase = \"nullspace\"\n" + &TRAIN.replace("dataset_size = 2", "dataset_size = 4"), vec![":31:", "train.batch_size", "full-batch"]),
        // 4. Charts checked against the table before any point is computed.
        ("plot_measure", BASE.to_string() + PLOT + "measures = [\"ntk trcae\"]\n", vec![":27:", "plot[0].measures", "did you mean `ntk trace`"]),
        ("plot_column", BASE.to_string() + &PLOT.replace("model.gain", "model.gian"), vec![":26:", "plot[0].x", "did you mean `model.gain`"]),
        ("plot_filter", BASE.to_string() + PLOT + "filter = { \"model.dt\" = 1.0 }\n", vec![":27:", "plot[0].filter", "model.dt"]),
        ("plot_paths", BASE.to_string() + PLOT + "kind = \"paths\"\n", vec![":27:", "plot[0].kind", "channels"]),
        ("plot_log_color", BASE.to_string() + PLOT + "log_color = true\n", vec![":27:", "plot[0].log_color", "heatmaps"]),
        ("plot_accuracy", BASE.to_string() + PLOT + "x_accuracy = true\n", vec![":27:", "plot[0].x_accuracy", "log_x"]),
        ("plot_hline_where", BASE.to_string() + PLOT + "hline_where = { \"model.dt\" = 1.0 }\n", vec![":27:", "plot[0].hline_where", "model.dt"]),
        ("plot_twice", BASE.to_string() + PLOT + PLOT, vec![":29:", "plot[1].file", "also written"]),
        ("plot_panels", BASE.to_string() + &PLOT.replace("x = \"model.gain\"", "x = \"model.gain\"\ny = \"model.gain\"\nkind = \"heatmap\"\npanels = \"model.gain\""), vec![":29:", "plot[0].panels", "line, cumulative and modes"]),
        // 5. Claims and the notes that quote them.
        ("notes_quote", BASE.replace("seed = 1", "seed = 1\nnotes = \"trace {trace_mx}\"") + CLAIM, vec![":4:", "experiment.notes", "trace_mx", "did you mean `trace_max`"]),
        ("notes_brace", BASE.replace("seed = 1", "seed = 1\nnotes = \"set {0.5, 1}\""), vec![":4:", "experiment.notes", "{{"]),
        ("claim_id_twice", BASE.to_string() + CLAIM + CLAIM, vec![":32:", "claim[1].id", "earlier claim"]),
        ("claim_sql_per", BASE.to_string() + &CLAIM.replace("value = { measure = \"ntk trace\", aggregate = \"max\" }", "value.sql = \"SELECT max(value) FROM t\"\nper = \"model.gain\""), vec![":28:", "claim[0].per", "groups itself"]),
        // 6. The attention block's keys: on its arch only, with sizes it can be built with.
        ("attn_key_on_rnn", BASE.replace("hidden = 4", "hidden = 4\nheads = 2"), vec![":8:", "model.heads", "arch `attention` only"]),
        ("attn_heads", BASE.replace("arch = \"rnn\"", "arch = \"attention\"").replace("hidden = 4", "hidden = 4\nheads = 3"), vec![":8:", "model.heads", "do not divide d_model = 4"]),
        ("attn_fourier", BASE.replace("arch = \"rnn\"", "arch = \"attention\"").replace("hidden = 4", "hidden = 4\nfourier_features = 3"), vec![":8:", "model.fourier_features", "one-dimensional input"]),
        ("attn_pe", BASE.replace("arch = \"rnn\"", "arch = \"attention\"").replace("hidden = 4", "hidden = 4\npe_components = 100"), vec![":8:", "model.pe_components", "exceed d_model = 4"]),
        ("attn_pe_off", BASE.replace("arch = \"rnn\"", "arch = \"attention\"").replace("hidden = 4", "hidden = 4\npositional = \"off\"\npe_components = 2"), vec![":9:", "model.pe_components", "sinusoidal"]),
        ("attn_stat", BASE.replace("arch = \"rnn\"", "arch = \"attention\"").replace("statistic = \"trace\"", "statistic = \"bias_space\""), vec![":19:", "measure[0]", "arch `attention` supports"]),
        ("aliased_rnn", BASE.replace("operator = \"ntk\"\nstatistic = \"trace\"", "operator = \"data\"\nstatistic = \"aliased_frequencies\""), vec![":19:", "measure[0]", "aliased_frequencies"]),
        // 7. The trace study's keys.
        ("trace_methods", BASE.replace("statistic = \"trace\"", "statistic = \"trace_estimate\""), vec![":16:", "measure[0].methods", "hutchpp"]),
        ("trace_budgets", BASE.replace("statistic = \"trace\"", "statistic = \"trace_estimate\"\nmethods = [\"hutchpp\"]\nbudgets = [60, 3]"), vec![":21:", "measure[0].budgets", "got 3"]),
        ("trace_budget_huge", BASE.replace("statistic = \"trace\"", "statistic = \"trace_estimate\"\nmethods = [\"hutchpp\"]\nbudgets = [60, 1000000000000]"), vec![":21:", "measure[0].budgets", "GiB"]),
        ("trace_keys_elsewhere", BASE.replace("statistic = \"trace\"", "statistic = \"trace\"\nreruns = 5"), vec![":20:", "measure[0].reruns", "trace_estimate"]),
        ("logit_ntk_rnn", BASE.replace("operator = \"ntk\"\nstatistic = \"trace\"", "operator = \"logit_ntk\"\nstatistic = \"fro2\"\nmethods = [\"hutchpp\"]\nbudgets = [24]"), vec![":19:", "measure[0].statistic", "logit_ntk"]),
        ("logit_ntk_method", BASE.replace("arch = \"rnn\"", "arch = \"mlp-relu\"\ndepth = 2").replace("operator = \"ntk\"\nstatistic = \"trace\"", "operator = \"logit_ntk\"\nstatistic = \"fro2\"\nmethods = [\"fhutch\"]\nbudgets = [24]"), vec![":21:", "measure[0].methods", "hutchpp only"]),
        ("logit_ntk_budgets", BASE.replace("arch = \"rnn\"", "arch = \"mlp-relu\"\ndepth = 2").replace("operator = \"ntk\"\nstatistic = \"trace\"", "operator = \"logit_ntk\"\nstatistic = \"eff_rank\""), vec!["measure[0].budgets", "give budgets"]),
        ("train_loss", format!("{}\n[train]\noptimizer = \"adam\"\nloss = \"hinge\"\nlr = 0.001\niterations = 10\nbatch_size = 2\n", BASE), vec!["train.loss", "cross_entropy"]),
        ("clusters_classes", BASE.replace("kind = \"gaussian_sequences\"\nn_samples = 2\nT = 5\nd_input = 2", "kind = \"gaussian_clusters\"\nn_samples = 2\nd_input = 2\nclasses = 1"), vec!["classes", "at least 2"]),
        ("plot_table", format!("{}\n[[plot]]\nfile = \"a\"\nx = \"model.gain\"\nmeasures = [\"ntk trace\"]\ntable = \"wall\"\n", BASE), vec!["table", "timings"]),
    ];
    let n = cases.len();
    let mut failures = Vec::new();
    for (name, text, needles) in cases {
        let (p, err) = error_of(&d, &format!("{name}.toml"), &text);
        if !err.starts_with(&format!("{}:", p.display())) {
            failures.push(format!("{name}: no file location: {err}"));
        }
        for needle in needles {
            if !err.contains(needle) {
                failures.push(format!("{name}: `{needle}` missing from: {err}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(n, 62);
}
