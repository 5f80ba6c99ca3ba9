//! Checks the claims of the committed figure tables (results/), with tolerances justified in each
//! figure's NOTES.md.

use std::path::Path;

use gentk_pipeline::table::{Cell, Table, read};

fn table(name: &str) -> Table {
    read(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../results")
            .join(name)
            .join("table.parquet"),
    )
    .unwrap()
}

fn col(t: &Table, name: &str) -> usize {
    t.columns
        .iter()
        .position(|c| c == name)
        .unwrap_or_else(|| panic!("no column {name}"))
}

fn s(c: &Cell) -> String {
    c.to_string()
}

fn f(c: &Cell) -> f64 {
    match c {
        Cell::F(Some(v)) => *v,
        other => panic!("not a float: {other}"),
    }
}

/// F1 values per (model label "arch dt bias", measure) over gains.
fn f01_values(name: &str) -> std::collections::BTreeMap<(String, String), Vec<f64>> {
    let t = table(name);
    let (m, v) = (col(&t, "measure"), col(&t, "value"));
    let key_cols: Vec<usize> = ["model.arch", "model.dt", "model.bias"]
        .iter()
        .filter_map(|c| t.columns.iter().position(|x| x == c))
        .collect();
    let mut out: std::collections::BTreeMap<(String, String), Vec<f64>> = Default::default();
    for r in &t.rows {
        let model: Vec<String> = key_cols
            .iter()
            .map(|&i| s(&r[i]).trim_matches('"').to_string())
            .collect();
        out.entry((model.join(" "), s(&r[m]).trim_matches('"').to_string()))
            .or_default()
            .push(f(&r[v]));
    }
    out
}

const F1_ERRORS: [&str; 9] = [
    "K core vs autodiff",
    "PKP* vs full NTK",
    "K off-block mass",
    "PP^-1 - I",
    "adjoint J_theta",
    "adjoint K",
    "adjoint P",
    "adjoint P^-1",
    "adjoint NTK_S",
];

#[test]
fn f01_kronecker_core_and_operator_identities_are_exact() {
    let vals = f01_values("f01_kron_exact");
    let models: std::collections::BTreeSet<String> = vals.keys().map(|k| k.0.clone()).collect();
    assert_eq!(models.len(), 9, "{models:?}");
    for a in [
        "leaky-rnn",
        "linear-rnn",
        "rnn",
        "gru",
        "mlp-relu",
        "mlp-residual",
    ] {
        assert!(
            models.iter().any(|m| m.starts_with(&format!("{a} "))),
            "F1 must cover {a}"
        );
    }
    // Every identity error, every model and gain: f64 round-off of products of O(1) matrices
    // (n = 960); ≤ 1e-10 leaves a margin of 10⁵ over the largest seen (3.2e-15).
    let mut count = 0;
    for ((model, meas), xs) in &vals {
        if F1_ERRORS.contains(&meas.as_str()) {
            assert_eq!(xs.len(), 3);
            count += 3;
            for &x in xs {
                assert!((0.0..=1e-10).contains(&x), "{model}: {meas} = {x}");
            }
        }
    }
    assert_eq!(count, 9 * 9 * 3);
    // Weight-based cells (leaky, linear): K = dt² G ⊗ I exactly — equal blocks, ‖K‖ = dt²√H‖G‖,
    // temporal PR = PR(G), spatial PR = H, and the core is aligned with G (v_exact) but not with
    // kpflow's [z_t; x_t] Gram.
    for model in models
        .iter()
        .filter(|m| m.starts_with("leaky") || m.starts_with("linear"))
    {
        let get = |meas: &str| &vals[&(model.clone(), meas.to_string())];
        for (i, &kt) in get("K time rank").iter().enumerate() {
            let pg = get("PR(G)")[i];
            assert!(
                (kt - pg).abs() < 1e-9 * pg,
                "{model}: K time rank {kt} vs PR(G) {pg}"
            );
            assert!(
                (get("K space rank")[i] - 16.0).abs() < 1e-9,
                "{model}: space rank"
            );
            assert!(get("K block spread")[i] < 1e-12, "{model}: block spread");
            assert!(
                (get("norm ratio")[i] - 1.0).abs() < 1e-12,
                "{model}: norm ratio"
            );
            assert!(
                (get("core alignment (v_exact)")[i] - 1.0).abs() < 1e-12,
                "{model}"
            );
            assert!(
                get("core alignment (v_kpflow)")[i] < 0.99,
                "{model}: v_kpflow"
            );
        }
    }
    // nn.RNN and GRU: the D factors make K's blocks differ and move the PR off PR(G).
    for model in models
        .iter()
        .filter(|m| m.starts_with("rnn") || m.starts_with("gru"))
    {
        let spread = &vals[&(model.clone(), "K block spread".to_string())];
        assert!(spread.iter().all(|&x| x > 0.1), "{model}: {spread:?}");
    }
    // Attention toy: fine-grained K and P K Pᵀ against dense 4-point finite differences (h = 1e-3,
    // error budget ~1e-12; NOTES.md), adjoint defect at round-off.
    let att = f01_values("f01_kron_exact_attention");
    assert_eq!(att.len(), 3);
    for ((_, meas), xs) in &att {
        assert_eq!(xs.len(), 2, "{meas}: heads 1 and 2");
        let tol = if meas.starts_with("adjoint") {
            1e-14
        } else {
            1e-10
        };
        assert!(
            xs.iter().all(|&x| (0.0..tol).contains(&x)),
            "{meas}: {xs:?}"
        );
    }
    // Randomized part (H = 64, memory-pro 20 x 90, Hutch++ with 100 matvecs): the relative
    // difference estimates and adjoint defects are also at round-off.
    let rnd = f01_values("f01_kron_exact_randomized");
    assert_eq!(rnd.len(), 3 * 7);
    for ((model, meas), xs) in &rnd {
        for &x in xs {
            assert!((0.0..=1e-10).contains(&x), "{model}: {meas} = {x}");
        }
    }
}

