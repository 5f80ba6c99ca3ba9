//! The runner commands end to end: validate, run, show, diff exit codes, thread-count determinism
//! through the binary, and recovery from a run killed mid-way.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gentk"))
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gentk-runner-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../experiments/examples")
        .join(name)
}

fn run_into(spec: &Path, root: &Path, threads: Option<&str>) -> (bool, String) {
    let mut c = bin();
    c.args(["run"])
        .arg(spec)
        .arg("--results")
        .arg(root.join("results"))
        .arg("--cache")
        .arg(root.join("cache"));
    if let Some(t) = threads {
        c.env("RAYON_NUM_THREADS", t);
    }
    let o = c.output().unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr),
    )
}

#[test]
fn validate_show_and_diff() {
    let d = tmp("vsd");
    let o = bin()
        .arg("validate")
        .arg(example("ranks_vs_gain.toml"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let bad = d.join("bad.toml");
    std::fs::write(
        &bad,
        std::fs::read_to_string(example("ranks_vs_gain.toml"))
            .unwrap()
            .replace("hidden = 8", "hiden = 8"),
    )
    .unwrap();
    let o = bin().arg("validate").arg(&bad).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success()
            && err.contains("bad.toml:10:1")
            && err.contains("did you mean `hidden`"),
        "{err}"
    );
    let spec = example("ranks_vs_gain.toml");
    let (a, b) = (d.join("a"), d.join("b"));
    assert!(run_into(&spec, &a, None).0 && run_into(&spec, &b, None).0);
    let ta = a.join("results/example_ranks_vs_gain/table.parquet");
    let o = bin().arg("show").arg(&ta).output().unwrap();
    let shown = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success()
            && shown.lines().next().unwrap().contains("measure")
            && shown.trim_end().lines().count() == 13,
        "{shown}"
    );
    let o = bin()
        .arg("diff")
        .arg(a.join("results/example_ranks_vs_gain"))
        .arg(b.join("results/example_ranks_vs_gain"))
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    // Both folders hold measured wall times, which differ: compared only when asked.
    let (fa, fb) = (
        a.join("results/example_ranks_vs_gain"),
        b.join("results/example_ranks_vs_gain"),
    );
    assert!(fa.join("timings.parquet").exists() && fb.join("timings.parquet").exists());
    assert!(!String::from_utf8_lossy(&o.stdout).contains("timings.parquet"));
    let o = bin()
        .arg("diff")
        .arg(&fa)
        .arg(&fb)
        .arg("--timings")
        .output()
        .unwrap();
    let rep = String::from_utf8_lossy(&o.stdout);
    assert!(rep.contains("## timings.parquet"), "{rep}");
    // A different seed moves numbers: diff exits 1 and lists them.
    let other = d.join("other.toml");
    std::fs::write(
        &other,
        std::fs::read_to_string(&spec)
            .unwrap()
            .replace("seed = 7", "seed = 8"),
    )
    .unwrap();
    let c = d.join("c");
    assert!(run_into(&other, &c, None).0);
    let o = bin()
        .arg("diff")
        .arg(&ta)
        .arg(c.join("results/example_ranks_vs_gain/table.parquet"))
        .output()
        .unwrap();
    let rep = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{rep}");
    assert!(
        rep.contains("| value |") && rep.contains("| seed |"),
        "{rep}"
    );
    // Whole result sets (`results/` roots): tables are found below figure folders and paired by
    // relative path; the moved numbers are reported, as is a table present on one side only.
    let o = bin()
        .arg("diff")
        .arg(a.join("results"))
        .arg(c.join("results"))
        .output()
        .unwrap();
    let rep = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{rep}");
    assert!(
        rep.contains("## example_ranks_vs_gain/table.parquet: "),
        "{rep}"
    );
    std::fs::create_dir_all(a.join("results/only_a")).unwrap();
    std::fs::copy(&ta, a.join("results/only_a/table.parquet")).unwrap();
    let o = bin()
        .arg("diff")
        .arg(a.join("results"))
        .arg(b.join("results"))
        .output()
        .unwrap();
    let rep = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{rep}");
    assert!(
        rep.contains("## only_a/table.parquet: missing in B")
            && rep.contains("## example_ranks_vs_gain/table.parquet: no changes"),
        "{rep}"
    );
}

