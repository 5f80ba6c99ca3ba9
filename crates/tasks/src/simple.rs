//! Input-only and small tasks: teacher–student inputs of a given rank, i.i.d. Gaussian sequences
//! (transformer study), the circle classification data of the residual-MLP study, and Gaussian
//! class clusters (F13-extras' classifier).

use std::f64::consts::PI;

use rand::RngExt;
use serde::{Deserialize, Serialize};

use crate::dataset::Dataset;
use crate::error::{Result, invalid, positive};
use crate::rng::{self, FIXED, STRUCTURE};

/// Teacher–student input configuration (PAPER.md §6.4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TeacherStudentInputConfig {
    /// Trials.
    pub n_samples: usize,
    /// Sequence length.
    #[serde(rename = "T")]
    pub time: usize,
    /// Input dimension.
    pub input_dim: usize,
    /// Requested input rank r (clipped to input_dim).
    pub input_rank: usize,
    /// Divide z by √r (the two-regime `main.py`; the three-task version does not).
    pub scale_by_sqrt_rank: bool,
    /// Seed of the input basis Q (kept fixed while trial seeds vary).
    pub basis_seed: u64,
}

impl Default for TeacherStudentInputConfig {
    fn default() -> Self {
        TeacherStudentInputConfig {
            n_samples: 128,
            time: 40,
            input_dim: 16,
            input_rank: 16,
            scale_by_sqrt_rank: false,
            basis_seed: 0,
        }
    }
}

impl TeacherStudentInputConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        positive("n_samples", self.n_samples)?;
        positive("T", self.time)?;
        positive("input_dim", self.input_dim)?;
        positive("input_rank", self.input_rank)
    }
}

/// x_t = Q z_t with Q (input_dim x r) orthonormal from `basis_seed` and z_t ~ N(0, I_r) i.i.d. over
/// trials and steps from `seed`; r = min(input_rank, input_dim). Targets are empty (the teacher
/// produces them).
pub fn teacher_student_inputs(cfg: &TeacherStudentInputConfig, seed: u64) -> Result<Dataset> {
    cfg.validate()?;
    let (d, r) = (cfg.input_dim, cfg.input_rank.min(cfg.input_dim));
    let mut br = rng::stream(cfg.basis_seed, FIXED);
    let g: Vec<f64> = (0..d * r).map(|_| rng::normal(&mut br)).collect();
    gentk_linalg::kernels::pin_sequential();
    let q = faer::Mat::from_fn(d, r, |i, j| g[i * r + j])
        .qr()
        .compute_thin_Q();
    let scale = if cfg.scale_by_sqrt_rank {
        1.0 / (r as f64).sqrt()
    } else {
        1.0
    };
    let mut zr = rng::stream(seed, STRUCTURE);
    let mut out = Dataset::zeros(cfg.n_samples, cfg.time, d, 0);
    for b in 0..cfg.n_samples {
        for t in 0..cfg.time {
            let z: Vec<f64> = (0..r).map(|_| scale * rng::normal(&mut zr)).collect();
            for i in 0..d {
                *out.input_mut(b, t, i) = (0..r).map(|j| q[(i, j)] * z[j]).sum();
            }
        }
    }
    Ok(out)
}

/// i.i.d. N(0, 1) sequences `[n, T, d_in]` (the transformer study's inputs), no targets.
pub fn gaussian_sequences(n: usize, time: usize, d_in: usize, seed: u64) -> Result<Dataset> {
    positive("n_samples", n)?;
    positive("T", time)?;
    positive("d_input", d_in)?;
    let mut r = rng::stream(seed, STRUCTURE);
    let mut out = Dataset::zeros(n, time, d_in, 0);
    out.inputs.iter_mut().for_each(|v| *v = rng::normal(&mut r));
    Ok(out)
}

/// Circle data: x ~ U[−√(2π)/2, √(2π)/2]², target +1 inside the unit circle, −1 outside (equal
/// areas). Shaped `[n, 1, 2]` → `[n, 1, 1]`.
pub fn circle(n: usize, seed: u64) -> Result<Dataset> {
    positive("n_samples", n)?;
    let half = (2.0 * PI).sqrt() / 2.0;
    let mut r = rng::stream(seed, STRUCTURE);
    let mut out = Dataset::zeros(n, 1, 2, 1);
    for b in 0..n {
        let (x, y) = (r.random_range(-half..half), r.random_range(-half..half));
        *out.input_mut(b, 0, 0) = x;
        *out.input_mut(b, 0, 1) = y;
        *out.target_mut(b, 0, 0) = if x * x + y * y <= 1.0 { 1.0 } else { -1.0 };
    }
    Ok(out)
}

/// Synthetic classification clusters (F13-extras' stand-in for MNIST: no downloads).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GaussianClustersConfig {
    /// Samples.
    pub n_samples: usize,
    /// Input dimension (784: MNIST's).
    pub d_input: usize,
    /// Classes (one-hot targets).
    pub classes: usize,
    /// Standard deviation of each centre coordinate: centres μ_c ~ N(0, σ²I) (the samples'
    /// noise is N(0, I), so the centres are σ√(2d) apart against unit noise along any direction).
    pub center_scale: f64,
    /// Seed of the centres (kept fixed while sample seeds vary, so training and analysed samples
    /// come from the same clusters).
    pub centers_seed: u64,
}

impl Default for GaussianClustersConfig {
    fn default() -> Self {
        GaussianClustersConfig {
            n_samples: 5000,
            d_input: 784,
            classes: 10,
            center_scale: 0.1,
            centers_seed: 0,
        }
    }
}

impl GaussianClustersConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        positive("n_samples", self.n_samples)?;
        positive("d_input", self.d_input)?;
        if self.classes < 2 {
            return Err(invalid(
                "classes",
                format!("needs at least 2 classes, got {}", self.classes),
            ));
        }
        if !(self.center_scale.is_finite() && self.center_scale > 0.0) {
            return Err(invalid(
                "center_scale",
                format!("must be a positive number, got {}", self.center_scale),
            ));
        }
        Ok(())
    }
}

/// Samples `[n, 1, d]` x = μ_c + ε, ε ~ N(0, I), with labels c uniform over the classes and
/// one-hot targets `[n, 1, classes]`; the centres come from `centers_seed` alone.
pub fn gaussian_clusters(cfg: &GaussianClustersConfig, seed: u64) -> Result<Dataset> {
    cfg.validate()?;
    let (d, k) = (cfg.d_input, cfg.classes);
    let mut cr = rng::stream(cfg.centers_seed, FIXED);
    let centers: Vec<f64> = (0..k * d)
        .map(|_| cfg.center_scale * rng::normal(&mut cr))
        .collect();
    let mut r = rng::stream(seed, STRUCTURE);
    let mut out = Dataset::zeros(cfg.n_samples, 1, d, k);
    for b in 0..cfg.n_samples {
        let c = r.random_range(0..k);
        for i in 0..d {
            *out.input_mut(b, 0, i) = centers[c * d + i] + rng::normal(&mut r);
        }
        *out.target_mut(b, 0, c) = 1.0;
    }
    Ok(out)
}
