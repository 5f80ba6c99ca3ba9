//! From a spec file to a typed, validated plan: parse (errors located by the parser's spans), apply a
//! preset, expand the sweep, resolve every point into its own typed spec and task configuration, and
//! validate each (ranges, cross-key rules, the operator × statistic × estimator table of
//! [`crate::rules`]) — all before any computation. Every error names file:line:column of the key
//! that caused it: the sweep axis that set the value, the preset that overrode it, or the key itself.

use std::path::{Path, PathBuf};

use gentk_tasks::{TaskConfig, TaskDims};
use serde::Deserialize;

use crate::error::{Invalid, Result, SpecError};
use crate::limits::{self, Limits};
use crate::locate::{KeyPath, Seg, SpanIndex, line_col, suggestion};
use crate::names::{Arch, PlotKind, PositionalKind};
use crate::rules::{PointDims, check_measure};
use crate::schema::Spec;
use crate::sweep::{Point, expand, set_path};

/// A spec file's text, path, spans and parsed (preset-free) spec.
#[derive(Debug, Clone)]
pub struct SpecFile {
    /// Path as given.
    pub path: PathBuf,
    /// Source text.
    pub text: String,
    /// Parsed, preset-free spec.
    pub spec: Spec,
    spans: SpanIndex,
}

/// One resolved sweep point: its overrides, its own spec and its task.
#[derive(Debug, Clone)]
pub struct PlannedPoint {
    /// The sweep values that define it.
    pub point: Point,
    /// The spec with the preset and the point's values applied.
    pub spec: Spec,
    /// The task generator's configuration.
    pub task: TaskConfig,
    /// The sizes of its rollout.
    pub dims: PointDims,
}

/// A validated plan: the preset-resolved spec and every point.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The spec with the preset applied (sweep not expanded).
    pub spec: Spec,
    /// The preset.
    pub preset: String,
    /// Points in sweep order.
    pub points: Vec<PlannedPoint>,
}

impl Plan {
    /// The sweep keys (table columns), in axis order.
    pub fn sweep_keys(&self) -> Vec<String> {
        self.points
            .first()
            .map(|p| p.point.values.iter().map(|(k, _)| k.clone()).collect())
            .unwrap_or_default()
    }
}

