//! Measurements of the readout's outputs against the task's target modes (F10): the target-mode
//! alignments a_i, the NTK Rayleigh quotient of a target mode's state direction, and the output
//! trajectories themselves. Target modes are numbered from 1 in the `index` column, as a_i is.

use faer::MatRef;
use gentk_linalg::LinearOpExt;
use gentk_ntk::analysis::target_rayleigh;
use gentk_ntk::targets::{TargetModes, target_modes};
use gentk_report::Row;
use gentk_spec::{Measure, Statistic};

use super::error::Result;
use super::{Snapshot, Val, base_row, rows_of};

/// The target modes of the analysed trials (targets flattened to `[B·T, n_y]`).
fn modes(s: &Snapshot<'_>) -> Result<TargetModes> {
    let d = s.data;
    let y = MatRef::from_row_major_slice(&d.targets, d.n * d.time, d.n_out);
    Ok(target_modes(y)?)
}

/// a_i = (‖u_iᵀ Ŷ‖/σ_i)² for i = 1..=k.
pub(super) fn alignment(s: &Snapshot<'_>, m: &Measure, seed: u64) -> Result<Vec<Row>> {
    let yhat = s.readout.apply(&s.ro.states);
    let n_y = s.readout.output_size();
    let a = modes(s)?.alignment(
        MatRef::from_row_major_slice(&yhat, yhat.len() / n_y, n_y),
        m.k,
    );
    let vals = a
        .into_iter()
        .enumerate()
        .map(|(i, value)| Val {
            index: Some(i as i64 + 1),
            ..Val::one(value)[0]
        })
        .collect();
    Ok(rows_of(m, seed, vals))
}

/// ρ_k = ⟨q, NTK_S q⟩/‖q‖² with q = R*(u_k v_kᵀ): at every site, W_outᵀ v_k scaled by u_k — the
/// state direction whose readout is target mode k.
pub(super) fn mode_rayleigh(s: &Snapshot<'_>, m: &Measure, seed: u64) -> Result<Vec<Row>> {
    let g = s.ntk()?;
    let q = g
        .readout_map(s.readout)?
        .apply_adjoint(&modes(s)?.mode_target(m.k))?;
    let value = target_rayleigh(&g.ntk()?, &q)?;
    Ok(rows_of(
        m,
        seed,
        vec![Val {
            index: Some(m.k as i64),
            matvecs: 1,
            ..Val::one(value)[0]
        }],
    ))
}

/// The MSE of the outputs against the targets on the analysed trials, mean over (b, t, c): a
/// held-out loss when the analysed trials are not trained on (F11's test MSE).
pub(super) fn test_loss(s: &Snapshot<'_>) -> f64 {
    let yhat = s.readout.apply(&s.ro.states);
    let y = &s.data.targets;
    yhat.iter()
        .zip(y)
        .map(|(a, b)| (a - b) * (a - b))
        .sum::<f64>()
        / y.len().max(1) as f64
}

/// The outputs ŷ[b, t, c] over the last `size` steps (default all): index = channel c.
pub(super) fn trajectories(s: &Snapshot<'_>, m: &Measure, seed: u64) -> Vec<Row> {
    debug_assert_eq!(m.statistic, Statistic::Outputs);
    let yhat = s.readout.apply(&s.ro.states);
    per_site(
        &yhat,
        s.ro.batch,
        s.ro.time,
        s.readout.output_size(),
        m,
        seed,
    )
}

/// The targets Y[b, t, c] of the analysed trials (the built `[target]` when there is one).
pub(super) fn targets(s: &Snapshot<'_>, m: &Measure, seed: u64) -> Vec<Row> {
    let d = s.data;
    per_site(&d.targets, d.n, d.time, d.n_out, m, seed)
}

/// Rows of a `[B, T, n_y]` array over the last `size` steps: index = channel, with trial and step.
fn per_site(yhat: &[f64], b: usize, t: usize, n_y: usize, m: &Measure, seed: u64) -> Vec<Row> {
    let first = t - m.size.unwrap_or(t).min(t);
    let base = base_row(m, seed);
    let mut rows = Vec::with_capacity(b * (t - first) * n_y);
    for trial in 0..b {
        for step in first..t {
            for c in 0..n_y {
                rows.push(Row {
                    index: Some(c as i64),
                    trial: Some(trial as i64),
                    step: Some(step as i64),
                    value: yhat[(trial * t + step) * n_y + c],
                    ..base.clone()
                });
            }
        }
    }
    rows
}
