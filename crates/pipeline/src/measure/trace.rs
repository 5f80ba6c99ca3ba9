//! F13's trace study (PAPER §5.2, §9.10): the trace of NTK_S = J J* (J = dz/dθ, optionally only the
//! last `size` steps of the state) estimated by Hutchinson, Hutch++ (the trace paper's split),
//! FHutch (forward passes of J) and RHutch (adjoint passes), at every budget and rerun, against the
//! exact trace; the relative errors; and the speed-up at each tolerance ε — the direct trace's cost
//! over the cost at which an estimator's error first reaches ε (linear interpolation between
//! successive budgets), per method and for the best method of each rerun.
//!
//! Costs are counted in one-sided passes (one application of J or J*): an NTK_S matvec is two.
//! The direct trace's reference cost is kpflow's: n NTK matvecs (2n passes, n the state size);
//! gentk computes its value exactly from min(n, n_θ) one-sided passes, which the `trace_direct` row
//! records. Everything in the table is counted, not timed, so it is deterministic. The wall times
//! of the direct trace and of every estimate go to the point's timings (`timings.parquet`), with
//! the speed-up recomputed from them — the trace paper's measure (mean direct time over the time
//! to reach ε) — as `speedup` rows there.

use faer::{MatMut, MatRef};
use gentk_linalg::probes::ProbeKind;
use gentk_linalg::trace::{HutchppSplit, direct_one_sided, fhutch, hutchinson, hutchpp, rhutch};
use gentk_linalg::{Compose, Estimate, Gram, LinearOp, Shape};
use gentk_report::Row;
use gentk_spec::{Measure, TraceMethod};

use super::error::Result;
use super::{Snapshot, base_row};

/// The tolerances ε of the speed-up: 10^linspace(−2, −5, 20), the trace paper's grid.
pub fn tolerances() -> Vec<f64> {
    (0..20)
        .map(|i| 10f64.powf(-2.0 - 3.0 * i as f64 / 19.0))
        .collect()
}

/// The last `k` steps of a `[batch, time, hidden]` state (adjoint: zero elsewhere).
pub struct LastSteps {
    shape_in: Shape,
    shape_out: Shape,
    batch: usize,
    time: usize,
    hidden: usize,
    keep: usize,
}

impl LastSteps {
    /// Keeps the last `keep` of `time` steps (all when `keep ≥ time`).
    pub fn new(batch: usize, time: usize, hidden: usize, keep: usize) -> Self {
        let keep = keep.clamp(1, time);
        LastSteps {
            shape_in: Shape::state(batch, time, hidden),
            shape_out: Shape::state(batch, keep, hidden),
            batch,
            time,
            hidden,
            keep,
        }
    }
    fn rows(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        let (h, first) = (self.hidden, self.time - self.keep);
        (0..self.batch).flat_map(move |b| {
            (0..self.keep).map(move |t| ((b * self.time + first + t) * h, (b * self.keep + t) * h))
        })
    }
}

impl LinearOp for LastSteps {
    fn shape_in(&self) -> &Shape {
        &self.shape_in
    }
    fn shape_out(&self) -> &Shape {
        &self.shape_out
    }
    fn apply_block(&self, x: MatRef<'_, f64>, mut y: MatMut<'_, f64>) {
        for (from, to) in self.rows() {
            y.as_mut()
                .subrows_mut(to, self.hidden)
                .copy_from(x.subrows(from, self.hidden));
        }
    }
    fn apply_adjoint_block(&self, x: MatRef<'_, f64>, mut y: MatMut<'_, f64>) {
        y.fill(0.0);
        for (from, to) in self.rows() {
            y.as_mut()
                .subrows_mut(from, self.hidden)
                .copy_from(x.subrows(to, self.hidden));
        }
    }
}