/// Reads and parses a spec file (presets not applied yet).
pub fn load(path: &Path) -> Result<SpecFile> {
    let text = std::fs::read_to_string(path).map_err(|source| SpecError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let spans = SpanIndex::new(&text);
    match toml::from_str::<Spec>(&text) {
        Ok(spec) => Ok(SpecFile {
            path: path.to_path_buf(),
            text,
            spec,
            spans,
        }),
        Err(e) => {
            let offset = e.span().map_or(0, |s| s.start);
            let key = spans.path_at(offset).unwrap_or_default();
            Err(located(path, &text, offset, &key, e.message().trim()))
        }
    }
}

fn located(file: &Path, text: &str, offset: usize, key: &KeyPath, msg: &str) -> SpecError {
    let (line, column) = line_col(text, offset);
    let mut message = if key.0.is_empty() {
        msg.to_string()
    } else {
        format!("at `{key}`: {msg}")
    };
    if let Some(s) = suggestion(msg) {
        message = format!("{message}; {s}");
    }
    SpecError::Located {
        file: file.to_path_buf(),
        line,
        column,
        message,
    }
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
    /// A validation problem located in this file: at the sweep axis that set the key (when the
    /// point's values include it), else at the preset's override, else at the key or its nearest
    /// existing ancestor.
    pub fn locate(&self, inv: &Invalid, preset: &str, point: Option<&Point>) -> SpecError {
        let preset_root = [Seg::Key("presets".into()), Seg::Key(preset.into())];
        let mut candidates: Vec<KeyPath> = Vec::new();
        let sweep_axis = |key: &str| {
            [
                KeyPath::keys(["sweep", "grid", key]),
                KeyPath::keys(["sweep", "zip", key]),
            ]
        };
        if let (Some(p), Some(dotted)) = (point, inv.path.as_dotted()) {
            for (k, _) in &p.values {
                if dotted == *k || dotted.starts_with(&format!("{k}.")) {
                    for axis in sweep_axis(k) {
                        candidates.push(axis.under(&preset_root));
                        candidates.push(axis);
                    }
                }
            }
        }
        if let [Seg::Key(s), Seg::Key(kind), Seg::Key(key)] = &inv.path.0[..]
            && s == "sweep"
            && (kind == "grid" || kind == "zip")
        {
            for axis in sweep_axis(key) {
                candidates.push(axis.under(&preset_root));
                candidates.push(axis);
            }
        }
        for len in (1..=inv.path.0.len()).rev() {
            let anc = KeyPath(inv.path.0[..len].to_vec());
            candidates.push(anc.under(&preset_root));
            candidates.push(anc);
        }
        let offset = candidates
            .iter()
            .find_map(|c| self.spans.key_span(c))
            .map_or(0, |s| s.start);
        let msg = match point {
            Some(p) if !p.values.is_empty() => {
                format!("{} (at sweep point {})", inv.message, p.label())
            }
            _ => inv.message.clone(),
        };
        located(&self.path, &self.text, offset, &inv.path, &msg)
    }

    /// Deserialises a (merged, overridden) document; on failure, finds the offending key by
    /// re-parsing the document as text (the parser's span names the key) and locates it here.
    fn spec_of(&self, doc: toml::Table, preset: &str, point: Option<&Point>) -> Result<Spec> {
        match Spec::deserialize(toml::Value::Table(doc.clone())) {
            Ok(s) => Ok(s),
            Err(e) => {
                let path = toml::to_string(&doc)
                    .ok()
                    .and_then(|text| {
                        let err = toml::from_str::<Spec>(&text).err()?;
                        SpanIndex::new(&text).path_at(err.span()?.start)
                    })
                    .unwrap_or_default();
                let what = if preset == "cpu" && !self.has_preset("cpu") {
                    e.message().trim().to_string()
                } else {
                    format!("after applying preset `{preset}`: {}", e.message().trim())
                };
                Err(self.locate(&Invalid::new(path, what), preset, point))
            }
        }
    }

    fn has_preset(&self, name: &str) -> bool {
        self.spec.presets.contains_key(name)
    }

    /// The spec with preset `name` applied (`cpu` silently absent is fine; others must exist).
    pub fn resolved(&self, preset: &str) -> Result<Spec> {
        let mut doc = toml::Table::try_from(&self.spec).map_err(|e| {
            self.locate(
                &Invalid::new(KeyPath::default(), e.to_string()),
                preset,
                None,
            )
        })?;
        let presets = doc.remove("presets");
        match presets
            .as_ref()
            .and_then(|p| p.get(preset))
            .and_then(|v| v.as_table())
        {
            Some(t) => merge(&mut doc, t),
            None if preset == "cpu" => {}
            None => {
                return Err(self.locate(
                    &Invalid::new(
                        KeyPath::keys(["presets"]),
                        format!(
                            "unknown preset `{preset}`; this spec has {}",
                            if self.spec.presets.is_empty() {
                                "none".to_string()
                            } else {
                                self.spec
                                    .presets
                                    .keys()
                                    .map(|k| format!("`{k}`"))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            }
                        ),
                    ),
                    "cpu",
                    None,
                ));
            }
        }
        self.spec_of(doc, preset, None)
    }
}

/// Resolves every point of a spec file under `preset` into a validated plan (default [`Limits`]).
pub fn resolve(sf: &SpecFile, preset: &str) -> Result<Plan> {
    resolve_with(sf, preset, &Limits::default())
}

/// Resolves every point of a spec file under `preset` into a validated plan whose every point
/// fits `limits`.
pub fn resolve_with(sf: &SpecFile, preset: &str, limits: &Limits) -> Result<Plan> {
    let spec = sf.resolved(preset)?;
    let points =
        expand(&spec.sweep, limits.max_points).map_err(|inv| sf.locate(&inv, preset, None))?;
    let sweep_keys: Vec<String> = points
        .first()
        .map(|p| p.values.iter().map(|(k, _)| k.clone()).collect())
        .unwrap_or_default();
    check_plots(&spec, &sweep_keys).map_err(|inv| sf.locate(&inv, preset, None))?;
    check_claims(&spec, &sweep_keys).map_err(|inv| sf.locate(&inv, preset, None))?;
    let mut base = toml::Table::try_from(&spec).map_err(|e| {
        sf.locate(
            &Invalid::new(KeyPath::default(), e.to_string()),
            preset,
            None,
        )
    })?;
    base.remove("presets");
    let mut out = Vec::with_capacity(points.len());
    for p in points {
        let mut t = base.clone();
        for (k, v) in &p.values {
            set_path(&mut t, k, v.clone()).map_err(|inv| sf.locate(&inv, preset, Some(&p)))?;
        }
        let ps = sf.spec_of(t, preset, Some(&p))?;
        let (task, dims) = validate(&ps)
            .and_then(|(task, dims)| {
                limits::check(&ps, &task.dims(), &dims, limits)?;
                Ok((task, dims))
            })
            .map_err(|inv| sf.locate(&inv, preset, Some(&p)))?;
        out.push(PlannedPoint {
            point: p,
            spec: ps,
            task,
            dims,
        });
    }
    Ok(Plan {
        spec,
        preset: preset.to_string(),
        points: out,
    })
}

/// The task table parsed as a generator configuration and checked field by field (the error names
/// the key).
pub fn task_config(spec: &Spec) -> Result<TaskConfig, Invalid> {
    let task = parse_task(spec)?;
    task.validate().map_err(|e| match e {
        gentk_tasks::TaskError::Invalid { field, .. } => {
            Invalid::new(KeyPath::keys(["task", field]), format!("task: {e}"))
        }
    })?;
    Ok(task)
}

fn parse_task(spec: &Spec) -> Result<TaskConfig, Invalid> {
    TaskConfig::deserialize(toml::Value::Table(spec.task.config.clone())).map_err(|e| {
        let msg = e.message().trim().to_string();
        let key = msg
            .split("unknown field `")
            .nth(1)
            .and_then(|r| r.split('`').next())
            .map_or_else(
                || KeyPath::keys(["task", "kind"]),
                |k| KeyPath::keys(["task", k]),
            );
        Invalid::new(key, format!("task: {msg}"))
    })
}

fn finite(path: KeyPath, what: &str, v: f64) -> Result<(), Invalid> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(Invalid::new(
            path,
            format!("{what} must be finite, got {v}"),
        ))
    }
}

