//! Target modes (PAPER §7.4, F10): the SVD Y = U Σ Vᵀ of a task's targets flattened to
//! `[B·T, n_y]`, how much of each mode an output carries, and the rank-one target of one mode.
//!
//! Memory-pro's cos and sin channels have equal singular values, so its modes 2 and 3 are a
//! degenerate pair whose SVD basis is arbitrary. Every cluster of equal singular values is
//! therefore given the basis closest to the channel axes (the projections of e_1, e_2, … onto the
//! cluster's right singular subspace, orthonormalised in channel order), which for memory-pro is
//! exactly the cos and sin channels; signs make each v_i's largest entry positive.

use faer::{Mat, MatRef};
use gentk_linalg::kernels::sym_eig_desc;

use crate::error::Result;

/// Singular values closer than this fraction of the largest count as one degenerate cluster.
pub const DEGENERATE_RTOL: f64 = 1e-9;

/// The modes of a target matrix Y (`rows × n_y`), singular values descending.
#[derive(Debug, Clone)]
pub struct TargetModes {
    /// σ_i.
    pub sigma: Vec<f64>,
    /// Left singular vectors u_i as columns (`rows × n_y`; a zero column where σ_i = 0).
    pub u: Mat<f64>,
    /// Right singular vectors v_i as columns (`n_y × n_y`).
    pub v: Mat<f64>,
}

/// The modes of `y` from the eigendecomposition of the small Gram YᵀY (n_y × n_y), with every
/// degenerate cluster fixed to the channel axes.
pub fn target_modes(y: MatRef<'_, f64>) -> Result<TargetModes> {
    let c = y.ncols();
    let gram = y.transpose() * y;
    let (lam, mut v) = sym_eig_desc(gram.as_ref())?;
    let top = lam.first().copied().unwrap_or(0.0).max(0.0);
    let mut start = 0;
    while start < c {
        let mut end = start + 1;
        while end < c && (lam[start] - lam[end]).abs() <= DEGENERATE_RTOL * top {
            end += 1;
        }
        if end - start > 1 {
            fix_cluster(&mut v, start, end);
        }
        start = end;
    }
    for j in 0..c {
        let big = (0..c)
            .map(|i| v[(i, j)])
            .fold(0.0f64, |a, x| if x.abs() > a.abs() { x } else { a });
        if big < 0.0 {
            for i in 0..c {
                v[(i, j)] = -v[(i, j)];
            }
        }
    }
    let sigma: Vec<f64> = lam.iter().map(|&l| l.max(0.0).sqrt()).collect();
    let mut u = y * &v;
    for (j, &s) in sigma.iter().enumerate() {
        let scale = if s > DEGENERATE_RTOL * sigma[0] {
            1.0 / s
        } else {
            0.0
        };
        for i in 0..u.nrows() {
            u[(i, j)] *= scale;
        }
    }
    Ok(TargetModes { sigma, u, v })
}

/// Replaces columns `start..end` of `v` by the orthonormalised projections of the channel axes
/// onto their span, in channel order.
fn fix_cluster(v: &mut Mat<f64>, start: usize, end: usize) {
    let c = v.nrows();
    let m = end - start;
    let mut basis: Vec<Vec<f64>> = Vec::with_capacity(m);
    for axis in 0..c {
        if basis.len() == m {
            break;
        }
        // P e_axis = V_c V_cᵀ e_axis, then Gram–Schmidt against the vectors already kept.
        let mut w: Vec<f64> = (0..c)
            .map(|i| (start..end).map(|j| v[(i, j)] * v[(axis, j)]).sum())
            .collect();
        for b in &basis {
            let d: f64 = w.iter().zip(b).map(|(x, y)| x * y).sum();
            w.iter_mut().zip(b).for_each(|(x, y)| *x -= d * y);
        }
        let n = w.iter().map(|x| x * x).sum::<f64>().sqrt();
        if n > 1e-6 {
            basis.push(w.into_iter().map(|x| x / n).collect());
        }
    }
    for (k, b) in basis.iter().enumerate() {
        for i in 0..c {
            v[(i, start + k)] = b[i];
        }
    }
}

impl TargetModes {
    /// a_i = (‖u_iᵀ Ŷ‖/σ_i)² for modes 1..=k: 1 when the output reproduces mode i of the target,
    /// 0 when it carries none of it (NaN for a zero singular value).
    pub fn alignment(&self, yhat: MatRef<'_, f64>, k: usize) -> Vec<f64> {
        (0..k.min(self.sigma.len()))
            .map(|i| {
                let s = self.sigma[i];
                if s <= DEGENERATE_RTOL * self.sigma[0] {
                    return f64::NAN;
                }
                let proj = self.u.col(i).transpose() * yhat;
                let n2: f64 = (0..proj.ncols()).map(|j| proj[j] * proj[j]).sum();
                n2 / (s * s)
            })
            .collect()
    }