/// A seed per (method, budget, rerun) from the measure's seed (splitmix64 finaliser).
pub(crate) fn draw_seed(mseed: u64, method: usize, budget: usize, rerun: usize) -> u64 {
    let mut z = mseed
        ^ ((method as u64) << 56)
        ^ ((rerun as u64) << 32)
        ^ (budget as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One estimate of tr(J J*) and its cost in one-sided passes.
fn estimate<J: LinearOp>(
    j: &J,
    method: TraceMethod,
    budget: usize,
    seed: u64,
) -> Result<(Estimate, i64)> {
    let ntk = Gram(j);
    Ok(match method {
        TraceMethod::Hutchinson => {
            let e = hutchinson(&ntk, budget, seed, ProbeKind::Rademacher)?;
            let c = 2 * e.matvecs as i64;
            (e, c)
        }
        TraceMethod::Hutchpp => {
            let e = hutchpp(&ntk, budget, seed, HutchppSplit::TracePaper)?;
            let c = 2 * e.matvecs as i64;
            (e, c)
        }
        TraceMethod::Fhutch => {
            let e = fhutch(j, budget, seed)?;
            let c = e.matvecs as i64;
            (e, c)
        }
        TraceMethod::Rhutch => {
            let e = rhutch(j, budget, seed)?;
            let c = e.matvecs as i64;
            (e, c)
        }
    })
}

/// The cost at which the error first reaches `eps` along (cost, error) points in budget order,
/// linearly interpolated between the last point above and the first at or below; None if never.
pub fn cost_to_reach(points: &[(f64, f64)], eps: f64) -> Option<f64> {
    let i = points.iter().position(|&(_, e)| e <= eps)?;
    if i == 0 {
        return Some(points[0].0);
    }
    let ((c0, e0), (c1, e1)) = (points[i - 1], points[i]);
    Some(c0 + (e0 - eps) / (e0 - e1) * (c1 - c0))
}

/// Every row of a `trace_estimate` measure at one snapshot.
pub(crate) fn rows(s: &Snapshot<'_>, m: &Measure, seed: u64, mseed: u64) -> Result<Vec<Row>> {
    let g = s.ntk()?;
    let (b, t, h) = g.source().dims();
    let keep = LastSteps::new(b, t, h, m.size.unwrap_or(t));
    let dz = g.dz_dtheta()?;
    let j = Compose::new(keep, crate::phases::Timed(&dz))?;
    let n = j.shape_out().numel();
    let clock = std::time::Instant::now();
    let direct = direct_one_sided(&j)?;
    let direct_seconds = clock.elapsed().as_secs_f64();
    let truth = direct.value;
    let reference = 2.0 * n as f64;
    let base = base_row(m, seed);
    let mut out = vec![Row {
        statistic: "trace_direct".into(),
        estimator: "exact".into(),
        budget: None,
        value: truth,
        stderr: None,
        matvecs: direct.matvecs as i64,
        ..base.clone()
    }];
    let mut budgets = m.trace_budgets();
    budgets.sort_unstable();
    budgets.dedup();
    let eps = tolerances();
    let mut timings = vec![Row {
        statistic: "seconds".into(),
        value: direct_seconds,
        ..out[0].clone()
    }];
    for rerun in 0..m.reruns {
        // (method, [(cost, error)] and [(seconds, error)] in budget order) of this rerun.
        let mut curves: Vec<(TraceMethod, Curve)> = Vec::new();
        for (mi, &method) in m.methods.iter().enumerate() {
            let mut curve = Curve::default();
            for &budget in &budgets {
                let clock = std::time::Instant::now();
                let (e, cost) = estimate(&j, method, budget, draw_seed(mseed, mi, budget, rerun))?;
                let seconds = clock.elapsed().as_secs_f64();
                let err = (e.value - truth).abs() / truth.abs();
                let row = Row {
                    estimator: method.as_str().into(),
                    budget: Some(budget as i64),
                    rerun: Some(rerun as i64),
                    matvecs: cost,
                    ..base.clone()
                };
                out.push(Row {
                    statistic: "trace_estimate".into(),
                    value: e.value,
                    stderr: e.stderr,
                    ..row.clone()
                });
                timings.push(Row {
                    statistic: "seconds".into(),
                    value: seconds,
                    stderr: None,
                    ..row.clone()
                });
                out.push(Row {
                    statistic: "rel_error".into(),
                    value: err,
                    stderr: None,
                    ..row
                });
                curve.cost.push((cost as f64, err));
                curve.time.push((seconds, err));
            }
            curves.push((method, curve));
        }
        let counted: Vec<_> = curves.iter().map(|(m, c)| (*m, &c.cost[..])).collect();
        let timed: Vec<_> = curves.iter().map(|(m, c)| (*m, &c.time[..])).collect();
        out.extend(speedups(&base, rerun, &eps, reference, &counted));
        timings.extend(speedups(&base, rerun, &eps, direct_seconds, &timed));
    }
    s.timings.borrow_mut().extend(timings);
    Ok(out)
}

/// One method's (cost, error) and (seconds, error) points of a rerun, in budget order.
#[derive(Default)]
struct Curve {
    cost: Vec<(f64, f64)>,
    time: Vec<(f64, f64)>,
}

/// The `speedup` rows of one rerun at every tolerance: `reference` over the cost (or time) at which
/// each method's error first reaches ε, and the best method's (NaN-aware max, as the trace paper).
fn speedups(
    base: &Row,
    rerun: usize,
    eps: &[f64],
    reference: f64,
    curves: &[(TraceMethod, &[(f64, f64)])],
) -> Vec<Row> {
    let mut out = Vec::new();
    for (k, &e) in eps.iter().enumerate() {
        let mut best: Option<f64> = None;
        for (method, curve) in curves {
            let v = cost_to_reach(curve, e).map(|c| reference / c);
            best = match (best, v) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            out.push(speedup_row(base, method.as_str(), rerun, k, e, v));
        }
        out.push(speedup_row(base, "best", rerun, k, e, best));
    }
    out
}

fn speedup_row(
    base: &Row,
    estimator: &str,
    rerun: usize,
    k: usize,
    eps: f64,
    v: Option<f64>,
) -> Row {
    Row {
        statistic: "speedup".into(),
        estimator: estimator.into(),
        budget: None,
        index: Some(k as i64),
        rerun: Some(rerun as i64),
        tolerance: Some(eps),
        value: v.unwrap_or(f64::NAN),
        stderr: None,
        matvecs: 0,
        ..base.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cost_to_reach_a_tolerance_interpolates_between_budgets() {
        let pts = [(10.0, 1e-1), (20.0, 1e-2), (40.0, 1e-4)];
        assert_eq!(cost_to_reach(&pts, 0.5), Some(10.0));
        assert_eq!(cost_to_reach(&pts, 1e-2), Some(20.0));
        // Halfway in error between 1e-2 and 1e-4 (linear in the error, as the trace paper).
        let mid = 0.5 * (1e-2 + 1e-4);
        assert!((cost_to_reach(&pts, mid).unwrap() - 30.0).abs() < 1e-9);
        assert_eq!(cost_to_reach(&pts, 1e-5), None);
        let tol = tolerances();
        assert_eq!(tol.len(), 20);
        assert!((tol[0] - 1e-2).abs() < 1e-15 && (tol[19] - 1e-5).abs() < 1e-18);
    }

    #[test]
    fn last_steps_is_a_selection_with_its_transpose() {
        let op = LastSteps::new(2, 4, 3, 1);
        let x = faer::Mat::from_fn(24, 1, |i, _| i as f64);
        let y = gentk_linalg::LinearOpExt::apply(&op, x.col_as_slice(0)).unwrap();
        // Trial 0's step 3 is rows 9..12, trial 1's is rows 21..24.
        assert_eq!(y, vec![9.0, 10.0, 11.0, 21.0, 22.0, 23.0]);
        let back = gentk_linalg::LinearOpExt::apply_adjoint(&op, &y).unwrap();
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(p, q)| p * q).sum::<f64>();
        assert_eq!(dot(&y, &y), dot(x.col_as_slice(0), &back));
    }
}
