//! The experiment spec: a TOML file with experiment metadata, model, task, optional training,
//! measurements, sweep, plots and presets. Unknown keys are errors; every error names
//! file:line:column, the key path and, for typos, the nearest valid key. See docs/experiments.md.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{PipelineError, Result};

/// A whole spec file (after preset resolution).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Metadata.
    pub experiment: Experiment,
    /// The model.
    pub model: ModelSpec,
    /// The data.
    pub task: TaskSpec,
    /// Optional training before (and during) the measurements.
    #[serde(default)]
    pub train: Option<TrainSpec>,
    /// What to measure at each point.
    #[serde(rename = "measure")]
    pub measures: Vec<Measure>,
    /// Sweep axes.
    #[serde(default)]
    pub sweep: Sweep,
    /// Charts.
    #[serde(default, rename = "plot")]
    pub plots: Vec<Plot>,
    /// Named overrides (`cpu` is applied by default when present, `full` on request).
    #[serde(default)]
    pub presets: BTreeMap<String, toml::Table>,
}

/// Experiment metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    /// Results go to `results/<name>/`.
    pub name: String,
    /// Paper figure id (F1..F13) or `example`.
    #[serde(default)]
    pub figure: String,
    /// The claim the figure supports.
    #[serde(default)]
    pub claim: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Root seed: every point's streams derive from (seed, point, purpose).
    #[serde(default)]
    pub seed: u64,
}

/// Model architecture and initialisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// `leaky-rnn`, `linear-rnn`, `rnn`, `gru`, `mlp-relu`, `mlp-residual`.
    pub arch: String,
    /// Hidden size H (MLP width).
    pub hidden: usize,
    /// Gain g on W_hh (PyTorch-uniform init); MLPs: on every weight.
    #[serde(default = "one")]
    pub gain: f64,
    /// Leaky RNN step.
    #[serde(default = "one")]
    pub dt: f64,
    /// Leaky RNN bias / RNN biases.
    #[serde(default)]
    pub bias: Option<bool>,
    /// MLP depth (time axis).
    #[serde(default)]
    pub depth: Option<usize>,
    /// Planted fixed points (leaky RNN).
    #[serde(default)]
    pub fixed_points: usize,
    /// Readout outputs (default: the task's output channels; attention: d_output, default 1).
    #[serde(default)]
    pub outputs: Option<usize>,
    /// Attention heads (arch `attention`; default 1).
    #[serde(default)]
    pub heads: Option<usize>,
    /// Attention block's MLP width (arch `attention`; default 2·hidden).
    #[serde(default)]
    pub mlp_hidden: Option<usize>,
}

fn one() -> f64 {
    1.0
}

/// Task data: a `gentk_tasks::TaskConfig` table plus how many trials the analysis uses. (Unknown
/// keys are rejected when the flattened table is parsed as a `TaskConfig`.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskSpec {
    /// Trials fed to the analysed rollout (the first `batch` trials of the dataset).
    pub batch: usize,
    /// Generate with noise.
    #[serde(default)]
    pub noise: bool,
    /// The generator (`kind = "memory_pro"`, …).
    #[serde(flatten)]
    pub config: toml::Table,
}

/// Training (BPTT) before measuring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSpec {
    /// `sgd` or `adam`.
    pub optimizer: String,
    /// Learning rate.
    pub lr: f64,
    /// SGD momentum.
    #[serde(default)]
    pub momentum: f64,
    /// Iterations.
    pub iterations: usize,
    /// Batch size (drawn from a noisy dataset of `dataset_size` trials).
    pub batch_size: usize,
    /// Training dataset size.
    #[serde(default = "default_dataset")]
    pub dataset_size: usize,
    /// Trained tensors (default all).
    #[serde(default)]
    pub trainable: Option<Vec<String>>,
    /// Gradient clipping.
    #[serde(default)]
    pub grad_clip: Option<f64>,
    /// Early-stop tolerance.
    #[serde(default)]
    pub tol: Option<f64>,
    /// Measure at these iterations (checkpoints); default: only after training.
    #[serde(default)]
    pub measure_at: Vec<usize>,
}