    /// The unit rank-one target u_k v_kᵀ of mode `k` (1-based), `rows × n_y` row-major.
    pub fn mode_target(&self, k: usize) -> Vec<f64> {
        let (rows, c) = (self.u.nrows(), self.v.nrows());
        let mut out = vec![0.0; rows * c];
        for r in 0..rows {
            for j in 0..c {
                out[r * c + j] = self.u[(r, k - 1)] * self.v[(j, k - 1)];
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Memory-pro's noise-free target at n = 30 trials: σ = √(60n), √(15n), √(15n), the
    /// degenerate pair fixed to the cos and sin channels, whatever rotation the data come in.
    #[test]
    fn memory_pro_modes_are_the_channels_and_a_perfect_output_scores_one() {
        let task = gentk_tasks::TaskConfig::MemoryPro(gentk_tasks::MemoryProConfig {
            n_samples: 30,
            ..Default::default()
        });
        let d = gentk_tasks::generate(&task, false, 7).unwrap();
        let rows = d.n * d.time;
        let y = MatRef::from_row_major_slice(&d.targets, rows, d.n_out);
        let m = target_modes(y).unwrap();
        let n = 30.0f64;
        for (s, want) in
            m.sigma
                .iter()
                .zip([(60.0 * n).sqrt(), (15.0 * n).sqrt(), (15.0 * n).sqrt()])
        {
            assert!((s - want).abs() < 1e-9 * want, "σ = {s}, want {want}");
        }
        for j in 0..3 {
            for i in 0..3 {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((m.v[(i, j)] - want).abs() < 1e-12, "v = {:?}", m.v);
            }
        }
        assert!(m.alignment(y, 3).iter().all(|a| (a - 1.0).abs() < 1e-12));
        let zero = Mat::<f64>::zeros(rows, 3);
        assert!(m.alignment(zero.as_ref(), 3).iter().all(|&a| a == 0.0));
        // Rotating the cos/sin pair by any angle leaves σ and gives back the channel axes of the
        // rotated frame: the cluster is fixed by the channels, not by the eigensolver.
        let (c, s) = (0.3f64.cos(), 0.3f64.sin());
        let rot = Mat::from_fn(3, 3, |i, j| match (i, j) {
            (0, 0) => 1.0,
            (1, 1) | (2, 2) => c,
            (1, 2) => -s,
            (2, 1) => s,
            _ => 0.0,
        });
        let yr = y * &rot;
        let mr = target_modes(yr.as_ref()).unwrap();
        for j in 0..3 {
            for i in 0..3 {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((mr.v[(i, j)] - want).abs() < 1e-12, "v = {:?}", mr.v);
            }
        }
        // Mode 2's rank-one target carries all of mode 2 and none of modes 1 and 3.
        let t2 = m.mode_target(2);
        let a = m.alignment(MatRef::from_row_major_slice(&t2, rows, 3), 3);
        assert!(a[0].abs() < 1e-24 && a[2].abs() < 1e-24, "{a:?}");
        assert!(
            (a[1] * m.sigma[1] * m.sigma[1] - 1.0).abs() < 1e-12,
            "{a:?}"
        );
    }

    /// Without degeneracy the modes are the SVD's: σ against faer's singular values, U Σ Vᵀ = Y.
    #[test]
    fn generic_targets_match_the_svd_and_reconstruct() {
        let y = Mat::from_fn(40, 3, |i, j| {
            ((i * 7 + j * 13) % 11) as f64 - 5.0 + 0.1 * j as f64
        });
        let m = target_modes(y.as_ref()).unwrap();
        let mut sv = y.singular_values().unwrap();
        sv.sort_by(|a, b| b.total_cmp(a));
        for (a, b) in m.sigma.iter().zip(&sv) {
            assert!((a - b).abs() < 1e-10 * sv[0], "{:?} vs {sv:?}", m.sigma);
        }
        let mut back = Mat::<f64>::zeros(40, 3);
        for k in 0..3 {
            for i in 0..40 {
                for j in 0..3 {
                    back[(i, j)] += m.sigma[k] * m.u[(i, k)] * m.v[(j, k)];
                }
            }
        }
        assert!((&back - &y).norm_l2() < 1e-10 * y.norm_l2());
    }
}
