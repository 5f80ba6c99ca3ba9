//! What a plan may ask of the machine, checked before any work: the number of sweep points
//! (counted before the sweep is expanded), each point's peak memory and its arithmetic, estimated
//! from the sizes the plan already knows (state dimension B·T·H, parameters, probe blocks, dense
//! operators, the task's data). A spec above a limit is refused with the estimate, the limit and
//! the key that dominates it; the limits are options (`gentk run --max-memory-gib …`), not
//! constants buried in the runner. Estimates are upper-bound-minded (factors for workspaces and
//! copies), so a refused spec would not have fitted and an accepted one is not starved.

use gentk_tasks::TaskDims;

use crate::error::Invalid;
use crate::locate::KeyPath;
use crate::names::{Arch, Estimator, Operator, Statistic};
use crate::rules::{Dense, PointDims, needs};
use crate::schema::Spec;

/// Default cap on sweep points per spec (the paper's largest full preset has 2,400).
pub const MAX_POINTS: usize = 10_000;
/// Default cap on a point's estimated peak memory: 16 GiB, under the 24 GiB of the machines CI
/// and the cpu presets assume.
pub const MAX_MEMORY_BYTES: f64 = 16.0 * GIB;
/// Default cap on a point's estimated arithmetic: 10¹⁶ flops (a day at 100 GFLOP/s).
pub const MAX_FLOPS: f64 = 1e16;

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
/// Flop-equivalents charged per training iteration whatever its size.
const ITERATION_OVERHEAD: f64 = 1e5;

/// The limits a plan is checked against.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Sweep points per spec.
    pub max_points: usize,
    /// Estimated peak memory of one point, bytes.
    pub max_memory_bytes: f64,
    /// Estimated arithmetic of one point, flops.
    pub max_flops: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_points: MAX_POINTS,
            max_memory_bytes: MAX_MEMORY_BYTES,
            max_flops: MAX_FLOPS,
        }
    }
}

/// One term of an estimate: the key that sets it, what it is, its size.
#[derive(Debug, Clone, PartialEq)]
pub struct Term {
    /// The spec key whose value drives this term (where an error points).
    pub key: KeyPath,
    /// What it is, for the message.
    pub what: String,
    /// Bytes or flops.
    pub amount: f64,
}

/// A point's estimated peak memory and arithmetic.
#[derive(Debug, Clone, PartialEq)]
pub struct Cost {
    /// Memory terms (the peak is their sum: data, model and training live for the whole point;
    /// one measurement runs at a time, so only the largest measurement term counts).
    pub memory: Vec<Term>,
    /// Flop terms (summed).
    pub flops: Vec<Term>,
}

impl Cost {
    /// Estimated peak bytes.
    pub fn memory_bytes(&self) -> f64 {
        self.memory.iter().map(|t| t.amount).sum()
    }
    /// Estimated flops.
    pub fn total_flops(&self) -> f64 {
        self.flops.iter().map(|t| t.amount).sum()
    }
}

/// Parameters of the model (f64 each), from its sizes.
fn parameters(spec: &Spec, task: &TaskDims, dims: &PointDims) -> f64 {
    let m = &spec.model;
    let (h, nx) = (m.hidden as f64, task.n_in.max(1) as f64);
    let readout = dims.outputs as f64 * (h + 1.0);
    let body = match m.arch {
        Arch::Gru => 3.0 * h * (h + nx + 2.0),
        Arch::LeakyRnn | Arch::LinearRnn | Arch::Rnn => h * (h + nx + 2.0),
        Arch::MlpRelu | Arch::MlpResidual => m.depth.unwrap_or(1) as f64 * h * (h + 1.0) + h * nx,
        Arch::Attention => {
            let (d, mlp) = (m.attention_width() as f64, m.mlp_width() as f64);
            let nx = m.fourier_features.map_or(nx, |k| 2.0 * k as f64 + 1.0);
            4.0 * d * d + 2.0 * d * mlp + mlp * mlp + d * (nx + 1.0 + task.time as f64)
        }
    };
    body + readout
}

