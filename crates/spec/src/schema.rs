//! The spec schema: a TOML file with experiment metadata, model, task, optional training,
//! measurements, sweep, plots and presets, as typed structs (unknown keys rejected; closed vocabularies
//! are the enums of [`crate::names`]). See docs/experiments.md.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::names::{
    Arch, Colormap, Estimator, Legend, Operator, OptimizerKind, PlotKind, PlotTable,
    PositionalKind, Precision, Statistic, TargetCase, TeacherCase, TraceMethod, TrainLoss, Variant,
};

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
    /// Optional teacher–student setup (PAPER §6.4): the model is the student, the targets the
    /// teacher's outputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teacher: Option<TeacherSpec>,
    /// Optional target built from the model at initialisation, replacing the task's targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<TargetSpec>,
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
    /// Claims about the table, checked after every run (`gentk run --check` fails on a false one).
    #[serde(default, rename = "claim", skip_serializing_if = "Vec::is_empty")]
    pub claims: Vec<Claim>,
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
    /// The figure's notes (Markdown): setup, interpretation and agreement with the paper. Numbers
    /// about the results are quoted from claims, `{id}` (the claim's value) or `{id.than}` (its
    /// bound), so NOTES.md, which the runner writes from this text, never drifts from the table.
    #[serde(default)]
    pub notes: String,
}

/// Model architecture and initialisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// The architecture.
    pub arch: Arch,
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
    /// Attention block's MLP width (arch `attention`; default 2·d_model).
    #[serde(default)]
    pub mlp_hidden: Option<usize>,
    /// Attention model width D (arch `attention`; default `hidden`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub d_model: Option<usize>,
    /// Attention positional term (default off; `pe_components` alone means sinusoidal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub positional: Option<PositionalKind>,
    /// Sinusoidal positional encoding: the channels kept (default all D).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pe_components: Option<usize>,
    /// Deterministic Fourier features of a one-dimensional input: [x, sin(2π2^k x), cos(2π2^k x)]
    /// for k < this (PAPER §6.5; needs d_input = 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fourier_features: Option<usize>,
    /// The precision P, P*, K and NTK_S run in (default f64; `f32` for step models only). Left out
    /// of the serialised spec when f64, so the f64 cache keys are unchanged.
    #[serde(default, skip_serializing_if = "Precision::is_f64")]
    pub precision: Precision,
}

impl ModelSpec {
    /// The attention block's width D (`d_model`, else `hidden`).
    pub fn attention_width(&self) -> usize {
        self.d_model.unwrap_or(self.hidden)
    }
    /// The attention block's MLP width M (default 2·D).
    pub fn mlp_width(&self) -> usize {
        self.mlp_hidden.unwrap_or(2 * self.attention_width())
    }
    /// The positional term, with `pe_components` alone meaning sinusoidal.
    pub fn positional_kind(&self) -> PositionalKind {
        match (self.positional, self.pe_components) {
            (Some(p), _) => p,
            (None, Some(_)) => PositionalKind::Sinusoidal,
            (None, None) => PositionalKind::Off,
        }
    }
    /// Channels per site of the analysed state: H, or the attention block's V (5D + 2M).
    pub fn state_width(&self) -> usize {
        if self.arch == Arch::Attention {
            5 * self.attention_width() + 2 * self.mlp_width()
        } else {
            self.hidden
        }
    }

    /// Whether the cell has biases (`bias`, else the arch default: leaky cells off, the rest on).
    pub fn has_bias(&self) -> bool {
        self.bias.unwrap_or(!self.arch.is_leaky())
    }

    /// The tensors `[train] trainable` may name for this model (gentk-models' tensor names).
    pub fn trainable_names(&self) -> Vec<&'static str> {
        use gentk_models::names::{B_HH, B_IH, B_OUT, LEAKY_BIAS, W_HH, W_IH, W_OUT};
        let mut v = vec![W_IH, W_HH];
        if self.has_bias() {
            if self.arch.is_leaky() {
                v.push(LEAKY_BIAS);
            } else {
                v.extend([B_IH, B_HH]);
            }
        }
        v.extend([W_OUT, B_OUT]);
        v
    }
}

fn one() -> f64 {
    1.0
}

