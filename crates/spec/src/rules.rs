//! What can be computed: the operator × statistic × estimator combinations the runner implements,
//! what each needs (a training run, targets that match the readout, a square recurrent weight) and
//! what an exact computation materialises, so that an impossible measurement is refused at
//! validation — located in the file — instead of failing after hours of compute. The workspace
//! test `every_combination_is_computed_or_refused_up_front` runs every combination against this
//! table.

use gentk_tasks::TaskDims;

use crate::error::Invalid;
use crate::locate::KeyPath;
use crate::names::{Arch, Estimator, Operator, Statistic, TraceMethod};
use crate::schema::{Measure, Spec};

/// Largest dimension an exact (dense) computation materialises: gentk-linalg's one limit.
pub const EXACT_LIMIT: usize = gentk_linalg::DENSE_LIMIT;

/// What an exact computation materialises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dense {
    /// Nothing (closed forms, one-sided direct traces, probes).
    None,
    /// An operator on the state space (B·T·H).
    State,
    /// An operator on the sites (B·T), e.g. a temporal compression.
    Sites,
    /// The output NTK (B·T·n_y).
    Output,
    /// The logit NTK at the last step (B·n_y), held to [`LOGIT_LIMIT`].
    Logits,
}

/// Largest logit NTK F13-extras materialises for its direct values (‖A‖_F² and tr(A_f A₀) have
/// no exact matrix-free route): 8192² doubles are 512 MiB, and the paper's n = 5,120 fits.
pub const LOGIT_LIMIT: usize = 8192;

/// What a supported operator × statistic pair needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    /// What `estimator = "exact"` materialises.
    pub exact: Dense,
    /// What is materialised whatever the estimator (dense-only checks).
    pub always: Dense,
    /// Whether `estimator = "randomized"` is implemented.
    pub randomized: bool,
    /// A `[train]` table (losses at checkpoints).
    pub train: bool,
    /// Task targets whose channels equal the readout's outputs.
    pub targets: bool,
    /// A square recurrent weight `rnn.weight_hh_l0`.
    pub square_recurrent: bool,
}

const BASE: Needs = Needs {
    exact: Dense::None,
    always: Dense::None,
    randomized: true,
    train: false,
    targets: false,
    square_recurrent: false,
};

/// Why an operator × statistic pair cannot be computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotSupported {
    /// The attention block's state is V at initialisation: no readout, targets, training or P⁻¹.
    #[error(
        "arch `attention` supports the NTK operators k, k_autodiff, ntk, pp_star, p (traces, norms, ranks, spectra, temporal modes, adjoint defects, kron_error) and data_pr of data, not `{statistic}` of `{operator}`"
    )]
    Attention {
        /// The operator asked for.
        operator: Operator,
        /// The statistic asked for.
        statistic: Statistic,
    },
    /// The statistic is not defined for the operator.
    #[error("statistic `{statistic}` does not apply to operator `{operator}`")]
    NotApplicable {
        /// The operator asked for.
        operator: Operator,
        /// The statistic asked for.
        statistic: Statistic,
    },
}

/// What the attention block computes (PAPER §6.5, §9.9): everything of its NTK operators that
/// needs no readout, targets, training or P⁻¹, and the input PR.
fn attention_supports(op: Operator, st: Statistic) -> bool {
    use Operator as O;
    use Statistic as S;
    match op {
        O::K | O::KAutodiff | O::Ntk | O::PpStar | O::P => matches!(
            st,
            S::Trace
                | S::Fro2
                | S::Fro
                | S::EffRank
                | S::EffRankSpace
                | S::EffRankTime
                | S::TopEigs
                | S::Spectrum
                | S::TimeSpectrum
                | S::TemporalModes
                | S::TemporalModesWeighted
                | S::WeightedModes
                | S::AdjointDefect
                | S::KronError
                | S::AlignmentPpStar
        ),
        O::JTheta => st == S::AdjointDefect,
        O::Data => matches!(st, S::DataPr | S::DataPrGaussian | S::AliasedFrequencies),
        O::ScalarFilter => st == S::Weights,
        _ => false,
    }
}