/// The estimate for one resolved point.
pub fn cost(spec: &Spec, task: &TaskDims, dims: &PointDims) -> Cost {
    let f = |x: usize| x as f64;
    let (h, t) = (f(dims.hidden), f(dims.time));
    let state = f(dims.batch) * t * h;
    let params = parameters(spec, task, dims);
    let task_key = || KeyPath::keys(["task"]);
    let mut memory = vec![
        Term {
            key: task_key(),
            what: format!(
                "the task's data ({} trials x {} steps x {} channels)",
                task.n,
                task.time,
                task.n_in + task.n_out
            ),
            // Generated once, then the analysed head copied.
            amount: 2.0 * 8.0 * f(task.n) * f(task.time) * f(task.n_in + task.n_out),
        },
        Term {
            key: KeyPath::keys(["model", "hidden"]),
            what: format!(
                "the rollout ({} trials x {} steps x H = {})",
                dims.batch, dims.time, dims.hidden
            ),
            // States, previous states and the per-site tape (GRU: ~6 H-vectors per site).
            amount: 8.0 * 8.0 * state + 8.0 * params,
        },
    ];
    let mut flops = vec![Term {
        key: KeyPath::keys(["model", "hidden"]),
        what: "the rollout".into(),
        amount: 2.0 * f(dims.batch) * t * params,
    }];
    if let Some(tr) = &spec.train {
        let batch_state = f(tr.batch_size) * t * h;
        memory.push(Term {
            key: KeyPath::keys(["train", "batch_size"]),
            what: format!(
                "training (a {}-trial batch's tape and adjoint, optimiser state, {} data trials)",
                tr.batch_size, tr.dataset_size
            ),
            amount: 8.0 * (10.0 * batch_state + 4.0 * params)
                + 8.0 * f(tr.dataset_size) * f(task.time) * f(task.n_in + task.n_out),
        });
        flops.push(Term {
            key: KeyPath::keys(["train", "iterations"]),
            what: format!("{} training iterations", tr.iterations),
            // Forward + backward ≈ 3 passes of 2 flops per parameter per trial-step, and a fixed
            // per-iteration overhead (sampling, allocation: ~ a microsecond's worth) so that a
            // billion steps of a tiny model count as the hours they take.
            amount: f(tr.iterations)
                * (6.0 * f(tr.batch_size) * f(task.time) * params + ITERATION_OVERHEAD),
        });
    }
    let snapshots = spec
        .train
        .as_ref()
        .map_or(1.0, |tr| f(tr.measure_at.len().max(1)));
    let mut largest: Option<Term> = None;
    for (i, m) in spec.measures.iter().enumerate() {
        let (key, bytes, work) = measure_cost(spec, dims, i, m, state, h, t);
        flops.push(Term {
            key: key.clone(),
            what: format!("measure `{}`", m.name),
            amount: snapshots * work,
        });
        if largest.as_ref().is_none_or(|l| bytes > l.amount) {
            largest = Some(Term {
                key,
                what: format!("measure `{}`", m.name),
                amount: bytes,
            });
        }
    }
    memory.extend(largest);
    Cost { memory, flops }
}

