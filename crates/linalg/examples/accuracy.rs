//! Estimator accuracy table: budget → mean relative error over 10 seeds, on operators of dimension
//! 10,000 with known spectra. Prints Markdown.
//!
//! `cargo run --release -p gentk-linalg --example accuracy`

use gentk_linalg::testing::{Profile, eigenvalues, random_orthonormal};
use gentk_linalg::trace::*;
use gentk_linalg::{ProbeKind, Spectral};

fn main() -> Result<(), gentk_linalg::LinalgError> {
    let d = 10_000;
    let seeds = 10u64;
    let budgets = [12usize, 48, 192, 768];
    let cases = [
        (
            "decaying λ_i = 1/i, rank 1000",
            Profile::Decaying(1.0),
            1000usize,
        ),
        ("flat, rank 100", Profile::LowRank, 100),
        ("flat, rank 1000", Profile::LowRank, 1000),
    ];
    println!(
        "# gentk-linalg estimator accuracy (d = {d}, mean |relative error| over {seeds} seeds)\n"
    );
    for (name, profile, rank) in cases {
        let u = random_orthonormal(d, rank, 1);
        let lam = eigenvalues(profile, rank);
        let a = Spectral::new(u.clone(), lam.clone())?;
        // J with J Jᵀ = A for the one-sided estimators.
        let j = Spectral::new(u, lam.iter().map(|l| l.sqrt()).collect())?;
        let truth: f64 = lam.iter().sum();
        println!("## {name} (tr = {truth:.4})\n");
        print!("| estimator |");
        budgets.iter().for_each(|m| print!(" m = {m} |"));
        println!();
        print!("|---|");
        budgets.iter().for_each(|_| print!("---|"));
        println!();
        type Est<'a> = Box<dyn Fn(usize, u64) -> f64 + 'a>;
        let rows: Vec<(&str, Est)> = vec![
            (
                "Hutchinson (Rademacher)",
                Box::new(|m, s| hutchinson(&a, m, s, ProbeKind::Rademacher).unwrap().value),
            ),
            (
                "Hutch++ (library, 1/k)",
                Box::new(|m, s| hutchpp(&a, m, s, HutchppSplit::Library).unwrap().value),
            ),
            (
                "Hutch++ (trace-paper)",
                Box::new(|m, s| hutchpp(&a, m, s, HutchppSplit::TracePaper).unwrap().value),
            ),
            (
                "NA-Hutch++",
                Box::new(|m, s| na_hutchpp(&a, m, s).unwrap().value),
            ),
            ("XTrace", Box::new(|m, s| xtrace(&a, m, s).unwrap().value)),
            (
                "XNysTrace",
                Box::new(|m, s| xnystrace(&a, m, s).unwrap().value),
            ),
            (
                "FHutch (J only)",
                Box::new(|m, s| fhutch(&j, m, s).unwrap().value),
            ),
        ];
        for (label, f) in rows {
            print!("| {label} |");
            for &m in &budgets {
                let err = (0..seeds)
                    .map(|s| (f(m, s) - truth).abs() / truth)
                    .sum::<f64>()
                    / seeds as f64;
                print!(" {err:.2e} |");
            }
            println!();
        }
        println!();
    }
    Ok(())
}
