//! The committed figure results (results/): every spec's claims hold on its table (the claims
//! themselves, with their tolerances, live in the specs as `[[claim]]`s), folders hold exactly
//! what the runner writes, and the one figure check the claim language cannot express (F7's
//! region counts, which depend on the chart code's smoothing) is here.

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
    // Surrogates, 30 x 30 (their ranks are claims in the spec; the regions need the smoothing).
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
        // NOTES.md is written by the runner from the spec's notes: what is committed is what the
        // spec and the committed table produce now.
        let claims = gentk_pipeline::claims::evaluate_all(&sf.spec.claims, &table(name));
        let want = gentk_pipeline::notes::markdown(&sf.spec, "cpu", &claims).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("NOTES.md")).unwrap(),
            want,
            "results/{name}/NOTES.md is not what the spec's notes and claims give"
        );
        assert!(
            sf.spec.experiment.notes.contains("**What the table shows"),
            "{name}: the notes say what the table shows"
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
        // The folder holds exactly what a run writes.
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
        // The wall times, when the manifest lists them (charts drawn from them are plots above).
        let manifest = gentk_pipeline::manifest::read(&dir.join("manifest.toml")).unwrap();
        expected.extend(
            manifest
                .nondeterministic
                .into_iter()
                .filter(|f| f.ends_with(".parquet")),
        );
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
    // The aggregate claim on w_19 and the SQL claim on the closed form both read the cell.
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(
        failed[0].contains("w_19 = g^19")
            && failed[0].contains("524288.5")
            && failed[0].contains("524288"),
        "{}",
        failed[0]
    );
    assert!(
        failed[1].contains("closed form") && failed[1].contains("9.5367"),
        "the SQL claim names its sentence and the relative error 0.5/524288.5: {}",
        failed[1]
    );
    // Regenerated notes quote the planted number (to 3 digits in the prose, in full in the claims
    // list) and mark the failure.
    let md = gentk_pipeline::notes::markdown(&sf.spec, "cpu", &after).unwrap();
    assert!(
        md.contains("w_19 = 2^19 = 5.24e5")
            && md.contains("| ❌ | For g > 1 ")
            && md.contains("| 524288.5 |"),
        "{md}"
    );
}