fn is_zero(n: &usize) -> bool {
    *n == 0
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

/// The teacher–student setup (PAPER §6.4, `three_task`; F11): a teacher tanh RNN (W_in
/// xavier-normal, W_h orthogonal × `gain`, b_in = 0, no b_hh) with a frozen xavier-normal readout
/// (b_out = 0) gives the targets; the student (`arch = "rnn"`) shares every weight with it except
/// the `case` weights, drawn afresh × `model.gain`, which alone are trained and define the NTK.
/// Teacher and student draws come from the spec seed alone, so every point of a sweep has the same
/// teacher.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeacherSpec {
    /// Which weights the student draws afresh and trains.
    pub case: TeacherCase,
    /// The teacher's gain on W_h.
    #[serde(default = "one")]
    pub gain: f64,
}

/// A target built for the model instead of the task's (F9): one output channel on the analysed
/// trials, rescaled to unit RMS. The readout then has one output, and training fits this target
/// on the analysed trials themselves (full batch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    /// Which target.
    pub case: TargetCase,
}

/// Training (BPTT) before measuring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSpec {
    /// The optimizer.
    pub optimizer: OptimizerKind,
    /// Loss: `mse` (default) or `cross_entropy` (an MLP classifier's logits on one-hot targets).
    #[serde(default, skip_serializing_if = "TrainLoss::is_mse")]
    pub loss: TrainLoss,
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
    /// Spec keys (dotted paths) that alone, with the spec seed, seed the run — initialisation,
    /// planting, training set and batch order: points that agree on them start from one
    /// initialisation and see the same batches (F10's Adam control, F9's cases), and specs that
    /// agree on them and on model, task and training share one cached run (F4 and F10's nfps = 0).
    /// Default: the point's own seed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seed_from: Vec<String>,
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
    /// What is measured.
    pub operator: Operator,
    /// What is computed.
    pub statistic: Statistic,
    /// Partial-trace variant of space/time ranks.
    #[serde(default = "default_variant")]
    pub variant: Variant,
    /// Exact (dense) or randomized.
    #[serde(default = "default_estimator")]
    pub estimator: Estimator,
    /// Matvec budget (randomized).
    #[serde(default = "default_budget")]
    pub budget: usize,
    /// Eigenvalues reported (top_eigs / spectrum); target modes (target_mode_alignment: modes
    /// 1..k; mode_rayleigh: mode k).
    #[serde(default = "default_k")]
    pub k: usize,
    /// Spec keys (dotted paths, e.g. `task.D_inp`) that alone, with the spec seed and the measure's
    /// name, seed this measurement's random draws: points that agree on them share the draws (kpflow
    /// redraws its surrogate W once per D_inp row). Default: the point's own seed.
    #[serde(default)]
    pub seed_from: Vec<String>,
    /// Size of a measurement-owned object: the Gaussian surrogate's n (`resolvent_gaussian`,
    /// default H), the filter length T_max (`scalar_filter`, default 20) or the final steps kept
    /// (`outputs`, default all).
    #[serde(default)]
    pub size: Option<usize>,
    /// Training specs: measure only at these checkpoints (a subset of `train.measure_at`), e.g.
    /// trajectories before, midway and after training. Default: every checkpoint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub at: Vec<usize>,
    /// `trace_estimate`: the estimators compared.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<TraceMethod>,
    /// `trace_estimate`: the budgets (default: `budget` alone).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub budgets: Vec<usize>,
    /// `trace_estimate`: repetitions with fresh probes at every budget.
    #[serde(default = "one_usize", skip_serializing_if = "is_one")]
    pub reruns: usize,
}

fn one_usize() -> usize {
    1
}

fn is_one(n: &usize) -> bool {
    *n == 1
}

impl Measure {
    /// The budgets of a `trace_estimate` (its `budgets`, else `budget`).
    pub fn trace_budgets(&self) -> Vec<usize> {
        if self.budgets.is_empty() {
            vec![self.budget]
        } else {
            self.budgets.clone()
        }
    }

    /// Whether the measure spends its `budget`: randomized estimates and the probe-based alignments
    /// (whose cos_F is always estimated). Rows of other measures leave `budget` null.
    pub fn spends_budget(&self) -> bool {
        self.estimator == Estimator::Randomized
            || matches!(
                self.statistic,
                Statistic::AlignmentPpStar | Statistic::AlignmentInit
            )
    }
}

