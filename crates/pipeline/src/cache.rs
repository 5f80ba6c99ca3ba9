//! The per-point cache: content-addressed (a point's key is a hash of exactly what determines its
//! numbers) and verified on read. An entry holds its key, a checksum of its rows and the rows; an
//! entry that does not parse, carries another key or fails its checksum is a miss — recomputed and
//! overwritten — never data.

use std::path::Path;

use gentk_report::Row;
use gentk_spec::{Point, Spec};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{PipelineError, Result};

/// Bump when a change alters numbers for unchanged specs: invalidates every cache entry.
pub const ALGO_VERSION: &str = "gentk-algo-10";

/// The part of a resolved point that determines its numbers (metadata and plots excluded).
#[derive(Serialize)]
struct Key<'a> {
    algo: &'a str,
    seed: u64,
    model: &'a gentk_spec::ModelSpec,
    task: &'a gentk_spec::TaskSpec,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: &'a Option<gentk_spec::TargetSpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    teacher: &'a Option<gentk_spec::TeacherSpec>,
    train: &'a Option<gentk_spec::TrainSpec>,
    measures: &'a [gentk_spec::Measure],
    point: Vec<(String, String)>,
}

/// Cache key of a point: blake3 of its canonical JSON (field order fixed by the types, so key order
/// and comments in the TOML never matter).
pub fn point_key(spec: &Spec, point: &Point) -> Result<String, serde_json::Error> {
    let k = Key {
        algo: ALGO_VERSION,
        seed: spec.experiment.seed,
        model: &spec.model,
        task: &spec.task,
        target: &spec.target,
        teacher: &spec.teacher,
        train: &spec.train,
        measures: &spec.measures,
        point: point
            .values
            .iter()
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect(),
    };
    let json = serde_json::to_string(&k)?;
    Ok(blake3::hash(json.as_bytes()).to_hex().to_string())
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
    seed_of(h.finalize())
}

/// Why a keyed seed cannot be formed (validation refuses both before any work).
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// The resolved spec did not serialise.
    #[error("spec not serialisable: {0}")]
    Spec(#[from] toml::ser::Error),
    /// A `seed_from` key names nothing in the spec.
    #[error("seed_from key `{0}` is not in the spec")]
    MissingKey(String),
}

/// The seed that `keys` (dotted paths into the resolved spec) alone determine, with the spec seed
/// and a `purpose` label: points that agree on those keys share it.
pub fn keyed_seed(spec: &Spec, purpose: &[u8], keys: &[String]) -> Result<u64, SeedError> {
    let doc = toml::Value::try_from(spec)?;
    let mut h = blake3::Hasher::new();
    h.update(&spec.experiment.seed.to_le_bytes());
    h.update(purpose);
    for key in keys {
        let v = key
            .split('.')
            .try_fold(&doc, |v, part| v.get(part))
            .ok_or_else(|| SeedError::MissingKey(key.clone()))?;
        h.update(key.as_bytes());
        h.update(v.to_string().as_bytes());
    }
    Ok(seed_of(h.finalize()))
}

/// The seed of a point's run: from `train.seed_from` when the spec names keys there (so points and
/// specs agreeing on them share initialisation, data and batches), else [`point_seed`].
pub fn run_seed(spec: &Spec, point: &Point) -> Result<u64, SeedError> {
    match &spec.train {
        Some(t) if !t.seed_from.is_empty() => keyed_seed(spec, b"train", &t.seed_from),
        _ => Ok(point_seed(spec, point)),
    }
}

/// The folder (inside the cache root) of cached training runs, shared by every spec: a name no
/// experiment can have (experiment names never start with a dot).
pub const RUNS_DIR: &str = ".runs";

/// What determines a training run's checkpoints.
#[derive(Serialize)]
struct RunKey<'a> {
    algo: &'a str,
    seed: u64,
    model: &'a gentk_spec::ModelSpec,
    task: &'a gentk_spec::TaskSpec,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: &'a Option<gentk_spec::TargetSpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    teacher: &'a Option<gentk_spec::TeacherSpec>,
    train: &'a gentk_spec::TrainSpec,
}

/// Cache key of the training run of a resolved point with run seed `seed`.
pub fn run_key(
    spec: &Spec,
    train: &gentk_spec::TrainSpec,
    seed: u64,
) -> Result<String, serde_json::Error> {
    let json = serde_json::to_string(&RunKey {
        algo: ALGO_VERSION,
        seed,
        model: &spec.model,
        task: &spec.task,
        target: &spec.target,
        teacher: &spec.teacher,
        train,
    })?;
    Ok(blake3::hash(json.as_bytes()).to_hex().to_string())
}

/// One cached checkpoint of a training run: flat parameter values in the model's layouts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// GD iteration.
    pub iteration: i64,
    /// Model parameters (flat).
    pub model: Vec<f64>,
    /// Readout parameters (flat).
    pub readout: Vec<f64>,
    /// Training loss.
    pub loss: f64,
}