/// Validates a resolved point spec without computing: ranges, cross-key rules, every measurement
/// against [`crate::rules`], every chart's required keys. Returns the point's task and sizes.
pub fn validate(spec: &Spec) -> Result<(TaskConfig, PointDims), Invalid> {
    let model = &spec.model;
    let key = |k: &str| KeyPath::dotted(k);
    check_name(key("experiment.name"), &spec.experiment.name)?;
    if model.hidden == 0 {
        return Err(Invalid::new(key("model.hidden"), "must be ≥ 1"));
    }
    if !(model.dt > 0.0 && model.dt <= 1.0) {
        return Err(Invalid::new(
            key("model.dt"),
            format!("must lie in (0, 1], got {}", model.dt),
        ));
    }
    finite(key("model.gain"), "the gain", model.gain)?;
    if model.arch.is_mlp() && model.depth.is_none_or(|d| d == 0) {
        return Err(Invalid::new(
            key("model.depth"),
            format!("arch `{}` needs depth ≥ 1", model.arch),
        ));
    }
    if model.precision == crate::names::Precision::F32 && model.arch == Arch::Attention {
        return Err(Invalid::new(
            key("model.precision"),
            "precision = \"f32\" is implemented for the step models (RNNs, GRU, MLPs), not arch \
             `attention`",
        ));
    }
    if spec.task.batch == 0 {
        return Err(Invalid::new(key("task.batch"), "must be ≥ 1"));
    }
    let task = task_config(spec)?;
    let tdims: TaskDims = task.dims();
    if spec.task.batch > tdims.n {
        return Err(Invalid::new(
            key("task.batch"),
            format!(
                "task.batch = {} exceeds the {} trials the task generates",
                spec.task.batch, tdims.n
            ),
        ));
    }
    check_attention(spec, &tdims)?;
    let dims = PointDims::of(spec, tdims);
    if spec.measures.is_empty() {
        return Err(Invalid::new(
            key("measure"),
            "at least one [[measure]] is needed",
        ));
    }
    if let Some(t) = &spec.train {
        if model.arch == Arch::Attention {
            return Err(Invalid::new(
                key("train"),
                "training specs support recurrent models and MLPs, not arch `attention`",
            ));
        }
        // An MLP is fitted at its last layer: one input step and a target per sample.
        if model.arch.is_mlp() && (tdims.time != 1 || tdims.n_out == 0) {
            return Err(Invalid::new(
                key("train"),
                format!(
                    "training an MLP needs a task with one step (T = 1, got {}) and targets (got {} channels)",
                    tdims.time, tdims.n_out
                ),
            ));
        }
        finite(key("train.lr"), "the learning rate", t.lr)?;
        if t.batch_size == 0 {
            return Err(Invalid::new(key("train.batch_size"), "must be ≥ 1"));
        }
        if t.dataset_size == 0 {
            return Err(Invalid::new(key("train.dataset_size"), "must be ≥ 1"));
        }
        if t.batch_size > t.dataset_size {
            return Err(Invalid::new(
                key("train.batch_size"),
                format!(
                    "{} exceeds the {} trials of the training set (`train.dataset_size`)",
                    t.batch_size, t.dataset_size
                ),
            ));
        }
        for (what, v) in [
            ("momentum", Some(t.momentum)),
            ("grad_clip", t.grad_clip),
            ("tol", t.tol),
        ] {
            if let Some(v) = v {
                finite(key(&format!("train.{what}")), what, v)?;
            }
        }
        let allowed = model.trainable_names();
        for name in t.trainable.iter().flatten() {
            if !allowed.contains(&name.as_str()) {
                return Err(Invalid::new(
                    key("train.trainable"),
                    format!(
                        "`{name}` is not a tensor of arch `{}`{}; it has {}",
                        model.arch,
                        if model.has_bias() {
                            ""
                        } else {
                            " (without bias)"
                        },
                        allowed.join(", ")
                    ),
                ));
            }
        }
        if let Some(&it) = t.measure_at.iter().find(|&&it| it > t.iterations) {
            return Err(Invalid::new(
                key("train.measure_at"),
                format!(
                    "checkpoint {it} lies beyond the last iteration {}",
                    t.iterations
                ),
            ));
        }
    }
    if let Some(te) = &spec.teacher {
        finite(key("teacher.gain"), "the teacher's gain", te.gain)?;
        if model.arch != crate::Arch::Rnn {
            return Err(Invalid::new(
                key("model.arch"),
                format!(
                    "a [teacher] setup's student is the tanh RNN of PAPER §6.4: arch = \"rnn\", not `{}`",
                    model.arch
                ),
            ));
        }
        if spec.target.is_some() {
            return Err(Invalid::new(
                key("target"),
                "a [teacher] gives the targets; drop the [target] table",
            ));
        }
        if dims.outputs != 1 {
            return Err(Invalid::new(
                key("model.outputs"),
                format!(
                    "the teacher has one output, so the readout needs one output, not {}",
                    dims.outputs
                ),
            ));
        }
        if spec.train.as_ref().is_some_and(|t| t.trainable.is_some()) {
            return Err(Invalid::new(
                key("train.trainable"),
                format!(
                    "with a [teacher], teacher.case = \"{}\" decides what is trained; drop train.trainable",
                    te.case
                ),
            ));
        }
    }
    if spec.target.is_some() {
        if !model.arch.is_recurrent() {
            return Err(Invalid::new(
                key("target"),
                format!(
                    "a built target needs a recurrent model (its temporal NTK modes), not arch `{}`",
                    model.arch
                ),
            ));
        }
        if dims.outputs != 1 {
            return Err(Invalid::new(
                key("model.outputs"),
                format!(
                    "a built target has one channel, so the readout needs one output, not {}",
                    dims.outputs
                ),
            ));
        }
        if let Some(t) = &spec.train
            && (t.batch_size != spec.task.batch || t.dataset_size != spec.task.batch)
        {
            return Err(Invalid::new(
                key("train.batch_size"),
                format!(
                    "with a built target, training fits the {} analysed trials full-batch: set batch_size = dataset_size = task.batch = {}",
                    spec.task.batch, spec.task.batch
                ),
            ));
        }
    }
    let doc =
        toml::Value::try_from(spec).map_err(|e| Invalid::new(KeyPath::default(), e.to_string()))?;
    for k in spec.train.iter().flat_map(|t| &t.seed_from) {
        if k.split('.').try_fold(&doc, |v, part| v.get(part)).is_none() {
            return Err(Invalid::new(
                key("train.seed_from"),
                format!("seed_from key `{k}` is not in the spec"),
            ));
        }
    }
    for (i, m) in spec.measures.iter().enumerate() {
        check_measure(spec, &dims, i, m)?;
        for k in &m.seed_from {
            if k.split('.').try_fold(&doc, |v, part| v.get(part)).is_none() {
                return Err(Invalid::new(
                    KeyPath::measure(i, "seed_from"),
                    format!(
                        "in measure `{}`: seed_from key `{k}` is not in the spec",
                        m.name
                    ),
                ));
            }
        }
    }
    for (i, p) in spec.plots.iter().enumerate() {
        let need = |ok: bool, msg: String| {
            if ok {
                Ok(())
            } else {
                Err(Invalid::new(KeyPath::plot(i, "kind"), msg))
            }
        };
        match p.kind {
            PlotKind::Scatter => need(
                p.measures.len() == 2,
                format!(
                    "scatter `{}` needs measures = [x measure, y measure]",
                    p.file
                ),
            )?,
            PlotKind::Paths => need(
                p.channels.is_some() && p.measures.len() == 1,
                format!(
                    "paths `{}` needs channels = [x channel, y channel] and one measure (an `outputs` measurement)",
                    p.file
                ),
            )?,
            PlotKind::Heatmap => need(
                p.y.is_some(),
                format!("heatmap `{}` needs a `y` column", p.file),
            )?,
            PlotKind::Regions => {
                need(
                    p.y.is_some(),
                    format!("regions `{}` needs a `y` column", p.file),
                )?;
                need(
                    p.measures.len() == 2 && p.threshold.is_some(),
                    format!(
                        "regions `{}` needs measures = [space, time] and a threshold",
                        p.file
                    ),
                )?;
            }
            _ => {}
        }
    }
    Ok((task, dims))
}

