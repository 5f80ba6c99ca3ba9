//! Computes one sweep point, in three stages: the task data ([`point_data`]), the model and its
//! snapshots — the initialisation, or the checkpoints of a BPTT run ([`training::snapshots`]) — and
//! every measurement of each snapshot ([`measure_snapshot`]), dispatched on the typed operator and
//! statistic. Validation (gentk-spec's rules) has already refused every combination that is not
//! implemented here.

use crate::phases::Timed;
use gentk_linalg::eig::EigOptions;
use gentk_linalg::norms::{alignment, rel_diff};
use gentk_linalg::rank::data_pr;
use gentk_linalg::trace::{direct_one_sided, fhutch};
use gentk_linalg::{Compress, Gram, LinearOp, PtraceVariant, materialize};
use gentk_models::{Readout, Rollout, StudentCase, TeacherStudent};
use gentk_ntk::GlobalNtk;
use gentk_ntk::analysis::{
    EXACT_LIMIT, Estimator as NtkEstimator, Keep, PsdStatistic, StatValue, TIME, statistic,
    top_modes,
};
use gentk_report::Row;
use gentk_spec::{Arch, Estimator, Measure, Operator, Spec, Statistic, TeacherCase, Variant};
use gentk_tasks::{Dataset, TaskConfig, generate};

pub mod attention;
mod build;
pub mod checks;
pub mod direct;
mod error;
mod outputs;
mod target;
mod terms;
pub mod trace;
mod training;

use build::{Built, build_model};
pub use error::{MeasureError, Result};

/// One value of a measurement: (index, value, stderr, matvecs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Val {
    /// Eigenvalue / filter index (none for a single value).
    pub index: Option<i64>,
    /// The value.
    pub value: f64,
    /// Standard error where the estimator has one.
    pub stderr: Option<f64>,
    /// Operator applications spent.
    pub matvecs: i64,
    /// Exact up to rounding although a randomized estimator was asked for (its budget covered
    /// the whole space): the row then says `estimator = exact`, what actually ran.
    pub exact: bool,
}

impl Val {
    /// A single value with no index, stderr or matvecs.
    pub fn one(value: f64) -> Vec<Val> {
        vec![Val {
            index: None,
            value,
            stderr: None,
            matvecs: 0,
            exact: false,
        }]
    }
}

/// The spec's partial-trace variant in gentk-linalg's terms.
pub fn ptrace_variant(v: Variant) -> PtraceVariant {
    match v {
        Variant::Textbook => PtraceVariant::Textbook,
        Variant::CompressSum => PtraceVariant::CompressSum,
        Variant::CompressMean => PtraceVariant::CompressMean,
    }
}

/// A row of measurement `m` with the defaults every statistic shares (no index, trial or step;
/// the budget where the measure spends one).
fn base_row(m: &Measure, seed: u64) -> Row {
    Row {
        measure: m.name.clone(),
        operator: m.operator.as_str().into(),
        statistic: m.statistic.as_str().into(),
        index: None,
        iteration: None,
        value: f64::NAN,
        stderr: None,
        matvecs: 0,
        estimator: m.estimator.as_str().into(),
        budget: m.spends_budget().then_some(m.budget as i64),
        // Space/time ranks and biases record their partial trace (bias_compat too: the table
        // contract of the committed results).
        ptrace_variant: if m.statistic.records_variant() || m.statistic == Statistic::BiasCompat {
            m.variant.as_str().into()
        } else {
            "-".into()
        },
        seed: seed as i64,
        trial: None,
        step: None,
        rerun: None,
        tolerance: None,
    }
}

/// The rows of `vals`; a value that came out exact although a randomized estimator was asked for
/// says `estimator = exact` and has no budget.
fn rows_of(m: &Measure, seed: u64, vals: Vec<Val>) -> Vec<Row> {
    let base = base_row(m, seed);
    vals.into_iter()
        .map(|v| Row {
            index: v.index,
            value: v.value,
            stderr: v.stderr,
            matvecs: v.matvecs,
            estimator: if v.exact {
                Estimator::Exact.as_str().into()
            } else {
                base.estimator.clone()
            },
            budget: if v.exact { None } else { base.budget },
            ..base.clone()
        })
        .collect()
}

/// The seed of a measurement with `seed_from`: a hash of the spec seed, the measure's name and the
/// values of the named keys in the resolved spec.
fn shared_seed(spec: &Spec, m: &Measure) -> Result<u64> {
    crate::cache::keyed_seed(spec, m.name.as_bytes(), &m.seed_from)
        .map_err(|e| MeasureError::Unsupported(e.to_string()))
}

