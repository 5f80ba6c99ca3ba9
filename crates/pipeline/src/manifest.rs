//! A result folder's `manifest.toml`: what produced it (spec file and hash, preset, seed, gentk and
//! algorithm versions, point and row counts), written and read with serde. It holds nothing that
//! changes between identical runs — no wall time, no count of cached points — so a `reproduce-all`
//! that changes no number leaves the committed results byte-identical. Wall times of the last run
//! go to `last_run.toml` in the cache folder, outside `results/`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{PipelineError, Result};

/// The committed description of a result folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Experiment name (the folder's name).
    pub experiment: String,
    /// Paper figure id.
    pub figure: String,
    /// The spec file, as given to `gentk run`.
    pub spec: String,
    /// blake3 of the spec file's bytes (`gentk list` compares it to say whether results are current).
    pub spec_hash: String,
    /// Preset applied.
    pub preset: String,
    /// The spec's root seed.
    pub seed: u64,
    /// gentk's version.
    pub gentk_version: String,
    /// The algorithm version of the cache keys (`cache::ALGO_VERSION`).
    pub algo_version: String,
    /// Sweep points.
    pub points: usize,
    /// Table rows.
    pub rows: usize,
    /// Files of the folder that hold measured wall times (`timings.parquet` and charts drawn from
    /// it): they change between identical runs, so byte-identity checks and `gentk diff` skip them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nondeterministic: Vec<String>,
}

/// How the last run of a spec went: machine-dependent, so never committed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastRun {
    /// Points computed (the rest came from the cache).
    pub computed: usize,
    /// Wall time of the whole run, seconds.
    pub wall_time_seconds: f64,
}

/// The spec hash recorded in `manifest.toml` files.
pub fn spec_hash(text: &str) -> String {
    blake3::hash(text.as_bytes()).to_hex().to_string()
}

/// TOML text of `value`.
pub fn to_text<T: Serialize>(value: &T, path: &Path) -> Result<String> {
    toml::to_string(value).map_err(|e| PipelineError::Manifest {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Reads a manifest (`None` when absent or not a manifest of this version).
pub fn read(path: &Path) -> Option<Manifest> {
    toml::from_str(&std::fs::read_to_string(path).ok()?).ok()
}