/// (key, peak bytes, flops) of measurement `i`.
fn measure_cost(
    spec: &Spec,
    dims: &PointDims,
    i: usize,
    m: &crate::schema::Measure,
    state: f64,
    h: f64,
    t: f64,
) -> (KeyPath, f64, f64) {
    let f = |x: usize| x as f64;
    // One operator application on one probe: the P and P* recursions and the core, ~ a few
    // GEMM flops per state entry per H.
    let matvec = 8.0 * state * (h + 8.0);
    match m.operator {
        Operator::ScalarFilter => {
            let n = f(m.size.unwrap_or(20));
            (KeyPath::measure(i, "size"), 16.0 * n, n * n)
        }
        Operator::ResolventGaussian => {
            let n = f(m.size.unwrap_or(dims.hidden));
            (
                KeyPath::measure(i, "size"),
                4.0 * 8.0 * n * n,
                10.0 * n * n * n,
            )
        }
        Operator::Ntk if m.statistic == Statistic::TraceEstimate => {
            // Every method at every budget and rerun, each probe at most two one-sided passes
            // (half an NTK matvec each), plus the direct trace's ≤ n passes; the largest budget's
            // probe blocks (~3 of them) live at once.
            let budgets = m.trace_budgets();
            let probes: f64 = budgets.iter().map(|&b| f(b)).sum::<f64>() * f(m.methods.len());
            let passes = 2.0 * f(m.reruns) * probes + state;
            let largest = f(budgets.iter().copied().max().unwrap_or(0)) + 8.0;
            (
                KeyPath::measure(i, "budgets"),
                3.0 * 8.0 * largest * state,
                passes * matvec / 2.0,
            )
        }
        Operator::LogitNtk => {
            // Each Hutch++ probe of a kernel product is 4 one-sided passes: ‖A‖_F² takes one trace
            // of A² (4), eff_rank tr A and tr A² (6), the alignment three products (12), at every
            // budget and rerun; the direct
            // values materialise NTK_f and NTK₀ (n = B·n_y each, 2n passes each).
            // Memory: the two kernels, and state-sized blocks of the largest sketch (Hutch++'s
            // q = m/3 at most) or of materialize's 256 columns.
            let n = f(dims.batch) * f(dims.outputs);
            let budgets = m.trace_budgets();
            let probes: f64 = budgets.iter().map(|&b| f(b)).sum::<f64>();
            let per_probe = match m.statistic {
                Statistic::Fro2 => 4.0,
                Statistic::EffRank => 6.0,
                _ => 12.0,
            };
            let passes = per_probe * f(m.reruns) * probes + 4.0 * n;
            let block = f(budgets.iter().copied().max().unwrap_or(0)) / 3.0 + 256.0;
            (
                KeyPath::measure(i, "budgets"),
                2.0 * 8.0 * n * n + 3.0 * 8.0 * state * block,
                passes * matvec / 2.0,
            )
        }
        Operator::Resolvent => (
            KeyPath::keys(["model", "hidden"]),
            32.0 * h * h,
            10.0 * h * h * h,
        ),
        _ => {
            let n = needs(spec.model.arch, m.operator, m.statistic).ok();
            let dense = |d: Dense| match d {
                Dense::None => 0.0,
                Dense::State => state,
                Dense::Sites => f(dims.batch) * t,
                Dense::Output => f(dims.batch) * t * f(dims.outputs),
                Dense::Logits => f(dims.batch) * f(dims.outputs),
            };
            let exact = n.map_or(0.0, |n| match m.estimator {
                Estimator::Exact => dense(n.exact).max(dense(n.always)),
                Estimator::Randomized => dense(n.always),
            });
            // A dense operator: the matrix, an eigendecomposition's workspace, and one
            // application per column to build it.
            let dense_bytes = 3.0 * 8.0 * exact * exact;
            let dense_flops = exact * matvec + 10.0 * exact * exact * exact;
            let randomized = m.estimator == Estimator::Randomized
                || matches!(
                    m.statistic,
                    Statistic::AdjointDefect
                        | Statistic::AlignmentPpStar
                        | Statistic::AlignmentInit
                );
            let (probe_bytes, probe_flops) = if randomized {
                // Hutch++ / Lanczos hold about three blocks of `budget` state vectors.
                let b = f(m.budget.max(m.k)) + 8.0;
                (3.0 * 8.0 * b * state, b * matvec + 4.0 * b * b * state)
            } else {
                (0.0, 0.0)
            };
            let key = if dense_bytes >= probe_bytes {
                KeyPath::measure(i, "estimator")
            } else {
                KeyPath::measure(i, "budget")
            };
            (key, dense_bytes + probe_bytes, dense_flops + probe_flops)
        }
    }
}

fn gib(bytes: f64) -> String {
    format!("{:.1} GiB", bytes / GIB)
}

/// Checks a point's estimate against `limits`; the error points at the dominant term's key.
pub fn check(
    spec: &Spec,
    task: &TaskDims,
    dims: &PointDims,
    limits: &Limits,
) -> Result<(), Invalid> {
    let c = cost(spec, task, dims);
    // The dominant term (an empty estimate would point at the model and say so).
    let top = |terms: &[Term]| {
        terms
            .iter()
            .max_by(|a, b| a.amount.total_cmp(&b.amount))
            .cloned()
            .unwrap_or_else(|| Term {
                key: KeyPath::keys(["model"]),
                what: "nothing".into(),
                amount: 0.0,
            })
    };
    let bytes = c.memory_bytes();
    if bytes.is_nan() || bytes > limits.max_memory_bytes {
        let t = top(&c.memory);
        return Err(Invalid::new(
            t.key,
            format!(
                "this point needs an estimated {} of memory, above the limit {} (largest: {}, {}); reduce the sizes or raise the limit with --max-memory-gib",
                gib(bytes),
                gib(limits.max_memory_bytes),
                t.what,
                gib(t.amount)
            ),
        ));
    }
    let work = c.total_flops();
    if work.is_nan() || work > limits.max_flops {
        let t = top(&c.flops);
        return Err(Invalid::new(
            t.key,
            format!(
                "this point needs an estimated {work:.1e} flops, above the limit {:.1e} (largest: {}, {:.1e}); reduce the sizes or raise the limit with --max-tflop",
                limits.max_flops, t.what, t.amount
            ),
        ));
    }
    Ok(())
}