/// The seed of measurement `mi`: its own stream of the point seed, or the `seed_from` hash.
fn measure_seed(spec: &Spec, mi: usize, m: &Measure, seed: u64) -> Result<u64> {
    if m.seed_from.is_empty() {
        Ok(seed.wrapping_add(1 + mi as u64))
    } else {
        shared_seed(spec, m)
    }
}

/// The analysed trials of a point: the task's first `task.batch` trials.
pub fn point_data(spec: &Spec, task: &TaskConfig, seed: u64) -> Result<Dataset> {
    let data = generate(task, spec.task.noise, seed ^ DATA_SEED)?;
    Ok(data.head(spec.task.batch)?)
}

/// The data seed's offset from the point seed.
pub(crate) const DATA_SEED: u64 = 0x5EED_DA7A;

/// What one point yields: its table rows, and the wall times measured while computing them.
/// The timings are `Row`s too (so `timings.parquet` has the table's columns and charts draw from
/// it unchanged), but they depend on the machine and its load: never part of `table.parquet`.
#[derive(Debug, Clone, Default)]
pub struct PointOutput {
    /// The deterministic rows of the point's table.
    pub rows: Vec<Row>,
    /// Wall-time rows: `measure_seconds` per measurement and snapshot, `point_seconds` for the
    /// whole point, and a trace study's per-estimate `seconds` and wall-time `speedup`.
    pub timings: Vec<Row>,
}

/// The name of the `measure` column of a point's total wall time.
pub const POINT_TIMING: &str = "(point)";

/// Computes every measurement of one resolved point, timing each.
/// `runs` is the folder of cached training runs (none: train without caching).
pub fn compute_point(
    spec: &Spec,
    task: &TaskConfig,
    seed: u64,
    runs: Option<&std::path::Path>,
) -> Result<PointOutput> {
    let started = std::time::Instant::now();
    let mut out = compute_timed(spec, task, seed, runs)?;
    out.timings.push(Row {
        measure: POINT_TIMING.into(),
        operator: "-".into(),
        statistic: "point_seconds".into(),
        index: None,
        iteration: None,
        value: started.elapsed().as_secs_f64(),
        stderr: None,
        matvecs: 0,
        estimator: "-".into(),
        budget: None,
        ptrace_variant: "-".into(),
        seed: seed as i64,
        trial: None,
        step: None,
        rerun: None,
        tolerance: None,
    });
    Ok(out)
}

/// The wall-time row of measurement `m` (`measure_seconds`).
fn measure_timing(m: &Measure, seed: u64, iteration: Option<i64>, seconds: f64) -> Row {
    Row {
        statistic: "measure_seconds".into(),
        iteration,
        value: seconds,
        ..base_row(m, seed)
    }
}