/// What `statistic` of `operator` needs on `arch`, or why it cannot be computed.
pub fn needs(arch: Arch, op: Operator, st: Statistic) -> Result<Needs, NotSupported> {
    use Operator as O;
    use Statistic as S;
    if arch == Arch::Attention && !attention_supports(op, st) {
        return Err(NotSupported::Attention {
            operator: op,
            statistic: st,
        });
    }
    let psd = matches!(
        op,
        O::K | O::KAutodiff | O::Ntk | O::PpStar | O::P | O::OutputNtk | O::Gram
    );
    let dim = match op {
        O::OutputNtk => Dense::Output,
        O::Gram => Dense::Sites,
        _ => Dense::State,
    };
    Ok(match (op, st) {
        (O::P, S::Fro2) => BASE,
        (
            _,
            S::Trace
            | S::Fro2
            | S::Fro
            | S::EffRank
            | S::EffRankSpace
            | S::EffRankTime
            | S::TopEigs
            | S::BiasSpace
            | S::BiasTime,
        ) if psd => Needs { exact: dim, ..BASE },
        (_, S::Spectrum) if psd => Needs {
            exact: dim,
            randomized: false,
            ..BASE
        },
        (O::K | O::Ntk, S::KronError) => Needs {
            exact: Dense::State,
            ..BASE
        },
        (O::Ntk, S::AlignmentPpStar | S::AlignmentInit) => BASE,
        (O::K | O::Ntk | O::PpStar, S::TimeSpectrum) => Needs {
            always: Dense::Sites,
            ..BASE
        },
        (O::Gram, S::TimeSpectrum) => BASE,
        (
            O::K | O::Ntk | O::PpStar,
            S::TemporalModes | S::TemporalModesWeighted | S::WeightedModes,
        ) => Needs {
            exact: Dense::Sites,
            ..BASE
        },
        (O::Ntk | O::OutputNtk, S::TargetRayleigh) => Needs {
            targets: true,
            ..BASE
        },
        (O::P | O::PInv | O::JTheta | O::K | O::Ntk | O::PpStar, S::AdjointDefect) => BASE,
        (O::P, S::InverseError) | (O::K, S::BlockDefect | S::BlockSpread | S::CoreNormRatio) => {
            Needs {
                always: Dense::State,
                ..BASE
            }
        }
        (O::K | O::Ntk, S::CoreAlignExact | S::CoreAlignKpflow) => Needs {
            exact: Dense::Sites,
            ..BASE
        },
        (O::Data, S::AliasedFrequencies) if arch == Arch::Attention => BASE,
        (O::Data | O::Activity | O::States, S::DataPr)
        | (O::Data, S::DataPrGaussian)
        | (O::States, S::MaxNorm)
        | (O::ScalarFilter, S::Weights) => BASE,
        (O::Output, S::TargetModeAlignment) | (O::Ntk, S::ModeRayleigh) => Needs {
            targets: true,
            ..BASE
        },
        (O::Output, S::Outputs) => BASE,
        (O::Output, S::Loss) => Needs {
            targets: true,
            ..BASE
        },
        (O::Ntk | O::K | O::PpStar, S::TargetAlignment) => Needs {
            targets: true,
            ..BASE
        },
        (O::Output, S::Targets) => Needs {
            targets: true,
            ..BASE
        },
        (O::K | O::Ntk | O::PpStar, S::ModeEnergy) => Needs {
            exact: Dense::Sites,
            targets: true,
            ..BASE
        },
        (O::Ntk, S::TraceEstimate) => BASE,
        // F13-extras: the related terms by Hutch++ against their values from the materialised
        // logit NTKs (n = B·n_y at the last step).
        (O::LogitNtk, S::Fro2 | S::EffRank | S::AlignmentInit) if arch.is_mlp() => Needs {
            always: Dense::Logits,
            randomized: false,
            ..BASE
        },
        (O::Training, S::Loss) => Needs {
            train: true,
            ..BASE
        },
        (O::Resolvent, S::EffRank | S::Bias | S::BiasCompat | S::SpectralRadius) => Needs {
            square_recurrent: true,
            ..BASE
        },
        (O::ResolventGaussian, S::EffRank | S::Bias | S::BiasCompat | S::SpectralRadius) => BASE,
        _ => {
            return Err(NotSupported::NotApplicable {
                operator: op,
                statistic: st,
            });
        }
    })
}