/// Eigenvalues of one measure (rows in index order) → modes needed for 95 % of the total.
fn modes_to_95(t: &Table, operator: &str) -> (usize, usize) {
    let (op, v) = (col(t, "operator"), col(t, "value"));
    let vals: Vec<f64> = t
        .rows
        .iter()
        .filter(|r| s(&r[op]) == operator)
        .map(|r| f(&r[v]))
        .collect();
    let total: f64 = vals.iter().sum();
    let mut acc = 0.0;
    for (i, x) in vals.iter().enumerate() {
        acc += x;
        if acc >= 0.95 * total {
            return (i + 1, vals.len());
        }
    }
    (vals.len(), vals.len())
}

#[test]
fn f02_ntk_follows_the_site_gram_and_p_is_high_rank() {
    // Panel b (memory-pro): V and NTK_S saturate within 10 modes, P P* needs most of its dimension.
    let b = table("f02_skree_mempro");
    let (v, n) = modes_to_95(&b, "gram");
    let (k, _) = modes_to_95(&b, "ntk");
    let (p, _) = modes_to_95(&b, "pp_star");
    assert!(v <= 10 && k <= 10, "V {v}, NTK {k}");
    assert!(p > n / 2, "P P* {p} of {n}");
    // Panel a (low-rank forecast, H = 64): the ordering holds but the "≲ 10" does not (NOTES.md):
    // V and NTK_S need tens of modes, P P* hundreds.
    let a = table("f02_skree_forecast");
    let ((v, n), (k, _), (p, _)) = (
        modes_to_95(&a, "gram"),
        modes_to_95(&a, "ntk"),
        modes_to_95(&a, "pp_star"),
    );
    assert!(
        v < k && k < 40 && p > 10 * k && p > n / 2,
        "V {v}, NTK {k}, P {p} of {n}"
    );
}

#[test]
fn f03_planted_fixed_points_localise_the_temporal_modes() {
    // Participation ratio over trials of each mode's energy: spread for 0 planted points, localised
    // for 30 (NOTES.md: 19.9/13.5/13.0 vs 2.0/1.2/1.1 of 20).
    let t = table("f03_core_modes");
    let (fp, st, idx, v, trial) = (
        col(&t, "model.fixed_points"),
        col(&t, "statistic"),
        col(&t, "index"),
        col(&t, "value"),
        col(&t, "trial"),
    );
    let pr = |nfps: f64, mode: i64| {
        let mut e = std::collections::BTreeMap::<i64, f64>::new();
        for r in t
            .rows
            .iter()
            .filter(|r| f(&r[fp]) == nfps && s(&r[st]).trim_matches('"') == "temporal_modes")
        {
            if let (Cell::I(Some(m)), Cell::I(Some(b))) = (&r[idx], &r[trial])
                && *m == mode
            {
                *e.entry(*b).or_default() += f(&r[v]).powi(2);
            }
        }
        let tot: f64 = e.values().sum();
        tot * tot / e.values().map(|x| x * x).sum::<f64>()
    };
    for mode in 0..3 {
        let (p0, p30) = (pr(0.0, mode), pr(30.0, mode));
        assert!(
            p0 > 10.0 && p30 < 4.0,
            "mode {mode}: trial PR {p0} (0 FPs) vs {p30} (30 FPs)"
        );
    }
}