fn compute_timed(
    spec: &Spec,
    task: &TaskConfig,
    seed: u64,
    runs: Option<&std::path::Path>,
) -> Result<PointOutput> {
    // faer's factorisations and operator products follow its global parallelism: sequential, so a
    // point's numbers never depend on the thread count (parallelism is across points and chunks).
    gentk_linalg::kernels::pin_sequential();
    if spec
        .measures
        .iter()
        .all(|m| m.operator == Operator::ScalarFilter)
    {
        // Closed forms of the spec's gain only: no model or data is built.
        let mut rows = Vec::new();
        for m in &spec.measures {
            let vals = direct::filter_rows(spec, m).map_err(|e| e.in_measure(&m.name))?;
            rows.extend(rows_of(m, seed, vals));
        }
        return Ok(PointOutput {
            rows,
            timings: Vec::new(),
        });
    }
    let mut data = point_data(spec, task, seed)?;
    if spec.model.arch == Arch::Attention {
        return attention::measure_all(spec, &data, seed);
    }
    let teacher = match &spec.teacher {
        Some(te) => {
            // Teacher and student from the spec seed alone: one teacher for the whole sweep.
            let tseed = crate::cache::keyed_seed(spec, b"teacher", &[])
                .map_err(|e| MeasureError::Unsupported(e.to_string()))?;
            let case = match te.case {
                TeacherCase::W => StudentCase::W,
                TeacherCase::Win => StudentCase::Win,
            };
            let ts = TeacherStudent::new(
                data.n_in,
                spec.model.hidden,
                1,
                te.gain,
                spec.model.gain,
                case,
                tseed,
            )?;
            data.targets = ts.targets(&data.inputs, data.n, data.time)?;
            data.n_out = 1;
            Some((ts, case))
        }
        None => None,
    };
    let (mut built, mut readout) = match &teacher {
        Some((ts, _)) => (Built::Rec(Box::new(ts.student.clone())), ts.readout.clone()),
        None => {
            let built = build_model(spec, data.n_in, seed)?;
            let outputs = spec.model.outputs.unwrap_or(data.n_out.max(1));
            (
                built,
                Readout::init(spec.model.hidden, outputs, true, seed)?,
            )
        }
    };
    if let Some(t) = &spec.target {
        data = target::build(t.case, &built, &data, seed)?;
    }
    let source = match (&teacher, &spec.target) {
        (Some((ts, case)), _) => training::TrainData::Teacher(ts, *case),
        // A built target is fitted on the analysed trials themselves.
        (None, Some(_)) => training::TrainData::Fixed(&data),
        (None, None) => training::TrainData::Task,
    };
    let snaps = training::snapshots(spec, task, &mut built, &mut readout, seed, runs, source)?;
    // The teacher's student: its NTK is over the tensors it trains (PAPER §6.4's kpflow takes
    // every input and recurrent tensor whatever is trained).
    let subset = teacher.as_ref().map(|(_, case)| case.trained());
    let mut out = PointOutput::default();
    for snap in snaps {
        *built.params_mut() = snap.model;
        *readout.params_mut() = snap.readout;
        let ro = built.rollout(&data)?;
        let at = Snapshot {
            spec,
            built: &built,
            readout: &readout,
            ro: &ro,
            data: &data,
            loss: snap.loss,
            seed,
            subset,
            timings: Default::default(),
        };
        for (mi, m) in spec.measures.iter().enumerate() {
            if !m.at.is_empty()
                && !snap
                    .iteration
                    .is_some_and(|it| m.at.contains(&(it as usize)))
            {
                continue;
            }
            let mseed = measure_seed(spec, mi, m, seed).map_err(|e| e.in_measure(&m.name))?;
            let started = std::time::Instant::now();
            let r = measure_snapshot(&at, m, mseed).map_err(|e| e.in_measure(&m.name))?;
            crate::phases::add(crate::phases::Phase::Measures, started.elapsed());
            let seconds = started.elapsed().as_secs_f64();
            out.rows.extend(r.into_iter().map(|row| Row {
                iteration: snap.iteration,
                ..row
            }));
            out.timings
                .push(measure_timing(m, seed, snap.iteration, seconds));
        }
        out.timings
            .extend(at.timings.into_inner().into_iter().map(|row| Row {
                iteration: snap.iteration,
                ..row
            }));
    }
    Ok(out)
}

/// One snapshot of a point's model, ready to measure.
pub(crate) struct Snapshot<'a> {
    spec: &'a Spec,
    built: &'a Built,
    readout: &'a Readout,
    ro: &'a Rollout,
    data: &'a Dataset,
    loss: Option<f64>,
    seed: u64,
    /// The parameters the NTK is taken over (default: all of the model's).
    subset: Option<&'static [&'static str]>,
    /// Wall-time rows recorded by measurements that time their parts (a trace study).
    timings: std::cell::RefCell<Vec<Row>>,
}

impl Snapshot<'_> {
    /// The operators of this snapshot, in the spec's precision.
    fn ntk(&self) -> Result<GlobalNtk<'_>> {
        let g = GlobalNtk::new(self.built.sm(), self.ro);
        let g = match self.subset {
            Some(names) => g.with_subset(names),
            None => g,
        };
        Ok(g.with_precision(precision(self.spec))?)
    }
}

/// The precision the spec's operators run in.
pub(crate) fn precision(spec: &Spec) -> gentk_linalg::Precision {
    match spec.model.precision {
        gentk_spec::names::Precision::F64 => gentk_linalg::Precision::F64,
        gentk_spec::names::Precision::F32 => gentk_linalg::Precision::F32,
    }
}