fn default_variant() -> Variant {
    Variant::Textbook
}
fn default_estimator() -> Estimator {
    Estimator::Exact
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
    /// Chart kind: `line`, `cumulative` (running sum / total per series: a cumulative spectrum when
    /// x = index), `heatmap` (x and y sweep columns, colour = value of the first listed measure), …
    #[serde(default = "default_kind")]
    pub kind: PlotKind,
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
    /// Fixed y-axis range `[low, high]` of line-type charts (default: the data's, padded), e.g.
    /// the paper's 0.7–1 for alignments, so small changes are not magnified.
    #[serde(default)]
    pub y_range: Option<[f64; 2]>,
    /// A dashed horizontal reference line at this y (e.g. 0.95 on a cumulative spectrum).
    #[serde(default)]
    pub hline: Option<f64>,
    /// A dashed horizontal reference line at the median value of the plotted measures' rows whose
    /// columns equal these values (e.g. `{ statistic = "trace_direct" }`: the exact trace beside
    /// its estimates).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub hline_where: std::collections::BTreeMap<String, toml::Value>,
    /// Line charts whose x is a tolerance ε: drawn as the accuracy 1 − ε on an inverted log axis
    /// (ticks 99 %, 99.9 %, …), the trace paper's speed-up chart. Needs `log_x`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub x_accuracy: bool,
    /// Which table the chart draws from: `results` (default, `table.parquet`) or `timings` (the
    /// run's measured wall times, `timings.parquet`: the chart is then not reproducible and the
    /// manifest says so).
    #[serde(default, skip_serializing_if = "PlotTable::is_results")]
    pub table: PlotTable,
    /// Keep only rows whose columns equal these values (e.g. one sweep value per chart); a list
    /// keeps rows equal to any of its items (e.g. `index = [0, 1, 2, 3]`).
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
    /// A dashed vertical reference line at this x.
    #[serde(default)]
    pub vline: Option<f64>,
    /// More dashed vertical reference lines (e.g. task epoch boundaries).
    #[serde(default)]
    pub vlines: Vec<f64>,
    /// Line-type charts: one panel per value of this column, side by side in one figure, each
    /// with its own y scale.
    #[serde(default)]
    pub panels: Option<String>,
    /// Panels stacked top to bottom (one column) instead of side by side.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stack_panels: bool,
    /// Panel caption template: `{value}` is the panel's value of `panels` (default
    /// "column = value").
    #[serde(default)]
    pub panel_label: Option<String>,
    /// A dashed vertical line where a measurement (its median over rows sharing x) first crosses a
    /// value, found by linear interpolation (e.g. ρ(J) = 1).
    #[serde(default)]
    pub vline_where: Option<VlineWhere>,
    /// Legend text template of line charts: `{measure}` and `{<group column>}` are replaced, e.g.
    /// `"g = {model.gain}"`. Default: "measure (column = value, …)".
    #[serde(default)]
    pub label: Option<String>,
    /// Legend corner (default upper right).
    #[serde(default)]
    pub legend: Option<Legend>,
    /// Line charts: series of one group share a colour (a measure and its dashed reference per
    /// group value, e.g. F12's NTK rank and input PR per batch size); default one colour per series.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub color_by_group: bool,
    /// Line charts: start the colour cycle this many colours in (the catalog's offset cycles).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub color_offset: usize,
    /// Heatmap colour map (default viridis).
    #[serde(default)]
    pub colormap: Option<Colormap>,
    /// Heatmaps: colour by log10 of the value (non-positive cells blank), for values that span
    /// decades (F11's alignment and trace); the colour bar then shows log10.
    #[serde(default)]
    pub log_color: bool,
    /// Heatmap colour-bar label.
    #[serde(default)]
    pub colorbar_label: Option<String>,
    /// Paths: the two `index` values (output channels) drawn against each other.
    #[serde(default)]
    pub channels: Option<[i64; 2]>,
    /// Regions: Gaussian smoothing σ in grid cells before thresholding.
    #[serde(default)]
    pub smooth: Option<f64>,
    /// Regions: a rank above this is "high".
    #[serde(default)]
    pub threshold: Option<f64>,
}

impl Plot {
    /// The columns of `group`: several may be listed, separated by commas (`"model.arch,model.dt"`).
    pub fn group_columns(&self) -> Vec<&str> {
        self.group
            .as_deref()
            .map(|g| g.split(',').map(str::trim).collect())
            .unwrap_or_default()
    }
}

