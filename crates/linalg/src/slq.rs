//! Stochastic Lanczos quadrature (Ubaru, Chen, Saad 2017): the spectral density of a symmetric
//! operator as a sum of point masses at Ritz values θ_j with weights τ_j² (squared first components
//! of the tridiagonal's eigenvectors), averaged over Rademacher start vectors.

use faer::Mat;

use crate::error::{Result, invalid};
use crate::kernels::{pin_sequential, sym_eig_desc};
use crate::op::{LinearOp, apply_new, check_square};
use crate::probes::{ProbeKind, purpose, seeded_block};

/// A quadrature approximation of the spectral measure (1/d) Σ_i δ(λ − λ_i).
#[derive(Debug, Clone)]
pub struct SpectralDensity {
    /// Quadrature nodes (Ritz values), grouped by start vector.
    pub nodes: Vec<f64>,
    /// Weights (sum to 1): τ_j² / number of start vectors.
    pub weights: Vec<f64>,
    /// Operator dimension d (multiply weights by d to count eigenvalues).
    pub dim: usize,
    /// Applications of A.
    pub matvecs: usize,
}

impl SpectralDensity {
    /// Estimate of tr f(A) = d Σ w_j f(θ_j).
    pub fn trace_fn(&self, f: impl Fn(f64) -> f64) -> f64 {
        self.dim as f64
            * self
                .nodes
                .iter()
                .zip(&self.weights)
                .map(|(t, w)| w * f(*t))
                .sum::<f64>()
    }

    /// The density smoothed by a Gaussian of width `sigma`, evaluated on `grid` (integrates to 1).
    pub fn smoothed(&self, grid: &[f64], sigma: f64) -> Vec<f64> {
        let c = 1.0 / (sigma * (2.0 * std::f64::consts::PI).sqrt());
        grid.iter()
            .map(|&x| {
                self.nodes
                    .iter()
                    .zip(&self.weights)
                    .map(|(t, w)| w * c * (-0.5 * ((x - t) / sigma).powi(2)).exp())
                    .sum()
            })
            .collect()
    }
}

/// SLQ with `vectors` start vectors and `steps` Lanczos steps each (full reorthogonalisation, so
/// the nodes are faithful Ritz values in f64). Exact for every polynomial of degree < 2·steps in
/// expectation; all start vectors run as one block.
pub fn slq<A: LinearOp>(a: &A, vectors: usize, steps: usize, seed: u64) -> Result<SpectralDensity> {
    check_square("slq", a)?;
    let d = a.shape_in().numel();
    if vectors == 0 || steps == 0 {
        return Err(invalid(
            "vectors/steps",
            "need at least one start vector and one step",
        ));
    }
    pin_sequential();
    let steps = steps.min(d);
    let mut v0 = seeded_block(seed, purpose::QUADRATURE, ProbeKind::Rademacher, d, vectors);
    let inv = 1.0 / (d as f64).sqrt();
    for j in 0..vectors {
        v0.col_as_slice_mut(j).iter_mut().for_each(|x| *x *= inv);
    }
    // Lanczos for every start vector in lockstep; basis[s] holds step s for all vectors.
    let mut basis: Vec<Mat<f64>> = vec![v0];
    let mut alpha = vec![vec![0.0; steps]; vectors];
    let mut beta = vec![vec![0.0; steps]; vectors];
    let mut active_steps = vec![steps; vectors];
    let mut matvecs = 0;
    for s in 0..steps {
        let mut w = apply_new(a, basis[s].as_ref());
        matvecs += vectors;
        for j in 0..vectors {
            if s >= active_steps[j] {
                continue;
            }
            let dot = |x: &[f64], y: &[f64]| x.iter().zip(y).map(|(a, b)| a * b).sum::<f64>();
            let a_s = dot(w.col_as_slice(j), basis[s].col_as_slice(j));
            alpha[j][s] = a_s;
            // Full reorthogonalisation against all previous vectors (twice).
            for _ in 0..2 {
                for q in basis.iter().take(s + 1) {
                    let c = dot(w.col_as_slice(j), q.col_as_slice(j));
                    let qc = q.col_as_slice(j).to_vec();
                    w.col_as_slice_mut(j)
                        .iter_mut()
                        .zip(&qc)
                        .for_each(|(x, y)| *x -= c * y);
                }
            }
            let b = dot(w.col_as_slice(j), w.col_as_slice(j)).sqrt();
            if s + 1 < steps {
                if b <= 1e-12 * a_s.abs().max(1e-300) {
                    active_steps[j] = s + 1; // invariant subspace: the quadrature is exact
                } else {
                    beta[j][s] = b;
                    w.col_as_slice_mut(j).iter_mut().for_each(|x| *x /= b);
                }
            }
        }
        if s + 1 < steps {
            for j in 0..vectors {
                if s + 1 >= active_steps[j] {
                    w.col_as_slice_mut(j).iter_mut().for_each(|x| *x = 0.0);
                }
            }
            basis.push(w);
        }
    }
    let mut nodes = Vec::new();
    let mut weights = Vec::new();
    for j in 0..vectors {
        let m = active_steps[j];
        let t = Mat::from_fn(m, m, |r, c| {
            if r == c {
                alpha[j][r]
            } else if r + 1 == c {
                beta[j][r]
            } else if c + 1 == r {
                beta[j][c]
            } else {
                0.0
            }
        });
        let (theta, y) = sym_eig_desc(t.as_ref())?;
        for i in 0..m {
            nodes.push(theta[i]);
            weights.push(y[(0, i)] * y[(0, i)] / vectors as f64);
        }
    }
    Ok(SpectralDensity {
        nodes,
        weights,
        dim: d,
        matvecs,
    })
}