/// The sizes of a point's analysed rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PointDims {
    /// Trials analysed (`task.batch`).
    pub batch: usize,
    /// Steps (MLPs: depth).
    pub time: usize,
    /// State width H.
    pub hidden: usize,
    /// Readout outputs.
    pub outputs: usize,
    /// The task's target channels.
    pub targets: usize,
}

impl PointDims {
    /// The sizes of a resolved point with task sizes `task`.
    pub fn of(spec: &Spec, task: TaskDims) -> Self {
        let time = if spec.model.arch.is_mlp() {
            spec.model.depth.unwrap_or(1)
        } else {
            task.time
        };
        // A built `[target]` or a teacher's output has one channel, and the readout one output unless set otherwise.
        let targets = if spec.target.is_some() || spec.teacher.is_some() {
            1
        } else {
            task.n_out
        };
        PointDims {
            batch: spec.task.batch,
            time,
            hidden: spec.model.state_width(),
            outputs: spec.model.outputs.unwrap_or(targets.max(1)),
            targets,
        }
    }

    fn of_dense(&self, d: Dense) -> usize {
        let sites = self.batch.saturating_mul(self.time);
        match d {
            Dense::None => 0,
            Dense::State => sites.saturating_mul(self.hidden),
            Dense::Sites => sites,
            Dense::Output => sites.saturating_mul(self.outputs),
            Dense::Logits => self.batch.saturating_mul(self.outputs),
        }
    }
}

/// The estimator-study keys (`methods`, `budgets`, `reruns`): `trace_estimate` needs methods,
/// the related terms of `logit_ntk` (F13-extras) are Hutch++'s alone and need budgets; budgets
/// the estimators can use, reruns ≥ 1; and those keys on no other measurement.
fn check_trace_estimate(m: &Measure, at: impl Fn(&str, String) -> Invalid) -> Result<(), Invalid> {
    let study = m.statistic == Statistic::TraceEstimate;
    let terms = m.operator == Operator::LogitNtk;
    if !study && !terms {
        for (key, set) in [
            ("methods", !m.methods.is_empty()),
            ("budgets", !m.budgets.is_empty()),
            ("reruns", m.reruns != 1),
        ] {
            if set {
                return Err(at(
                    key,
                    format!(
                        "`{key}` applies to statistic `trace_estimate` and operator `logit_ntk` only"
                    ),
                ));
            }
        }
        return Ok(());
    }
    if study && m.methods.is_empty() {
        return Err(at(
            "methods",
            "trace_estimate needs methods (hutchinson, hutchpp, fhutch, rhutch)".into(),
        ));
    }
    if terms {
        if m.methods.iter().any(|&t| t != TraceMethod::Hutchpp) {
            return Err(at(
                "methods",
                "the related terms of `logit_ntk` are estimated by hutchpp only".into(),
            ));
        }
        if m.budgets.is_empty() {
            return Err(at(
                "budgets",
                "`logit_ntk` compares Hutch++ at `budgets` with the direct value: give budgets"
                    .into(),
            ));
        }
    }
    if m.reruns == 0 {
        return Err(at("reruns", "must be ≥ 1".into()));
    }
    if let Some(b) = m.budgets.iter().find(|b| **b < 6) {
        return Err(at(
            "budgets",
            format!("every budget must be ≥ 6 (Hutch++'s split needs q = ⌊m/6⌋ ≥ 1), got {b}"),
        ));
    }
    Ok(())
}