/// Rows of one measure as (sweep value of `key`, index, value), sorted.
fn by_key(t: &Table, key: &str, measure: &str) -> Vec<(f64, i64, f64)> {
    let (k, m, i, v) = (
        col(t, key),
        col(t, "measure"),
        col(t, "index"),
        col(t, "value"),
    );
    let mut out: Vec<(f64, i64, f64)> = t
        .rows
        .iter()
        .filter(|r| s(&r[m]).trim_matches('"') == measure)
        .map(|r| {
            let idx = match &r[i] {
                Cell::I(Some(x)) => *x,
                other => panic!("index {other}"),
            };
            (f(&r[k]), idx, f(&r[v]))
        })
        .collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    out
}

#[test]
fn f08_filter_is_long_near_gain_one_and_short_far_from_it() {
    let t = table("f08_filter");
    let rows = by_key(&t, "model.gain", "w_t");
    for g in [0.1, 0.9, 1.1, 2.0] {
        let w: Vec<(i64, f64)> = rows
            .iter()
            .filter(|r| r.0 == g)
            .map(|r| (r.1, r.2))
            .collect();
        assert_eq!(w.len(), 19, "t = 1..19 for g = {g}");
        // The closed form (PAPER §12.3 F8), recomputed independently, to 1e-12.
        for &(tt, wt) in &w {
            let tt = tt as i32;
            let closed = g.powi(tt) * (1.0 - g.powi(2 * (20 - tt))) / (1.0 - g * g);
            assert!((wt - closed).abs() <= 1e-12 * closed, "g {g} t {tt}");
        }
        assert!((w[18].1 - g.powi(19)).abs() <= 1e-15 * g.powi(19));
        // Geometric decay with ratio ≈ g (g < 1) or 1/g (g > 1) at early t (within 2 %: the
        // finite-horizon factor (1 − g^{±2(T−t)}) is ≥ 0.95 there).
        let ratio = if g < 1.0 { g } else { 1.0 / g };
        for k in 0..5 {
            let r = w[k + 1].1 / w[k].1;
            assert!(
                (r / ratio - 1.0).abs() < 0.02,
                "g {g}: ratio {r} vs {ratio}"
            );
        }
        // Long memory near g = 1, short far from it: w_19 / w_1.
        let span = w[18].1 / w[0].1;
        if (g - 1.0f64).abs() < 0.5 {
            assert!(span > 1e-2, "g {g}: span {span}");
        } else {
            assert!(span < 1e-5, "g {g}: span {span}");
        }
    }
    assert_eq!(
        rows.iter().find(|r| r.0 == 2.0 && r.1 == 19).unwrap().2,
        524_288.0
    );
}

