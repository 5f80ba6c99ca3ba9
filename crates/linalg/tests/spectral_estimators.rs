//! Norms, alignment, participation ratios, eigenpairs, low-rank factorisations and spectral
//! densities on operators with known spectra; determinism across rayon thread counts.

mod common;

use common::*;
use faer::Mat;
use gentk_linalg::eig::{EigOptions, Which, top_eigenpairs};
use gentk_linalg::lowrank::{nystrom, randomized_svd};
use gentk_linalg::norms::{alignment, frobenius_norm, rayleigh, rel_diff};
use gentk_linalg::rank::*;
use gentk_linalg::slq::slq;
use gentk_linalg::testing::{Profile, eigenvalues, random_orthonormal, spectral_operator};
use gentk_linalg::trace::{HutchppSplit, hutchpp, xtrace};
use gentk_linalg::*;

fn diag_op(lam: &[f64]) -> Diagonal {
    Diagonal::new(lam.to_vec(), Shape::flat("n", lam.len())).unwrap()
}

#[test]
fn frobenius_norm_is_exact_for_low_rank_and_within_error_otherwise() {
    let a = spectral_operator(500, 20, Profile::Decaying(0.5), 1).unwrap();
    let want = a.eigenvalues().iter().map(|l| l * l).sum::<f64>().sqrt();
    let e = frobenius_norm(&a, 75, 3).unwrap(); // k = 25 ≥ rank 20: exact
    assert!(
        (e.value - want).abs() < 1e-10 * want,
        "{} vs {want}",
        e.value
    );
    let b = spectral_operator(2000, 1000, Profile::Flat, 2).unwrap();
    let want = (1000f64).sqrt();
    for seed in 0..4 {
        let e = frobenius_norm(&b, 60, seed).unwrap();
        assert!(
            (e.value - want).abs() <= 5.0 * e.stderr.unwrap(),
            "{} vs {want} ± {:?}",
            e.value,
            e.stderr
        );
    }
    assert!(rel_diff(&a, &a, 30, 0, 1e-12).unwrap() < 1e-12);
}

#[test]
fn alignment_is_exact_at_full_budget_and_consistent_below() {
    let (a, b) = (dense(30, 30, 3), dense(30, 30, 4));
    let (ma, mb) = (mat(&a), mat(&b));
    let inner: f64 = (0..30)
        .flat_map(|i| (0..30).map(move |j| (i, j)))
        .map(|(i, j)| ma[(i, j)] * mb[(i, j)])
        .sum();
    let want = inner / (ma.norm_l2() * mb.norm_l2());
    let al = alignment(&a, &b, 30, 9).unwrap();
    assert!(
        al.exact && (al.cos - want).abs() < 1e-12,
        "{} vs {want}",
        al.cos
    );
    // Same eigenvectors, different spectra: cos = Σλμ/(‖λ‖‖μ‖).
    let u = random_orthonormal(1000, 1000, 5);
    let lam = eigenvalues(Profile::Decaying(1.0), 1000);
    let mu = eigenvalues(Profile::Decaying(0.3), 1000);
    let (sa, sb) = (
        Spectral::new(u.clone(), lam.clone()).unwrap(),
        Spectral::new(u, mu.clone()).unwrap(),
    );
    let dot: f64 = lam.iter().zip(&mu).map(|(x, y)| x * y).sum();
    let want = dot
        / (lam.iter().map(|x| x * x).sum::<f64>() * mu.iter().map(|x| x * x).sum::<f64>()).sqrt();
    let err = |m: usize| {
        (0..5)
            .map(|s| (alignment(&sa, &sb, m, s).unwrap().cos - want).abs())
            .sum::<f64>()
            / 5.0
    };
    let (e10, e100, e800) = (err(10), err(100), err(800));
    assert!(
        e100 < e10 && e800 < e100,
        "alignment errors not decreasing: {e10} {e100} {e800}"
    );
    assert!(e800 < 0.02 * want);
}

