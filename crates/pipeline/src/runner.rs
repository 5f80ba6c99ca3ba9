//! The deterministic, cached runner: resolves the spec into a validated plan (nothing is computed
//! when any point is invalid), computes points in parallel (rayon; results kept in point order),
//! caches each point under a content hash of its resolved parameters and the algorithm version, and
//! publishes the table, charts and manifest as one folder.

use crate::phases::{self, Phase};
use std::path::{Path, PathBuf};
use std::time::Instant;

use std::collections::HashMap;

use gentk_report::io::{publish_dir, remove_leftovers, staging_dir, write_atomic};
use gentk_report::{Row, table};
use gentk_spec::{Limits, PlotTable, SpecFile, resolve_with};
use rayon::prelude::*;

use indicatif::{ProgressBar, ProgressStyle};

use crate::cache::{self, ALGO_VERSION, RUNS_DIR, point_key, run_seed};
use crate::claims::{ClaimResult, ClaimsFile, evaluate_all};
use crate::error::{PipelineError, Result};
use crate::manifest::{self, LastRun, Manifest};
use crate::measure::{PointOutput, compute_point};

/// Where and how to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Preset (`cpu` default).
    pub preset: String,
    /// Recompute even cached points.
    pub force: bool,
    /// `results/` root.
    pub results_dir: PathBuf,
    /// Cache root (per experiment subfolder).
    pub cache_dir: PathBuf,
    /// How progress is shown on stderr.
    pub progress: Progress,
    /// Sweep size, memory and arithmetic limits checked before any work.
    pub limits: Limits,
    /// Compute only this shard's points into the cache and write no table (a cluster job array's
    /// task; a later plain run assembles the results from the cache).
    pub shard: Option<Shard>,
}

/// Shard `index` of `count` (1-based, as `--shard I/N` and Slurm's array task ids): the points
/// whose cache key falls in it. The assignment is a function of the key alone, so adding sweep
/// values never moves a finished point to another shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This shard, 1..=count.
    pub index: usize,
    /// Number of shards.
    pub count: usize,
}

impl Shard {
    /// Parses `I/N` with 1 ≤ I ≤ N.
    pub fn parse(s: &str) -> std::result::Result<Shard, ShardError> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| ShardError::Form(s.to_string()))?;
        let num = |t: &str| {
            t.trim()
                .parse::<usize>()
                .map_err(|_| ShardError::Number(t.to_string()))
        };
        let (index, count) = (num(i)?, num(n)?);
        if count == 0 || index == 0 || index > count {
            return Err(ShardError::Range { index, count });
        }
        Ok(Shard { index, count })
    }

    /// The shard (1-based) of a point with cache key `key` among `count`: the key's first 64
    /// bits modulo `count` (keys are uniform hashes).
    pub fn of(key: &str, count: usize) -> usize {
        let h = u64::from_str_radix(key.get(..16).unwrap_or(key), 16).unwrap_or_else(|_| {
            key.bytes()
                .fold(0u64, |a, b| a.wrapping_mul(0x100_0000_01B3) ^ u64::from(b))
        });
        (h % count as u64) as usize + 1
    }

    /// Whether this shard computes the point with cache key `key`.
    pub fn owns(&self, key: &str) -> bool {
        Shard::of(key, self.count) == self.index
    }
}

/// Why `--shard I/N` could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    /// Not of the form I/N.
    #[error("a shard is I/N (e.g. 2/8), got `{0}`")]
    Form(String),
    /// I or N is not a whole number.
    #[error("shard part `{0}` is not a whole number")]
    Number(String),
    /// Outside 1 ≤ I ≤ N.
    #[error("a shard I/N needs 1 ≤ I ≤ N, got {index}/{count}")]
    Range {
        /// I.
        index: usize,
        /// N.
        count: usize,
    },
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// How a run shows its progress on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Nothing.
    Quiet,
    /// One line per point (logs, CI).
    Lines,
    /// An indicatif bar: points done / total, elapsed, ETA (terminals).
    Bar,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    /// Experiment name.
    pub name: String,
    /// Points in the sweep.
    pub points: usize,
    /// Points computed (not from cache).
    pub computed: usize,
    /// Output directory.
    pub out_dir: PathBuf,
    /// The spec's claims checked on the new table (none for a shard).
    pub claims: Vec<ClaimResult>,
    /// The shard computed (no table was written), if one was asked for.
    pub shard: Option<Shard>,
    /// The points this run was responsible for (all, or the shard's).
    pub owned: usize,
    /// Worker-seconds per phase during this run (printed by `--timings`; never in a table).
    pub phases: crate::phases::Totals,
}