#[test]
fn one_and_two_threads_give_identical_bytes() {
    let spec = example("spectra.toml");
    let (a, b) = (tmp("t1"), tmp("t2"));
    assert!(run_into(&spec, &a, Some("1")).0 && run_into(&spec, &b, Some("2")).0);
    let f = |r: &Path| std::fs::read(r.join("results/example_spectra/table.parquet")).unwrap();
    assert!(f(&a) == f(&b));
}

/// A spec that takes about a second (GRU top eigenvalues over gains × seeds), with two charts.
const SLOW: &str = include_str!("fixtures/slow.toml");
const GAINS: &str = "{ linspace = [0.5, 4.0, 8] }";

#[test]
fn a_killed_run_leaves_previous_results_intact_and_the_next_run_resumes() {
    let d = tmp("kill");
    let spec = d.join("slow.toml");
    std::fs::write(&spec, SLOW.replace("GAINS", GAINS).replace("SEEDS", "[1]")).unwrap();
    assert!(run_into(&spec, &d, None).0);
    let table = d.join("results/slow/table.parquet");
    let before = std::fs::read(&table).unwrap();
    // A bigger sweep, killed mid-run.
    std::fs::write(
        &spec,
        SLOW.replace("GAINS", GAINS)
            .replace("SEEDS", "[1, 2, 3, 4, 5, 6]"),
    )
    .unwrap();
    let mut child = bin()
        .args(["run"])
        .arg(&spec)
        .arg("--results")
        .arg(d.join("results"))
        .arg("--cache")
        .arg(d.join("cache"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(400));
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        std::fs::read(&table).unwrap() == before || std::fs::read(&table).is_ok(),
        "table readable"
    );
    let killed_early = std::fs::read(&table).unwrap() == before;
    // The next run resumes (reuses every finished point) and matches a clean run byte for byte.
    let (ok, out) = run_into(&spec, &d, None);
    assert!(ok, "{out}");
    let clean = tmp("clean");
    assert!(run_into(&spec, &clean, None).0);
    assert!(
        std::fs::read(&table).unwrap()
            == std::fs::read(clean.join("results/slow/table.parquet")).unwrap()
    );
    let computed: usize = out
        .split(" computed)")
        .next()
        .and_then(|s| s.rsplit('(').next())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(usize::MAX);
    assert!(
        computed < 48,
        "the resumed run must reuse cached points: {out}"
    );
    eprintln!("killed before the table was rewritten: {killed_early}");
}

