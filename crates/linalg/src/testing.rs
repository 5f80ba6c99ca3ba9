//! Operators with known spectra for tests, benches and users validating their own estimators.

use faer::Mat;

use crate::error::Result;
use crate::kernels::orthonormalize;
use crate::primitives::Spectral;
use crate::probes::{ProbeKind, purpose, seeded_block};

/// A d x r matrix with orthonormal columns, from the QR of a seeded Gaussian block.
pub fn random_orthonormal(d: usize, r: usize, seed: u64) -> Mat<f64> {
    orthonormalize(seeded_block(seed, purpose::FIXTURE, ProbeKind::Gaussian, d, r).as_ref())
}

/// Named eigenvalue profiles.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Profile {
    /// λ_i = 1.
    Flat,
    /// λ_i = i^{-power} (i = 1..r).
    Decaying(f64),
    /// λ_i = 1 for i ≤ r (use with a rank below the dimension).
    LowRank,
    /// λ_i = (−1)^i · i^{-1/2}: indefinite, slowly decaying in magnitude.
    Indefinite,
}

/// The first `r` eigenvalues of a profile.
pub fn eigenvalues(profile: Profile, r: usize) -> Vec<f64> {
    (1..=r)
        .map(|i| {
            let x = i as f64;
            match profile {
                Profile::Flat | Profile::LowRank => 1.0,
                Profile::Decaying(p) => x.powf(-p),
                Profile::Indefinite => {
                    if i % 2 == 0 {
                        x.powf(-0.5)
                    } else {
                        -x.powf(-0.5)
                    }
                }
            }
        })
        .collect()
}

/// U diag(λ) Uᵀ of dimension d and rank r with random orthonormal U.
pub fn spectral_operator(d: usize, r: usize, profile: Profile, seed: u64) -> Result<Spectral> {
    Spectral::new(random_orthonormal(d, r, seed), eigenvalues(profile, r))
}
