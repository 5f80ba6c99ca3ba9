//! The factored step Jacobians behind the f32 mode: every model's exported factors reproduce its
//! own A_t and A_tᵀ (f64 instantiation, to roundoff), P through them equals P through the model's
//! own steps, and the f32 cast stays within single-precision error of the f64 result.

mod common;

use common::*;
use faer::Mat;
use gentk_linalg::Real;
use gentk_models::recursion::{propagate, propagate_adjoint, propagate_adjoint_op, propagate_op};
use gentk_models::*;

const B: usize = 3;
const T: usize = 5;
const NX: usize = 2;
const H: usize = 6;
const M: usize = 2 * B;

fn rel(a: &[f64], b: &[f64]) -> f64 {
    let d: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>();
    let s: f64 = b.iter().map(|x| x * x).sum::<f64>();
    (d / s.max(1e-300)).sqrt()
}

/// `out = A_t v` through the model's own `state_jvp` (adjoint: `state_vjp`), as a flat H x M block.
fn own(sm: &dyn StepModel, ro: &Rollout, t: usize, v: &[f64], adjoint: bool) -> Vec<f64> {
    let vm = Mat::from_fn(H, M, |i, j| v[j * H + i]);
    let mut o = Mat::zeros(H, M);
    if adjoint {
        sm.state_vjp(ro, t, vm.as_ref(), o.as_mut());
    } else {
        sm.state_jvp(ro, t, vm.as_ref(), o.as_mut());
    }
    (0..M)
        .flat_map(|j| (0..H).map(move |i| (i, j)))
        .map(|(i, j)| o[(i, j)])
        .collect()
}

fn through<T: Real>(f: &FactoredStep<T>, t: usize, v: &[f64], adjoint: bool) -> Vec<f64> {
    let v: Vec<T> = v.iter().map(|x| T::of(*x)).collect();
    let mut out = vec![T::of(0.0); H * M];
    let mut scratch = vec![T::of(0.0); f.scratch_len(M)];
    if adjoint {
        f.vjp_add(t, &v, &mut out, &mut scratch);
    } else {
        f.jvp_add(t, &v, &mut out, &mut scratch);
    }
    out.iter().map(|x| x.wide()).collect()
}

#[test]
fn exported_factors_reproduce_every_models_step_jacobian() {
    for (name, m) in every_model(NX, H, T) {
        let ro = m.run(&randn(B * T * NX, 1), B, T, Some(&randn(B * H, 2)));
        let sm = m.sm();
        let f = sm
            .step_factors(&ro)
            .unwrap_or_else(|| panic!("{name} exports no factors"));
        let f32s = f.cast::<f32>();
        for t in 1..T {
            for adjoint in [false, true] {
                let v = randn(H * M, 10 + t as u64);
                let want = own(sm, &ro, t, &v, adjoint);
                assert!(want.iter().any(|x| *x != 0.0), "{name}: A_{t} is zero");
                let e64 = rel(&through(&f, t, &v, adjoint), &want);
                assert!(
                    e64 < 1e-14,
                    "{name} t={t} adjoint={adjoint}: f64 factors off by {e64:e}"
                );
                let e32 = rel(&through(&f32s, t, &v, adjoint), &want);
                assert!(
                    e32 < 50.0 * f64::from(f32::EPSILON) && e32 > 1e-12,
                    "{name} t={t} adjoint={adjoint}: f32 factors off by {e32:e}"
                );
            }
        }
    }
}

#[test]
fn propagation_through_the_factors_equals_the_models_own_recursion() {
    for (name, m) in every_model(NX, H, T) {
        let ro = m.run(&randn(B * T * NX, 3), B, T, Some(&randn(B * H, 4)));
        let sm = m.sm();
        let f = sm.step_factors(&ro).unwrap_or_else(|| panic!("{name}"));
        let n = ro.state_dim();
        let x = Mat::from_fn(n, 3, |i, j| randn(n * 3, 5)[j * n + i]);
        for adjoint in [false, true] {
            let (mut want, mut got) = (Mat::zeros(n, 3), Mat::zeros(n, 3));
            let mut got32 = Mat::<f32>::zeros(n, 3);
            let x32 = Mat::from_fn(n, 3, |i, j| x[(i, j)] as f32);
            if adjoint {
                propagate_adjoint(sm, &ro, x.as_ref(), want.as_mut());
                propagate_adjoint_op(&f, x.as_ref(), got.as_mut());
                propagate_adjoint_op(&f.cast::<f32>(), x32.as_ref(), got32.as_mut());
            } else {
                propagate(sm, &ro, x.as_ref(), want.as_mut());
                propagate_op(&f, x.as_ref(), got.as_mut());
                propagate_op(&f.cast::<f32>(), x32.as_ref(), got32.as_mut());
            }
            let flat = |m: &Mat<f64>| -> Vec<f64> {
                (0..3)
                    .flat_map(|j| (0..n).map(move |i| (i, j)))
                    .map(|(i, j)| m[(i, j)])
                    .collect()
            };
            let g32 = Mat::from_fn(n, 3, |i, j| f64::from(got32[(i, j)]));
            let (e64, e32) = (
                rel(&flat(&got), &flat(&want)),
                rel(&flat(&g32), &flat(&want)),
            );
            assert!(
                e64 < 1e-13,
                "{name} adjoint={adjoint}: P via f64 factors {e64:e}"
            );
            assert!(
                e32 < 1e-5,
                "{name} adjoint={adjoint}: P via f32 factors {e32:e}"
            );
        }
    }
}

#[test]
fn param_jvp_flops_count_every_parameter_once_per_site_it_acts_at() {
    // Each weight entry multiplies one site value per site it acts at: 2·N·n_θ for recurrent
    // cells (every weight acts at every step), 2·B·n_θ for MLPs (each layer at one step).
    for (name, m) in every_model(NX, H, T) {
        let ro = m.run(&randn(B * T * NX, 7), B, T, None);
        let sm = m.sm();
        let n_theta = sm.params().layout().len() as u64;
        let acts = if name.contains("mlp") { B } else { B * T } as u64;
        assert_eq!(sm.param_jvp_flops(&ro), 2 * acts * n_theta, "{name}");
    }
}