/// The rows of measurement `m` at one snapshot (iteration set by the caller).
fn measure_snapshot(s: &Snapshot<'_>, m: &Measure, mseed: u64) -> Result<Vec<Row>> {
    use Operator as O;
    use Statistic as S;
    let seed = s.seed;
    Ok(match (m.operator, m.statistic) {
        (_, S::ModeEnergy) => rows_of(m, seed, mode_energy(s, m, mseed)?),
        (O::Ntk, S::TraceEstimate) => trace::rows(s, m, seed, mseed)?,
        (O::LogitNtk, _) => terms::rows(s, m, seed, mseed)?,
        (_, S::TargetAlignment) => rows_of(m, seed, target_alignment(s, m, mseed)?),
        (O::Output, S::Loss) => rows_of(m, seed, Val::one(outputs::test_loss(s))),
        (_, S::Targets) => outputs::targets(s, m, seed),
        (_, S::TargetModeAlignment) => outputs::alignment(s, m, seed)?,
        (_, S::ModeRayleigh) => outputs::mode_rayleigh(s, m, seed)?,
        (_, S::Outputs) => outputs::trajectories(s, m, seed),
        (_, S::TargetRayleigh | S::AlignmentInit) => rows_of(m, seed, vec![special(s, m, mseed)?]),
        (O::Gram, S::TimeSpectrum) => {
            let values = gentk_linalg::kernels::sym_eigvals_desc(
                checks::site_gram(&s.ntk()?, s.ro)?.as_ref(),
            )?;
            spectrum_rows(m, seed, values, 0)
        }
        (_, S::TimeSpectrum | S::TemporalModes | S::TemporalModesWeighted | S::WeightedModes) => {
            ntk_rows(&s.ntk()?, m, seed, mseed)?
        }
        (_, st) if checks::handles(st) => {
            rows_of(m, seed, checks::measure(s.spec, &s.ntk()?, s.ro, m, mseed)?)
        }
        (op, _) if op.is_direct() => rows_of(
            m,
            seed,
            direct::measure(s.spec, s.built.sm(), s.ro, m, mseed)?,
        ),
        (_, S::BiasSpace | S::BiasTime) => {
            // β = 1 − PR/dim of the space (dim H) or time (dim B·T) partial trace.
            let (inner, dim) = if m.statistic == S::BiasSpace {
                (S::EffRankSpace, s.ro.hidden)
            } else {
                (S::EffRankTime, s.ro.sites())
            };
            let dim = dim as f64;
            let rank = Measure {
                statistic: inner,
                ..m.clone()
            };
            let vals = operator_stat(s, &rank, mseed)?
                .into_iter()
                .map(|v| Val {
                    value: 1.0 - v.value / dim,
                    stderr: v.stderr.map(|x| x / dim),
                    ..v
                })
                .collect();
            rows_of(m, seed, vals)
        }
        (O::Training, _) => {
            let loss = s.loss.ok_or_else(|| {
                MeasureError::Unsupported("operator `training` without a [train] table".into())
            })?;
            rows_of(m, seed, Val::one(loss))
        }
        _ => rows_of(m, seed, operator_stat(s, m, mseed)?),
    })
}

/// A PSD statistic of an operator through gentk-ntk's one statistics API.
fn psd<A: LinearOp, F: LinearOp>(
    a: &A,
    factor: Option<&F>,
    m: &Measure,
    shape: &gentk_linalg::Shape,
    seed: u64,
) -> Result<Vec<Val>> {
    let variant = ptrace_variant(m.variant);
    let stat = match m.statistic {
        Statistic::Trace => PsdStatistic::Trace,
        Statistic::Fro2 | Statistic::Fro => PsdStatistic::Fro2,
        Statistic::EffRank => PsdStatistic::EffRank,
        Statistic::EffRankSpace => PsdStatistic::EffRankPartial(Keep::Space, variant),
        Statistic::EffRankTime => PsdStatistic::EffRankPartial(Keep::Time, variant),
        Statistic::TopEigs => PsdStatistic::TopEigs(m.k),
        Statistic::Spectrum => PsdStatistic::Spectrum,
        other => {
            return Err(MeasureError::Unsupported(format!(
                "statistic `{other}` of operator `{}`",
                m.operator
            )));
        }
    };
    let est = match m.estimator {
        Estimator::Exact => NtkEstimator::Exact { limit: EXACT_LIMIT },
        Estimator::Randomized => NtkEstimator::Randomized {
            budget: m.budget,
            seed,
        },
    };
    // ‖A‖_F from ‖A‖_F² (standard error by the delta method).
    let root = m.statistic == Statistic::Fro;
    let (a, factor) = (Timed(a), factor.map(Timed));
    Ok(statistic(&a, factor.as_ref(), shape, stat, est)?
        .into_iter()
        .map(|v: StatValue| Val {
            index: v.index.map(|i| i as i64),
            value: if root { v.value.sqrt() } else { v.value },
            stderr: if root {
                v.stderr.map(|se| se / (2.0 * v.value.sqrt()))
            } else {
                v.stderr
            },
            matvecs: v.matvecs as i64,
            exact: v.exact,
        })
        .collect())
}