/// The checkpoints cached under `key` in `dir`, if the entry is whole and verified.
pub fn load_run(dir: &Path, key: &str) -> Option<Vec<Checkpoint>> {
    load_entry(&dir.join(format!("{key}.json")), key)
}

/// Stores a run's checkpoints under `key` in `dir` (atomically; concurrent writers of one key
/// write identical bytes).
pub fn store_run(dir: &Path, key: &str, checkpoints: &[Checkpoint]) -> Result<()> {
    store_entry(&dir.join(format!("{key}.json")), key, checkpoints)
}

/// The first 8 bytes of a hash as a non-negative i64-safe seed.
pub(crate) fn seed_of(h: blake3::Hash) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&h.as_bytes()[..8]);
    u64::from_le_bytes(b) >> 1
}

/// A cache entry as read: its key, a checksum of its rows and the rows (point rows or a run's
/// checkpoints).
#[derive(Deserialize)]
struct Entry<T> {
    key: String,
    checksum: String,
    rows: Vec<T>,
}

/// The same entry as written (borrowing its rows).
#[derive(Serialize)]
struct EntryRef<'a, T> {
    key: &'a str,
    checksum: String,
    rows: &'a [T],
}

fn checksum<T: Serialize>(rows: &[T]) -> Result<String, serde_json::Error> {
    Ok(blake3::hash(serde_json::to_string(rows)?.as_bytes())
        .to_hex()
        .to_string())
}

/// The rows of the entry at `path` if it is whole, carries `key` and passes its checksum.
fn load_entry<T: Serialize + DeserializeOwned>(path: &Path, key: &str) -> Option<Vec<T>> {
    let text = std::fs::read_to_string(path).ok()?;
    let e: Entry<T> = serde_json::from_str(&text).ok()?;
    (e.key == key && checksum(&e.rows).ok()? == e.checksum).then_some(e.rows)
}

/// Writes `rows` under `key` at `path` with their checksum (atomically).
fn store_entry<T: Serialize>(path: &Path, key: &str, rows: &[T]) -> Result<()> {
    let err = |e: serde_json::Error| PipelineError::Cache {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let entry = EntryRef {
        key,
        checksum: checksum(rows).map_err(err)?,
        rows,
    };
    let json = serde_json::to_string(&entry).map_err(err)?;
    Ok(gentk_report::io::write_atomic(path, json.as_bytes())?)
}

/// The rows cached under `key` at `path`, if the entry is whole and verified.
pub fn load(path: &Path, key: &str) -> Option<Vec<Row>> {
    load_entry(path, key)
}

/// Stores `rows` under `key` at `path` (atomically).
pub fn store(path: &Path, key: &str, rows: &[Row]) -> Result<()> {
    store_entry(path, key, rows)
}

/// The wall-time file beside a point's entry `path`.
fn timings_path(path: &Path) -> std::path::PathBuf {
    path.with_extension("timings.json")
}

/// The wall times cached beside the point entry at `path` (kept apart from its rows: they are
/// measured, not computed, and a lost or damaged timings file costs no data).
pub fn load_timings(path: &Path, key: &str) -> Option<Vec<Row>> {
    load_entry(&timings_path(path), key)
}

/// Stores a point's wall times beside its entry at `path` (atomically).
pub fn store_timings(path: &Path, key: &str, rows: &[Row]) -> Result<()> {
    store_entry(&timings_path(path), key, rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(value: f64) -> Row {
        Row {
            measure: "m".into(),
            operator: "ntk".into(),
            statistic: "trace".into(),
            index: None,
            iteration: None,
            value,
            stderr: Some(f64::NAN),
            matvecs: 3,
            estimator: "exact".into(),
            budget: Some(100),
            ptrace_variant: "-".into(),
            seed: 7,
            trial: None,
            step: None,
            rerun: None,
            tolerance: None,
        }
    }

    #[test]
    fn entries_round_trip_and_damage_is_a_miss() {
        let d = std::env::temp_dir().join(format!("gentk-cache-{}", std::process::id()));
        let f = d.join("k.json");
        let rows = vec![row(1.5), row(f64::INFINITY)];
        store(&f, "k", &rows).unwrap();
        let back = load(&f, "k").unwrap();
        assert_eq!(back[0].value, 1.5);
        assert!(back[0].stderr.is_some_and(f64::is_nan));
        assert_eq!((back[0].matvecs, back[0].seed), (3, 7));
        assert_eq!(back[1].value, f64::INFINITY);
        assert!(
            load(&f, "other").is_none(),
            "another key's entry is not data"
        );
        let text = std::fs::read_to_string(&f).unwrap();
        std::fs::write(&f, text.replace("1.5", "1.6")).unwrap();
        assert!(
            load(&f, "k").is_none(),
            "a changed digit fails the checksum"
        );
        std::fs::write(&f, "[]").unwrap();
        assert!(load(&f, "k").is_none());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