/// The longest experiment name or chart file stem.
pub const MAX_NAME_LEN: usize = 100;

/// A name that becomes one path component under `results/`: 1–100 characters from
/// `A–Z a–z 0–9 _ - .`, not starting with a dot (so never `.`, `..` or hidden).
/// The attention block's keys: only on arch `attention`, and sizes it can be built with (heads
/// dividing D, Fourier features of a one-dimensional input, PE channels within D).
fn check_attention(spec: &Spec, task: &TaskDims) -> Result<(), Invalid> {
    let m = &spec.model;
    let key = |k: &str| KeyPath::dotted(k);
    let set = [
        ("model.heads", m.heads.is_some()),
        ("model.mlp_hidden", m.mlp_hidden.is_some()),
        ("model.d_model", m.d_model.is_some()),
        ("model.positional", m.positional.is_some()),
        ("model.pe_components", m.pe_components.is_some()),
        ("model.fourier_features", m.fourier_features.is_some()),
    ];
    if m.arch != Arch::Attention {
        return match set.iter().find(|(_, on)| *on) {
            Some((k, _)) => Err(Invalid::new(
                key(k),
                format!("`{k}` applies to arch `attention` only, not `{}`", m.arch),
            )),
            None => Ok(()),
        };
    }
    let d = m.attention_width();
    for (k, v) in [
        ("model.d_model", m.d_model),
        ("model.heads", m.heads),
        ("model.mlp_hidden", m.mlp_hidden),
        ("model.fourier_features", m.fourier_features),
        ("model.pe_components", m.pe_components),
    ] {
        if v == Some(0) {
            return Err(Invalid::new(key(k), "must be ≥ 1"));
        }
    }
    let heads = m.heads.unwrap_or(1);
    if d % heads != 0 {
        return Err(Invalid::new(
            key("model.heads"),
            format!("{heads} heads do not divide d_model = {d}"),
        ));
    }
    if m.fourier_features.is_some() && task.n_in != 1 {
        return Err(Invalid::new(
            key("model.fourier_features"),
            format!(
                "Fourier features need a one-dimensional input; the task has {}",
                task.n_in
            ),
        ));
    }
    match (m.positional_kind(), m.pe_components) {
        (PositionalKind::Sinusoidal, Some(c)) if c > d => Err(Invalid::new(
            key("model.pe_components"),
            format!("{c} components exceed d_model = {d}"),
        )),
        (PositionalKind::Off | PositionalKind::Learned, Some(_)) => Err(Invalid::new(
            key("model.pe_components"),
            "pe_components needs positional = \"sinusoidal\"",
        )),
        _ => Ok(()),
    }
}