#[test]
fn participation_ratio_flavours_on_a_diagonal_operator() {
    let lam: Vec<f64> = (1..=50).map(|i| 1.0 / i as f64).collect();
    let a = diag_op(&lam);
    let s1: f64 = lam.iter().sum();
    let s2: f64 = lam.iter().map(|l| l * l).sum();
    let s4: f64 = lam.iter().map(|l| l.powi(4)).sum();
    let pr = participation_ratio(&a, PrOptions::default()).unwrap();
    assert!(pr.exact && (pr.value - s1 * s1 / s2).abs() < 1e-12 * pr.value);
    let sq = eff_rank_sq(&a, PrOptions::default()).unwrap();
    assert!((sq.value - s2 * s2 / s4).abs() < 1e-12 * sq.value);
    // Randomized path with a budget covering the space is exact too.
    let opts = PrOptions {
        budget: 50,
        seed: 1,
        exact_limit: 0,
    };
    let r = participation_ratio(&a, opts).unwrap();
    assert!(r.exact && (r.value - pr.value).abs() < 1e-10 * pr.value);
    assert!((pr_of_eigenvalues(&lam) - pr.value).abs() < 1e-12 * pr.value);
}

#[test]
fn randomized_participation_ratio_within_its_derived_error_bound() {
    // PR = tr(A)²/tr(A²) from two probe sums; each is a Hutchinson-type estimate with relative sd
    // ≈ sqrt(2/m)·‖M‖_F/tr(M), so rel. error(PR) ≲ 2·rsd(tr A) + rsd(tr A²) (no cancellation credit).
    let (d, m) = (4000usize, 200usize);
    let a = spectral_operator(d, 400, Profile::Decaying(0.5), 6).unwrap();
    let lam = a.eigenvalues().to_vec();
    let (s1, s2, s4): (f64, f64, f64) = (
        lam.iter().sum(),
        lam.iter().map(|l| l * l).sum(),
        lam.iter().map(|l| l.powi(4)).sum(),
    );
    let truth = s1 * s1 / s2;
    let c = (2.0 / m as f64).sqrt();
    let bound = 2.0 * c * s2.sqrt() / s1 + c * s4.sqrt() / s2;
    for seed in 0..4 {
        let e = participation_ratio(
            &a,
            PrOptions {
                budget: m,
                seed,
                exact_limit: 0,
            },
        )
        .unwrap();
        let rel = (e.value - truth).abs() / truth;
        assert!(
            rel <= 3.0 * bound,
            "seed {seed}: rel err {rel} vs 3·bound {}",
            3.0 * bound
        );
    }
}

