//! The binary under hostile input and faults (issue 12's corpus): specs mutated from every committed
//! spec fail with exit status 2, a located message and nothing written; damaged weight files from
//! `gentk example-files` never panic; `kill -9` at spread-out and at targeted moments (while the
//! table and charts are being written) never leaves a mixed result folder, and the next run leaves
//! no temporary file and the same bytes as an uninterrupted run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gentk"))
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gentk-cli-faults-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every file below `dir` (relative path, bytes), sorted.
fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(b) = std::fs::read(&p) {
                out.push((p.strip_prefix(dir).unwrap().to_path_buf(), b));
            }
        }
    }
    out.sort();
    out
}

/// A clean failure: exit status 2 (the CLI's error status; a panic is 101, an abort a signal) and
/// no panic message.
fn failed_cleanly(o: &Output) -> Result<String, String> {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    if o.status.code() == Some(2) && !err.contains("panicked") {
        Ok(err)
    } else {
        Err(format!("status {:?}: {err}", o.status))
    }
}

/// One mutation of a spec document (`None` when it does not apply to this spec).
type Mutation = fn(&mut toml::Table) -> Option<()>;

fn table<'a>(t: &'a mut toml::Table, k: &str) -> Option<&'a mut toml::Table> {
    t.get_mut(k)?.as_table_mut()
}

const MUTATIONS: &[(&str, Mutation)] = &[
    ("escape", |t| {
        table(t, "experiment")?.insert("name".into(), "../../escaped".into());
        Some(())
    }),
    ("absolute", |t| {
        let abs = std::env::temp_dir().join("gentk-absolute-escape");
        table(t, "experiment")?.insert("name".into(), abs.to_string_lossy().as_ref().into());
        Some(())
    }),
    ("dot", |t| {
        table(t, "experiment")?.insert("name".into(), ".".into());
        Some(())
    }),
    ("hidden", |t| {
        table(t, "model")?.insert("hidden".into(), toml::Value::Integer(1_000_000_000));
        Some(())
    }),
    ("batch", |t| {
        table(t, "task")?.insert("batch".into(), toml::Value::Integer(0));
        Some(())
    }),
    ("budget", |t| {
        let m = t
            .get_mut("measure")?
            .as_array_mut()?
            .first_mut()?
            .as_table_mut()?;
        m.insert("estimator".into(), "randomized".into());
        m.insert("budget".into(), toml::Value::Integer(1_000_000_000_000));
        // Measures that have no randomized estimator are refused for that instead: also clean.
        Some(())
    }),
    ("sweep", |t| {
        let mut g = toml::Table::new();
        g.insert(
            "model.gain".into(),
            toml::Value::Table({
                let mut a = toml::Table::new();
                a.insert(
                    "linspace".into(),
                    toml::Value::Array(vec![
                        0.0.into(),
                        1.0.into(),
                        toml::Value::Integer(1_000_000_000_000_000),
                    ]),
                );
                a
            }),
        );
        let mut s = toml::Table::new();
        s.insert("grid".into(), toml::Value::Table(g));
        t.insert("sweep".into(), toml::Value::Table(s));
        Some(())
    }),
    ("plot_column", |t| {
        let p = t
            .get_mut("plot")?
            .as_array_mut()?
            .first_mut()?
            .as_table_mut()?;
        p.insert("x".into(), "no_such_column".into());
        Some(())
    }),
    ("plot_file", |t| {
        let p = t
            .get_mut("plot")?
            .as_array_mut()?
            .first_mut()?
            .as_table_mut()?;
        p.insert("file".into(), "../../escaped_chart".into());
        Some(())
    }),
    ("nan_gain", |t| {
        table(t, "model")?.insert("gain".into(), f64::NAN.into());
        t.remove("sweep");
        t.remove("presets");
        Some(())
    }),
];