fn default_dataset() -> usize {
    500
}

/// One measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Measure {
    /// Label in the table.
    pub name: String,
    /// `k`, `k_autodiff`, `ntk`, `p`, `pp_star`, `output_ntk`, `gram`, `data`, `training`.
    pub operator: String,
    /// `trace`, `fro2`, `eff_rank`, `eff_rank_space`, `eff_rank_time`, `top_eigs`, `spectrum`,
    /// `alignment_pp_star`, `data_pr`, `loss`, `kron_error`.
    pub statistic: String,
    /// `textbook`, `compress_sum`, `compress_mean` (space/time ranks).
    #[serde(default = "default_variant")]
    pub variant: String,
    /// `exact` or `randomized`.
    #[serde(default = "default_estimator")]
    pub estimator: String,
    /// Matvec budget (randomized).
    #[serde(default = "default_budget")]
    pub budget: usize,
    /// Eigenvalues reported (top_eigs / spectrum).
    #[serde(default = "default_k")]
    pub k: usize,
    /// Spec keys (dotted paths, e.g. `task.D_inp`) that alone, with the spec seed and the measure's
    /// name, seed this measurement's random draws: points that agree on them share the draws (kpflow
    /// redraws its surrogate W once per D_inp row). Default: the point's own seed.
    #[serde(default)]
    pub seed_from: Vec<String>,
    /// Size of a measurement-owned object: the Gaussian surrogate's n (`resolvent_gaussian`,
    /// default H) or the filter length T_max (`scalar_filter`, default 20).
    #[serde(default)]
    pub size: Option<usize>,
}

fn default_variant() -> String {
    "textbook".into()
}
fn default_estimator() -> String {
    "exact".into()
}
fn default_budget() -> usize {
    100
}
fn default_k() -> usize {
    5
}

/// Sweep axes: a Cartesian grid and zipped axes (advanced together), each a dotted key path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Sweep {
    /// Axes combined as a Cartesian product (in key order).
    #[serde(default)]
    pub grid: BTreeMap<String, Axis>,
    /// Axes of equal length advanced together (combined with the grid as one more factor).
    #[serde(default)]
    pub zip: BTreeMap<String, Axis>,
}

/// One axis: an explicit list or a generator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Axis {
    /// Explicit values.
    List(Vec<toml::Value>),
    /// A generator.
    Gen(AxisGen),
}

/// Generated axis values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AxisGen {
    /// [start, stop, count], inclusive.
    #[serde(default)]
    pub linspace: Option<(f64, f64, usize)>,
    /// [start exponent, stop exponent, count]: 10^linspace.
    #[serde(default)]
    pub logspace: Option<(f64, f64, usize)>,
    /// Round to integers.
    #[serde(default)]
    pub int: bool,
}

