//! Targets built from the model at initialisation (F9, PAPER §12.3): the catalog's "preferred" target
//! built from the NTK's dominant temporal mode (Case I), its "nullspace" target (Case III) and their
//! mix (Case II), and the dominant mode itself as a control; each has one channel on the analysed
//! trials and is rescaled to unit RMS.

use gentk_ntk::GlobalNtk;
use gentk_spec::TargetCase;
use gentk_tasks::Dataset;

use super::build::Built;
use super::error::{MeasureError, Result};

/// Steps at the end of a trial that the nullspace target occupies.
const NULL_STEPS: usize = 20;

/// `data` with its targets replaced by the `case` target of the model `built` (at initialisation).
pub(crate) fn build(case: TargetCase, built: &Built, data: &Dataset, seed: u64) -> Result<Dataset> {
    let targets = match case {
        TargetCase::TopMode => unit_rms(top_mode(built, data, seed)?),
        TargetCase::Preferred => preferred(built, data, seed)?,
        TargetCase::Nullspace => nullspace(data),
        TargetCase::Mix => {
            let (a, b) = (preferred(built, data, seed)?, nullspace(data));
            unit_rms(
                a.iter()
                    .zip(&b)
                    .map(|(x, y)| (x + y) / 2f64.sqrt())
                    .collect(),
            )
        }
    };
    Ok(Dataset {
        n_out: 1,
        targets,
        ..data.clone()
    })
}

/// y*_I: the top eigenvector u₁ of C_h(NTK_S) as [B, T], the first half of the trials scaled by
/// −0.5 and the rest by 0.3, at unit RMS.
fn preferred(built: &Built, data: &Dataset, seed: u64) -> Result<Vec<f64>> {
    let u = top_mode(built, data, seed)?;
    let half = data.n / 2;
    Ok(unit_rms(
        u.iter()
            .enumerate()
            .map(|(site, x)| x * if site / data.time < half { -0.5 } else { 0.3 })
            .collect(),
    ))
}

/// The top eigenvector u₁ of C_h(NTK_S) at initialisation, as [B, T] (largest entry positive).
fn top_mode(built: &Built, data: &Dataset, seed: u64) -> Result<Vec<f64>> {
    let ro = built.rollout(data)?;
    let g = GlobalNtk::new(built.sm(), &ro);
    let modes = super::time_modes(&g.ntk()?, 1, true, 2000, seed)?;
    modes
        .vectors
        .into_iter()
        .next()
        .ok_or_else(|| MeasureError::Unsupported("no temporal NTK mode to build a target".into()))
}

/// y*_III: zero except the last 20 steps, where trial b holds 10 + b, times −3 for b ≥ 5; at unit
/// RMS.
fn nullspace(data: &Dataset) -> Vec<f64> {
    let first = data.time.saturating_sub(NULL_STEPS);
    unit_rms(
        (0..data.n * data.time)
            .map(|site| {
                let (b, t) = (site / data.time, site % data.time);
                if t < first {
                    0.0
                } else {
                    (10.0 + b as f64) * if b >= 5 { -3.0 } else { 1.0 }
                }
            })
            .collect(),
    )
}

/// `y` scaled to root-mean-square 1.
fn unit_rms(y: Vec<f64>) -> Vec<f64> {
    let rms = (y.iter().map(|x| x * x).sum::<f64>() / y.len().max(1) as f64).sqrt();
    if rms > 0.0 {
        y.into_iter().map(|x| x / rms).collect()
    } else {
        y
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, time: usize) -> Dataset {
        Dataset {
            n,
            time,
            n_in: 1,
            n_out: 0,
            inputs: vec![0.0; n * time],
            targets: Vec::new(),
        }
    }

    #[test]
    fn the_nullspace_target_is_the_catalogs_at_unit_rms() {
        let d = data(20, 30);
        let y = nullspace(&d);
        let rms = (y.iter().map(|x| x * x).sum::<f64>() / 600.0).sqrt();
        assert!((rms - 1.0).abs() < 1e-14);
        // Zero for t < 10; then 10 + b, times −3 from b = 5, all on one scale.
        assert!(y[..10].iter().all(|&x| x == 0.0));
        let at = |b: usize, t: usize| y[b * 30 + t];
        assert!((at(4, 29) / at(0, 10) - 14.0 / 10.0).abs() < 1e-14);
        assert!((at(5, 15) / at(0, 10) - (-45.0 / 10.0)).abs() < 1e-14);
    }
}