/// Empirical sd of `est` over seeds against the mean reported standard error.
fn sd_and_mean_stderr(reps: u64, est: impl Fn(u64) -> (f64, f64)) -> (f64, f64) {
    let runs: Vec<(f64, f64)> = (0..reps).map(est).collect();
    let n = runs.len() as f64;
    let mean = runs.iter().map(|r| r.0).sum::<f64>() / n;
    let sd = (runs.iter().map(|r| (r.0 - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    (sd, runs.iter().map(|r| r.1).sum::<f64>() / n)
}

#[test]
fn jackknifed_stderrs_of_ratio_estimators_match_their_spread_over_seeds() {
    // 300 reruns: the empirical sd itself is known to ≈ ±4 %, so a calibrated jackknife lands in
    // [0.7, 1.4] × sd; an error bar off by the finite-population factor or by √2 would not.
    let reps = 300;
    let a = spectral_operator(600, 120, Profile::Decaying(0.7), 3).unwrap();
    let opts = |seed| PrOptions {
        budget: 40,
        seed,
        exact_limit: 0,
    };
    let (sd, se) = sd_and_mean_stderr(reps, |seed| {
        let e = participation_ratio(&a, opts(seed)).unwrap();
        (e.value, e.stderr.unwrap())
    });
    assert!(
        se > 0.7 * sd && se < 1.4 * sd,
        "PR: jackknife {se} vs sd {sd}"
    );
    // Probes spanning the space: exact, zero error bar.
    let small = spectral_operator(30, 10, Profile::Decaying(0.7), 3).unwrap();
    let e = participation_ratio(
        &small,
        PrOptions {
            budget: 30,
            seed: 1,
            exact_limit: 0,
        },
    )
    .unwrap();
    assert!(e.exact && e.stderr == Some(0.0), "{e:?}");
    // Both U-statistic partial-trace PRs.
    let shape = Shape::new([("m", 6), ("n", 8)]);
    let f = dense_shaped(shape, Shape::flat("theta", 30), 8);
    for textbook in [true, false] {
        let (sd, se) = sd_and_mean_stderr(reps, |seed| {
            let u = ustat_partial_pr(&f, &["m"], 60, seed).unwrap();
            if textbook {
                (u.textbook, u.stderr_textbook.unwrap())
            } else {
                (u.compression, u.stderr_compression.unwrap())
            }
        });
        assert!(
            se > 0.7 * sd && se < 1.4 * sd,
            "U-statistic (textbook {textbook}): jackknife {se} vs sd {sd}"
        );
    }
    assert!(
        ustat_partial_pr(&f, &["m"], 2, 0)
            .unwrap()
            .stderr_textbook
            .is_none()
    );
}

#[test]
fn partial_trace_ranks_match_dense_in_every_variant() {
    let shape = Shape::state(3, 4, 5);
    let n = shape.numel();
    let a = Dense::with_shapes(psd(n, 8, 7), shape.clone(), shape.clone()).unwrap();
    let ma = mat(&a);
    for keep in [&["hidden"][..], &["batch", "time"]] {
        let split = AxisSplit::new(&shape, keep).unwrap();
        let want_t = pr_dense(dense_partial_trace(ma.as_ref(), &split).as_ref());
        let want_c = pr_dense(dense_compress(ma.as_ref(), &split, false).as_ref());
        let o = PrOptions::default();
        let t = participation_ratio_partial(&a, keep, PtraceVariant::Textbook, o).unwrap();
        let cs = participation_ratio_partial(&a, keep, PtraceVariant::CompressSum, o).unwrap();
        let cm = participation_ratio_partial(&a, keep, PtraceVariant::CompressMean, o).unwrap();
        assert!((t.value - want_t).abs() < 1e-10 * want_t);
        assert!((cs.value - want_c).abs() < 1e-10 * want_c);
        assert!(
            (cm.value - want_c).abs() < 1e-10 * want_c,
            "mean and sum compressions share the PR"
        );
        // Matrix-free textbook path (probes through PartialTrace) agrees when the budget covers m.
        let mf = participation_ratio_partial(
            &a,
            keep,
            PtraceVariant::Textbook,
            PrOptions {
                budget: 60,
                seed: 2,
                exact_limit: 0,
            },
        )
        .unwrap();
        assert!(
            (mf.value - want_t).abs() < 1e-9 * want_t,
            "{} vs {want_t}",
            mf.value
        );
    }
}

#[test]
fn ustat_estimators_converge_to_both_dense_partial_trace_ranks() {
    // A = F Fᵀ with F: R^30 -> [m=6, n=8]; PRs of Tr_n(A) and C_n(A) from forward samples of F only.
    let shape = Shape::new([("m", 6), ("n", 8)]);
    let f = dense_shaped(shape.clone(), Shape::flat("theta", 30), 8);
    let ma = mat(&Gram(&f));
    let split = AxisSplit::new(&shape, &["m"]).unwrap();
    let want_t = pr_dense(dense_partial_trace(ma.as_ref(), &split).as_ref());
    let want_c = pr_dense(dense_compress(ma.as_ref(), &split, false).as_ref());
    let err = |s: usize| {
        let mut et = 0.0;
        let mut ec = 0.0;
        for seed in 0..4 {
            let u = ustat_partial_pr(&f, &["m"], s, seed).unwrap();
            et += (u.textbook - want_t).abs() / want_t / 4.0;
            ec += (u.compression - want_c).abs() / want_c / 4.0;
        }
        (et, ec)
    };
    let (t50, c50) = err(50);
    let (t3000, c3000) = err(3000);
    assert!(t3000 < t50 && c3000 < c50, "{t50} {t3000} {c50} {c3000}");
    // Ratio of two unbiased U-statistics: O(1/sqrt(S)) relative error (≈ 2% at S = 3000 here).
    assert!(
        t3000 < 0.03 && c3000 < 0.06,
        "textbook {t3000}, compression {c3000}"
    );
    assert!(
        (want_t - want_c).abs() > 0.05,
        "fixture should separate the variants"
    );
    // The trace estimate is unbiased for ‖F‖_F².
    let tr = (0..200)
        .map(|s| ustat_partial_pr(&f, &["m"], 10, s).unwrap().trace)
        .sum::<f64>()
        / 200.0;
    let want = (0..48).map(|i| ma[(i, i)]).sum::<f64>();
    assert!((tr - want).abs() < 0.05 * want);
}

#[test]
fn data_pr_of_gaussian_data_matches_theory() {
    // E tr(M) = d, E tr(M²) = d(N+d+1)/N for M = XᵀX/N: PR ≈ dN/(N+d+1) (PAPER.md §5.5).
    let (n, d) = (500, 64);
    let pr = (0..20)
        .map(|s| data_pr(gaussian(n, d, 100 + s).as_ref(), false))
        .sum::<f64>()
        / 20.0;
    let want = (d * n) as f64 / (n + d + 1) as f64;
    assert!((pr - want).abs() < 0.02 * want, "{pr} vs {want}");
    let centered = data_pr(gaussian(n, d, 7).as_ref(), true);
    assert!((centered - want).abs() < 0.05 * want);
}

#[test]
fn block_lanczos_finds_top_eigenpairs_and_meets_its_residual() {
    let d = 2000;
    let a = spectral_operator(d, d, Profile::Decaying(1.0), 9).unwrap();
    let opts = EigOptions {
        dense_limit: 0,
        tol: 1e-10,
        max_matvecs: 1500,
        ..Default::default()
    };
    let r = top_eigenpairs(&a, 5, opts).unwrap();
    assert!(
        r.converged && !r.dense,
        "iterations {} residuals {:?}",
        r.iterations,
        r.residuals
    );
    let u = a.eigenvectors();
    for i in 0..5 {
        let want = 1.0 / (i + 1) as f64;
        assert!(
            (r.values[i] - want).abs() < 1e-9,
            "λ{i} = {} vs {want}",
            r.values[i]
        );
        assert!(r.residuals[i] <= 1e-10 * r.values[0]);
        let v = r.vectors.col_as_slice(i);
        let overlap: f64 = (0..d).map(|k| v[k] * u[(k, i)]).sum();
        assert!((overlap.abs() - 1.0).abs() < 1e-8);
        // The reported residual is honest: recompute ‖A v − λ v‖ with one more matvec.
        let av = a.apply(v).unwrap();
        let res = av
            .iter()
            .zip(v)
            .map(|(x, y)| (x - r.values[i] * y).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!((res - r.residuals[i]).abs() < 1e-12 + 1e-6 * res);
    }
    assert!(r.matvecs <= 1500);
}

#[test]
fn lanczos_by_magnitude_on_an_indefinite_operator_and_dense_path() {
    let a = spectral_operator(1500, 300, Profile::Indefinite, 10).unwrap();
    let opts = EigOptions {
        dense_limit: 0,
        which: Which::LargestMagnitude,
        max_matvecs: 1200,
        ..Default::default()
    };
    let r = top_eigenpairs(&a, 3, opts).unwrap();
    let want = [-1.0, 2f64.powf(-0.5), -(3f64.powf(-0.5))];
    for i in 0..3 {
        assert!((r.values[i] - want[i]).abs() < 1e-8, "{:?}", r.values);
    }
    let small = dense(40, 40, 11);
    let sym = SymPart::new(&small).unwrap();
    let d = top_eigenpairs(&sym, 4, EigOptions::default()).unwrap();
    assert!(d.dense && d.residuals.iter().all(|x| *x < 1e-10));
    let all = gentk_linalg::eig::dense_eigenvalues(&sym, 100).unwrap();
    assert!((d.values[0] - all[0]).abs() < 1e-12);
    assert!(top_eigenpairs(&sym, 0, EigOptions::default()).is_err());
}

#[test]
fn randomized_svd_and_nystrom_recover_low_rank_spectra() {
    // A = U diag(s) Vᵀ of rank 10.
    let (u, v) = (
        random_orthonormal(300, 10, 12),
        random_orthonormal(200, 10, 13),
    );
    let s: Vec<f64> = (0..10).map(|i| 10.0 / (1 + i) as f64).collect();
    let m = Mat::from_fn(300, 200, |i, j| {
        (0..10).map(|k| u[(i, k)] * s[k] * v[(j, k)]).sum::<f64>()
    });
    let a = Dense::new(m);
    let svd = randomized_svd(&a, 10, 5, 1, 14).unwrap();
    for i in 0..10 {
        assert!((svd.s[i] - s[i]).abs() < 1e-10 * s[0], "{:?}", svd.s);
    }
    let recon = &svd.u
        * Mat::from_fn(10, 10, |i, j| if i == j { svd.s[i] } else { 0.0 })
        * svd.v.transpose();
    assert!(rel_err(&recon, &mat(&a)) < 1e-10);
    let p = spectral_operator(500, 10, Profile::Decaying(1.0), 15).unwrap();
    let ny = nystrom(&p, 10, 20, 16).unwrap();
    for i in 0..10 {
        let want = 1.0 / (i + 1) as f64;
        assert!((ny.lambda[i] - want).abs() < 1e-9, "{:?}", ny.lambda);
    }
    // Full-rank decaying spectrum: Nyström eigenvalues never exceed the truth (Â ≼ A) and the error
    // obeys the range-finder bound on A^{1/2} (Halko et al. Thm 10.6, squared since
    // ‖A − Â‖₂ = ‖(I − P)A^{1/2}‖₂²), and shrinks with the sketch.
    let q = spectral_operator(800, 800, Profile::Decaying(2.0), 17).unwrap();
    let lam = q.eigenvalues().to_vec();
    let err_at = |sketch: usize| {
        let ny = nystrom(&q, 5, sketch, 18).unwrap();
        (0..5)
            .map(|i| {
                assert!(
                    ny.lambda[i] <= lam[i] * (1.0 + 1e-12),
                    "Nyström overshoots: {:?}",
                    ny.lambda
                );
                lam[i] - ny.lambda[i]
            })
            .fold(0.0f64, f64::max)
    };
    let (k, l) = (10usize, 40usize);
    let p = (l - k) as f64;
    let tail: f64 = lam[k..].iter().sum();
    let halko = ((1.0 + (k as f64 / (p - 1.0)).sqrt()) * lam[k].sqrt()
        + std::f64::consts::E * (l as f64).sqrt() / p * tail.sqrt())
    .powi(2);
    let (e40, e120) = (err_at(40), err_at(120));
    assert!(e40 <= halko, "Nyström error {e40} above the bound {halko}");
    assert!(
        e120 < e40,
        "error should shrink with the sketch: {e40} -> {e120}"
    );
}

#[test]
fn slq_quadrature_matches_moments_and_locates_eigenvalues() {
    // Spectrum with 3 distinct values (multiplicities 100, 200, 300 in d = 600).
    let d = 600;
    let lam: Vec<f64> = (0..d)
        .map(|i| {
            if i < 100 {
                3.0
            } else if i < 300 {
                1.0
            } else {
                0.25
            }
        })
        .collect();
    let u = random_orthonormal(d, d, 19);
    let a = Spectral::new(u, lam.clone()).unwrap();
    let nv = 30;
    let dens = slq(&a, nv, 8, 20).unwrap();
    assert!((dens.trace_fn(|_| 1.0) - d as f64).abs() < 1e-9);
    // Lanczos terminates after 3 steps (3 distinct eigenvalues): nodes are the eigenvalues.
    for &t in &dens.nodes {
        assert!(
            [3.0, 1.0, 0.25].iter().any(|e| (t - e).abs() < 1e-8),
            "node {t}"
        );
    }
    // tr f(A) is a Hutchinson estimate of a PSD f(A): error ≤ 4 sd with sd = sqrt(2‖f(A)‖_F²/nv).
    for (f, name) in [
        (&(|x: f64| x) as &dyn Fn(f64) -> f64, "x"),
        (&|x: f64| x * x, "x^2"),
        (&|x: f64| x.ln().exp(), "x (ln/exp)"),
    ] {
        let want: f64 = lam.iter().map(|&l| f(l)).sum();
        let sd = (2.0 * lam.iter().map(|&l| f(l).powi(2)).sum::<f64>() / nv as f64).sqrt();
        let got = dens.trace_fn(f);
        assert!(
            (got - want).abs() <= 4.0 * sd,
            "{name}: {got} vs {want} (sd {sd})"
        );
    }
    let mass3: f64 = dens
        .nodes
        .iter()
        .zip(&dens.weights)
        .filter(|(t, _)| (**t - 3.0).abs() < 1e-6)
        .map(|(_, w)| w)
        .sum();
    assert!((mass3 - 100.0 / 600.0).abs() < 0.1, "mass at 3: {mass3}");
    let grid: Vec<f64> = (0..400).map(|i| -1.0 + i as f64 * 0.0125).collect();
    let sm = dens.smoothed(&grid, 0.05);
    let integral: f64 = sm.iter().sum::<f64>() * 0.0125;
    assert!((integral - 1.0).abs() < 1e-3);
}

#[test]
fn rayleigh_quotient_of_an_eigenvector_is_its_eigenvalue() {
    let a = spectral_operator(100, 10, Profile::Decaying(1.0), 21).unwrap();
    let v: Vec<f64> = (0..100).map(|i| a.eigenvectors()[(i, 2)]).collect();
    assert!((rayleigh(&a, &v).unwrap() - 1.0 / 3.0).abs() < 1e-12);
}

#[test]
fn results_are_bit_identical_with_one_and_two_threads() {
    // Blocks of 100 probes exceed the fixed column chunk, so the parallel path is exercised.
    let a = Dense::new(psd(600, 600, 22)).symmetric(1e-12).unwrap();
    let run = || {
        let mut bits = Vec::new();
        bits.push(
            hutchpp(&a, 300, 1, HutchppSplit::Library)
                .unwrap()
                .value
                .to_bits(),
        );
        bits.push(xtrace(&a, 200, 2).unwrap().value.to_bits());
        bits.push(alignment(&a, &Gram(&a), 150, 3).unwrap().cos.to_bits());
        let opts = EigOptions {
            dense_limit: 0,
            max_matvecs: 300,
            ..Default::default()
        };
        bits.extend(
            top_eigenpairs(&a, 4, opts)
                .unwrap()
                .values
                .iter()
                .map(|v| v.to_bits()),
        );
        bits.extend(
            slq(&a, 40, 10, 4)
                .unwrap()
                .nodes
                .iter()
                .map(|v| v.to_bits()),
        );
        bits.push(
            ustat_partial_pr(&a, &["out"], 50, 5)
                .unwrap()
                .textbook
                .to_bits(),
        );
        bits
    };
    let pool = |n| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .unwrap()
    };
    let one = pool(1).install(run);
    let two = pool(2).install(run);
    assert_eq!(one, two);
}