/// Statistics of the NTK operators, P, the output NTK, the site Gram and the data.
fn operator_stat(s: &Snapshot<'_>, m: &Measure, seed: u64) -> Result<Vec<Val>> {
    use Operator as O;
    use Statistic as S;
    let g = s.ntk()?;
    let none: Option<&gentk_linalg::Identity> = None;
    match (m.operator, m.statistic) {
        (O::Data, S::DataPrGaussian) => {
            let d = s.data;
            Ok(Val::one(gaussian_pr(d.n * d.time, d.n_in)))
        }
        (O::Data, S::DataPr) => {
            let d = s.data;
            let x = faer::MatRef::from_row_major_slice(&d.inputs, d.n * d.time, d.n_in);
            Ok(Val::one(data_pr(x, false)))
        }
        (O::K | O::KAutodiff | O::Ntk | O::PpStar | O::P, _) => ntk_stat(&g, m, seed),
        (O::OutputNtk, _) => {
            let op = g.output_ntk(s.readout)?;
            let oshape = gentk_linalg::Shape::new([
                ("batch", s.ro.batch),
                ("time", s.ro.time),
                ("hidden", s.readout.output_size()),
            ]);
            // Named batch/time/hidden so that the partial traces find their axes.
            let view = gentk_linalg::View::new(op, oshape.clone(), oshape.clone())?;
            psd(&view, none, m, &oshape, seed)
        }
        (O::Gram, _) => {
            let gd = gentk_linalg::Dense::new(checks::site_gram(&g, s.ro)?).symmetric(1e-9)?;
            let gshape = gentk_linalg::Shape::new([
                ("batch", s.ro.batch),
                ("time", s.ro.time),
                ("hidden", 1),
            ]);
            let view = gentk_linalg::View::new(gd, gshape.clone(), gshape.clone())?;
            psd(&view, none, m, &gshape, seed)
        }
        (op, st) => Err(MeasureError::Unsupported(format!(
            "statistic `{st}` of operator `{op}`"
        ))),
    }
}

/// E[PR] of N i.i.d. standard Gaussian points in d dimensions, d·N/(N + d + 1) (uncentered:
/// E tr(XᵀX)² / E‖XᵀX‖_F² for a Wishart XᵀX).
pub(crate) fn gaussian_pr(n: usize, d: usize) -> f64 {
    let (n, d) = (n as f64, d as f64);
    d * n / (n + d + 1.0)
}

/// Statistics of the NTK operators K, K (autodiff), NTK_S, P P* and P of any source (a rollout or
/// the attention block's forward pass).
pub(crate) fn ntk_stat(g: &GlobalNtk<'_>, m: &Measure, seed: u64) -> Result<Vec<Val>> {
    use Operator as O;
    use Statistic as S;
    let shape = g.state_shape();
    match (m.operator, m.statistic) {
        (O::K | O::Ntk, S::KronError) if m.estimator == Estimator::Randomized => {
            // ‖A − B‖_F / max(‖A‖_F, ‖B‖_F), all three by Hutch++ with `budget` matvecs.
            let err = if m.operator == O::K {
                rel_diff(
                    &Timed(&g.k()?),
                    &Timed(&g.k_autodiff()?),
                    m.budget,
                    seed,
                    0.0,
                )
            } else {
                rel_diff(
                    &Timed(&g.ntk()?),
                    &Timed(&g.ntk_full()?),
                    m.budget,
                    seed,
                    0.0,
                )
            }?;
            Ok(vec![Val {
                matvecs: 6 * m.budget as i64,
                ..Val::one(err)[0]
            }])
        }
        (O::K | O::Ntk, S::KronError) => {
            let core = materialize(&Timed(&g.k()?), EXACT_LIMIT)?;
            let auto = materialize(&Timed(&g.k_autodiff()?), EXACT_LIMIT)?;
            // Each materialisation applies its operator once per column.
            let n = core.ncols() as i64;
            let (err, matvecs) = if m.operator == O::K {
                ((&core - &auto).norm_l2() / auto.norm_l2(), 2 * n)
            } else {
                let p = materialize(&Timed(&g.p()), EXACT_LIMIT)?;
                let pkp = &p * &core * p.transpose();
                let full = materialize(&Timed(&g.ntk_full()?), EXACT_LIMIT)?;
                ((&pkp - &full).norm_l2() / full.norm_l2(), 4 * n)
            };
            Ok(vec![Val {
                matvecs,
                ..Val::one(err)[0]
            }])
        }
        (O::Ntk, S::AlignmentPpStar) => {
            let al = alignment(&Timed(&g.ntk()?), &Timed(&g.pp_star()), m.budget, seed)?;
            Ok(vec![Val {
                matvecs: 2 * al.probes as i64,
                stderr: al.stderr,
                exact: al.exact,
                ..Val::one(al.cos)[0]
            }])
        }
        (O::K, _) => psd(&g.k()?, Some(&g.j_theta()?), m, &shape, seed),
        (O::KAutodiff, _) => psd(&g.k_autodiff()?, Some(&g.j_theta()?), m, &shape, seed),
        (O::Ntk, _) => psd(&g.ntk()?, Some(&g.dz_dtheta()?), m, &shape, seed),
        (O::PpStar, _) => psd(&g.pp_star(), Some(&g.p()), m, &shape, seed),
        (O::P, S::Fro2) => {
            let p = g.p();
            let r = if m.estimator == Estimator::Exact {
                direct_one_sided(&Timed(&p))
            } else {
                fhutch(&Timed(&p), m.budget, seed)
            }?;
            Ok(vec![Val {
                index: None,
                value: r.value,
                stderr: r.stderr,
                matvecs: r.matvecs as i64,
                exact: r.exact,
            }])
        }
        (O::P, _) => psd(&Gram(g.p()), Some(&g.p()), m, &shape, seed),
        (op, st) => Err(MeasureError::Unsupported(format!(
            "statistic `{st}` of operator `{op}`"
        ))),
    }
}