/// Per-g medians over seeds of each measure: measure → [(g, median)].
fn medians_over_seeds(t: &Table) -> std::collections::BTreeMap<String, Vec<(f64, f64)>> {
    let (g, m, v) = (col(t, "model.gain"), col(t, "measure"), col(t, "value"));
    let mut acc: std::collections::BTreeMap<(String, u64), Vec<f64>> = Default::default();
    for r in &t.rows {
        acc.entry((s(&r[m]).trim_matches('"').to_string(), f(&r[g]).to_bits()))
            .or_default()
            .push(f(&r[v]));
    }
    let mut out: std::collections::BTreeMap<String, Vec<(f64, f64)>> = Default::default();
    for ((name, gb), mut xs) in acc {
        xs.sort_by(f64::total_cmp);
        let n = xs.len();
        let med = if n % 2 == 1 {
            xs[n / 2]
        } else {
            0.5 * (xs[n / 2 - 1] + xs[n / 2])
        };
        out.entry(name).or_default().push((f64::from_bits(gb), med));
    }
    for v in out.values_mut() {
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    out
}

/// F5 claims on one model: the spatial rank starts near H and collapses below H/4 for every g from
/// `collapse_from` on; in the ordered regime (g ≤ `ordered_max`) the temporal ranks stay within
/// 15 % of the (h,x) activity dimension (the randomized compressed-PR estimate with 100 probes of a
/// 600-dimensional operator measured within 5 % of its exact value; 3x that margin). Returns the
/// largest ratio temporal/activity seen beyond the ordered regime (reported, not asserted).
fn f05_check(name: &str, collapse_from: f64, ordered_max: f64) -> f64 {
    let t = table(name);
    let h = 64.0;
    let med = medians_over_seeds(&t);
    let space = &med["operator hidden rank"];
    assert!(
        space[0].1 > 0.95 * h,
        "{name}: spatial rank at g = 0: {}",
        space[0].1
    );
    for &(g, r) in space.iter().filter(|q| q.0 >= collapse_from) {
        assert!(
            r < h / 4.0,
            "{name}: spatial rank {r} at g = {g} not collapsed"
        );
    }
    for &(g, r) in space.iter().filter(|q| q.0 < collapse_from - 1e-9) {
        assert!(
            r > h / 4.0,
            "{name}: spatial rank {r} at g = {g} collapsed early"
        );
    }
    let (v, m, gc) = (col(&t, "value"), col(&t, "measure"), col(&t, "model.gain"));
    let seedc = col(&t, "experiment.seed");
    let lookup = |meas: &str, g: f64, seed: &str| {
        t.rows
            .iter()
            .find(|r| s(&r[m]).trim_matches('"') == meas && f(&r[gc]) == g && s(&r[seedc]) == seed)
            .map(|r| f(&r[v]))
            .unwrap()
    };
    let mut worst_beyond: f64 = 0.0;
    for r in t
        .rows
        .iter()
        .filter(|r| s(&r[m]).trim_matches('"') == "time + trials rank")
    {
        let (g, seed) = (f(&r[gc]), s(&r[seedc]));
        let act = lookup("(h,x) activity dim", g, &seed);
        for meas in ["time + trials rank", "time + trials rank (textbook)"] {
            let ratio = lookup(meas, g, &seed) / act;
            if g <= ordered_max {
                assert!(
                    ratio < 1.15,
                    "{name}: {meas} / activity = {ratio} at g = {g}"
                );
            } else if meas == "time + trials rank" {
                worst_beyond = worst_beyond.max(ratio);
            }
        }
    }
    worst_beyond
}

#[test]
fn f05_spatial_rank_collapses_and_temporal_rank_follows_activity_when_ordered() {
    // nn.RNN: collapse below H/4 from g = 4/3 (ρ(W_hh) ≈ 0.86); ordered regime g ≤ 1.
    let rnn = f05_check("f05_ranks_vs_g_rnn", 1.3, 1.0);
    // GRU: collapse from g = 10/3; ordered regime g ≤ 10/3.
    let gru = f05_check("f05_ranks_vs_g_gru", 3.3, 3.4);
    // Beyond the ordered regime the compressed temporal rank exceeds the activity dimension
    // (NOTES.md states this disagreement): 3.4x for the RNN at g = 2, 1.2x for the GRU.
    assert!(rnn > 2.0, "{rnn}");
    assert!(gru > 1.0, "{gru}");
}

#[test]
fn f06_space_bias_tracks_the_resolvent_theory() {
    let t = table("f06_space_bottleneck");
    let (m, v, gc, sc) = (
        col(&t, "measure"),
        col(&t, "value"),
        col(&t, "model.gain"),
        col(&t, "experiment.seed"),
    );
    let get = |meas: &str, g: f64, seed: &str| {
        t.rows
            .iter()
            .find(|r| s(&r[m]).trim_matches('"') == meas && f(&r[gc]) == g && s(&r[sc]) == seed)
            .map(|r| f(&r[v]))
            .unwrap_or_else(|| panic!("{meas} at {g} {seed}"))
    };
    let mut points: Vec<(f64, String)> = t
        .rows
        .iter()
        .filter(|r| s(&r[m]).trim_matches('"') == "max state norm")
        .map(|r| (f(&r[gc]), s(&r[sc])))
        .collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    assert_eq!(points.len(), 30);
    let theory = "theory: 1 - PR(R R^T)/H, R = (I - W_hh)^-1";
    let (mut stable_time, mut n_unstable) = (Vec::new(), 0);
    for (g, seed) in &points {
        let rho = get("spectral radius of W_hh", *g, seed);
        let space = get("space bias (NTK_S)", *g, seed);
        let time = get("time bias (NTK_S)", *g, seed);
        // Both sides are exact (H-probe compression, SVD of I − W): the tolerance is the size of
        // the model gap the claim allows, 0.05 of the unit bias scale; measured max 0.04.
        if rho < 1.0 {
            let th = get(theory, *g, seed);
            assert!(
                (space - th).abs() < 0.05,
                "g {g}: space {space} vs theory {th}"
            );
            stable_time.push(time);
        } else {
            n_unstable += 1;
            assert!(space > 0.88, "g {g}: space bias {space} at ρ = {rho}");
            assert!(time > 0.95, "g {g}: time bias {time} at ρ = {rho}");
        }
    }
    assert!(n_unstable >= 8);
    // The temporal bias is flat (set by the input) while ρ < 1: range ≤ 0.1 around ≈ 0.83.
    let (lo, hi) = stable_time
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |a, &x| {
            (a.0.min(x), a.1.max(x))
        });
    assert!(hi - lo < 0.1 && lo > 0.75, "time bias range [{lo}, {hi}]");
    // Near g = 0 there is no bottleneck: β_space ≈ 0.
    assert!(get("space bias (NTK_S)", points[0].0, &points[0].1).abs() < 1e-9);
}

