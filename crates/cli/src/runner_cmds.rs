//! The runner commands: `run`, `reproduce-all`, `list`, `validate`, `diff`, `show`.

use gentk_pipeline::phases::Totals;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use gentk_pipeline::claims::ClaimResult;
use gentk_pipeline::gallery;
use gentk_pipeline::runner::{Progress, RunOptions, Shard, cached_points, is_current, run};
use gentk_pipeline::table;
use gentk_spec::{Limits, SpecFile, load};

/// Options shared by `run` and `reproduce-all`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Preset to apply (`cpu` is the default and what `results/` holds).
    #[arg(long, default_value = "cpu")]
    pub preset: String,
    /// Worker threads (default: all cores); results do not depend on it.
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Recompute cached points.
    #[arg(long)]
    pub force: bool,
    /// Results root.
    #[arg(long, default_value = "results")]
    pub results: PathBuf,
    /// Cache root (a shared filesystem path lets the tasks of a job array share one).
    #[arg(long, env = "GENTK_CACHE", default_value = "target/gentk-cache")]
    pub cache: PathBuf,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Compute only shard I of N (1-based) into the cache and write no table; a plain run then
    /// finds every point cached and writes the results (`gentk slurm` submits one task per shard).
    #[arg(long, value_parser = Shard::parse, value_name = "I/N")]
    pub shard: Option<Shard>,
    /// Progress lines on stderr even when it is not a terminal (a bar is shown on terminals).
    #[arg(long, conflicts_with = "quiet")]
    pub progress: bool,
    /// No progress output.
    #[arg(long)]
    pub quiet: bool,
    /// Exit with an error when a claim of a spec does not hold on its new table.
    #[arg(long)]
    pub check: bool,
    /// After each spec, its wall time and where the time went (worker-seconds per phase:
    /// training, rollout, operator applications, estimators, I/O); reproduce-all ends with the
    /// whole run's breakdown. Machine facts: printed, never written to a table
    #[arg(long)]
    pub timings: bool,
}

/// What a spec may ask of the machine; checked by `validate` and before `run` computes anything.
#[derive(Debug, Clone, clap::Args)]
pub struct LimitArgs {
    /// Most sweep points per spec.
    #[arg(long, default_value_t = gentk_spec::limits::MAX_POINTS)]
    pub max_points: usize,
    /// Most estimated memory of one point, GiB.
    #[arg(long, default_value_t = 16.0)]
    pub max_memory_gib: f64,
    /// Most estimated arithmetic of one point, TFLOP (10¹² flops).
    #[arg(long, default_value_t = 10_000.0)]
    pub max_tflop: f64,
}

impl LimitArgs {
    /// The limits, refusing values that are not positive numbers.
    pub fn limits(&self) -> Result<Limits> {
        if !(self.max_memory_gib > 0.0 && self.max_tflop > 0.0) || self.max_points == 0 {
            bail!("--max-points, --max-memory-gib and --max-tflop must be positive");
        }
        Ok(Limits {
            max_points: self.max_points,
            max_memory_bytes: self.max_memory_gib * 1024f64.powi(3),
            max_flops: self.max_tflop * 1e12,
        })
    }
}

fn options(a: &RunArgs) -> Result<RunOptions> {
    if let Some(j) = a.jobs {
        if j == 0 {
            bail!("--jobs must be ≥ 1");
        }
        // The global pool can be built once; later calls in the same process keep the first size.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(j)
            .build_global();
    }
    Ok(RunOptions {
        preset: a.preset.clone(),
        force: a.force,
        results_dir: a.results.clone(),
        cache_dir: a.cache.clone(),
        shard: a.shard,
        progress: if a.quiet {
            Progress::Quiet
        } else if std::io::stderr().is_terminal() {
            Progress::Bar
        } else if a.progress {
            Progress::Lines
        } else {
            Progress::Quiet
        },
        limits: a.limits.limits()?,
    })
}

