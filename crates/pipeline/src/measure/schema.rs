//! The names a spec may use (architectures, operators, statistics, chart kinds, legend corners) and
//! the validation of a resolved point spec, with errors that name the offending key.

use gentk_tasks::TaskConfig;
use serde::Deserialize;

use super::{checks, direct};
use crate::spec::{Measure, Spec};

/// Known architectures.
pub const ARCHS: &[&str] = &[
    "leaky-rnn",
    "linear-rnn",
    "rnn",
    "gru",
    "mlp-relu",
    "mlp-residual",
    "attention",
];
/// Known operators (plus `direct::OPERATORS`, which apply no NTK_S).
pub const OPERATORS: &[&str] = &[
    "k",
    "k_autodiff",
    "ntk",
    "pp_star",
    "output_ntk",
    "p_inv",
    "j_theta",
    "gram",
    "p",
    "data",
    "training",
];
/// Known statistics (plus F1's `checks::STATISTICS`).
pub const STATISTICS: &[&str] = &[
    "trace",
    "fro2",
    "eff_rank",
    "eff_rank_space",
    "eff_rank_time",
    "top_eigs",
    "spectrum",
    "temporal_modes",
    "temporal_modes_weighted",
    "time_spectrum",
    "target_rayleigh",
    "alignment_init",
    "alignment_pp_star",
    "data_pr",
    "loss",
    "kron_error",
    "bias_space",
    "bias_time",
    "bias",
    "bias_compat",
    "spectral_radius",
    "max_norm",
    "weights",
];

/// Chart kinds.
pub const PLOT_KINDS: &[&str] = &[
    "line",
    "cumulative",
    "heatmap",
    "modes",
    "regions",
    "bars",
    "scatter",
];

/// Legend positions of line charts.
pub const LEGENDS: &[&str] = &[
    "upper-right",
    "upper-left",
    "lower-right",
    "lower-left",
    "middle-right",
];

/// Checks names in a measurement; the error names the field.
pub fn check_measure(m: &Measure) -> Result<(), (String, String)> {
    let bad = |field: &str, v: &str, list: &[&str]| {
        Err((
            field.to_string(),
            format!("unknown {field} `{v}`; expected one of {}", list.join(", ")),
        ))
    };
    let operators = [OPERATORS, direct::OPERATORS].concat();
    if !operators.contains(&m.operator.as_str()) {
        return bad("operator", &m.operator, &operators);
    }
    let statistics = [STATISTICS, checks::STATISTICS].concat();
    if !statistics.contains(&m.statistic.as_str()) {
        return bad("statistic", &m.statistic, &statistics);
    }
    if !["textbook", "compress_sum", "compress_mean"].contains(&m.variant.as_str()) {
        return bad(
            "variant",
            &m.variant,
            &["textbook", "compress_sum", "compress_mean"],
        );
    }
    if !["exact", "randomized"].contains(&m.estimator.as_str()) {
        return bad("estimator", &m.estimator, &["exact", "randomized"]);
    }
    if m.budget < 6 {
        return Err(("budget".into(), format!("must be ≥ 6, got {}", m.budget)));
    }
    Ok(())
}

/// The task table parsed as a generator configuration.
pub(crate) fn task_config(spec: &Spec) -> Result<TaskConfig, String> {
    TaskConfig::deserialize(toml::Value::Table(spec.task.config.clone()))
        .map_err(|e| format!("task: {e}"))
}

/// Validates a resolved point spec without computing; the error names the key path.
pub fn validate(spec: &Spec) -> Result<(), (String, String)> {
    if !ARCHS.contains(&spec.model.arch.as_str()) {
        return Err((
            "model.arch".into(),
            format!(
                "unknown architecture `{}`; expected one of {}",
                spec.model.arch,
                ARCHS.join(", ")
            ),
        ));
    }
    if spec.model.hidden == 0 {
        return Err(("model.hidden".into(), "must be ≥ 1".into()));
    }
    if !(spec.model.dt > 0.0 && spec.model.dt <= 1.0) {
        return Err((
            "model.dt".into(),
            format!("must lie in (0, 1], got {}", spec.model.dt),
        ));
    }
    if spec.task.batch == 0 {
        return Err(("task.batch".into(), "must be ≥ 1".into()));
    }
    task_config(spec).map_err(|e| {
        // Point at the offending key when serde names it.
        let key = e
            .split("unknown field `")
            .nth(1)
            .and_then(|r| r.split('`').next())
            .map_or("task.kind".to_string(), |k| format!("task.{k}"));
        (key, e)
    })?;
    if spec.measures.is_empty() {
        return Err((
            "measure".into(),
            "at least one [[measure]] is needed".into(),
        ));
    }
    for m in &spec.measures {
        check_measure(m).map_err(|(f, e)| {
            (
                format!("measure.{f}"),
                format!("in measure `{}`: {e}", m.name),
            )
        })?;
    }
    for p in &spec.plots {
        if !PLOT_KINDS.contains(&p.kind.as_str()) {
            return Err((
                "plot.kind".into(),
                format!(
                    "unknown plot kind `{}`; expected one of {}",
                    p.kind,
                    PLOT_KINDS.join(", ")
                ),
            ));
        }
        if p.kind == "scatter" && p.measures.len() != 2 {
            return Err((
                "plot.kind".into(),
                format!(
                    "scatter `{}` needs measures = [x measure, y measure]",
                    p.file
                ),
            ));
        }
        if (p.kind == "heatmap" || p.kind == "regions") && p.y.is_none() {
            return Err((
                "plot.kind".into(),
                format!("{} `{}` needs a `y` column", p.kind, p.file),
            ));
        }
        if p.kind == "regions" && (p.measures.len() != 2 || p.threshold.is_none()) {
            return Err((
                "plot.kind".into(),
                format!(
                    "regions `{}` needs measures = [space, time] and a threshold",
                    p.file
                ),
            ));
        }
        if let Some(l) = &p.legend
            && !LEGENDS.contains(&l.as_str())
        {
            return Err((
                "plot.legend".into(),
                format!(
                    "unknown legend position `{l}`; expected one of {}",
                    LEGENDS.join(", ")
                ),
            ));
        }
        if let Some(c) = &p.colormap
            && !["viridis", "magma"].contains(&c.as_str())
        {
            return Err((
                "plot.colormap".into(),
                format!("unknown colour map `{c}`; expected viridis or magma"),
            ));
        }
    }
    if let Some(t) = &spec.train
        && !["sgd", "adam"].contains(&t.optimizer.as_str())
    {
        return Err((
            "train.optimizer".into(),
            format!("unknown optimizer `{}`; expected sgd or adam", t.optimizer),
        ));
    }
    Ok(())
}
