//! Seeded probe blocks. Every random draw in gentk comes from a ChaCha8 stream fixed by
//! (seed, purpose); `set_stream` is called right after seeding (DEPS.md §6), so a stream is
//! reproducible bit for bit on any thread count.

use faer::Mat;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// Distribution of probe entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ProbeKind {
    /// i.i.d. ±1.
    #[default]
    Rademacher,
    /// i.i.d. standard normal.
    Gaussian,
}

/// Stream ids of the different draws inside one estimator, so that e.g. Hutch++'s sketch and
/// residual probes are independent and stable when a budget changes.
pub mod purpose {
    /// Range-sketch probes (Hutch++ Ω, NA-Hutch++ S, Nyström Ω, Lanczos start block).
    pub const SKETCH: u64 = 1;
    /// Residual / Hutchinson probes (Hutch++ Ψ, NA-Hutch++ G).
    pub const RESIDUAL: u64 = 2;
    /// Second sketch (NA-Hutch++ R).
    pub const SKETCH2: u64 = 3;
    /// Shared orthonormal probes of the alignment estimator.
    pub const ALIGNMENT: u64 = 4;
    /// Start vectors of stochastic Lanczos quadrature.
    pub const QUADRATURE: u64 = 5;
    /// Replacement directions after breakdown in block Krylov methods.
    pub const RESTART: u64 = 6;
    /// Random operators built as test fixtures (never shared with probe streams, so a fixture is
    /// never correlated with the probes an estimator draws from the same seed).
    pub const FIXTURE: u64 = 1 << 32;
}

/// The ChaCha8 stream for (seed, purpose).
pub fn stream(seed: u64, purpose: u64) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(purpose);
    r
}

/// A rows x cols probe block drawn column by column from `rng`.
pub fn probe_block(rng: &mut ChaCha8Rng, kind: ProbeKind, rows: usize, cols: usize) -> Mat<f64> {
    let mut m = Mat::zeros(rows, cols);
    for j in 0..cols {
        let col = m.col_as_slice_mut(j);
        match kind {
            ProbeKind::Rademacher => {
                for v in col.iter_mut() {
                    *v = if rng.random_bool(0.5) { 1.0 } else { -1.0 };
                }
            }
            ProbeKind::Gaussian => {
                for v in col.iter_mut() {
                    *v = StandardNormal.sample(rng);
                }
            }
        }
    }
    m
}

/// Convenience: a block from a fresh (seed, purpose) stream.
pub fn seeded_block(
    seed: u64,
    purpose: u64,
    kind: ProbeKind,
    rows: usize,
    cols: usize,
) -> Mat<f64> {
    probe_block(&mut stream(seed, purpose), kind, rows, cols)
}