/// The validated plan of a spec at a preset: gentk-spec's checks, then the claims' SQL run on an
/// empty table of the plan's columns (errors located in the spec file).
pub fn plan(
    sf: &SpecFile,
    preset: &str,
    limits: &Limits,
) -> std::result::Result<gentk_spec::Plan, gentk_spec::SpecError> {
    let plan = resolve_with(sf, preset, limits)?;
    crate::claims::check_queries(&plan).map_err(|inv| sf.locate(&inv, preset, None))?;
    Ok(plan)
}

/// Runs one spec file: validate the whole plan (nothing is computed when any point is invalid or
/// too large), compute each distinct point once (duplicate sweep points share one computation),
/// write table, charts and manifest into a staging folder and swap it in whole.
pub fn run(sf: &SpecFile, opts: &RunOptions) -> Result<RunSummary> {
    let started = Instant::now();
    let phases_before = crate::phases::Totals::now();
    let plan = plan(sf, &opts.preset, &opts.limits)?;
    let spec = &plan.spec;
    let name = spec.experiment.name.clone();
    // `name` is one validated path component, so this stays inside the results root.
    let out_dir = opts.results_dir.join(&name);
    let cache_dir = opts.cache_dir.join(&name);
    remove_leftovers(&opts.results_dir);
    remove_leftovers(&cache_dir);
    let total = plan.points.len();
    let keys: Vec<String> = plan
        .points
        .iter()
        .map(|pp| {
            point_key(&pp.spec, &pp.point).map_err(|e| PipelineError::Cache {
                path: cache_dir.clone(),
                message: format!(
                    "cannot hash point {} ({}): {e}",
                    pp.point.index,
                    pp.point.label()
                ),
            })
        })
        .collect::<Result<_>>()?;
    let run_seeds: Vec<u64> = plan
        .points
        .iter()
        .map(|pp| {
            run_seed(&pp.spec, &pp.point).map_err(|e| PipelineError::Cache {
                path: cache_dir.clone(),
                message: e.to_string(),
            })
        })
        .collect::<Result<_>>()?;
    let runs_dir = opts.cache_dir.join(RUNS_DIR);
    remove_leftovers(&runs_dir);
    // The first point of each key computes; later duplicates reuse its rows.
    let mut first_of: HashMap<&str, usize> = HashMap::new();
    let unique: Vec<usize> = (0..total)
        .filter(|&i| first_of.insert(keys[i].as_str(), i).is_none())
        .filter(|&i| opts.shard.is_none_or(|s| s.owns(&keys[i])))
        .collect();
    let bar = match opts.progress {
        Progress::Bar => {
            let b = ProgressBar::new(unique.len() as u64);
            b.set_style(
                ProgressStyle::with_template(
                    "{prefix} [{bar:30}] {pos}/{len} points  {elapsed} elapsed, ETA {eta}  {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            b.set_prefix(name.clone());
            b
        }
        _ => ProgressBar::hidden(),
    };
    let done = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<Result<(PointOutput, bool)>> = unique
        .par_iter()
        .map(|&i| {
            let (pp, key) = (&plan.points[i], &keys[i]);
            let (p, ps) = (&pp.point, &pp.spec);
            let file = cache_dir.join(format!("{key}.json"));
            let hit = if opts.force {
                None
            } else {
                phases::time(Phase::Io, || cache::load(&file, key))
            };
            let (out, computed) = match hit {
                Some(rows) => {
                    // Wall times of the run that computed the point (none if they were lost).
                    let timings = phases::time(Phase::Io, || cache::load_timings(&file, key))
                        .unwrap_or_default();
                    (PointOutput { rows, timings }, false)
                }
                None => {
                    let out = compute_point(ps, &pp.task, run_seeds[i], Some(&runs_dir)).map_err(
                        |source| PipelineError::Point {
                            file: sf.path.clone(),
                            index: p.index,
                            params: p.label(),
                            source: Box::new(source),
                        },
                    )?;
                    phases::time(Phase::Io, || {
                        cache::store(&file, key, &out.rows)?;
                        cache::store_timings(&file, key, &out.timings)
                    })?;
                    (out, true)
                }
            };
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            let what = if computed { "computed" } else { "cached" };
            match opts.progress {
                Progress::Lines => {
                    eprintln!("[{name}] point {n}/{} {what} ({})", unique.len(), p.label())
                }
                Progress::Bar => {
                    bar.set_message(format!("{what} {}", p.label()));
                    bar.inc(1);
                }
                Progress::Quiet => {}
            }
            Ok((out, computed))
        })
        .collect();
    let mut out_of: HashMap<&str, PointOutput> = HashMap::new();
    let mut computed = 0;
    for (&i, r) in unique.iter().zip(results) {
        let (out, c) = r?;
        computed += usize::from(c);
        out_of.insert(keys[i].as_str(), out);
    }
    if let Some(shard) = opts.shard {
        // A shard's points are in the cache; the table is written by a run that has them all.
        bar.finish_and_clear();
        return Ok(RunSummary {
            name,
            points: total,
            computed,
            out_dir: cache_dir,
            claims: Vec::new(),
            shard: Some(shard),
            owned: unique.len(),
            phases: crate::phases::Totals::now().since(&phases_before),
        });
    }
    let (mut all, mut timings) = (Vec::new(), Vec::new());
    for (pp, key) in plan.points.iter().zip(&keys) {
        let values: Vec<toml::Value> = pp.point.values.iter().map(|(_, v)| v.clone()).collect();
        let out = &out_of[key.as_str()];
        for row in &out.rows {
            all.push((values.clone(), row.clone()));
        }
        for row in &out.timings {
            timings.push((values.clone(), row.clone()));
        }
    }
    bar.finish_and_clear();
    let staged = staging_dir(&out_dir)?;
    let written = phases::time(Phase::Io, || {
        write_results(sf, opts, &plan, &staged, (&all, &timings), total)
            .and_then(|claims| Ok((claims, publish_dir(&staged, &out_dir)?)))
    });
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&staged);
    }
    let (claims, ()) = written?;
    // Machine-dependent facts of this run, outside results/.
    let last = cache_dir.join("last_run.toml");
    let text = manifest::to_text(
        &LastRun {
            computed,
            wall_time_seconds: started.elapsed().as_secs_f64(),
        },
        &last,
    )?;
    write_atomic(&last, text.as_bytes())?;
    Ok(RunSummary {
        name,
        points: total,
        computed,
        out_dir,
        claims,
        shard: None,
        owned: unique.len(),
        phases: crate::phases::Totals::now().since(&phases_before),
    })
}

