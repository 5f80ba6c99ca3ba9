//! Trace estimators on operators with known spectra. Tolerances come from each estimator's variance
//! (Hutchinson: Var = 2‖A‖_F² per Gaussian probe) or its own reported standard error; unbiasedness
//! is checked as "the mean over 2,000 seeds lies within 3 standard errors of the truth".

mod common;

use common::*;
use gentk_linalg::testing::{Profile, eigenvalues, spectral_operator};
use gentk_linalg::trace::*;
use gentk_linalg::{Adjoint, Dense, Gram, LinearOp, ProbeKind};

fn truth_trace(op: &impl LinearOp) -> f64 {
    direct_trace(op).unwrap().value
}

/// Mean and standard error of the mean of `f(seed)` over `n` seeds.
fn over_seeds(n: u64, f: impl Fn(u64) -> f64) -> (f64, f64) {
    let xs: Vec<f64> = (0..n).map(f).collect();
    let m = xs.iter().sum::<f64>() / n as f64;
    let v = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1) as f64;
    (m, (v / n as f64).sqrt())
}

fn assert_unbiased(name: &str, truth: f64, f: impl Fn(u64) -> f64) {
    let (mean, se) = over_seeds(2000, f);
    assert!(se > 0.0, "{name}: zero spread, the test cannot fail");
    assert!(
        (mean - truth).abs() <= 3.0 * se,
        "{name}: mean {mean} vs truth {truth}, {:.2} standard errors",
        (mean - truth).abs() / se
    );
}

#[test]
fn every_trace_estimator_is_unbiased_over_2000_seeds() {
    // A non-symmetric 40x40 operator for the general estimators, a PSD one for XNysTrace.
    let a = dense(40, 40, 1);
    let t = truth_trace(&a);
    assert_unbiased("hutchinson rademacher", t, |s| {
        hutchinson(&a, 10, s, ProbeKind::Rademacher).unwrap().value
    });
    assert_unbiased("hutchinson gaussian", t, |s| {
        hutchinson(&a, 10, s, ProbeKind::Gaussian).unwrap().value
    });
    assert_unbiased("hutch++ library m=100 (3 ∤ m)", t, |s| {
        hutchpp(&a, 100, s, HutchppSplit::Library).unwrap().value
    });
    assert_unbiased("hutch++ library m=20", t, |s| {
        hutchpp(&a, 20, s, HutchppSplit::Library).unwrap().value
    });
    assert_unbiased("hutch++ trace-paper m=30", t, |s| {
        hutchpp(&a, 30, s, HutchppSplit::TracePaper).unwrap().value
    });
    assert_unbiased("na-hutch++ m=30", t, |s| {
        na_hutchpp(&a, 30, s).unwrap().value
    });
    assert_unbiased("xtrace m=20", t, |s| xtrace(&a, 20, s).unwrap().value);
    let j = dense(40, 25, 2);
    let tj = truth_trace(&Gram(&j));
    assert_unbiased("fhutch (J only)", tj, |s| fhutch(&j, 12, s).unwrap().value);
    assert_unbiased("rhutch (Jᵀ only)", tj, |s| {
        rhutch(&j, 12, s).unwrap().value
    });
    let p = Gram(dense(40, 40, 3));
    let tp = truth_trace(&p);
    assert_unbiased("xnystrace m=10", tp, |s| {
        xnystrace(&p, 10, s).unwrap().value
    });
}

#[test]
fn hutchinson_error_is_within_its_variance_bound() {
    let a = spectral_operator(10_000, 1000, Profile::Decaying(1.0), 3).unwrap();
    let lam = eigenvalues(Profile::Decaying(1.0), 1000);
    let tr: f64 = lam.iter().sum();
    let fro2: f64 = lam.iter().map(|l| l * l).sum();
    let m = 50;
    let sd = (2.0 * fro2 / m as f64).sqrt(); // Gaussian; bounds the Rademacher sd too
    for seed in 0..5 {
        for kind in [ProbeKind::Gaussian, ProbeKind::Rademacher] {
            let e = hutchinson(&a, m, seed, kind).unwrap();
            assert!(
                (e.value - tr).abs() <= 4.0 * sd,
                "{kind:?} seed {seed}: err {} > 4 sd {}",
                e.value - tr,
                sd
            );
            let se = e.stderr.unwrap();
            assert!(
                se > 0.3 * sd && se < 2.0 * sd,
                "reported stderr {se} vs theory {sd}"
            );
        }
    }
}

#[test]
fn kpflow_rank_test_hutchpp_error_decreases_with_budget() {
    // PAPER.md §12.4.5: d = 10,000, ranks 3/100/1000 (flat spectra), Hutch++ relative error decreasing
    // in the budget, near-exact for rank 3 once k ≥ 3.
    let budgets = [9usize, 60, 300, 900];
    for rank in [3usize, 100, 1000] {
        let a = spectral_operator(10_000, rank, Profile::LowRank, 10 + rank as u64).unwrap();
        let tr = rank as f64;
        let mut errs = Vec::new();
        for &m in &budgets {
            let mut mean_err = 0.0;
            for seed in 0..3 {
                let e = hutchpp(&a, m, seed, HutchppSplit::Library).unwrap();
                let err = (e.value - tr).abs();
                assert_eq!(e.matvecs, 3 * (m / 3));
                // The reported stderr is itself noisy with few residual probes: check from k ≥ 10.
                if let Some(se) = e.stderr.filter(|s| *s > 1e-9 * tr && m >= 30) {
                    assert!(
                        err <= 5.0 * se + 1e-9 * tr,
                        "rank {rank} m {m}: err {err} vs 5·stderr {}",
                        5.0 * se
                    );
                }
                mean_err += err / tr / 3.0;
            }
            errs.push(mean_err);
        }
        if rank == 3 {
            assert!(
                errs.iter().all(|e| *e < 1e-10),
                "rank 3 must be exact once k ≥ 3: {errs:?}"
            );
        } else {
            for w in errs.windows(2) {
                assert!(
                    w[1] <= w[0] * 1.05 || w[1] < 1e-10,
                    "rank {rank}: errors not decreasing {errs:?}"
                );
            }
            assert!(errs[3] < errs[0] / 3.0, "rank {rank}: {errs:?}");
        }
        if rank == 100 {
            assert!(
                errs[2] < 1e-10,
                "rank 100 with k = 100 sketch probes is exact: {errs:?}"
            );
        }
    }
}

