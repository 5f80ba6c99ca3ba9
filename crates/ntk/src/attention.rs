//! F1's dense checks of the attention block's fine-grained state z = [h0, q, k, v, attn_out, h1,
//! h2, y] (PAPER.md §3.7): K = ⊕_j G_j ⊗ I and NTK_S = P K Pᵀ against 4-point finite differences of
//! the constraint map and of the whole forward pass. (The NTK of x ↦ V itself is
//! [`crate::GlobalNtk::attention`], matrix-free in the common operator stack.)

use faer::Mat;
use gentk_models::{AttentionBlock, AttentionTape};

/// Largest fine-grained state dimension the dense checks accept.
pub const FINE_DENSE_LIMIT: usize = 6000;

/// K of the attention block's fine-grained state (PAPER.md §3.7), dense:
/// K[(s, o_b + c), (s', o_b + c)] = Σ_{weights j of block b} G_j[s, s'] with G_j = S_j S_jᵀ from
/// the model's weight sites, zero across channels and blocks — K = ⊕_j (G_j ⊗ I).
pub fn attention_fine_k(block: &AttentionBlock, tape: &AttentionTape) -> crate::Result<Mat<f64>> {
    let n = tape.batch * tape.time;
    let blocks = block.fine_blocks();
    let width = block.fine_width();
    if n * width > FINE_DENSE_LIMIT {
        return Err(crate::NtkError::Invalid(format!(
            "fine-grained attention state of dimension {} exceeds the dense limit {FINE_DENSE_LIMIT}",
            n * width
        )));
    }
    let mut k = Mat::<f64>::zeros(n * width, n * width);
    let mut off = 0;
    for b in &blocks {
        let mut g = Mat::<f64>::zeros(n, n);
        for site in b.params.iter().filter_map(|p| block.site_of(tape, p)) {
            g += site.as_ref() * site.transpose();
        }
        for s in 0..n {
            for t in 0..n {
                for c in 0..b.width {
                    k[(s * width + off + c, t * width + off + c)] = g[(s, t)];
                }
            }
        }
        off += b.width;
    }
    Ok(k)
}

/// Errors of the fine-grained decomposition NTK_S = P K P* of the attention block, each a relative
/// Frobenius error against a 4-point finite-difference reference.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FineChecks {
    /// ‖F(z*) − z*‖ / ‖z*‖: the forward pass is the fixed point of the constraint map.
    pub fixed_point: f64,
    /// ‖K_core − J_θ J_θᵀ‖ / ‖J_θ J_θᵀ‖ with J_θ = ∂F/∂θ at fixed z by finite differences.
    pub k_error: f64,
    /// ‖P K_core Pᵀ − J Jᵀ‖ / ‖J Jᵀ‖ with P = (I − ∂F/∂z)⁻¹ (∂F/∂z by finite differences) and
    /// J = dz*/dθ of the whole forward pass by finite differences.
    pub ntk_error: f64,
}

/// Four-point central difference of a vector function along one coordinate.
fn fd4(f: &mut dyn FnMut(f64) -> crate::Result<Vec<f64>>, h: f64) -> crate::Result<Vec<f64>> {
    let (p2, p1, m1, m2) = (f(2.0 * h)?, f(h)?, f(-h)?, f(-2.0 * h)?);
    Ok((0..p1.len())
        .map(|i| (-p2[i] + 8.0 * p1[i] - 8.0 * m1[i] + m2[i]) / (12.0 * h))
        .collect())
}

fn flat(m: &Mat<f64>) -> Vec<f64> {
    (0..m.nrows())
        .flat_map(|i| (0..m.ncols()).map(move |j| (i, j)))
        .map(|(i, j)| m[(i, j)])
        .collect()
}

fn rel(a: &Mat<f64>, b: &Mat<f64>) -> f64 {
    (a - b).norm_l2() / b.norm_l2().max(f64::MIN_POSITIVE)
}

/// Checks NTK_S = P K P* and K = ⊕_j G_j ⊗ I on the fine-grained state of one forward pass, densely
/// with finite differences of step `h` (tiny sizes only: n_θ + n forward/constraint evaluations ×4
/// and an n x n inverse).
pub fn attention_fine_checks(
    block: &AttentionBlock,
    x: &[f64],
    batch: usize,
    time: usize,
    h: f64,
) -> crate::Result<FineChecks> {
    gentk_linalg::kernels::pin_sequential();
    let tape = block.forward(x, batch, time)?;
    let z = block.fine_state(&tape);
    let k_core = attention_fine_k(block, &tape)?;
    let dim = z.nrows() * z.ncols();
    let fz = block.fine_constraint(x, batch, time, z.as_ref())?;
    let fixed_point = rel(&fz, &z);
    let n_theta = block.params().values().len();
    let theta0 = block.params().values().to_vec();
    let mut work = block.clone();
    // J_θ (explicit, at fixed z) and J (total, through the forward pass), column by column.
    let mut j_exp = Mat::<f64>::zeros(dim, n_theta);
    let mut j_tot = Mat::<f64>::zeros(dim, n_theta);
    for p in 0..n_theta {
        let mut explicit = |e: f64| -> crate::Result<Vec<f64>> {
            work.params_mut().values_mut().copy_from_slice(&theta0);
            work.params_mut().values_mut()[p] += e;
            Ok(flat(&work.fine_constraint(x, batch, time, z.as_ref())?))
        };
        let col = fd4(&mut explicit, h)?;
        j_exp
            .col_mut(p)
            .iter_mut()
            .zip(&col)
            .for_each(|(a, b)| *a = *b);
        let mut total = |e: f64| -> crate::Result<Vec<f64>> {
            work.params_mut().values_mut().copy_from_slice(&theta0);
            work.params_mut().values_mut()[p] += e;
            Ok(flat(&work.fine_state(&work.forward(x, batch, time)?)))
        };
        let col = fd4(&mut total, h)?;
        j_tot
            .col_mut(p)
            .iter_mut()
            .zip(&col)
            .for_each(|(a, b)| *a = *b);
    }
    let k_fd = &j_exp * j_exp.transpose();
    let ntk_fd = &j_tot * j_tot.transpose();
    // ∂F/∂z by finite differences in z, then P = (I − ∂F/∂z)⁻¹.
    let width = z.ncols();
    let mut dfdz = Mat::<f64>::zeros(dim, dim);
    for q in 0..dim {
        let mut f = |e: f64| -> crate::Result<Vec<f64>> {
            let mut zz = z.clone();
            zz[(q / width, q % width)] += e;
            Ok(flat(&block.fine_constraint(x, batch, time, zz.as_ref())?))
        };
        let col = fd4(&mut f, h)?;
        dfdz.col_mut(q)
            .iter_mut()
            .zip(&col)
            .for_each(|(a, b)| *a = *b);
    }
    let a = Mat::<f64>::identity(dim, dim) - &dfdz;
    let p = faer::linalg::solvers::DenseSolveCore::inverse(&a.partial_piv_lu());
    let pkp = &p * &k_core * p.transpose();
    Ok(FineChecks {
        fixed_point,
        k_error: rel(&k_core, &k_fd),
        ntk_error: rel(&pkp, &ntk_fd),
    })
}
