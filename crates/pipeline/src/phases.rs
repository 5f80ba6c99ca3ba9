//! Where a run's time goes (`gentk run --timings`, `gentk reproduce-all --timings`): worker-seconds
//! per phase, accumulated process-wide while points compute: the wall time of each timed call, summed
//! over the workers computing points. Points run in parallel, so the phases of a many-point run add up
//! to about (cores busy) x its wall time, while a single point that parallelises inside (probes
//! across cores) counts its wall time once; they are shares, not a partition of the wall clock.
//! Wall times are machine facts: they are printed, never written into a table.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use faer::{MatMut, MatRef};
use gentk_linalg::{LinearOp, Shape};

/// A phase of a point's computation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Training (forward passes, BPTT, optimiser steps).
    Training,
    /// Forward rollouts of the measured snapshots.
    Rollout,
    /// Applications of the NTK operators (P, P*, K, NTK_S, …) handed to the statistics.
    Operators,
    /// Whole measurements (operator applications plus the estimators' own work).
    Measures,
    /// Reading and writing the point cache, the tables, charts and manifest.
    Io,
}

const PHASES: usize = 5;
static NANOS: [AtomicU64; PHASES] = [const { AtomicU64::new(0) }; PHASES];

/// Adds `d` to `phase`.
pub fn add(phase: Phase, d: Duration) {
    NANOS[phase as usize].fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
}

/// Runs `f`, adding its wall time to `phase`.
pub fn time<R>(phase: Phase, f: impl FnOnce() -> R) -> R {
    let t0 = Instant::now();
    let r = f();
    add(phase, t0.elapsed());
    r
}

/// Worker-seconds per phase, since the process started or between two snapshots.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Totals {
    /// Training.
    pub training: f64,
    /// Rollouts.
    pub rollout: f64,
    /// Operator applications.
    pub operators: f64,
    /// Estimators and the rest of the measurements (measurements minus operator applications).
    pub estimators: f64,
    /// Cache, table, chart and manifest I/O.
    pub io: f64,
}

impl Totals {
    /// The totals now.
    pub fn now() -> Totals {
        let s = |p: Phase| NANOS[p as usize].load(Ordering::Relaxed) as f64 * 1e-9;
        let (measures, operators) = (s(Phase::Measures), s(Phase::Operators));
        Totals {
            training: s(Phase::Training),
            rollout: s(Phase::Rollout),
            operators,
            estimators: (measures - operators).max(0.0),
            io: s(Phase::Io),
        }
    }
    /// What accrued between `earlier` and `self`.
    pub fn since(&self, earlier: &Totals) -> Totals {
        Totals {
            training: self.training - earlier.training,
            rollout: self.rollout - earlier.rollout,
            operators: self.operators - earlier.operators,
            estimators: self.estimators - earlier.estimators,
            io: self.io - earlier.io,
        }
    }
    /// Phase-wise sum (several runs).
    pub fn plus(&self, other: &Totals) -> Totals {
        Totals {
            training: self.training + other.training,
            rollout: self.rollout + other.rollout,
            operators: self.operators + other.operators,
            estimators: self.estimators + other.estimators,
            io: self.io + other.io,
        }
    }
    /// Sum over the phases.
    pub fn total(&self) -> f64 {
        self.training + self.rollout + self.operators + self.estimators + self.io
    }
    /// The phases as (name, worker-seconds).
    pub fn named(&self) -> [(&'static str, f64); PHASES] {
        [
            ("training", self.training),
            ("rollout", self.rollout),
            ("operators", self.operators),
            ("estimators", self.estimators),
            ("I/O", self.io),
        ]
    }
}

/// An operator whose applications count towards [`Phase::Operators`].
pub struct Timed<'a, A: ?Sized>(pub &'a A);

impl<A: LinearOp + ?Sized> LinearOp for Timed<'_, A> {
    fn shape_in(&self) -> &Shape {
        self.0.shape_in()
    }
    fn shape_out(&self) -> &Shape {
        self.0.shape_out()
    }
    fn apply_block(&self, x: MatRef<'_, f64>, y: MatMut<'_, f64>) {
        time(Phase::Operators, || self.0.apply_block(x, y))
    }
    fn apply_adjoint_block(&self, x: MatRef<'_, f64>, y: MatMut<'_, f64>) {
        time(Phase::Operators, || self.0.apply_adjoint_block(x, y))
    }
    fn is_self_adjoint(&self) -> bool {
        self.0.is_self_adjoint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faer::Mat;
    use gentk_linalg::Dense;

    #[test]
    fn timed_operators_apply_unchanged_and_count_their_time() {
        let a = Dense::new(Mat::from_fn(3, 3, |i, j| (i + 2 * j) as f64));
        let x = Mat::from_fn(3, 2, |i, j| (i * j + 1) as f64);
        let before = Totals::now();
        let measures = NANOS[Phase::Measures as usize].load(Ordering::Relaxed);
        let (mut y, mut z) = (Mat::zeros(3, 2), Mat::zeros(3, 2));
        a.apply_block(x.as_ref(), y.as_mut());
        let t = Timed(&a);
        time(Phase::Measures, || {
            std::thread::sleep(Duration::from_millis(5));
            t.apply_block(x.as_ref(), z.as_mut())
        });
        assert_eq!(y, z);
        // Other tests may add to the counters concurrently; they only ever add.
        let d = Totals::now().since(&before);
        assert!(d.operators > 0.0, "{d:?}");
        let measured = NANOS[Phase::Measures as usize].load(Ordering::Relaxed) - measures;
        assert!(measured >= 5_000_000, "{measured} ns");
    }
}