fn check_name(path: KeyPath, name: &str) -> Result<(), Invalid> {
    let bad = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')));
    let problem = if name.is_empty() {
        Some("is empty".to_string())
    } else if name.len() > MAX_NAME_LEN {
        Some(format!(
            "has {} characters, more than {MAX_NAME_LEN}",
            name.len()
        ))
    } else if let Some(c) = bad {
        Some(format!("contains {c:?}"))
    } else if name.starts_with('.') {
        Some("starts with a dot".to_string())
    } else {
        None
    };
    match problem {
        None => Ok(()),
        Some(p) => Err(Invalid::new(
            path,
            format!(
                "`{}` {p}: a name is one path component of A–Z a–z 0–9 _ - . (not starting with a dot, at most {MAX_NAME_LEN} characters)",
                name.escape_default()
            ),
        )),
    }
}

/// The columns every table has after its sweep columns (gentk-report's `Row`).
pub const ROW_COLUMNS: [&str; 16] = [
    "measure",
    "operator",
    "statistic",
    "index",
    "iteration",
    "value",
    "stderr",
    "matvecs",
    "estimator",
    "budget",
    "ptrace_variant",
    "seed",
    "trial",
    "step",
    "rerun",
    "tolerance",
];

/// Every chart against the table it will be drawn from: its file name, the measures it names
/// and the columns it reads, before any point is computed.
fn check_plots(spec: &Spec, sweep_keys: &[String]) -> Result<(), Invalid> {
    for (i, p) in spec.plots.iter().enumerate() {
        check_name(KeyPath::plot(i, "file"), &p.file)?;
        if let Some(j) = spec.plots[..i].iter().position(|q| q.file == p.file) {
            return Err(Invalid::new(
                KeyPath::plot(i, "file"),
                format!("chart file `{}` is also written by plot {j}", p.file),
            ));
        }
        let owner = format!("plot `{}`", p.file);
        if let Some([lo, hi]) = p.y_range
            && !(lo.is_finite() && hi.is_finite() && lo < hi && (!p.log_y || lo > 0.0))
        {
            return Err(Invalid::new(
                KeyPath::plot(i, "y_range"),
                format!(
                    "{owner}: y_range must be [low, high] with finite low < high (and low > 0 on a log axis)"
                ),
            ));
        }
        let line_type = matches!(
            p.kind,
            PlotKind::Line | PlotKind::Cumulative | PlotKind::Modes
        );
        if p.log_color && p.kind != PlotKind::Heatmap {
            return Err(Invalid::new(
                KeyPath::plot(i, "log_color"),
                format!("{owner}: `log_color` applies to heatmaps, not `{}`", p.kind),
            ));
        }
        let line_only = [
            ("panels", p.panels.is_some() && p.kind != PlotKind::Paths),
            ("y_range", p.y_range.is_some()),
            ("legend", p.legend == Some(crate::Legend::Outside)),
        ];
        if let Some((field, _)) = line_only.iter().find(|(_, set)| *set && !line_type) {
            return Err(Invalid::new(
                KeyPath::plot(i, field),
                format!(
                    "{owner}: `{field}` applies to line, cumulative and modes charts, not `{}`",
                    p.kind
                ),
            ));
        }
        let named = p
            .measures
            .iter()
            .map(|m| ("measures", m))
            .chain(p.dashed.iter().map(|m| ("dashed", m)))
            .chain(p.thin.iter().map(|m| ("thin", m)))
            .chain(p.vline_where.iter().map(|v| ("vline_where", &v.measure)));
        for (field, m) in named {
            known_measure(spec, KeyPath::plot(i, field), &owner, m)?;
        }
        let columns = std::iter::once(("x", p.x.as_str()))
            .chain(p.y.iter().map(|y| ("y", y.as_str())))
            .chain(p.group_columns().into_iter().map(|g| ("group", g)))
            .chain(p.panels.iter().map(|c| ("panels", c.as_str())))
            .chain(p.filter.keys().map(|k| ("filter", k.as_str())))
            .chain(p.hline_where.keys().map(|k| ("hline_where", k.as_str())));
        for (field, c) in columns {
            known_column(sweep_keys, KeyPath::plot(i, field), &owner, c)?;
        }
        if p.x_accuracy && !p.log_x {
            return Err(Invalid::new(
                KeyPath::plot(i, "x_accuracy"),
                format!("{owner}: x_accuracy draws an inverted log axis and needs log_x = true"),
            ));
        }
    }
    Ok(())
}