/// A claim the figure makes, as data: a sentence and a comparison between an aggregate of the
/// table and a number or another aggregate, optionally for every value of a column (`per`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    /// A name for the notes to quote the claim's numbers by (`{id}`, `{id.than}` in
    /// `experiment.notes`).
    #[serde(default)]
    pub id: Option<String>,
    /// The sentence, as it would appear in a paper or NOTES.md.
    pub says: String,
    /// The compared quantity.
    pub value: Quantity,
    /// The comparison.
    pub is: Comparison,
    /// The bound: a number or another aggregate of the table.
    pub than: Bound,
    /// Check the comparison separately for every value of this column (both sides aggregated
    /// within the group); the claim holds when it holds for every group. (A SQL query groups
    /// itself: its first column is the group.)
    #[serde(default)]
    pub per: Option<String>,
    /// Absolute slack of `==` (and of the inequalities): |value − bound| ≤ tol counts as equal.
    #[serde(default)]
    pub tol: f64,
}

/// An aggregate of the `value` column over the rows of one measure (and optional filters).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Select {
    /// The measure's name.
    pub measure: String,
    /// Keep rows whose columns equal these values (e.g. `{ "model.gain" = 1.0, index = 0 }`).
    #[serde(default, rename = "where")]
    pub filter: BTreeMap<String, toml::Value>,
    /// How the selected values become one number.
    pub aggregate: Aggregate,
}

/// A SQL query over the figure's table (registered as `t`, polars' SQL dialect; dotted column
/// names in double quotes): one number, or one per group (two columns: group, number).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sql {
    /// The query.
    pub sql: String,
}

/// What a claim is about: an aggregate of one measure's values, or a SQL query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Quantity {
    /// A SQL query.
    Sql(Sql),
    /// An aggregate of one measure.
    Select(Select),
}

/// The right-hand side of a claim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Bound {
    /// A number.
    Number(f64),
    /// A SQL query (per group when the value's query is grouped).
    Sql(Sql),
    /// Another aggregate of the table.
    Select(Select),
}

/// How selected values become one number.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregate {
    /// Smallest.
    Min,
    /// Largest.
    Max,
    /// Arithmetic mean.
    Mean,
    /// Median (mean of the two middle values for an even count).
    Median,
    /// Number of rows selected.
    Count,
    /// The single selected value (an error if there is not exactly one).
    Only,
    /// For a spectrum: how many of the largest values reach this fraction of their sum
    /// (`aggregate = { modes_to = 0.95 }`: modes for 95 % of the trace).
    ModesTo(f64),
}

/// A comparison of a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Comparison {
    /// value < bound.
    #[serde(rename = "<")]
    Lt,
    /// value ≤ bound.
    #[serde(rename = "<=")]
    Le,
    /// value > bound.
    #[serde(rename = ">")]
    Gt,
    /// value ≥ bound.
    #[serde(rename = ">=")]
    Ge,
    /// |value − bound| ≤ tol.
    #[serde(rename = "==")]
    Eq,
}

impl Comparison {
    /// Whether `a` compares to `b` (with slack `tol`).
    pub fn holds(self, a: f64, b: f64, tol: f64) -> bool {
        match self {
            Comparison::Lt => a < b + tol,
            Comparison::Le => a <= b + tol,
            Comparison::Gt => a > b - tol,
            Comparison::Ge => a >= b - tol,
            Comparison::Eq => (a - b).abs() <= tol,
        }
    }

    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            Comparison::Lt => "<",
            Comparison::Le => "<=",
            Comparison::Gt => ">",
            Comparison::Ge => ">=",
            Comparison::Eq => "==",
        }
    }
}

impl Aggregate {
    /// The aggregate of `values` (`None` when it does not exist: no values, or `only` of several).
    pub fn of(self, values: &[f64]) -> Option<f64> {
        if values.is_empty() {
            return (self == Aggregate::Count).then_some(0.0);
        }
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        Some(match self {
            Aggregate::Min => v[0],
            Aggregate::Max => v[n - 1],
            Aggregate::Mean => v.iter().sum::<f64>() / n as f64,
            Aggregate::Median if n % 2 == 1 => v[n / 2],
            Aggregate::Median => 0.5 * (v[n / 2 - 1] + v[n / 2]),
            Aggregate::Count => n as f64,
            Aggregate::Only if n == 1 => v[0],
            Aggregate::Only => return None,
            Aggregate::ModesTo(f) => {
                let total: f64 = v.iter().sum();
                let mut acc = 0.0;
                let k = v.iter().rev().take_while(|&&x| {
                    let below = acc < f * total;
                    acc += x;
                    below
                });
                k.count() as f64
            }
        })
    }
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

fn default_kind() -> PlotKind {
    PlotKind::Line
}