/// The (x, y) grid of one measure as values[j][i], with sorted axes.
fn grid_of(t: &Table, measure: &str, x: &str, y: &str) -> (Vec<f64>, Vec<f64>, Vec<Vec<f64>>) {
    let (xi, yi, m, v) = (col(t, x), col(t, y), col(t, "measure"), col(t, "value"));
    let num = |c: &Cell| match c {
        Cell::F(Some(v)) => *v,
        Cell::I(Some(v)) => *v as f64,
        other => panic!("{other}"),
    };
    let cells: Vec<(f64, f64, f64)> = t
        .rows
        .iter()
        .filter(|r| s(&r[m]).trim_matches('"') == measure)
        .map(|r| (num(&r[xi]), num(&r[yi]), f(&r[v])))
        .collect();
    let mut xs: Vec<f64> = cells.iter().map(|c| c.0).collect();
    let mut ys: Vec<f64> = cells.iter().map(|c| c.1).collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    ys.sort_by(f64::total_cmp);
    ys.dedup();
    let mut g = vec![vec![f64::NAN; xs.len()]; ys.len()];
    for (a, b, val) in cells {
        let i = xs.iter().position(|q| *q == a).unwrap();
        let j = ys.iter().position(|q| *q == b).unwrap();
        g[j][i] = val;
    }
    assert!(
        g.iter().flatten().all(|v| v.is_finite()),
        "{measure}: full grid"
    );
    (xs, ys, g)
}

/// Cell counts of the four regions after smoothing by `sigma` cells and thresholding at 30.
fn region_counts(space: &[Vec<f64>], time: &[Vec<f64>], sigma: f64) -> [usize; 4] {
    use gentk_pipeline::plot::{gaussian_smooth, region};
    let (a, b) = (gaussian_smooth(space, sigma), gaussian_smooth(time, sigma));
    let mut n = [0; 4];
    for (ra, rb) in a.iter().zip(&b) {
        for (&x, &y) in ra.iter().zip(rb) {
            n[region(x, y, 30.0)] += 1;
        }
    }
    n
}

