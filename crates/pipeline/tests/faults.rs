//! Faults the runner must survive without losing or mixing results: damaged cache entries are never
//! data, duplicate sweep points are computed once and never race, a run that fails after its table
//! (a chart with nothing to draw) leaves the previous result folder whole and no temporary files,
//! and stale files of an older spec do not survive a run. (Kill -9 at random and targeted moments
//! is tested against the binary in `crates/cli/tests/faults.rs`.)

mod common;
use common::{BASE, opts, tmp};

use std::path::{Path, PathBuf};

use gentk_pipeline::runner::{RunOptions, run};
use gentk_spec::load;

/// Every file below `dir` with its bytes, sorted by path.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}

/// Names under `dir` that are temporary (hidden `.…tmp…`).
fn temporaries(dir: &Path) -> Vec<PathBuf> {
    snapshot(dir)
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| p.iter().any(|c| c.to_string_lossy().starts_with('.')))
        .collect()
}

#[test]
fn damaged_cache_entries_are_misses_never_data() {
    let d = tmp("cache");
    let spec = d.join("s.toml");
    std::fs::write(&spec, BASE).unwrap();
    let o = opts(&d);
    let sf = load(&spec).unwrap();
    let first = run(&sf, &o).unwrap();
    let table = std::fs::read(first.out_dir.join("table.parquet")).unwrap();
    let entries: Vec<PathBuf> = std::fs::read_dir(d.join("cache/t"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter(|p| !p.to_string_lossy().ends_with(".timings.json"))
        .collect();
    assert_eq!(entries.len(), 2);
    let original = std::fs::read_to_string(&entries[0]).unwrap();
    let other = std::fs::read_to_string(&entries[1]).unwrap();
    // One changed digit in a value, an empty array, the other point's entry, a truncated file,
    // garbage bytes: each must be recomputed (a miss) and the table must not change.
    let digit = {
        let i = original.find("\"value\":").unwrap() + "\"value\":".len();
        let mut b = original.clone().into_bytes();
        let j = (i..b.len()).find(|&j| b[j].is_ascii_digit()).unwrap();
        b[j] = if b[j] == b'9' { b'1' } else { b[j] + 1 };
        String::from_utf8(b).unwrap()
    };
    let damages = [
        digit,
        "[]".to_string(),
        other.clone(),
        original[..original.len() / 2].to_string(),
        "\u{0}\u{1}garbage".to_string(),
    ];
    for (k, damaged) in damages.iter().enumerate() {
        std::fs::write(&entries[0], damaged).unwrap();
        let again = run(&sf, &o).unwrap();
        assert_eq!(
            again.computed, 1,
            "damage {k}: the damaged entry is recomputed"
        );
        assert_eq!(
            std::fs::read(again.out_dir.join("table.parquet")).unwrap(),
            table,
            "damage {k} changed the table"
        );
        assert_eq!(
            std::fs::read_to_string(&entries[0]).unwrap(),
            original,
            "damage {k}: rewritten"
        );
    }
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn duplicate_sweep_points_are_computed_once_and_never_race() {
    let d = tmp("dup");
    // An integer logspace that rounds to repeated values: 10^(0, 0.1, …, 0.5) → hidden sizes
    // 1, 1, 2, 2, 3, 3, run on 4 threads.
    let text = BASE.replace(
        "\"model.gain\" = [0.5, 1.5]",
        "\"model.hidden\" = { logspace = [0.0, 0.5, 6], int = true }",
    );
    let spec = d.join("s.toml");
    std::fs::write(&spec, text).unwrap();
    let sf = load(&spec).unwrap();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .build()
        .unwrap();
    for round in 0..5 {
        let o = RunOptions {
            force: true,
            ..opts(&d)
        };
        let s = pool.install(|| run(&sf, &o)).unwrap();
        assert_eq!((s.points, s.computed), (6, 3), "round {round}");
    }
    let t = gentk_pipeline::table::read(&d.join("results/t/table.parquet")).unwrap();
    assert_eq!(t.rows.len(), 6, "one row per point, duplicates included");
    assert!(temporaries(&d).is_empty(), "{:?}", temporaries(&d));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_run_that_fails_after_its_table_leaves_the_previous_folder_whole() {
    let d = tmp("publish");
    let spec = d.join("s.toml");
    let notes = "hand-written notes\n";
    // A chart that validates but has nothing to draw: a log-y line of a trace filtered to a gain
    // that is not in the sweep.
    let good = format!("{BASE}\n[[plot]]\nfile = \"trace\"\nx = \"model.gain\"\n");
    std::fs::write(&spec, &good).unwrap();
    let o = opts(&d);
    let first = run(&load(&spec).unwrap(), &o).unwrap();
    std::fs::write(first.out_dir.join("NOTES.md"), notes).unwrap();
    std::fs::write(first.out_dir.join("stale.png"), "from an older spec").unwrap();
    let before = snapshot(&first.out_dir);
    let bad = good
        .replace(
            "x = \"model.gain\"\n",
            "x = \"model.gain\"\nfilter = { \"model.gain\" = 7.0 }\n",
        )
        .replace("[0.5, 1.5]", "[0.5, 2.5]");
    std::fs::write(&spec, bad).unwrap();
    let err = run(&load(&spec).unwrap(), &o).unwrap_err().to_string();
    assert!(err.contains("trace"), "{err}");
    assert_eq!(
        snapshot(&first.out_dir),
        before,
        "the previous result set is untouched"
    );
    assert!(
        temporaries(&d.join("results")).is_empty(),
        "{:?}",
        temporaries(&d)
    );
    // A successful run replaces the folder whole: the stale chart and the hand-written notes go
    // (notes live in the spec's `experiment.notes`; this spec has none and no claims).
    std::fs::write(&spec, &good).unwrap();
    run(&load(&spec).unwrap(), &o).unwrap();
    let names: Vec<String> = snapshot(&first.out_dir)
        .into_iter()
        .map(|(p, _)| p.to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "manifest.toml",
            "table.parquet",
            "timings.parquet",
            "trace.png",
            "trace.svg"
        ]
    );
    std::fs::remove_dir_all(&d).unwrap();
}
