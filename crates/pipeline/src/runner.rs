//! The deterministic, cached runner: expands the sweep, computes points in parallel (rayon; results
//! kept in point order), caches each point under a content hash of its resolved parameters and the
//! algorithm version, and writes the table, charts and manifest atomically.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;

use crate::error::{PipelineError, Result};
use crate::measure::{Row, compute_point, validate};
use crate::spec::{Spec, SpecFile, semantic_error};
use crate::sweep::{Point, expand, set_path};
use crate::table;

/// Bump when a change alters numbers for unchanged specs: invalidates every cache entry.
pub const ALGO_VERSION: &str = "gentk-algo-3";

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

/// Writes `bytes` to a temporary file beside `path`, then renames it into place.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(crate::error::io(dir))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(crate::error::io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(crate::error::io(path))
}

/// The part of a resolved point that determines its numbers (metadata and plots excluded).
#[derive(Serialize)]
struct Key<'a> {
    algo: &'a str,
    seed: u64,
    model: &'a crate::spec::ModelSpec,
    task: &'a crate::spec::TaskSpec,
    train: &'a Option<crate::spec::TrainSpec>,
    measures: &'a [crate::spec::Measure],
    point: Vec<(String, String)>,
}

/// Cache key of a point: blake3 of its canonical JSON (field order fixed by the types, so key order
/// and comments in the TOML never matter).
pub fn point_key(spec: &Spec, point: &Point) -> String {
    let k = Key {
        algo: ALGO_VERSION,
        seed: spec.experiment.seed,
        model: &spec.model,
        task: &spec.task,
        train: &spec.train,
        measures: &spec.measures,
        point: point
            .values
            .iter()
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect(),
    };
    let json = serde_json::to_string(&k).unwrap_or_default();
    blake3::hash(json.as_bytes()).to_hex().to_string()
}

/// The seed of a point: from the spec seed and the point's own values (not its index), so adding
/// sweep values leaves existing points — and their cache entries — unchanged.
pub fn point_seed(spec: &Spec, point: &Point) -> u64 {
    let mut h = blake3::Hasher::new();
    h.update(&spec.experiment.seed.to_le_bytes());
    for (k, v) in &point.values {
        h.update(k.as_bytes());
        h.update(v.to_string().as_bytes());
    }
    let b = h.finalize();
    u64::from_le_bytes(b.as_bytes()[..8].try_into().unwrap_or([0; 8])) >> 1
}

/// Resolves every point of a spec file (preset applied, sweep overrides set) and validates each;
/// errors are located in the file.
pub fn resolve(sf: &SpecFile, preset: &str) -> Result<(Spec, Vec<(Point, Spec)>)> {
    let spec = sf.resolved(preset)?;
    let points = expand(&spec.sweep).map_err(|m| semantic_error(&sf.path, &sf.text, "sweep", m))?;
    let base = toml::Table::try_from(&spec)
        .map_err(|e| semantic_error(&sf.path, &sf.text, "experiment", e.to_string()))?;
    let mut out = Vec::with_capacity(points.len());
    for p in points {
        let mut t = base.clone();
        t.remove("presets");
        for (k, v) in &p.values {
            set_path(&mut t, k, v.clone()).map_err(|m| semantic_error(&sf.path, &sf.text, k, m))?;
        }
        let ps: Spec = serde::Deserialize::deserialize(toml::Value::Table(t)).map_err(
            |e: toml::de::Error| {
                semantic_error(
                    &sf.path,
                    &sf.text,
                    "sweep",
                    format!("point {} ({}): {}", p.index, p.label(), e.message()),
                )
            },
        )?;
        validate(&ps).map_err(|(key, m)| {
            let msg = if p.values.is_empty() {
                m
            } else {
                format!("{m} (at sweep point {})", p.label())
            };
            semantic_error(&sf.path, &sf.text, &key, msg)
        })?;
        out.push((p, ps));
    }
    Ok((spec, out))
}

fn load_cached(path: &Path) -> Option<Vec<Row>> {
    let s = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&s).ok()
}

/// Runs one spec file.
pub fn run(sf: &SpecFile, opts: &RunOptions) -> Result<RunSummary> {
    let started = Instant::now();
    let (spec, points) = resolve(sf, &opts.preset)?;
    let name = spec.experiment.name.clone();
    let out_dir = opts.results_dir.join(&name);
    let cache = opts.cache_dir.join(&name);
    std::fs::create_dir_all(&cache).map_err(crate::error::io(&cache))?;
    let total = points.len();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<Result<(Vec<Row>, bool)>> = points
        .par_iter()
        .map(|(p, ps)| {
            let key = point_key(ps, p);
            let file = cache.join(format!("{key}.json"));
            let hit = if opts.force { None } else { load_cached(&file) };
            let (rows, computed) = match hit {
                Some(r) => (r, false),
                None => {
                    let rows =
                        compute_point(ps, point_seed(ps, p)).map_err(|m| PipelineError::Point {
                            index: p.index,
                            params: p.label(),
                            message: m,
                        })?;
                    let json = serde_json::to_string(&rows).unwrap_or_default();
                    write_atomic(&file, json.as_bytes())?;
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
    for ((p, _), r) in points.iter().zip(results) {
        let (rows, c) = r?;
        computed += usize::from(c);
        for row in rows {
            all.push((
                p.values.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>(),
                row,
            ));
        }
    }
    let keys: Vec<String> = points
        .first()
        .map(|(p, _)| p.values.iter().map(|(k, _)| k.clone()).collect())
        .unwrap_or_default();
    let table_path = out_dir.join("table.parquet");
    let mut df = table::frame(&keys, &all).map_err(|e| PipelineError::Table {
        path: table_path.clone(),
        message: e.to_string(),
    })?;
    let bytes = table::parquet_bytes(&mut df).map_err(|e| PipelineError::Table {
        path: table_path.clone(),
        message: e.to_string(),
    })?;
    write_atomic(&table_path, &bytes)?;
    if !spec.plots.is_empty() {
        let t = table::read(&table_path)?;
        for p in &spec.plots {
            crate::plot::write(p, &t, &out_dir)?;
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