#[test]
fn hutchpp_beats_hutchinson_at_equal_budget_on_a_decaying_spectrum() {
    let a = spectral_operator(2000, 500, Profile::Decaying(1.5), 4).unwrap();
    let tr: f64 = a.eigenvalues().iter().sum();
    let m = 60;
    let rmse =
        |f: &dyn Fn(u64) -> f64| ((0..20).map(|s| (f(s) - tr).powi(2)).sum::<f64>() / 20.0).sqrt();
    let h = rmse(&|s| hutchinson(&a, m, s, ProbeKind::Rademacher).unwrap().value);
    let hpp = rmse(&|s| hutchpp(&a, m, s, HutchppSplit::Library).unwrap().value);
    let na = rmse(&|s| na_hutchpp(&a, m, s).unwrap().value);
    let xt = rmse(&|s| xtrace(&a, m, s).unwrap().value);
    let xn = rmse(&|s| xnystrace(&a, m, s).unwrap().value);
    assert!(hpp < 0.5 * h, "Hutch++ rmse {hpp} vs Hutchinson {h}");
    assert!(na < 0.5 * h, "NA-Hutch++ rmse {na} vs Hutchinson {h}");
    assert!(xt < hpp, "XTrace rmse {xt} vs Hutch++ {hpp}");
    assert!(xn < hpp, "XNysTrace rmse {xn} vs Hutch++ {hpp}");
}

#[test]
fn xtrace_and_xnystrace_errors_within_their_reported_standard_errors() {
    let a = spectral_operator(3000, 800, Profile::Decaying(1.0), 5).unwrap();
    let tr: f64 = a.eigenvalues().iter().sum();
    for seed in 0..5 {
        for (name, e) in [
            ("xtrace", xtrace(&a, 100, seed).unwrap()),
            ("xnystrace", xnystrace(&a, 100, seed).unwrap()),
        ] {
            let se = e.stderr.unwrap();
            assert!(
                (e.value - tr).abs() <= 5.0 * se,
                "{name} seed {seed}: err {} vs stderr {se}",
                e.value - tr
            );
            assert!(e.matvecs <= 100);
        }
    }
}

#[test]
fn exact_shortcuts_when_the_budget_covers_the_space() {
    let a = dense(30, 30, 6);
    let t = truth_trace(&a);
    for e in [
        hutchpp(&a, 31, 0, HutchppSplit::TracePaper).unwrap(),
        xtrace(&a, 60, 0).unwrap(),
        hutchpp(&a, 90, 0, HutchppSplit::Library).unwrap(),
    ] {
        assert!(
            e.exact && (e.value - t).abs() < 1e-10 * t.abs().max(1.0),
            "{e:?} vs {t}"
        );
    }
    // A sketch wider than the rank captures the range: XTrace is exact (R is singular there).
    let low = gentk_linalg::testing::spectral_operator(
        400,
        10,
        gentk_linalg::testing::Profile::Decaying(1.0),
        3,
    )
    .unwrap();
    let tl: f64 = low.eigenvalues().iter().sum();
    let e = xtrace(&low, 60, 1).unwrap();
    assert!(
        e.value.is_finite() && (e.value - tl).abs() < 1e-10 * tl,
        "{e:?} vs {tl}"
    );
    let j = dense(30, 12, 7);
    let want = truth_trace(&Gram(&j));
    let d = direct_one_sided(&j).unwrap();
    assert_eq!(d.matvecs, 12);
    assert!((d.value - want).abs() < 1e-10 * want);
    let d2 = direct_one_sided(&Adjoint(&j)).unwrap();
    assert!((d2.value - want).abs() < 1e-10 * want);
}

#[test]
fn bad_budgets_and_shapes_are_errors() {
    let a = dense(10, 10, 8);
    assert!(
        hutchinson(&a, 0, 0, ProbeKind::Gaussian)
            .unwrap_err()
            .to_string()
            .contains("budget")
    );
    assert!(hutchpp(&a, 2, 0, HutchppSplit::Library).is_err());
    assert!(na_hutchpp(&a, 5, 0).is_err());
    let r = dense(10, 7, 9);
    assert!(
        hutchpp(&r, 30, 0, HutchppSplit::Library)
            .unwrap_err()
            .to_string()
            .contains("square")
    );
    let not_psd = Dense::new(faer::Mat::from_fn(
        10,
        10,
        |i, j| if i == j { -1.0 } else { 0.0 },
    ));
    assert!(xnystrace(&not_psd, 4, 0).is_err());
}
