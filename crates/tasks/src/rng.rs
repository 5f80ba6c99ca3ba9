//! Stream purposes of the task generators (disjoint from probe and model purposes).

use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// Task structure (trial parameters: angles, spikes, latent systems).
pub const STRUCTURE: u64 = 1 << 42;
/// Additive input noise.
pub const NOISE: u64 = (1 << 42) + 1;
/// Task-level fixed structure drawn from a separate "structure seed" (low-rank forecast).
pub const FIXED: u64 = (1 << 42) + 2;

/// The stream for (seed, purpose).
pub fn stream(seed: u64, purpose: u64) -> ChaCha8Rng {
    gentk_linalg::probes::stream(seed, purpose)
}

/// One standard normal draw.
pub fn normal(rng: &mut ChaCha8Rng) -> f64 {
    StandardNormal.sample(rng)
}

/// Adds std·N(0, 1) to every value.
pub fn add_noise(values: &mut [f64], std: f64, rng: &mut ChaCha8Rng) {
    for v in values {
        *v += std * normal(rng);
    }
}

/// A child seed of (seed, k) by SplitMix64 mixing, for sub-generators that need a seed of their own.
pub fn derive(seed: u64, k: u64) -> u64 {
    fn mix(mut z: u64) -> u64 {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    mix(seed ^ mix(k))
}