/// How many of a spec's distinct points at `preset` have a verified entry in the cache under
/// `cache_root` (`gentk list`; what a resubmitted job array still has to compute).
pub fn cached_points(
    sf: &SpecFile,
    preset: &str,
    limits: &Limits,
    cache_root: &Path,
) -> std::result::Result<(usize, usize), gentk_spec::SpecError> {
    let plan = plan(sf, preset, limits)?;
    let dir = cache_root.join(&plan.spec.experiment.name);
    let mut keys: Vec<String> = plan
        .points
        .iter()
        .filter_map(|pp| point_key(&pp.spec, &pp.point).ok())
        .collect();
    keys.sort();
    keys.dedup();
    let cached = keys
        .iter()
        .filter(|k| cache::load(&dir.join(format!("{k}.json")), k).is_some())
        .count();
    Ok((cached, keys.len()))
}

/// A row with its point's sweep values.
type PointRow = (Vec<toml::Value>, Row);

/// Table, charts and manifest of a run, into the staging folder `dir`.
fn write_results(
    sf: &SpecFile,
    opts: &RunOptions,
    plan: &gentk_spec::Plan,
    dir: &Path,
    (all, timings): (&[PointRow], &[PointRow]),
    total: usize,
) -> Result<Vec<ClaimResult>> {
    let spec = &plan.spec;
    let table_path = dir.join("table.parquet");
    let metadata: Vec<(String, String)> = [
        ("gentk.experiment", spec.experiment.name.clone()),
        ("gentk.preset", opts.preset.clone()),
        ("gentk.spec_hash", manifest::spec_hash(&sf.text)),
        ("gentk.version", env!("CARGO_PKG_VERSION").to_string()),
        ("gentk.algo_version", ALGO_VERSION.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    table::write(&table_path, &plan.sweep_keys(), all, &metadata)?;
    let t = table::read(&table_path)?;
    // Wall times: measured, so they differ between runs; the manifest lists them (and the charts
    // drawn from them) as not reproducible, and byte-identity checks and `gentk diff` skip them.
    let mut nondeterministic = Vec::new();
    let tt = if timings.is_empty() {
        None
    } else {
        let path = dir.join(TIMINGS_FILE);
        let mut meta = metadata.clone();
        meta.push(("gentk.deterministic".into(), "false".into()));
        table::write(&path, &plan.sweep_keys(), timings, &meta)?;
        nondeterministic.push(TIMINGS_FILE.to_string());
        Some(table::read(&path)?)
    };
    for p in &spec.plots {
        match (p.table, &tt) {
            (PlotTable::Results, _) => gentk_report::plot::write(p, &t, dir)?,
            (PlotTable::Timings, Some(tt)) => {
                gentk_report::plot::write(p, tt, dir)?;
                nondeterministic.extend([format!("{}.png", p.file), format!("{}.svg", p.file)]);
            }
            // Every point came from a cache written before wall times were kept.
            (PlotTable::Timings, None) => {}
        }
    }
    let claims = evaluate_all(&spec.claims, &t);
    if !claims.is_empty() {
        let path = dir.join(CLAIMS_FILE);
        let text = format!(
            "# written by gentk: each [[claim]] of the spec checked on table.parquet\n{}",
            manifest::to_text(
                &ClaimsFile {
                    claims: claims.clone()
                },
                &path
            )?
        );
        write_atomic(&path, text.as_bytes())?;
    }
    if let Some(md) = crate::notes::markdown(spec, &opts.preset, &claims) {
        write_atomic(&dir.join("NOTES.md"), md.as_bytes())?;
    }
    let path = dir.join("manifest.toml");
    let m = Manifest {
        experiment: spec.experiment.name.clone(),
        figure: spec.experiment.figure.clone(),
        spec: sf.path.display().to_string(),
        spec_hash: manifest::spec_hash(&sf.text),
        preset: opts.preset.clone(),
        seed: spec.experiment.seed,
        gentk_version: env!("CARGO_PKG_VERSION").to_string(),
        algo_version: ALGO_VERSION.to_string(),
        points: total,
        rows: all.len(),
        nondeterministic,
    };
    let text = format!(
        "# written by gentk; wall times of the last run are in the cache folder's last_run.toml\n{}",
        manifest::to_text(&m, &path)?
    );
    write_atomic(&path, text.as_bytes())?;
    Ok(claims)
}

/// The wall times of a run beside its table (rows as in the table; not reproducible).
pub const TIMINGS_FILE: &str = "timings.parquet";

/// The claims file beside a table.
pub const CLAIMS_FILE: &str = "claims.toml";

/// Whether the committed results of a spec are current: its manifest's spec hash matches the file.
pub fn is_current(sf: &SpecFile, results_dir: &Path) -> bool {
    manifest::read(
        &results_dir
            .join(&sf.spec.experiment.name)
            .join("manifest.toml"),
    )
    .is_some_and(|m| m.spec_hash == manifest::spec_hash(&sf.text))
}
