//! The deterministic, cached runner: resolves the spec into a validated plan (nothing is computed
//! when any point is invalid), computes points in parallel (rayon; results kept in point order),
//! caches each point under a content hash of its resolved parameters and the algorithm version, and
//! writes the table, charts and manifest atomically.

use std::path::{Path, PathBuf};
use std::time::Instant;

use gentk_report::{Row, io::write_atomic, table};
use gentk_spec::{SpecFile, resolve};
use rayon::prelude::*;

use crate::cache::{self, ALGO_VERSION, point_key, point_seed};
use crate::error::{PipelineError, Result};
use crate::measure::compute_point;

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
    /// Progress lines on stderr.
    pub progress: bool,
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
}

/// Runs one spec file.
pub fn run(sf: &SpecFile, opts: &RunOptions) -> Result<RunSummary> {
    let started = Instant::now();
    let plan = resolve(sf, &opts.preset)?;
    let spec = &plan.spec;
    let name = spec.experiment.name.clone();
    let out_dir = opts.results_dir.join(&name);
    let cache_dir = opts.cache_dir.join(&name);
    let total = plan.points.len();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<Result<(Vec<Row>, bool)>> = plan
        .points
        .par_iter()
        .map(|pp| {
            let (p, ps) = (&pp.point, &pp.spec);
            let key = point_key(ps, p).map_err(|e| PipelineError::Cache {
                path: cache_dir.clone(),
                message: format!("cannot hash point {} ({}): {e}", p.index, p.label()),
            })?;
            let file = cache_dir.join(format!("{key}.json"));
            let hit = if opts.force {
                None
            } else {
                cache::load(&file, &key)
            };
            let (rows, computed) = match hit {
                Some(r) => (r, false),
                None => {
                    let rows =
                        compute_point(ps, &pp.task, point_seed(ps, p)).map_err(|source| {
                            PipelineError::Point {
                                file: sf.path.clone(),
                                index: p.index,
                                params: p.label(),
                                source: Box::new(source),
                            }
                        })?;
                    cache::store(&file, &key, &rows)?;
                    (rows, true)
                }
            };
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            if opts.progress {
                eprintln!(
                    "[{name}] point {n}/{total} {} ({})",
                    if computed { "computed" } else { "cached" },
                    p.label()
                );
            }
            Ok((rows, computed))
        })
        .collect();
    let mut all = Vec::new();
    let mut computed = 0;
    for (pp, r) in plan.points.iter().zip(results) {
        let (rows, c) = r?;
        computed += usize::from(c);
        for row in rows {
            all.push((
                pp.point
                    .values
                    .iter()
                    .map(|(_, v)| v.clone())
                    .collect::<Vec<_>>(),
                row,
            ));
        }
    }
    let keys = plan.sweep_keys();
    let table_path = out_dir.join("table.parquet");
    table::write(&table_path, &keys, &all)?;
    if !spec.plots.is_empty() {
        let t = table::read(&table_path)?;
        for p in &spec.plots {
            gentk_report::plot::write(p, &t, &out_dir)?;
        }
    }
    let manifest = format!(
        "# written by gentk; wall time lives only here\nexperiment = {:?}\nfigure = {:?}\nspec = {:?}\nspec_hash = {:?}\npreset = {:?}\nseed = {}\ngentk_version = {:?}\nalgo_version = {:?}\npoints = {}\ncomputed = {}\nrows = {}\nwall_time_seconds = {:.3}\n",
        name,
        spec.experiment.figure,
        sf.path.display().to_string(),
        blake3::hash(sf.text.as_bytes()).to_hex().to_string(),
        opts.preset,
        spec.experiment.seed,
        env!("CARGO_PKG_VERSION"),
        ALGO_VERSION,
        total,
        computed,
        all.len(),
        started.elapsed().as_secs_f64()
    );
    write_atomic(&out_dir.join("manifest.toml"), manifest.as_bytes())?;
    Ok(RunSummary {
        name,
        points: total,
        computed,
        out_dir,
    })
}

/// Whether the committed results of a spec are current: its manifest's spec hash matches the file.
pub fn is_current(sf: &SpecFile, results_dir: &Path) -> bool {
    let m = results_dir
        .join(&sf.spec.experiment.name)
        .join("manifest.toml");
    let Ok(text) = std::fs::read_to_string(m) else {
        return false;
    };
    let want = blake3::hash(sf.text.as_bytes()).to_hex().to_string();
    text.contains(&format!("spec_hash = {want:?}"))
}