#[test]
fn f07_four_dynamical_regions_exist() {
    // Surrogates, 30 x 30.
    let t = table("f07_phase_diagram");
    let (gs, ds, space) = grid_of(
        &t,
        "spatial rank (Gaussian W surrogate)",
        "model.gain",
        "task.D_inp",
    );
    let (_, _, time) = grid_of(
        &t,
        "temporal rank (activity PR)",
        "model.gain",
        "task.D_inp",
    );
    assert_eq!((gs.len(), ds.len()), (30, 30));
    // Spatial: high at small g, collapsed in the band past g ≈ 1 (the Gaussian W has ρ = g),
    // for every D_inp.
    for row in &space {
        for (i, &v) in row.iter().enumerate() {
            if gs[i] <= 0.42 {
                assert!(v > 150.0, "g {}: {v}", gs[i]);
            }
            if gs[i] >= 1.0 {
                assert!(v < 10.0, "g {}: {v}", gs[i]);
            }
        }
    }
    // Temporal: rises with D_inp (monotone up to 5 % noise while g ≤ 1.25; at larger g the chaotic
    // activity makes single cells noisy, so only the end-to-end rise is checked there) and with g.
    for i in 0..gs.len() {
        for j in 1..ds.len() {
            if gs[i] <= 1.25 {
                assert!(
                    time[j][i] > 0.95 * time[j - 1][i],
                    "g {} D {}",
                    gs[i],
                    ds[j]
                );
            }
        }
        assert!(time[29][i] > 10.0 * time[0][i], "g {}", gs[i]);
    }
    assert!(time[29][29] > time[29][0]);
    let n = region_counts(&space, &time, 1.5);
    for (k, &c) in n.iter().enumerate() {
        assert!(
            c >= 27,
            "surrogate region {k} covers only {c} of 900 cells: {n:?}"
        );
    }
    // The true NTK ranks on the 8 x 8 grid (H = 64) also show all four regions.
    let t = table("f07_phase_diagram_ntk");
    let (_, _, space) = grid_of(&t, "NTK spatial rank", "model.gain", "task.D_inp");
    let (_, _, time) = grid_of(&t, "NTK temporal rank", "model.gain", "task.D_inp");
    let n = region_counts(&space, &time, 0.4);
    assert!(n.iter().all(|&c| c >= 2), "NTK regions {n:?}");
}

/// Mode components of a single-point temporal-modes table: mode → trial → values over steps.
fn modes_of(
    name: &str,
) -> std::collections::BTreeMap<i64, std::collections::BTreeMap<i64, Vec<f64>>> {
    let t = table(name);
    let (st, idx, v, trial, step) = (
        col(&t, "statistic"),
        col(&t, "index"),
        col(&t, "value"),
        col(&t, "trial"),
        col(&t, "step"),
    );
    let mut out: std::collections::BTreeMap<i64, std::collections::BTreeMap<i64, Vec<(i64, f64)>>> =
        Default::default();
    for r in t
        .rows
        .iter()
        .filter(|r| s(&r[st]).trim_matches('"') == "temporal_modes")
    {
        if let (Cell::I(Some(m)), Cell::I(Some(b)), Cell::I(Some(k))) =
            (&r[idx], &r[trial], &r[step])
        {
            out.entry(*m)
                .or_default()
                .entry(*b)
                .or_default()
                .push((*k, f(&r[v])));
        }
    }
    out.into_iter()
        .map(|(m, trials)| {
            let trials = trials
                .into_iter()
                .map(|(b, mut xs)| {
                    xs.sort_by_key(|q| q.0);
                    (b, xs.into_iter().map(|q| q.1).collect())
                })
                .collect();
            (m, trials)
        })
        .collect()
}

#[test]
fn f03b_temporal_modes_follow_the_task_epochs() {
    let modes = modes_of("f03_core_modes_b");
    assert_eq!(modes.len(), 4);
    for (m, trials) in &modes {
        assert_eq!(trials.len(), 30);
        // Unit eigenvectors (to the Lanczos/orthonormalisation precision).
        let norm2: f64 = trials.values().flatten().map(|x| x * x).sum();
        assert!((norm2 - 1.0).abs() < 1e-8, "mode {m}: |u|² = {norm2}");
        // Epoch structure: the curves change in the transients after the epoch starts (t = 0, 30,
        // 60; 12 steps each) and are flat in between. NOTES.md: ≥ 97 % of the total variation.
        let (mut inside, mut total) = (0.0, 0.0);
        for u in trials.values() {
            for k in 1..u.len() {
                let d = (u[k] - u[k - 1]).abs();
                total += d;
                if k <= 12 || (30..=42).contains(&k) || (60..=72).contains(&k) {
                    inside += d;
                }
            }
        }
        assert!(
            inside / total > 0.97,
            "mode {m}: {:.3} of the variation in epoch transients",
            inside / total
        );
    }
}

#[test]
fn f03c_leading_forecast_mode_is_shared_by_all_trials() {
    let modes = modes_of("f03_core_modes_c");
    assert_eq!(modes.len(), 4);
    // Mode 1 is one sign on (nearly) every component: a trial-wide temporal mode; the others are not.
    let positive = |m: i64| {
        let xs: Vec<f64> = modes[&m].values().flatten().copied().collect();
        xs.iter().filter(|&&x| x > 0.0).count() as f64 / xs.len() as f64
    };
    assert!(positive(0) > 0.95, "mode 1: {}", positive(0));
    for m in 1..4 {
        assert!(positive(m) < 0.8, "mode {}: {}", m + 1, positive(m));
    }
}