/// Specs with their checked claims.
type Checked = Vec<(SpecFile, Vec<ClaimResult>)>;

/// Runs `specs` in order; returns the report and each spec with its checked claims.
fn run_all(specs: &[PathBuf], a: &RunArgs) -> Result<(String, Checked)> {
    let opts = options(a)?;
    let mut out = String::new();
    let mut done = Vec::new();
    let (started, mut phases) = (std::time::Instant::now(), Totals::default());
    for s in specs {
        let sf = load(s)?;
        let t0 = std::time::Instant::now();
        let sum = run(&sf, &opts)?;
        phases = phases.plus(&sum.phases);
        let timing = if a.timings {
            phase_line(t0.elapsed().as_secs_f64(), &sum.phases)
        } else {
            String::new()
        };
        if let Some(shard) = sum.shard {
            out.push_str(&format!(
                "{}: shard {shard}: {} of {} points ({} computed) in {:.1} s → cache {}; no table written\n",
                sum.name,
                sum.owned,
                sum.points,
                sum.computed,
                t0.elapsed().as_secs_f64(),
                sum.out_dir.display()
            ));
            out.push_str(&timing);
            continue;
        }
        out.push_str(&format!(
            "{}: {} points ({} computed) in {:.1} s → {}\n",
            sum.name,
            sum.points,
            sum.computed,
            t0.elapsed().as_secs_f64(),
            sum.out_dir.display()
        ));
        out.push_str(&timing);
        out.push_str(&claim_lines(&sum.claims, false));
        done.push((sf, sum.claims));
    }
    if a.timings && specs.len() > 1 {
        out.push_str(&format!("all {} specs:\n", specs.len()));
        out.push_str(&phase_line(started.elapsed().as_secs_f64(), &phases));
    }
    Ok((out, done))
}

/// "  wall 12.3 s; worker-seconds: training 1.2 (10 %), …" for `--timings`.
fn phase_line(wall: f64, p: &Totals) -> String {
    let total = p.total().max(1e-12);
    let parts: Vec<String> = p
        .named()
        .iter()
        .map(|(name, s)| format!("{name} {s:.1} ({:.0} %)", 100.0 * s / total))
        .collect();
    format!(
        "  wall {wall:.1} s; worker-seconds {total:.1}: {}\n",
        parts.join(", ")
    )
}

/// "k of n claims hold" and every failing claim (with `all`, every claim) with its numbers.
fn claim_lines(claims: &[ClaimResult], all: bool) -> String {
    if claims.is_empty() {
        return String::new();
    }
    let held = claims.iter().filter(|c| c.holds).count();
    let mut out = format!("  {held} of {} claims hold\n", claims.len());
    for c in claims.iter().filter(|c| all || !c.holds) {
        out.push_str(&format!("  {c}\n"));
    }
    out
}

/// With `--check`, an error listing every false claim.
fn checked(out: String, done: &Checked, check: bool) -> Result<String> {
    let failed: Vec<String> = done
        .iter()
        .flat_map(|(sf, cs)| {
            cs.iter()
                .filter(|c| !c.holds)
                .map(move |c| format!("{}: {c}", sf.path.display()))
        })
        .collect();
    if check && !failed.is_empty() {
        bail!(
            "{out}{} claim(s) fail:\n{}",
            failed.len(),
            failed.join("\n")
        );
    }
    Ok(out)
}

/// `gentk run SPEC...`
pub fn cmd_run(specs: &[PathBuf], a: &RunArgs) -> Result<String> {
    if specs.is_empty() {
        bail!("give at least one spec file");
    }
    let (out, done) = run_all(specs, a)?;
    checked(out, &done, a.check)
}

fn spec_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    v.sort();
    Ok(v)
}