/// A chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plot {
    /// File stem (PNG and SVG).
    pub file: String,
    /// `line`, `cumulative` (running sum / total per series: a cumulative spectrum when x = index)
    /// or `heatmap` (x and y sweep columns, colour = value of the first listed measure).
    #[serde(default = "default_kind")]
    pub kind: String,
    /// Column on the x axis (a sweep key, `index`, `iteration`).
    pub x: String,
    /// Column on the y axis of a heatmap.
    #[serde(default)]
    pub y: Option<String>,
    /// Measurements plotted (names); default all.
    #[serde(default)]
    pub measures: Vec<String>,
    /// Column that splits series (besides the measure).
    #[serde(default)]
    pub group: Option<String>,
    /// Title.
    #[serde(default)]
    pub title: String,
    /// X label.
    #[serde(default)]
    pub x_label: String,
    /// Y label.
    #[serde(default)]
    pub y_label: String,
    /// Log-scaled x.
    #[serde(default)]
    pub log_x: bool,
    /// Drop points with x above this (after a cumulative transform).
    #[serde(default)]
    pub x_max: Option<f64>,
    /// A dashed horizontal reference line at this y (e.g. 0.95 on a cumulative spectrum).
    #[serde(default)]
    pub hline: Option<f64>,
    /// Keep only rows whose columns equal these values (e.g. one sweep value per chart).
    #[serde(default)]
    pub filter: std::collections::BTreeMap<String, toml::Value>,
    /// Log-scaled y.
    #[serde(default)]
    pub log_y: bool,
    /// Aggregate the points sharing x within a series (e.g. over seeds): median line and a
    /// shaded 25–75 % band.
    #[serde(default)]
    pub band: bool,
    /// Measurements drawn dashed (e.g. a theory curve).
    #[serde(default)]
    pub dashed: Vec<String>,
    /// Measurements drawn as thin lines without markers (e.g. variants of a main curve).
    #[serde(default)]
    pub thin: Vec<String>,
    /// A dotted vertical reference line at this x.
    #[serde(default)]
    pub vline: Option<f64>,
    /// A dotted vertical line where a measurement (its median over rows sharing x) first crosses a
    /// value, found by linear interpolation (e.g. ρ(J) = 1).
    #[serde(default)]
    pub vline_where: Option<VlineWhere>,
    /// Legend text template of line charts: `{measure}` and `{<group column>}` are replaced, e.g.
    /// `"g = {model.gain}"`. Default: "measure (column = value, …)".
    #[serde(default)]
    pub label: Option<String>,
    /// Legend corner: `upper-right` (default), `upper-left`, `lower-right`, `lower-left`,
    /// `middle-right`.
    #[serde(default)]
    pub legend: Option<String>,
    /// Heatmap colour map: `viridis` (default) or `magma`.
    #[serde(default)]
    pub colormap: Option<String>,
    /// Heatmap colour-bar label.
    #[serde(default)]
    pub colorbar_label: Option<String>,
    /// Regions: Gaussian smoothing σ in grid cells before thresholding.
    #[serde(default)]
    pub smooth: Option<f64>,
    /// Regions: a rank above this is "high".
    #[serde(default)]
    pub threshold: Option<f64>,
}

/// Where a vertical line goes: the x at which `measure` crosses `value`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VlineWhere {
    /// Measurement name.
    pub measure: String,
    /// Crossing value.
    pub value: f64,
}

fn default_kind() -> String {
    "line".into()
}

/// A spec file's text, path and parsed document (for locating errors).
#[derive(Debug, Clone)]
pub struct SpecFile {
    /// Path as given.
    pub path: PathBuf,
    /// Source text.
    pub text: String,
    /// Parsed, preset-free spec.
    pub spec: Spec,
}

/// 1-based (line, column) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// The dotted key path at a byte offset: the table header in force there plus the key of that
/// line (for a value error, the key left of `=`).
pub fn key_path_at(text: &str, offset: usize) -> String {
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let line = &text[line_start..line_end];
    let mut table = String::new();
    for l in text[..line_end].lines() {
        let t = l.trim();
        if t.starts_with('[') {
            table = t.trim_matches(|c| c == '[' || c == ']').trim().to_string();
        }
    }
    let t = line.trim();
    if t.starts_with('[') {
        return table;
    }
    let key = match line.find('=') {
        Some(eq) => line[..eq].trim().trim_matches('"').to_string(),
        None => line[offset - line_start..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '-')
            .collect(),
    };
    match (table.is_empty(), key.is_empty()) {
        (true, _) => key,
        (false, true) => table,
        (false, false) => format!("{table}.{key}"),
    }
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push(
                (prev[j] + usize::from(ca != *cb))
                    .min(prev[j + 1] + 1)
                    .min(cur[j] + 1),
            );
        }
        prev = cur;
    }
    prev[b.len()]
}