/// Target Rayleigh quotient ⟨q, A q⟩/⟨q, q⟩ of NTK_S (q = W_outᵀ y* per site) or of the output NTK
/// (q = y*), and the alignment cos_F(NTK_S(θ), NTK_S(θ₀)) with the initialisation.
fn special(s: &Snapshot<'_>, m: &Measure, mseed: u64) -> Result<Val> {
    let g = s.ntk()?;
    let (data, readout) = (s.data, s.readout);
    let targets_fit = || {
        if data.n_out == readout.output_size() {
            Ok(())
        } else {
            Err(MeasureError::Unsupported(format!(
                "the task has {} target channels but the readout {}",
                data.n_out,
                readout.output_size()
            )))
        }
    };
    match (m.statistic, m.operator) {
        (Statistic::TargetRayleigh, Operator::OutputNtk) => {
            targets_fit()?;
            let r = gentk_ntk::analysis::target_rayleigh(&g.output_ntk(readout)?, &data.targets)?;
            Ok(Val::one(r)[0])
        }
        (Statistic::TargetRayleigh, Operator::Ntk) => {
            targets_fit()?;
            let q =
                gentk_linalg::LinearOpExt::apply_adjoint(&g.readout_map(readout)?, &data.targets)?;
            Ok(Val::one(gentk_ntk::analysis::target_rayleigh(&g.ntk()?, &q)?)[0])
        }
        (Statistic::AlignmentInit, Operator::Ntk) => {
            let init = build_model(s.spec, data.n_in, s.seed)?;
            let ro0 = init.rollout(data)?;
            let g0 = GlobalNtk::new(init.sm(), &ro0).with_precision(precision(s.spec))?;
            let al = alignment(&g.ntk()?, &g0.ntk()?, m.budget, mseed)?;
            Ok(Val {
                matvecs: 2 * al.probes as i64,
                stderr: al.stderr,
                exact: al.exact,
                ..Val::one(al.cos)[0]
            })
        }
        (st, op) => Err(MeasureError::Unsupported(format!(
            "statistic `{st}` of operator `{op}`"
        ))),
    }
}