/// `gentk reproduce-all`: every spec in `experiments/`.
pub fn cmd_reproduce_all(dir: &Path, a: &RunArgs) -> Result<String> {
    if a.shard.is_some() {
        bail!("--shard applies to `gentk run SPEC`; reproduce-all writes every table");
    }
    let specs = spec_files(dir)?;
    if specs.is_empty() {
        bail!("no *.toml specs in {}", dir.display());
    }
    let (out, done) = run_all(&specs, a)?;
    let entries: Vec<gallery::Entry<'_>> = done
        .iter()
        .map(|(sf, claims)| gallery::Entry {
            spec: sf,
            claims: claims.clone(),
        })
        .collect();
    gallery::write(&entries, &a.results)?;
    checked(out, &done, a.check)
}

/// `gentk check [SPEC...]`: every claim of each spec on its committed table, without running.
pub fn cmd_check(specs: &[PathBuf], dir: &Path, results: &Path) -> Result<String> {
    let specs = if specs.is_empty() {
        spec_files(dir)?
    } else {
        specs.to_vec()
    };
    let mut out = String::new();
    let mut done = Vec::new();
    for s in &specs {
        let sf = load(s)?;
        let table_path = results.join(&sf.spec.experiment.name).join("table.parquet");
        let t = table::read(&table_path)
            .with_context(|| format!("{}: no table to check", s.display()))?;
        let claims = gentk_pipeline::claims::evaluate_all(&sf.spec.claims, &t);
        out.push_str(&format!("{}:\n{}", s.display(), claim_lines(&claims, true)));
        done.push((sf, claims));
    }
    checked(out, &done, true)
}

/// `gentk list`: specs, figure ids, and whether `results/` is current for each.
pub fn cmd_list(dir: &Path, results: &Path, cache: &Path, preset: &str) -> Result<String> {
    let mut out = format!(
        "{:<40} {:<8} {:<8} cached points ({preset})\n",
        "spec", "figure", "results"
    );
    let limits = gentk_spec::Limits::default();
    for s in spec_files(dir)? {
        match load(&s) {
            Ok(sf) => out.push_str(&format!(
                "{:<40} {:<8} {:<8} {}\n",
                s.display(),
                sf.spec.experiment.figure,
                if is_current(&sf, results) {
                    "current"
                } else {
                    "stale"
                },
                match cached_points(&sf, preset, &limits, cache) {
                    Ok((k, n)) => format!("{k}/{n}"),
                    Err(e) => format!("invalid at this preset: {e}"),
                }
            )),
            Err(e) => out.push_str(&format!("{:<40} {:<8} invalid: {e}\n", s.display(), "?")),
        }
    }
    Ok(out)
}

/// `gentk validate FILE...`: parse, apply every preset, expand and check every point.
pub fn cmd_validate(files: &[PathBuf], limits: &LimitArgs) -> Result<String> {
    let limits = limits.limits()?;
    let mut out = String::new();
    let mut failed = 0;
    for f in files {
        let res = load(f).and_then(|sf| {
            let mut n = gentk_pipeline::runner::plan(&sf, "cpu", &limits)?
                .points
                .len();
            for p in sf.spec.presets.keys().filter(|p| *p != "cpu") {
                n += gentk_pipeline::runner::plan(&sf, p, &limits)?.points.len();
            }
            Ok(n)
        });
        match res {
            Ok(n) => out.push_str(&format!(
                "{}: ok ({n} points over all presets)\n",
                f.display()
            )),
            Err(e) => {
                failed += 1;
                out.push_str(&format!("{e}\n"));
            }
        }
    }
    if failed > 0 {
        bail!("{out}{failed} spec(s) invalid");
    }
    Ok(out)
}

