//! Analyses: exact statistics against the structure theorems (K = dt² G ⊗ I gives time-PR = PR(G) =
//! data PR of V, space-PR = H), randomized statistics against exact ones within their errors, and
//! the Gram modes.

use gentk_linalg::probes::{ProbeKind, purpose, seeded_block};
use gentk_linalg::rank::data_pr;
use gentk_linalg::*;
use gentk_models::*;
use gentk_ntk::analysis::*;
use gentk_ntk::*;

fn randn(n: usize, seed: u64) -> Vec<f64> {
    seeded_block(seed, purpose::FIXTURE + 11, ProbeKind::Gaussian, n, 1)
        .col_as_slice(0)
        .to_vec()
}

#[test]
fn weight_based_k_ranks_follow_the_kronecker_structure() {
    let (b, t, nx, h) = (3, 12, 2, 6);
    let mut c = LeakyRnnConfig::new(nx, h);
    c.dt = 0.7;
    let m = LeakyRnn::init(c, 1.5, 1).unwrap();
    let ro = m.rollout(&randn(b * t * nx, 2), b, t, None).unwrap();
    let g = GlobalNtk::new(&m, &ro);
    let k = materialize(&g.k().unwrap(), 4096).unwrap();
    let st = exact_stats(k.as_ref(), &g.state_shape(), h + 1).unwrap();
    let core = g.k().unwrap();
    let group = &core.groups()[0];
    assert_eq!(
        core.groups().len(),
        1,
        "W, W_in share D = dt·I: one Kronecker core"
    );
    let v = group.sites.as_ref();
    let pr_g = data_pr(v, false);
    assert!(
        (st.eff_rank_time - pr_g).abs() < 1e-10 * pr_g,
        "time PR {} vs PR(G) = data PR(V) {pr_g}",
        st.eff_rank_time
    );
    assert!(
        (st.eff_rank_time_kp - pr_g).abs() < 1e-10 * pr_g,
        "separable: compression gives the same PR"
    );
    assert!(
        (st.eff_rank_space - h as f64).abs() < 1e-10
            && (st.eff_rank_space_kp - h as f64).abs() < 1e-10
    );
    assert!(
        (st.eff_rank - h as f64 * pr_g).abs() < 1e-10 * st.eff_rank,
        "PR(G ⊗ I_H) = H·PR(G)"
    );
    // spec(K) = dt²·spec(G), each eigenvalue H times.
    let (lam, modes) = gram_modes(v, 3).unwrap();
    assert!((st.top_eigs[0] - 0.49 * lam[0]).abs() < 1e-10 * st.top_eigs[0]);
    assert!((st.top_eigs[h - 1] - 0.49 * lam[0]).abs() < 1e-10 * st.top_eigs[0]);
    assert!(
        (st.top_eigs[h] - 0.49 * lam[1]).abs() < 1e-10 * st.top_eigs[0],
        "second eigenvalue of G, again H times"
    );
    assert_eq!(modes[0].len(), b * t);
    let tr: f64 = lam.iter().sum();
    assert!((st.trace - 0.49 * h as f64 * tr).abs() < 1e-10 * st.trace);
}

#[test]
fn randomized_statistics_agree_with_exact_ones() {
    let (b, t, nx, h) = (3, 10, 2, 8);
    let m = Gru::init(GruConfig::new(nx, h), 3.0, 3).unwrap();
    let ro = m.rollout(&randn(b * t * nx, 4), b, t, None).unwrap();
    let g = GlobalNtk::new(&m, &ro);
    let ntk = g.ntk().unwrap();
    let exact = exact_stats(
        materialize(&ntk, 4096).unwrap().as_ref(),
        &g.state_shape(),
        5,
    )
    .unwrap();
    let n = ro.state_dim(); // 240
    let f = g.dz_dtheta().unwrap();
    let (est, unc) = randomized_stats(&ntk, &f, n, 7, 5).unwrap();
    // Trace: within 5 reported standard errors; PR and compression ranks: exact at budget ≥ dim.
    let se = unc.stderr["trace"];
    assert!(
        (est.trace - exact.trace).abs() <= 5.0 * se + 1e-9 * exact.trace,
        "trace {} vs {} ± {se}",
        est.trace,
        exact.trace
    );
    assert!((est.eff_rank - exact.eff_rank).abs() < 1e-9 * exact.eff_rank);
    assert!(
        (est.eff_rank_space_kp - exact.eff_rank_space_kp).abs() < 1e-9 * exact.eff_rank_space_kp
    );
    assert!((est.eff_rank_time_kp - exact.eff_rank_time_kp).abs() < 1e-9 * exact.eff_rank_time_kp);
    // Textbook ranks by the U-statistic on n = 240 samples: a ratio of unbiased estimates with
    // O(1/√S) relative error (≈ 6 % at S = 240 here); allow 3x.
    for (a, b, what) in [
        (est.eff_rank_space, exact.eff_rank_space, "space"),
        (est.eff_rank_time, exact.eff_rank_time, "time"),
    ] {
        assert!((a - b).abs() < 0.2 * b, "{what}: {a} vs {b}");
    }
    assert!((est.fro2 - exact.fro2).abs() < 5.0 * unc.stderr["fro2"] + 1e-9 * exact.fro2);
    for i in 0..3 {
        assert!(
            (est.top_eigs[i] - exact.top_eigs[i]).abs() < 1e-6 * exact.top_eigs[0],
            "λ{i}"
        );
    }
    assert!(unc.matvecs["trace"] <= n);
}

#[test]
fn space_and_time_ranks_differ_by_variant_for_the_ntk() {
    // NTK_S = P K P* is not separable: textbook and compression PRs differ (PAPER.md §5.6).
    let (b, t, nx, h) = (2, 8, 2, 5);
    let m = TanhRnn::init(TanhRnnConfig::new(nx, h), 2.0, 5).unwrap();
    let ro = m.rollout(&randn(b * t * nx, 6), b, t, None).unwrap();
    let g = GlobalNtk::new(&m, &ro);
    let st = exact_stats(
        materialize(&g.ntk().unwrap(), 4096).unwrap().as_ref(),
        &g.state_shape(),
        3,
    )
    .unwrap();
    assert!(
        (st.eff_rank_time - st.eff_rank_time_kp).abs() > 1e-3,
        "{st:?}"
    );
    assert!(st.eff_rank_space <= h as f64 + 1e-9 && st.eff_rank_time <= (b * t) as f64 + 1e-9);
}