/// F11's target alignment (yᵀ C_h(A) y/yᵀy)/tr A: C_h = kpflow's compress_mean over hidden units,
/// (I ⊗ 1ᵀ) A (I ⊗ 1)/H, applied exactly to each target channel (one application of A each), tr A
/// by the measure's estimator (its standard error carried over).
fn target_alignment(s: &Snapshot<'_>, m: &Measure, seed: u64) -> Result<Vec<Val>> {
    fn of<A: LinearOp, F: LinearOp>(
        s: &Snapshot<'_>,
        a: &A,
        factor: Option<&F>,
        m: &Measure,
        seed: u64,
    ) -> Result<Vec<Val>> {
        let c = Compress::mean(a, TIME)?;
        let d = s.data;
        let sites = d.n * d.time;
        let (mut num, mut den) = (0.0, 0.0);
        for ch in 0..d.n_out {
            let y: Vec<f64> = (0..sites).map(|i| d.targets[i * d.n_out + ch]).collect();
            let cy = gentk_linalg::LinearOpExt::apply(&c, &y)?;
            num += y.iter().zip(&cy).map(|(p, q)| p * q).sum::<f64>();
            den += y.iter().map(|p| p * p).sum::<f64>();
        }
        let trace = Measure {
            statistic: Statistic::Trace,
            ..m.clone()
        };
        let tr = psd(a, factor, &trace, &s.ntk()?.state_shape(), seed)?[0];
        let value = num / den / tr.value;
        Ok(vec![Val {
            value,
            stderr: tr.stderr.map(|se| value * se / tr.value),
            matvecs: tr.matvecs + d.n_out as i64,
            ..tr
        }])
    }
    let g = s.ntk()?;
    match m.operator {
        Operator::Ntk => of(s, &g.ntk()?, Some(&g.dz_dtheta()?), m, seed),
        Operator::K => of(s, &g.k()?, Some(&g.j_theta()?), m, seed),
        Operator::PpStar => of(s, &g.pp_star(), Some(&g.p()), m, seed),
        op => Err(MeasureError::Unsupported(format!(
            "target_alignment of `{op}`"
        ))),
    }
}

/// All eigenvalues (descending) of the temporal compression C_h = compress_mean over hidden units,
/// materialised exactly, and the operator applications that took (B·T: one per column of C_h).
fn time_spectrum(g: &GlobalNtk<'_>, m: &Measure) -> Result<(Vec<f64>, i64)> {
    fn of<A: LinearOp>(a: &A) -> Result<(Vec<f64>, i64)> {
        let c = Compress::mean(a, TIME)?;
        let dense = materialize(&c, EXACT_LIMIT)?;
        let values = gentk_linalg::kernels::sym_eigvals_desc(
            gentk_linalg::kernels::symmetrize(dense.as_ref()).as_ref(),
        )?;
        Ok((values, dense.ncols() as i64))
    }
    match m.operator {
        Operator::K => of(&g.k()?),
        Operator::Ntk => of(&g.ntk()?),
        Operator::PpStar => of(&g.pp_star()),
        op => Err(MeasureError::Unsupported(format!(
            "time_spectrum of `{op}`"
        ))),
    }
}

/// The rows of a temporal spectrum (exact, compress_mean).
fn spectrum_rows(m: &Measure, seed: u64, values: Vec<f64>, matvecs: i64) -> Vec<Row> {
    values
        .into_iter()
        .enumerate()
        .map(|(index, value)| Row {
            index: Some(index as i64),
            value,
            matvecs,
            estimator: "exact".into(),
            budget: None,
            ptrace_variant: "compress_mean".into(),
            ..base_row(m, seed)
        })
        .collect()
}

/// The rows of the temporal statistics of an NTK operator: its temporal spectrum or its top
/// temporal modes as [B, T] curves.
pub(crate) fn ntk_rows(g: &GlobalNtk<'_>, m: &Measure, seed: u64, mseed: u64) -> Result<Vec<Row>> {
    if m.statistic == Statistic::TimeSpectrum {
        let (values, matvecs) = time_spectrum(g, m)?;
        return Ok(spectrum_rows(m, seed, values, matvecs));
    }
    let (entries, matvecs) = temporal_modes(g, m, mseed)?;
    Ok(entries
        .into_iter()
        .map(|(index, trial, step, value)| Row {
            index: Some(index),
            value,
            trial: Some(trial),
            step: Some(step),
            matvecs,
            ptrace_variant: "compress_sum".into(),
            ..base_row(m, seed)
        })
        .collect())
}

/// Top-k eigenpairs of the temporal compression C_h = compress_sum over hidden units (keep batch,
/// time) of a symmetric operator, as [B, T] curves: exact (materialised) when `exact` and B·T fits,
/// else by the block eigensolver within `budget` applications. Signs are fixed so each mode's
/// largest-magnitude entry is positive.
pub(crate) fn time_modes<A: LinearOp>(
    a: &A,
    k: usize,
    exact: bool,
    budget: usize,
    seed: u64,
) -> Result<gentk_ntk::analysis::Modes> {
    let c = Compress::sum(a, TIME)?;
    let shape = c.shape_in().clone();
    let (b, t) = (shape.axes()[0].size, shape.axes()[1].size);
    let k = k.min(b * t);
    let mut r = top_modes(
        &c,
        k,
        EigOptions {
            max_matvecs: budget.max(2 * k),
            dense_limit: if exact { EXACT_LIMIT } else { 0 },
            seed,
            ..Default::default()
        },
    )?;
    for v in &mut r.vectors {
        let big = v
            .iter()
            .copied()
            .fold(0.0f64, |acc, x| if x.abs() > acc.abs() { x } else { acc });
        if big < 0.0 {
            v.iter_mut().for_each(|x| *x = -*x);
        }
    }
    Ok(r)
}