/// Parquet files below `dir` (any depth), as sorted paths relative to it; measured wall times
/// (`timings.parquet`) only when asked, since they differ between identical runs.
fn parquet_files(dir: &Path, timings: bool) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for e in std::fs::read_dir(dir.join(&rel))
            .with_context(|| format!("reading {}", dir.join(&rel).display()))?
        {
            let e = e?;
            let r = rel.join(e.file_name());
            if e.file_type()?.is_dir() {
                stack.push(r);
            } else if r.extension().is_some_and(|x| x == "parquet")
                && (timings || e.file_name() != gentk_pipeline::runner::TIMINGS_FILE)
            {
                out.push(r);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The tables to compare: two files, or every Parquet file below either directory (a result set
/// `results/` or one figure's folder), paired by relative path; `None` marks a missing side.
type Pair = (String, Option<PathBuf>, Option<PathBuf>);
fn parquet_pairs(a: &Path, b: &Path, timings: bool) -> Result<Vec<Pair>> {
    if !(a.is_dir() && b.is_dir()) {
        return Ok(vec![(
            a.display().to_string(),
            Some(a.to_path_buf()),
            Some(b.to_path_buf()),
        )]);
    }
    let (fa, fb) = (parquet_files(a, timings)?, parquet_files(b, timings)?);
    let mut all: Vec<&PathBuf> = fa.iter().chain(&fb).collect();
    all.sort();
    all.dedup();
    if all.is_empty() {
        bail!("no Parquet tables below {} or {}", a.display(), b.display());
    }
    Ok(all
        .into_iter()
        .map(|r| {
            let side = |root: &Path, list: &[PathBuf]| list.contains(r).then(|| root.join(r));
            (r.display().to_string(), side(a, &fa), side(b, &fb))
        })
        .collect())
}

/// `gentk diff A B`: a Markdown report; `Ok(false)` when something moved beyond tolerance.
/// Wall-time tables are compared only with `timings` (they never match between runs).
pub fn cmd_diff(
    a: &Path,
    b: &Path,
    (rtol, atol): (f64, f64),
    (timings, by_statistic): (bool, bool),
) -> Result<(String, bool)> {
    let mut out = format!(
        "# gentk diff\n\n`{}` vs `{}` (rtol {rtol:e}, atol {atol:e})\n\n",
        a.display(),
        b.display()
    );
    let mut clean = true;
    for (name, pa, pb) in parquet_pairs(a, b, timings)? {
        let (Some(pa), Some(pb)) = (pa, pb) else {
            clean = false;
            let side = if a.join(&name).exists() { "B" } else { "A" };
            out.push_str(&format!("## {name}: missing in {side}\n\n"));
            continue;
        };
        let (ta, tb) = (table::read(&pa)?, table::read(&pb)?);
        if by_statistic && let Some(deltas) = table::deltas_by_statistic(&ta, &tb) {
            out.push_str(&format!(
                "## {name}: value by statistic (A − B)\n\n| measure | operator | statistic | rows | max abs | max abs / max abs(B) | max rel |\n|---|---|---|---|---|---|---|\n"
            ));
            for d in deltas {
                let [m, o, s] = &d.key;
                out.push_str(&format!(
                    "| {m} | {o} | {s} | {} | {:.2e} | {:.2e} | {:.2e} |\n",
                    d.rows, d.max_abs, d.normwise, d.max_rel
                ));
            }
            out.push('\n');
        }
        let d = table::diff(&ta, &tb, rtol, atol);
        if d.is_empty() {
            out.push_str(&format!(
                "## {name}: no changes ({} rows)\n\n",
                ta.rows.len()
            ));
        } else {
            clean = false;
            out.push_str(&format!("## {name}: {} changed cells\n\n| row | column | A | B | abs diff |\n|---|---|---|---|---|\n", d.len()));
            for l in d {
                out.push_str(&l);
                out.push('\n');
            }
            out.push('\n');
        }
    }
    Ok((out, clean))
}

/// `gentk show FILE.parquet`.
pub fn cmd_show(f: &Path) -> Result<String> {
    Ok(table::render(&table::read(f)?))
}

/// `gentk query FILE SQL`: the result of a SQL query on a table, as text.
pub fn cmd_query(f: &Path, sql: &str) -> Result<String> {
    let t = table::read(f)?;
    let out = gentk_pipeline::query::table(&t, sql).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(table::render(&out))
}
