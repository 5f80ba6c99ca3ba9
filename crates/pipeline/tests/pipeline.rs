//! The runner: cache hit/miss semantics, byte-identical outputs for 1 and 2 threads, diff of a
//! planted change. (Spec parsing and located errors are tested in gentk-spec; every operator ×
//! statistic × estimator combination in `combinations.rs`.)

mod common;
use common::{BASE, opts, tmp};

use std::path::{Path, PathBuf};

use gentk_pipeline::runner::{RunOptions, run};
use gentk_pipeline::table;
use gentk_spec::load;

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments/examples")
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
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

#[test]
fn tables_carry_what_produced_them_in_their_parquet_metadata() {
    let d = tmp("meta");
    let p = write(&d, "s.toml", BASE);
    let s = run(&load(&p).unwrap(), &opts(&d)).unwrap();
    let meta = table::metadata(&s.out_dir.join("table.parquet")).unwrap();
    let get = |k: &str| {
        meta.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {k} in {meta:?}"))
    };
    assert_eq!(get("gentk.experiment"), "t");
    assert_eq!(get("gentk.preset"), "cpu");
    assert_eq!(
        get("gentk.spec_hash"),
        gentk_pipeline::manifest::spec_hash(BASE)
    );
    assert_eq!(get("gentk.version"), env!("CARGO_PKG_VERSION"));
    assert_eq!(
        get("gentk.algo_version"),
        gentk_pipeline::cache::ALGO_VERSION
    );
    std::fs::remove_dir_all(&d).unwrap();
}