#[test]
fn every_figure_spec_has_current_committed_results_and_notes() {
    // A spec edited without rerunning `reproduce-all` (or results without NOTES) fails here.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut specs: Vec<_> = std::fs::read_dir(root.join("experiments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    specs.sort();
    assert!(specs.len() >= 13, "{specs:?}");
    for p in specs {
        let sf = gentk_spec::load(&p).unwrap();
        let name = &sf.spec.experiment.name;
        // Both presets resolve and validate at every point (the full preset never runs in CI).
        for preset in ["cpu", "full"] {
            let plan = gentk_spec::resolve(&sf, preset)
                .unwrap_or_else(|e| panic!("{name} --preset {preset}: {e}"));
            assert!(!plan.points.is_empty());
        }
        assert_eq!(
            p.file_stem().unwrap().to_str().unwrap(),
            name,
            "results/<name> must match the spec's file name"
        );
        assert!(
            gentk_pipeline::runner::is_current(&sf, &root.join("results")),
            "results/{name} is stale: run `gentk reproduce-all`"
        );
        let dir = root.join("results").join(name);
        assert!(
            dir.join("NOTES.md").is_file(),
            "results/{name}/NOTES.md missing"
        );
        for plot in &sf.spec.plots {
            for ext in ["png", "svg"] {
                assert!(
                    dir.join(format!("{}.{ext}", plot.file)).is_file(),
                    "{name}: {}.{ext}",
                    plot.file
                );
            }
        }
        assert!(!table(name).rows.is_empty(), "{name}: empty table");
        // The folder holds exactly what a run writes (and the hand-written notes).
        let mut expected: Vec<String> = ["NOTES.md", "manifest.toml", "table.parquet"]
            .iter()
            .map(|s| s.to_string())
            .chain(
                sf.spec
                    .plots
                    .iter()
                    .flat_map(|p| [format!("{}.png", p.file), format!("{}.svg", p.file)]),
            )
            .chain((!sf.spec.claims.is_empty()).then(|| "claims.toml".to_string()))
            .collect();
        expected.sort();
        let mut present: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        present.sort();
        assert_eq!(
            present, expected,
            "results/{name} holds files the runner did not write"
        );
    }
    assert!(
        root.join("results/README.md").is_file(),
        "the gallery is missing"
    );
}

/// Every `[[claim]]` of every figure spec holds on its committed table (what `gentk check` runs),
/// and every figure spec makes at least one.
#[test]
fn every_spec_claim_holds_on_the_committed_tables() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut n = 0;
    for e in std::fs::read_dir(root.join("experiments")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_none_or(|x| x != "toml") {
            continue;
        }
        let sf = gentk_spec::load(&p).unwrap();
        let name = &sf.spec.experiment.name;
        assert!(!sf.spec.claims.is_empty(), "{name} makes no [[claim]]");
        for r in gentk_pipeline::claims::evaluate_all(&sf.spec.claims, &table(name)) {
            assert!(r.holds, "{name}: {r}");
            n += 1;
        }
    }
    assert!(n >= 40, "{n} claims");
}

/// A planted change of one table value makes the claim that reads it fail, and the failure names
/// the sentence and both numbers.
#[test]
fn a_planted_change_makes_its_claim_fail_with_both_numbers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let sf = gentk_spec::load(&root.join("experiments/f08_filter.toml")).unwrap();
    let mut t = table("f08_filter");
    let before = gentk_pipeline::claims::evaluate_all(&sf.spec.claims, &t);
    assert!(before.iter().all(|r| r.holds));
    // w_19 at g = 2 (closed form 2^19) nudged by one part in a million.
    let (g, i, v) = (col(&t, "model.gain"), col(&t, "index"), col(&t, "value"));
    let row = t
        .rows
        .iter_mut()
        .find(|r| s(&r[g]) == "2" && s(&r[i]) == "19")
        .unwrap();
    row[v] = Cell::F(Some(524_288.5));
    let after = gentk_pipeline::claims::evaluate_all(&sf.spec.claims, &t);
    let failed: Vec<String> = after
        .iter()
        .filter(|r| !r.holds)
        .map(|r| r.to_string())
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        failed[0].contains("w_19 = g^19")
            && failed[0].contains("524288.5")
            && failed[0].contains("524288"),
        "{}",
        failed[0]
    );
}