/// `name` must be a measure of the spec (error at `path`, with the closest name).
fn known_measure(spec: &Spec, path: KeyPath, owner: &str, name: &str) -> Result<(), Invalid> {
    let measures: Vec<&str> = spec.measures.iter().map(|m| m.name.as_str()).collect();
    if measures.contains(&name) {
        return Ok(());
    }
    let hint = crate::locate::did_you_mean(name, measures.iter().copied())
        .map_or(String::new(), |s| format!("; {s}"));
    Err(Invalid::new(
        path,
        format!("{owner} names measure `{name}`, which the spec does not define{hint}"),
    ))
}

/// `column` must be a column of the table (error at `path`, listing the columns).
fn known_column(
    sweep_keys: &[String],
    path: KeyPath,
    owner: &str,
    column: &str,
) -> Result<(), Invalid> {
    let all: Vec<&str> = sweep_keys
        .iter()
        .map(String::as_str)
        .chain(ROW_COLUMNS)
        .collect();
    if all.contains(&column) {
        return Ok(());
    }
    let hint = crate::locate::did_you_mean(column, all.iter().copied())
        .map_or(String::new(), |s| format!("; {s}"));
    Err(Invalid::new(
        path,
        format!(
            "{owner} reads column `{column}`, which the table does not have (its columns: {}){hint}",
            all.join(", ")
        ),
    ))
}