/// "did you mean `x`?" for serde's "unknown field `a`, expected one of `b`, `c`" messages.
fn suggestion(msg: &str) -> Option<String> {
    let unknown = msg.split("unknown field `").nth(1)?.split('`').next()?;
    let expected = msg
        .split("expected one of ")
        .nth(1)
        .or_else(|| msg.split("expected ").nth(1))?;
    let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    let best = candidates.iter().min_by_key(|c| levenshtein(unknown, c))?;
    (levenshtein(unknown, best) <= unknown.len().max(2) / 2 + 1)
        .then(|| format!("did you mean `{best}`?"))
}

/// Turns a toml deserialisation error into a located spec error.
pub fn spec_error(path: &Path, text: &str, e: &toml::de::Error) -> PipelineError {
    let span = e.span().unwrap_or(0..0);
    let (line, column) = line_col(text, span.start);
    let key = key_path_at(text, span.start);
    let mut message = e.message().trim().to_string();
    if !key.is_empty() {
        message = format!("at `{key}`: {message}");
    }
    if let Some(s) = suggestion(&message) {
        message = format!("{message}; {s}");
    }
    PipelineError::Spec {
        file: path.to_path_buf(),
        line,
        column,
        message,
    }
}

/// A located error for a semantic problem at a key path (found by searching the key's text).
pub fn semantic_error(
    path: &Path,
    text: &str,
    key_path: &str,
    message: impl Into<String>,
) -> PipelineError {
    let last = key_path.rsplit('.').next().unwrap_or(key_path);
    let offset = text
        .match_indices(last)
        .map(|(i, _)| i)
        .find(|&i| {
            let ok_before = i == 0 || !text.as_bytes()[i - 1].is_ascii_alphanumeric();
            let after = text[i + last.len()..].trim_start();
            ok_before && (after.starts_with('=') || after.starts_with(']'))
        })
        .unwrap_or(0);
    let (line, column) = line_col(text, offset);
    PipelineError::Spec {
        file: path.to_path_buf(),
        line,
        column,
        message: format!("at `{key_path}`: {}", message.into()),
    }
}

/// Reads and parses a spec file (presets not applied yet).
pub fn load(path: &Path) -> Result<SpecFile> {
    let text = std::fs::read_to_string(path).map_err(crate::error::io(path))?;
    let spec: Spec = toml::from_str(&text).map_err(|e| spec_error(path, &text, &e))?;
    Ok(SpecFile {
        path: path.to_path_buf(),
        text,
        spec,
    })
}

/// Merges `over` into `base` recursively (tables merge, other values replace).
pub fn merge(base: &mut toml::Table, over: &toml::Table) {
    for (k, v) in over {
        match (base.get_mut(k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

impl SpecFile {
    /// The spec with preset `name` applied (`cpu` silently absent is fine; others must exist).
    pub fn resolved(&self, preset: &str) -> Result<Spec> {
        let mut doc: toml::Table =
            toml::from_str(&self.text).map_err(|e| spec_error(&self.path, &self.text, &e))?;
        let presets = doc.remove("presets");
        let chosen = presets
            .as_ref()
            .and_then(|p| p.get(preset))
            .and_then(|v| v.as_table())
            .cloned();
        match chosen {
            Some(t) => merge(&mut doc, &t),
            None if preset == "cpu" => {}
            None => {
                return Err(semantic_error(
                    &self.path,
                    &self.text,
                    "presets",
                    format!("unknown preset `{preset}`"),
                ));
            }
        }
        let spec = Spec::deserialize(toml::Value::Table(doc)).map_err(|e| {
            semantic_error(
                &self.path,
                &self.text,
                &format!("presets.{preset}"),
                format!("after applying preset `{preset}`: {e}"),
            )
        })?;
        Ok(spec)
    }
}