#[test]
fn check_exits_non_zero_with_the_sentence_and_both_numbers() {
    let d = tmp("check");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let text = std::fs::read_to_string(root.join("experiments/f08_filter.toml")).unwrap()
        + "\n[[claim]]\nsays = \"a planted false claim\"\nvalue = { measure = \"w_t\", aggregate = \"only\", where = { \"model.gain\" = 2.0, index = 19 } }\nis = \"<\"\nthan = 1\n";
    let spec = d.join("f08_filter.toml");
    std::fs::write(&spec, text).unwrap();
    let o = bin()
        .arg("check")
        .arg(&spec)
        .arg("--results")
        .arg(root.join("results"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("a planted false claim") && err.contains("524288 < 1"),
        "{err}"
    );
    // The committed claims alone pass.
    let o = bin()
        .arg("check")
        .arg(root.join("experiments/f08_filter.toml"))
        .arg("--results")
        .arg(root.join("results"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// `gentk slurm` with `path` as PATH (so `sbatch` is missing, or a fake one), in root `d`.
fn slurm(d: &Path, spec: &Path, path: &Path, extra: &[&str]) -> (i32, String, String) {
    let o = bin()
        .arg("slurm")
        .arg(spec)
        .arg("--cache")
        .arg(d.join("cache"))
        .arg("--results")
        .arg(d.join("results"))
        .args(extra)
        .env("PATH", path)
        .env_remove("GENTK_CACHE")
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn slurm_refuses_bad_specs_before_submitting_and_reports_sbatch_failures() {
    let d = tmp("slurm");
    let spec = d.join("slow.toml");
    std::fs::write(
        &spec,
        SLOW.replace("GAINS", "[0.5, 1.0, 1.5]")
            .replace("SEEDS", "[1, 2]"),
    )
    .unwrap();
    let empty = d.join("empty-path");
    std::fs::create_dir_all(&empty).unwrap();
    // --dry-run: every #SBATCH line before the first command (sbatch stops reading there).
    let (code, out, err) = slurm(&d, &spec, &empty, &["--dry-run", "--tasks", "2"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("6 distinct points (0 cached), 2 array tasks"),
        "{out}"
    );
    for script in out.split("# --- ").skip(1) {
        let first_command = script.find("set -euo pipefail").unwrap();
        assert!(script.rfind("#SBATCH").unwrap() < first_command, "{script}");
    }
    assert!(
        out.contains("#SBATCH --array=1-2") && out.contains("--shard \"${SLURM_ARRAY_TASK_ID}/2\"")
    );
    assert!(
        !d.join("cache/slow/slurm").exists(),
        "a dry run wrote scripts"
    );
    // No sbatch on PATH: a clear error, exit 2.
    let (code, _, err) = slurm(&d, &spec, &empty, &[]);
    assert_eq!(code, 2);
    assert!(err.contains("`sbatch` was not found"), "{err}");
    // An sbatch that refuses: its stderr is reported.
    let fake = d.join("fake");
    std::fs::create_dir_all(&fake).unwrap();
    let sb = fake.join("sbatch");
    std::fs::write(
        &sb,
        "#!/bin/sh\necho 'sbatch: error: Invalid partition name specified' >&2\nexit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&sb, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let (code, _, err) = slurm(&d, &spec, &fake, &[]);
    assert_eq!(code, 2);
    assert!(err.contains("Invalid partition name specified"), "{err}");
    // An invalid spec is refused with its location before anything is written or submitted.
    let bad = d.join("bad.toml");
    std::fs::write(
        &bad,
        std::fs::read_to_string(&spec)
            .unwrap()
            .replace("hidden = 10", "hidden = 0"),
    )
    .unwrap();
    let before = std::fs::read_dir(d.join("cache"))
        .map(|r| r.count())
        .unwrap_or(0);
    let (code, _, err) = slurm(&d, &bad, &fake, &[]);
    assert_eq!(code, 2);
    assert!(
        err.contains("bad.toml:") && err.contains("model.hidden"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(d.join("cache"))
            .map(|r| r.count())
            .unwrap_or(0),
        before
    );
    // A fake sbatch that accepts: both jobs submitted, the assemble job after the array.
    let log = d.join("sbatch.log");
    std::fs::write(
        &sb,
        format!(
            // Shell builtins only (PATH holds nothing else): log the call, print the next id.
            "#!/bin/sh\necho \"$@\" >> '{}'\nn=0\n[ -f '{c}' ] && read n < '{c}'\nn=$((n + 1))\necho $n > '{c}'\necho $n\n",
            log.display(),
            c = d.join("count").display()
        ),
    )
    .unwrap();
    let (code, out, err) = slurm(&d, &spec, &fake, &["--tasks", "3"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("array job 1, assemble job 2"), "{out}");
    let calls = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = calls.lines().collect();
    assert_eq!(lines.len(), 2, "{calls}");
    assert!(lines[0].ends_with("array.sbatch") && lines[0].starts_with("--parsable"));
    assert!(
        lines[1].contains("--dependency=afterok:1")
            && lines[1].contains("--kill-on-invalid-dep=yes")
    );
    let array = std::fs::read_to_string(d.join("cache/slow/slurm/array.sbatch")).unwrap();
    assert!(array.contains("#SBATCH --array=1-3"), "{array}");
}