/// [`time_modes`] of the measure's operator at a snapshot (`k` modes).
fn operator_time_modes(
    g: &GlobalNtk<'_>,
    m: &Measure,
    k: usize,
    seed: u64,
) -> Result<gentk_ntk::analysis::Modes> {
    let exact = m.estimator == Estimator::Exact;
    match m.operator {
        Operator::K => time_modes(&g.k()?, k, exact, m.budget, seed),
        Operator::Ntk => time_modes(&g.ntk()?, k, exact, m.budget, seed),
        Operator::PpStar => time_modes(&g.pp_star(), k, exact, m.budget, seed),
        op => Err(MeasureError::Unsupported(format!(
            "temporal modes of `{op}`"
        ))),
    }
}

/// A mode component: (mode index, trial, step, value).
type ModeEntry = (i64, i64, i64, f64);

/// Top-k eigenvectors of the temporal compression of the measure's operator as [B, T] curves
/// (kpflow's weighted λ_i² u_i when asked), and the applications the eigensolver made.
fn temporal_modes(g: &GlobalNtk<'_>, m: &Measure, seed: u64) -> Result<(Vec<ModeEntry>, i64)> {
    let r = operator_time_modes(g, m, m.k, seed)?;
    let t = g.source().dims().1;
    // kpflow's weights: λ_i² (F3), or the share λ_i²/Σ_{j≤k} λ_j² (F12).
    let total: f64 = r.values.iter().map(|l| l * l).sum();
    let mut out = Vec::new();
    for (i, v) in r.vectors.iter().enumerate() {
        let w = match m.statistic {
            Statistic::TemporalModesWeighted => r.values[i] * r.values[i],
            Statistic::WeightedModes => r.values[i] * r.values[i] / total,
            _ => 1.0,
        };
        for (pos, x) in v.iter().enumerate() {
            out.push((i as i64, (pos / t) as i64, (pos % t) as i64, w * x));
        }
    }
    Ok((out, r.matvecs as i64))
}

/// Mode energies ρ_k(y) = Σ_{i≤k} Σ_c ⟨u_i, y_c⟩²/‖y‖², k = 1..`m.k`, of the targets y over the top
/// temporal modes u_i of the measure's operator (F9: how much of a target the dominant NTK modes
/// hold).
fn mode_energy(s: &Snapshot<'_>, m: &Measure, seed: u64) -> Result<Vec<Val>> {
    let r = operator_time_modes(&s.ntk()?, m, m.k, seed)?;
    let d = s.data;
    let total: f64 = d.targets.iter().map(|x| x * x).sum();
    let mut acc = 0.0;
    Ok(r.vectors
        .iter()
        .enumerate()
        .map(|(i, u)| {
            for c in 0..d.n_out {
                let dot: f64 = u
                    .iter()
                    .enumerate()
                    .map(|(site, x)| x * d.targets[site * d.n_out + c])
                    .sum();
                acc += dot * dot;
            }
            Val {
                index: Some(i as i64 + 1),
                matvecs: r.matvecs as i64,
                exact: m.estimator == Estimator::Exact,
                ..Val::one(acc / total)[0]
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(gain: f64, d_inp: i64) -> Spec {
        toml::from_str(&format!(
            r#"
[experiment]
name = "t"
seed = 4
[model]
arch = "rnn"
hidden = 8
gain = {gain}
[task]
kind = "low_rank_forecast"
D_inp = {d_inp}
batch = 2
[[measure]]
name = "W"
operator = "resolvent_gaussian"
statistic = "eff_rank"
seed_from = ["task.D_inp"]
"#
        ))
        .unwrap()
    }

    #[test]
    fn seed_from_shares_draws_exactly_across_the_other_keys() {
        let (a, b, c) = (spec(0.5, 10), spec(1.5, 10), spec(0.5, 11));
        let sa = shared_seed(&a, &a.measures[0]).unwrap();
        assert_eq!(sa, shared_seed(&b, &b.measures[0]).unwrap());
        assert_ne!(sa, shared_seed(&c, &c.measures[0]).unwrap());
        let mut bad = a.measures[0].clone();
        bad.seed_from = vec!["task.nope".into()];
        assert!(
            shared_seed(&a, &bad)
                .unwrap_err()
                .to_string()
                .contains("task.nope")
        );
    }
}