#[test]
fn hostile_specs_from_every_committed_spec_fail_cleanly_and_write_nothing() {
    let d = tmp("hostile");
    let mut specs = Vec::new();
    for dir in ["experiments", "experiments/examples"] {
        for e in std::fs::read_dir(root().join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "toml") {
                specs.push(p);
            }
        }
    }
    specs.sort();
    let (mut tried, mut masked, mut failures) = (0usize, 0usize, Vec::new());
    for spec in &specs {
        let text = std::fs::read_to_string(spec).unwrap();
        for (label, mutate) in MUTATIONS {
            let mut doc: toml::Table = toml::from_str(&text).unwrap();
            if mutate(&mut doc).is_none() {
                continue;
            }
            // Presets could override the mutated key; the base document is what is tested.
            doc.remove("presets");
            let work = d.join(format!("case{}", tried + masked));
            std::fs::create_dir_all(work.join("deep/deeper")).unwrap();
            let file = work.join("deep/deeper/spec.toml");
            std::fs::write(&file, toml::to_string(&doc).unwrap()).unwrap();
            let stem = spec.file_name().unwrap().to_string_lossy();
            let probe = bin()
                .current_dir(work.join("deep/deeper"))
                .args(["validate", "spec.toml"])
                .output()
                .unwrap();
            if probe.status.success() {
                // The spec's own sweep sets the mutated key: nothing hostile is left to run.
                masked += 1;
                continue;
            }
            tried += 1;
            for cmd in ["validate", "run"] {
                let o = bin()
                    .current_dir(work.join("deep/deeper"))
                    .arg(cmd)
                    .arg("spec.toml")
                    .output()
                    .unwrap();
                match failed_cleanly(&o) {
                    Err(e) => failures.push(format!("{stem} {label} {cmd}: {e}")),
                    Ok(err) => {
                        // Located: "spec.toml:LINE:COLUMN:".
                        let located = err.split("spec.toml:").nth(1).is_some_and(|r| {
                            let mut it = r.splitn(3, ':');
                            matches!((it.next(), it.next()), (Some(l), Some(c))
                                if l.parse::<usize>().is_ok() && c.parse::<usize>().is_ok())
                        });
                        if !located {
                            failures.push(format!("{stem} {label} {cmd}: unlocated: {err}"));
                        }
                    }
                }
            }
            // Nothing written anywhere: the case folder holds only the spec.
            let left: Vec<PathBuf> = files(&work).into_iter().map(|(p, _)| p).collect();
            if left != [PathBuf::from("deep/deeper/spec.toml")] {
                failures.push(format!("{stem} {label}: wrote {left:?}"));
            }
        }
    }
    assert!(!std::env::temp_dir().join("gentk-absolute-escape").exists());
    assert!(
        failures.is_empty(),
        "{} of {tried}:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(tried >= 150, "{tried} cases");
    eprintln!("{tried} hostile specs, all refused cleanly ({masked} mutations masked by a sweep)");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn damaged_weight_files_never_panic() {
    let d = tmp("weights");
    let o = bin().arg("example-files").arg(&d).output().unwrap();
    assert!(o.status.success());
    let (w, x) = (d.join("weights.safetensors"), d.join("inputs.safetensors"));
    let good = std::fs::read(&w).unwrap();
    let header = 8 + u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    let mut damaged: Vec<Vec<u8>> = Vec::new();
    for cut in [
        0,
        4,
        8,
        9,
        header / 2,
        header - 1,
        header,
        header + 3,
        good.len() - 1,
    ] {
        damaged.push(good[..cut].to_vec());
    }
    for pos in (0..header).step_by(header / 24 + 1) {
        let mut b = good.clone();
        b[pos] ^= 0x5a;
        damaged.push(b);
    }
    let mut huge = good.clone();
    huge[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    damaged.push(huge);
    let mut errors = 0;
    let bad = d.join("bad.safetensors");
    for (k, bytes) in damaged.iter().enumerate() {
        std::fs::write(&bad, bytes).unwrap();
        let o = bin()
            .args(["inspect", "--arch", "leaky-rnn", "--exact", "--weights"])
            .arg(&bad)
            .arg("--inputs")
            .arg(&x)
            .output()
            .unwrap();
        // A flipped byte may leave a valid file (exit 0); anything else must be a clean error.
        if !o.status.success() {
            failed_cleanly(&o).unwrap_or_else(|e| panic!("damage {k}: {e}"));
            errors += 1;
        }
    }
    assert!(
        errors >= damaged.len() / 2,
        "{errors} of {} refused",
        damaged.len()
    );
    eprintln!(
        "{} damaged weight files, {errors} refused cleanly, none panicked",
        damaged.len()
    );
    std::fs::remove_dir_all(&d).unwrap();
}

/// A spec that takes about a second (GRU top eigenvalues over gains), with two charts.
const SLOW: &str = include_str!("fixtures/slow.toml");

fn run_cmd(spec: &Path, root: &Path, force: bool) -> Command {
    let mut c = bin();
    c.arg("run")
        .arg(spec)
        .arg("--results")
        .arg(root.join("results"))
        .arg("--cache")
        .arg(root.join("cache"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if force {
        c.arg("--force");
    }
    c
}

/// The result folder's tables and charts (the manifest names the spec path, which differs between
/// roots, and the wall times differ between runs, so only their presence is compared).
fn result_set(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    files(dir)
        .into_iter()
        .map(|(p, b)| {
            if p.ends_with("manifest.toml") || p.ends_with("timings.parquet") {
                (p, Vec::new())
            } else {
                (p, b)
            }
        })
        .collect()
}

fn temporaries(dir: &Path) -> Vec<PathBuf> {
    files(dir)
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| p.iter().any(|c| c.to_string_lossy().starts_with('.')))
        .collect()
}

#[test]
fn kill_9_never_leaves_a_mixed_folder_or_temporary_files() {
    let d = tmp("kill");
    let spec = d.join("slow.toml");
    let (old_gains, new_gains) = ("[0.5, 1.0]", "{ linspace = [0.5, 4.0, 12] }");
    // Reference sets, each from an uninterrupted run in its own root.
    let reference = |gains: &str, name: &str| {
        let r = tmp(name);
        let s = r.join("slow.toml");
        std::fs::write(&s, SLOW.replace("GAINS", gains).replace("SEEDS", "[5]")).unwrap();
        assert!(run_cmd(&s, &r, false).status().unwrap().success());
        result_set(&r.join("results/slow"))
    };
    let (old_set, new_set) = (
        reference(old_gains, "ref-old"),
        reference(new_gains, "ref-new"),
    );
    assert_ne!(old_set, new_set);
    let timed = Instant::now();
    std::fs::write(
        &spec,
        SLOW.replace("GAINS", new_gains).replace("SEEDS", "[5]"),
    )
    .unwrap();
    assert!(
        run_cmd(&spec, &tmp("timing"), false)
            .status()
            .unwrap()
            .success()
    );
    let full = timed.elapsed();
    let out = d.join("results/slow");
    let check = |when: &str| {
        let now = result_set(&out);
        assert!(
            now == old_set || now == new_set,
            "{when}: a mixed or partial folder: {:?}",
            now.iter().map(|(p, _)| p).collect::<Vec<_>>()
        );
    };
    let mut kills = 0;
    // Spread-out moments over a whole forced run, then targeted ones: as soon as the staging
    // folder appears (the table is being written) and as soon as a chart's temporary file does.
    let moments: Vec<Option<u32>> = (0..10)
        .map(|k| Some(k * 11 % 10))
        .chain([None, None])
        .collect();
    for (k, moment) in moments.into_iter().enumerate() {
        std::fs::write(
            &spec,
            SLOW.replace("GAINS", old_gains).replace("SEEDS", "[5]"),
        )
        .unwrap();
        assert!(run_cmd(&spec, &d, true).status().unwrap().success());
        check("before");
        std::fs::write(
            &spec,
            SLOW.replace("GAINS", new_gains).replace("SEEDS", "[5]"),
        )
        .unwrap();
        let mut child = run_cmd(&spec, &d, true).spawn().unwrap();
        match moment {
            Some(tenth) => std::thread::sleep(full * tenth / 10),
            None => {
                let deadline = Instant::now() + full * 10;
                let staged = |chart: bool| {
                    std::fs::read_dir(d.join("results"))
                        .ok()
                        .into_iter()
                        .flatten()
                        .flatten()
                        .any(|e| {
                            let n = e.file_name().to_string_lossy().into_owned();
                            n.starts_with(".slow.tmp")
                                && (!chart
                                    || std::fs::read_dir(e.path())
                                        .map(|rd| {
                                            rd.flatten().any(|f| {
                                                f.file_name().to_string_lossy().starts_with('.')
                                            })
                                        })
                                        .unwrap_or(false))
                        })
                };
                while !staged(k % 2 == 1) && Instant::now() < deadline {
                    if child.try_wait().unwrap().is_some() {
                        break;
                    }
                    std::thread::yield_now();
                }
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        kills += 1;
        check(&format!("kill {k}"));
    }
    // The next run cleans up after the killed ones and ends with the uninterrupted bytes.
    assert!(run_cmd(&spec, &d, false).status().unwrap().success());
    assert_eq!(result_set(&out), new_set);
    let left: Vec<PathBuf> = temporaries(&d.join("results"))
        .into_iter()
        .chain(temporaries(&d.join("cache")))
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
    eprintln!(
        "{kills} kills (run time {full:?}); no mixed folder, no temporary file after the next run"
    );
}