/// Every claim against the table it will be checked on: its measures and columns exist, ids are
/// unique, and every quote in the notes names a claim. (SQL queries are checked by the pipeline,
/// which can run them on an empty table of the right columns.)
fn check_claims(spec: &Spec, sweep_keys: &[String]) -> Result<(), Invalid> {
    use crate::schema::{Bound, Quantity};
    let mut ids: Vec<&str> = Vec::new();
    for (i, c) in spec.claims.iter().enumerate() {
        let at = |field: &str| {
            KeyPath(vec![
                crate::locate::Seg::Key("claim".into()),
                crate::locate::Seg::Index(i),
                crate::locate::Seg::Key(field.into()),
            ])
        };
        let owner = format!("claim `{}`", c.says);
        let value = match &c.value {
            Quantity::Select(s) => Some(("value", s)),
            Quantity::Sql(_) => None,
        };
        let than = match &c.than {
            Bound::Select(s) => Some(("than", s)),
            Bound::Number(_) | Bound::Sql(_) => None,
        };
        for (field, s) in value.into_iter().chain(than) {
            known_measure(spec, at(field), &owner, &s.measure)?;
            for col in s.filter.keys() {
                known_column(sweep_keys, at(field), &owner, col)?;
            }
        }
        if let Some(p) = &c.per {
            if matches!(c.value, Quantity::Sql(_)) {
                return Err(Invalid::new(
                    at("per"),
                    format!("{owner}: a SQL value groups itself (its first column); drop `per`"),
                ));
            }
            known_column(sweep_keys, at("per"), &owner, p)?;
        }
        if !c.tol.is_finite() || c.tol < 0.0 {
            return Err(Invalid::new(
                at("tol"),
                format!("{owner}: tol must be a finite number ≥ 0"),
            ));
        }
        if let Some(id) = &c.id {
            if id.is_empty() || !id.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_') {
                return Err(Invalid::new(
                    at("id"),
                    format!("{owner}: id `{id}` must be letters, digits and `_`"),
                ));
            }
            if ids.contains(&id.as_str()) {
                return Err(Invalid::new(
                    at("id"),
                    format!("{owner}: id `{id}` is used by an earlier claim"),
                ));
            }
            ids.push(id);
        }
    }
    let notes_at = KeyPath(vec![
        crate::locate::Seg::Key("experiment".into()),
        crate::locate::Seg::Key("notes".into()),
    ]);
    let pieces = crate::notes::parse(&spec.experiment.notes)
        .map_err(|e| Invalid::new(notes_at.clone(), format!("notes: {e}")))?;
    for p in pieces {
        if let crate::notes::Piece::Quote { id, .. } = p
            && !ids.contains(&id.as_str())
        {
            let hint = crate::locate::did_you_mean(&id, ids.iter().copied())
                .map_or(String::new(), |s| format!("; {s}"));
            return Err(Invalid::new(
                notes_at,
                format!("notes quote `{{{id}}}`, but no claim has that id{hint}"),
            ));
        }
    }
    Ok(())
}