/// A claim's SQL runs on a table of the plan's shape before anything is computed: a misspelt
/// column is a located error; a good query is evaluated on the real table after the run, and the
/// notes quote its number.
#[test]
fn claim_sql_is_checked_before_the_run_and_quoted_after_it() {
    let d = tmp("claim-sql");
    let claim = |sql: &str| {
        format!(
            "{}\n[[claim]]\nid = \"top\"\nsays = \"the trace grows with the gain\"\nvalue.sql = \"{sql}\"\nis = \">\"\nthan = 0\n",
            BASE.replace(
                "seed = 1",
                "seed = 1\nnotes = \"**What the table shows.** Largest trace {top}.\""
            )
        )
    };
    let bad = write(&d, "bad.toml", &claim("SELECT max(vlaue) FROM t"));
    let err = gentk_pipeline::runner::plan(&load(&bad).unwrap(), "cpu", &Default::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("bad.toml:28:") && err.contains("claim[0].value.sql") && err.contains("vlaue"),
        "{err}"
    );
    assert!(!d.join("results").exists(), "nothing ran");
    let good = write(
        &d,
        "good.toml",
        &claim("SELECT \\\"model.gain\\\", max(value) FROM t GROUP BY 1 ORDER BY 1"),
    );
    let s = run(&load(&good).unwrap(), &opts(&d)).unwrap();
    assert!(
        s.claims[0].holds && s.claims[0].groups == 2,
        "{}",
        s.claims[0]
    );
    let notes = std::fs::read_to_string(s.out_dir.join("NOTES.md")).unwrap();
    let quoted = gentk_pipeline::notes::quote(s.claims[0].value);
    assert!(
        notes.contains(&format!("Largest trace {quoted}.")),
        "{notes}"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

/// A small memory-pro training spec whose run is seeded by the spec seed alone.
const TRAINED: &str = r#"
[experiment]
name = "NAME"
seed = 5
[model]
arch = "leaky-rnn"
hidden = 6
dt = 0.7
[task]
kind = "memory_pro"
n_samples = 4
t_stim = 3
t_memory = 3
t_response = 3
batch = 4
[train]
optimizer = "sgd"
lr = 0.05
iterations = 6
batch_size = 4
dataset_size = 8
measure_at = [0, 3, 6]
seed_from = ["experiment.seed"]
[sweep.zip]
"train.optimizer" = ["sgd", "adam"]
"train.lr" = [0.05, 0.01]
[[measure]]
name = "loss"
operator = "training"
statistic = "loss"
MORE
"#;

fn values_of(t: &table::Table, measure: &str) -> Vec<(String, f64)> {
    let col = |n: &str| t.columns.iter().position(|c| c == n).unwrap();
    let (mi, vi, oi, ii) = (
        col("measure"),
        col("value"),
        col("train.optimizer"),
        col("iteration"),
    );
    t.rows
        .iter()
        .filter(|r| r[mi].to_string().trim_matches('"') == measure)
        .map(|r| {
            let table::Cell::F(Some(v)) = r[vi] else {
                panic!("no value: {r:?}")
            };
            (format!("{} {}", r[oi], r[ii]), v)
        })
        .collect()
}

/// `train.seed_from` makes points that agree on the named keys start from one initialisation (the
/// SGD run and its Adam control have one loss at iteration 0), and a second spec that trains the
/// same model the same way reuses the cached run instead of training again: its losses are the
/// first spec's, bit for bit. A damaged run entry is a miss, never data.
#[test]
fn training_runs_are_shared_across_points_and_specs_through_the_run_cache() {
    let d = tmp("runs");
    let o = opts(&d);
    let a = write(
        &d,
        "a.toml",
        &TRAINED.replace("NAME", "a").replace("MORE", ""),
    );
    let sa = run(&load(&a).unwrap(), &o).unwrap();
    let ta = table::read(&sa.out_dir.join("table.parquet")).unwrap();
    let la = values_of(&ta, "loss");
    let at0: Vec<f64> = la
        .iter()
        .filter(|(k, _)| k.ends_with(" 0"))
        .map(|q| q.1)
        .collect();
    assert_eq!(at0.len(), 2);
    assert_eq!(
        at0[0].to_bits(),
        at0[1].to_bits(),
        "one shared initialisation: {la:?}"
    );
    assert_ne!(
        la[2].1, la[5].1,
        "the optimizers differ after training: {la:?}"
    );
    let runs = d.join("cache").join(".runs");
    let entries = || {
        let mut v: Vec<PathBuf> = std::fs::read_dir(&runs)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        v.sort();
        v
    };
    assert_eq!(entries().len(), 2, "one cached run per optimizer");
    // Another spec, other measurements, same training: the runs are reused (no new entry; same
    // losses). Planting a different loss into a run entry shows that it is read, not recomputed.
    let more = "[[measure]]\nname = \"a_i\"\noperator = \"output\"\nstatistic = \"target_mode_alignment\"\nk = 3";
    let b = write(
        &d,
        "b.toml",
        &TRAINED.replace("NAME", "b").replace("MORE", more),
    );
    let tb = table::read(
        &run(&load(&b).unwrap(), &o)
            .unwrap()
            .out_dir
            .join("table.parquet"),
    )
    .unwrap();
    assert_eq!(values_of(&tb, "loss"), la);
    assert_eq!(entries().len(), 2, "no new run trained");
    assert_eq!(
        values_of(&tb, "a_i").len(),
        2 * 3 * 3,
        "a_1..a_3 at 3 checkpoints, 2 runs"
    );
    // Damage: a changed digit fails the entry's checksum, so the run is retrained (same numbers).
    for e in entries() {
        let text = std::fs::read_to_string(&e).unwrap();
        let pos = text.find("\"loss\":").unwrap() + 7;
        let mut bytes = text.into_bytes();
        bytes[pos] = if bytes[pos] == b'1' { b'2' } else { b'1' };
        std::fs::write(&e, bytes).unwrap();
    }
    let c = write(
        &d,
        "c.toml",
        &TRAINED.replace("NAME", "c").replace("MORE", more),
    );
    let tc = table::read(
        &run(&load(&c).unwrap(), &o)
            .unwrap()
            .out_dir
            .join("table.parquet"),
    )
    .unwrap();
    assert_eq!(
        values_of(&tc, "loss"),
        la,
        "a damaged run entry is recomputed, not read"
    );
}

/// The teacher–student setup and F11's target alignment against a dense reference: the student's
/// NTK_S over the parameters its case trains (W: W_h only), materialised; C_h = kpflow's
/// compress_mean over hidden units, (I ⊗ 1ᵀ) A (I ⊗ 1)/H; (yᵀ C_h y/yᵀy)/tr NTK_S with y the
/// teacher's outputs. The held-out MSE is the
/// student's readout against the same targets. Both agree with the runner to 1e-12.
#[test]
fn teacher_student_alignment_and_test_loss_match_a_dense_reference() {
    use gentk_linalg::{LinearOp, materialize};
    use gentk_models::{Recurrent, StudentCase, TeacherStudent};
    let text = r#"
[experiment]
name = "ts"
seed = 2
[model]
arch = "rnn"
hidden = 4
gain = 0.8
[teacher]
case = "W"
[task]
kind = "teacher_student"
n_samples = 2
T = 3
input_dim = 3
input_rank = 2
batch = 2
[[measure]]
name = "align"
operator = "ntk"
statistic = "target_alignment"
[[measure]]
name = "mse"
operator = "output"
statistic = "loss"
[[measure]]
name = "trace"
operator = "ntk"
statistic = "trace"
"#;
    let d = tmp("teacher");
    let sf = load(&write(&d, "ts.toml", text)).unwrap();
    let plan = gentk_spec::resolve(&sf, "cpu").unwrap();
    let pp = &plan.points[0];
    let rows = gentk_pipeline::measure::compute_point(&pp.spec, &pp.task, 11, None)
        .unwrap()
        .rows;
    let got = |name: &str| rows.iter().find(|r| r.measure == name).unwrap().value;

    let spec = &pp.spec;
    let tseed = gentk_pipeline::cache::keyed_seed(spec, b"teacher", &[]).unwrap();
    let ts = TeacherStudent::new(3, 4, 1, 1.0, 0.8, StudentCase::W, tseed).unwrap();
    let data = gentk_pipeline::measure::point_data(spec, &pp.task, 11).unwrap();
    let y = ts.targets(&data.inputs, data.n, data.time).unwrap();
    let ro = ts
        .student
        .rollout(&data.inputs, data.n, data.time, None)
        .unwrap();
    let g = gentk_ntk::GlobalNtk::new(&ts.student, &ro).with_subset(StudentCase::W.trained());
    let ntk = g.ntk().unwrap();
    let a = materialize(&ntk, 4096).unwrap();
    let (sites, h) = (data.n * data.time, 4);
    assert_eq!(ntk.shape_in().numel(), sites * h);
    let mut num = 0.0;
    for s1 in 0..sites {
        for s2 in 0..sites {
            // kpflow's compress_mean: (I ⊗ 1ᵀ) A (I ⊗ 1)/H, every pair of hidden units.
            let c: f64 = (0..h)
                .flat_map(|i| (0..h).map(move |j| (i, j)))
                .map(|(i, j)| a[(s1 * h + i, s2 * h + j)])
                .sum::<f64>()
                / h as f64;
            num += y[s1] * c * y[s2];
        }
    }
    let trace: f64 = (0..sites * h).map(|i| a[(i, i)]).sum();
    let want = num / y.iter().map(|v| v * v).sum::<f64>() / trace;
    assert!(
        (got("trace") - trace).abs() <= 1e-12 * trace,
        "trace {} vs {trace}",
        got("trace")
    );
    assert!(
        (got("align") - want).abs() <= 1e-12 * want.abs(),
        "{} vs {want}",
        got("align")
    );
    // Over all parameters the trace is larger: the subset is what the runner used.
    let all = materialize(
        &gentk_ntk::GlobalNtk::new(&ts.student, &ro).ntk().unwrap(),
        4096,
    )
    .unwrap();
    assert!((0..sites * h).map(|i| all[(i, i)]).sum::<f64>() > 1.01 * trace);
    let yhat = ts.readout.apply(&ro.states);
    let mse = yhat
        .iter()
        .zip(&y)
        .map(|(p, q)| (p - q) * (p - q))
        .sum::<f64>()
        / y.len() as f64;
    assert!((got("mse") - mse).abs() <= 1e-14 * mse.max(1.0));
}

#[test]
fn wall_times_go_to_their_own_table_marked_non_deterministic() {
    let d = tmp("timings");
    let p = write(&d, "s.toml", BASE);
    let o = opts(&d);
    let s = run(&load(&p).unwrap(), &o).unwrap();
    let tt = table::read(&s.out_dir.join("timings.parquet")).unwrap();
    let col = |name: &str| tt.columns.iter().position(|c| c == name).unwrap();
    let (st, val) = (col("statistic"), col("value"));
    let text = |c: &table::Cell| match c {
        table::Cell::S(Some(s)) => s.clone(),
        other => panic!("{other:?}"),
    };
    let stats: Vec<String> = tt.rows.iter().map(|r| text(&r[st])).collect();
    // One point total per point, and one time per measurement of each point; all positive.
    let spec = load(&p).unwrap().spec;
    assert_eq!(stats.iter().filter(|s| *s == "point_seconds").count(), 2);
    assert_eq!(
        stats.iter().filter(|s| *s == "measure_seconds").count(),
        2 * spec.measures.len()
    );
    assert!(
        tt.rows
            .iter()
            .all(|r| matches!(r[val], table::Cell::F(Some(v)) if v >= 0.0))
    );
    // The manifest says which files are measured, and the table carries none of it.
    let m = std::fs::read_to_string(s.out_dir.join("manifest.toml")).unwrap();
    assert!(
        m.contains("nondeterministic = [\"timings.parquet\"]"),
        "{m}"
    );
    let t = table::read(&s.out_dir.join("table.parquet")).unwrap();
    assert!(t.rows.iter().all(|r| !text(&r[st]).ends_with("_seconds")));
    let table_bytes = std::fs::read(s.out_dir.join("table.parquet")).unwrap();
    // A cached rerun reports the wall times of the run that computed the points.
    let before = std::fs::read(s.out_dir.join("timings.parquet")).unwrap();
    let s2 = run(&load(&p).unwrap(), &o).unwrap();
    assert_eq!(s2.computed, 0);
    assert!(std::fs::read(s2.out_dir.join("timings.parquet")).unwrap() == before);
    // A damaged timings cache costs the wall times, never the table.
    for e in std::fs::read_dir(d.join("cache/t")).unwrap() {
        let f = e.unwrap().path();
        if f.to_string_lossy().ends_with(".timings.json") {
            std::fs::write(&f, "{").unwrap();
        }
    }
    let s3 = run(&load(&p).unwrap(), &o).unwrap();
    assert_eq!(s3.computed, 0);
    assert!(!s3.out_dir.join("timings.parquet").exists());
    assert!(std::fs::read(s3.out_dir.join("table.parquet")).unwrap() == table_bytes);
}

#[test]
fn shards_fill_the_cache_and_a_plain_run_assembles_the_same_bytes() {
    use gentk_pipeline::runner::{Shard, cached_points};
    let text = BASE.replace("[0.5, 1.5]", "[0.5, 1.0, 1.5, 2.0, 2.5]");
    // The local run, in its own root.
    let local = tmp("shard-local");
    let pl = write(&local, "s.toml", &text);
    let want = run(&load(&pl).unwrap(), &opts(&local)).unwrap();
    // Three shards into one cache: none writes a result folder; together they cover every point.
    let d = tmp("shards");
    let p = write(&d, "s.toml", &text);
    let sf = load(&p).unwrap();
    let mut owned = 0;
    for i in 1..=3 {
        let o = RunOptions {
            shard: Some(Shard { index: i, count: 3 }),
            ..opts(&d)
        };
        let s = run(&sf, &o).unwrap();
        assert_eq!((s.shard, s.computed), (o.shard, s.owned));
        assert!(s.claims.is_empty());
        owned += s.owned;
        assert!(!d.join("results/t").exists(), "a shard wrote results");
    }
    assert_eq!(owned, 5);
    let limits = gentk_spec::Limits::default();
    assert_eq!(
        cached_points(&sf, "cpu", &limits, &d.join("cache")).unwrap(),
        (5, 5)
    );
    // The assembling run computes nothing and writes the local run's bytes.
    let s = run(&sf, &opts(&d)).unwrap();
    assert_eq!(s.computed, 0);
    for f in ["table.parquet", "claims.toml"] {
        let (a, b) = (want.out_dir.join(f), s.out_dir.join(f));
        assert_eq!(a.exists(), b.exists());
        if a.exists() {
            assert!(
                std::fs::read(a).unwrap() == std::fs::read(b).unwrap(),
                "{f} differs"
            );
        }
    }
    // A point's shard depends on its key alone: adding sweep values moves no finished point.
    let keys = |t: &str| {
        let sf = load(&write(&d, "k.toml", t)).unwrap();
        gentk_pipeline::runner::plan(&sf, "cpu", &limits)
            .unwrap()
            .points
            .iter()
            .map(|pp| gentk_pipeline::cache::point_key(&pp.spec, &pp.point).unwrap())
            .collect::<Vec<_>>()
    };
    let (small, big) = (keys(&text), keys(&text.replace("2.5]", "2.5, 3.0, 3.5]")));
    assert_eq!(&big[..5], &small[..]);
    for n in [2, 3, 7] {
        let before: Vec<usize> = small.iter().map(|k| Shard::of(k, n)).collect();
        let after: Vec<usize> = big[..5].iter().map(|k| Shard::of(k, n)).collect();
        assert_eq!(before, after);
        assert!(big.iter().all(|k| (1..=n).contains(&Shard::of(k, n))));
    }
    // Malformed shards are refused with the reason.
    for bad in ["0/3", "4/3", "1/0", "2", "a/3"] {
        assert!(Shard::parse(bad).is_err(), "{bad}");
    }
    assert_eq!(Shard::parse("2/5"), Ok(Shard { index: 2, count: 5 }));
}
