//! The pipeline: schema round trip, every bad-spec class with its location, cache hit/miss
//! semantics, byte-identical outputs for 1 and 2 threads, and diff of a planted change.

use std::path::{Path, PathBuf};

use gentk_pipeline::runner::{RunOptions, resolve, run};
use gentk_pipeline::spec::load;
use gentk_pipeline::table;

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments/examples")
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gentk-pipe-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn opts(root: &Path) -> RunOptions {
    RunOptions {
        preset: "cpu".into(),
        force: false,
        results_dir: root.join("results"),
        cache_dir: root.join("cache"),
        progress: false,
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

const BASE: &str = r#"[experiment]
name = "t"
seed = 1

[model]
arch = "rnn"
hidden = 4

[task]
kind = "gaussian_sequences"
n_samples = 2
T = 5
d_input = 2
batch = 2

[[measure]]
name = "ntk trace"
operator = "ntk"
statistic = "trace"

[sweep.grid]
"model.gain" = [0.5, 1.5]
"#;

#[test]
fn every_example_validates_and_round_trips() {
    for e in std::fs::read_dir(examples()).unwrap() {
        let p = e.unwrap().path();
        let sf = load(&p).unwrap_or_else(|e| panic!("{e}"));
        let text = toml::to_string(&sf.spec).unwrap();
        let back: gentk_pipeline::Spec = toml::from_str(&text).unwrap();
        assert_eq!(back, sf.spec, "{}", p.display());
        resolve(&sf, "cpu").unwrap();
        for preset in sf.spec.presets.keys() {
            resolve(&sf, preset).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        }
    }
}

#[test]
fn bad_specs_give_located_errors() {
    let d = tmp("bad");
    let check = |name: &str, text: &str, needles: &[&str]| {
        let p = write(&d, name, text);
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
        &["model.gain", "empty"],
    );
    check(
        "operator.toml",
        &BASE.replace("operator = \"ntk\"", "operator = \"ntks\""),
        &[":18:", "operator", "ntks"],
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
        &["model.hidden"],
    );
    let missing = load(&d.join("nope.toml")).unwrap_err().to_string();
    assert!(missing.contains("nope.toml"), "{missing}");
}

#[test]
fn cache_hits_and_misses() {
    let d = tmp("cache");
    let p = write(&d, "s.toml", BASE);
    let o = opts(&d);
    let s1 = run(&load(&p).unwrap(), &o).unwrap();
    assert_eq!((s1.points, s1.computed), (2, 2));
    let t1 = std::fs::read(s1.out_dir.join("table.parquet")).unwrap();
    // Unchanged: nothing recomputed, identical bytes.
    let s2 = run(&load(&p).unwrap(), &o).unwrap();
    assert_eq!(s2.computed, 0);
    assert!(
        std::fs::read(s2.out_dir.join("table.parquet")).unwrap() == t1,
        "cached rerun changed the table bytes"
    );
    // Comments and key order do not invalidate.
    let cosmetic = BASE
        .replace("hidden = 4", "# a comment\nhidden = 4")
        .replace("arch = \"rnn\"\nhidden = 4", "hidden = 4\narch = \"rnn\"");
    write(&d, "s.toml", &cosmetic);
    assert_eq!(run(&load(&p).unwrap(), &o).unwrap().computed, 0);
    // A new sweep value recomputes only the new point.
    write(&d, "s.toml", &BASE.replace("[0.5, 1.5]", "[0.5, 1.5, 2.5]"));
    let s4 = run(&load(&p).unwrap(), &o).unwrap();
    assert_eq!((s4.points, s4.computed), (3, 1));
    // --force recomputes all, with the same numbers.
    let s5 = run(
        &load(&p).unwrap(),
        &RunOptions {
            force: true,
            ..o.clone()
        },
    )
    .unwrap();
    assert_eq!(s5.computed, 3);
    let t5 = table::read(&s5.out_dir.join("table.parquet")).unwrap();
    assert_eq!(t5.rows.len(), 3);
    assert!(
        t5.columns.contains(&"model.gain".to_string())
            && t5.columns.contains(&"ptrace_variant".to_string())
    );
}

#[test]
fn outputs_are_byte_identical_for_one_and_two_threads() {
    let spec = examples().join("ranks_vs_gain.toml");
    let run_in = |threads: usize| {
        let d = tmp(&format!("threads{threads}"));
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let s = pool.install(|| run(&load(&spec).unwrap(), &opts(&d)).unwrap());
        (
            std::fs::read(s.out_dir.join("table.parquet")).unwrap(),
            std::fs::read(s.out_dir.join("ranks.svg")).unwrap(),
            std::fs::read(s.out_dir.join("ranks.png")).unwrap(),
        )
    };
    assert!(
        run_in(1) == run_in(2),
        "outputs differ between 1 and 2 threads"
    );
}

#[test]
fn diff_reports_a_planted_change_and_nothing_else() {
    let d = tmp("diff");
    let p = write(&d, "s.toml", BASE);
    let s = run(&load(&p).unwrap(), &opts(&d)).unwrap();
    let a = table::read(&s.out_dir.join("table.parquet")).unwrap();
    let mut b = a.clone();
    let vi = b.columns.iter().position(|c| c == "value").unwrap();
    if let table::Cell::F(Some(v)) = &mut b.rows[1][vi] {
        *v *= 1.01;
    }
    assert!(table::diff(&a, &a, 0.0, 0.0).is_empty());
    let d1 = table::diff(&a, &b, 0.0, 0.0);
    assert_eq!(d1.len(), 1, "{d1:?}");
    assert!(d1[0].starts_with("| 1 | value |"), "{}", d1[0]);
    assert!(table::diff(&a, &b, 0.02, 0.0).is_empty(), "within rtol");
    assert!(
        table::render(&a)
            .lines()
            .next()
            .unwrap()
            .contains("measure")
    );
}