/// Checks measurement `i` of a resolved point: the combination exists, its estimator is
/// implemented, what it needs is there, and what it materialises fits [`EXACT_LIMIT`].
pub fn check_measure(spec: &Spec, dims: &PointDims, i: usize, m: &Measure) -> Result<(), Invalid> {
    let at = |field: &str, msg: String| {
        Invalid::new(
            KeyPath::measure(i, field),
            format!("in measure `{}`: {msg}", m.name),
        )
    };
    if m.budget < 6 {
        return Err(at("budget", format!("must be ≥ 6, got {}", m.budget)));
    }
    check_trace_estimate(m, at)?;
    let arch = spec.model.arch;
    let filter_only = spec
        .measures
        .iter()
        .all(|m| m.operator == Operator::ScalarFilter);
    if filter_only {
        return match m.statistic {
            Statistic::Weights if m.size.is_none_or(|s| s >= 2) => Ok(()),
            Statistic::Weights => Err(at("size", "scalar_filter needs size (T_max) ≥ 2".into())),
            st => Err(at(
                "statistic",
                format!("statistic `{st}` does not apply to operator `scalar_filter` (weights)"),
            )),
        };
    }
    if arch == Arch::Attention && m.operator == Operator::ScalarFilter {
        return Err(at(
            "operator",
            "arch `attention` computes scalar_filter only in a spec whose measures are all scalar_filter".into(),
        ));
    }
    let n = needs(arch, m.operator, m.statistic).map_err(|e| at("statistic", e.to_string()))?;
    if m.estimator == Estimator::Randomized && !n.randomized {
        return Err(at(
            "estimator",
            format!(
                "`{}` of `{}` has no randomized estimator; use estimator = \"exact\"",
                m.statistic, m.operator
            ),
        ));
    }
    if n.train && spec.train.is_none() {
        return Err(at(
            "operator",
            format!("operator `{}` needs a [train] table", m.operator),
        ));
    }
    if n.targets {
        if arch.is_mlp() {
            return Err(at(
                "statistic",
                format!(
                    "`{}` needs a target at every step; an MLP's steps are its layers, which have none",
                    m.statistic
                ),
            ));
        }
        if dims.targets == 0 {
            return Err(at(
                "statistic",
                format!("`{}` needs task targets; this task has none", m.statistic),
            ));
        }
        if dims.outputs != dims.targets {
            return Err(at(
                "statistic",
                format!(
                    "`{}` needs the readout to match the targets: the task has {} target channels but model.outputs = {}",
                    m.statistic, dims.targets, dims.outputs
                ),
            ));
        }
    }
    if matches!(
        m.statistic,
        Statistic::TargetModeAlignment | Statistic::ModeRayleigh
    ) && !(1..=dims.targets).contains(&m.k)
    {
        return Err(at(
            "k",
            format!(
                "`{}` needs a target mode k in 1..={} (the task's target channels), got {}",
                m.statistic, dims.targets, m.k
            ),
        ));
    }
    if m.statistic == Statistic::Outputs && m.size.is_some_and(|s| s == 0 || s > dims.time) {
        return Err(at(
            "size",
            format!(
                "outputs keeps the last `size` of {} steps; size must lie in 1..={}",
                dims.time, dims.time
            ),
        ));
    }
    if !m.at.is_empty() {
        let Some(t) = &spec.train else {
            return Err(at(
                "at",
                "`at` selects training checkpoints; this spec has no [train] table".into(),
            ));
        };
        let checkpoints = if t.measure_at.is_empty() {
            vec![t.iterations]
        } else {
            t.measure_at.clone()
        };
        if let Some(it) = m.at.iter().find(|it| !checkpoints.contains(it)) {
            return Err(at(
                "at",
                format!("iteration {it} is not a checkpoint of train.measure_at ({checkpoints:?})"),
            ));
        }
    }
    if n.square_recurrent && !arch.has_square_recurrent_weight() {
        return Err(at(
            "operator",
            format!(
                "operator `{}` needs a square recurrent weight `rnn.weight_hh_l0` (leaky-rnn, linear-rnn, rnn), not arch `{arch}`",
                m.operator
            ),
        ));
    }
    if m.operator == Operator::ScalarFilter && m.size.is_some_and(|s| s < 2) {
        return Err(at("size", "scalar_filter needs size (T_max) ≥ 2".into()));
    }
    let dense = match m.estimator {
        Estimator::Exact => [n.exact, n.always],
        Estimator::Randomized => [Dense::None, n.always],
    };
    for d in dense {
        let dim = dims.of_dense(d);
        let limit = if d == Dense::Logits {
            LOGIT_LIMIT
        } else {
            EXACT_LIMIT
        };
        if dim > limit {
            let field = if n.always == d {
                "operator"
            } else {
                "estimator"
            };
            return Err(at(
                field,
                format!(
                    "an exact `{}` of `{}` materialises a {dim}-dimensional operator, above the limit {limit}{}",
                    m.statistic,
                    m.operator,
                    if n.randomized && d == n.exact {
                        "; use estimator = \"randomized\""
                    } else {
                        ""
                    }
                ),
            ));
        }
    }
    Ok(())
}
