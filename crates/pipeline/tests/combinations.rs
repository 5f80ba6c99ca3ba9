//! Every operator × statistic × estimator combination, on every kind of model (a recurrent cell, an
//! MLP, the attention block, and a trained recurrent cell): each is either refused by validation
//! with a located error, or computed without error. A combination that validation accepts and the
//! runner cannot compute — a runtime failure after validation passed — fails this test.

use std::path::PathBuf;

use gentk_pipeline::measure::compute_point;
use gentk_spec::{Estimator, Operator, Statistic, load, resolve};

const TRAIN: &str = "\n[train]\noptimizer = \"sgd\"\nlr = 0.05\niterations = 2\nbatch_size = 2\ndataset_size = 4\nmeasure_at = [0, 2]\n";

fn spec(model: &str, op: Operator, st: Statistic, est: Estimator, train: bool) -> String {
    format!(
        r#"[experiment]
name = "combo"
seed = 3

[model]
{model}

[task]
kind = "low_rank_forecast"
n_samples = 2
T = 4
D_inp = 2
D_targ = 2
batch = 2

[[measure]]
name = "m"
operator = "{op}"
statistic = "{st}"
estimator = "{est}"
budget = 12
k = 2
{}"#,
        if train { TRAIN } else { "" }
    )
}

#[test]
fn every_combination_is_computed_or_refused_up_front() {
    let dir = std::env::temp_dir().join(format!("gentk-combos-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let models = [
        ("rnn", "arch = \"rnn\"\nhidden = 4", false),
        ("leaky", "arch = \"leaky-rnn\"\nhidden = 4\ndt = 0.5", false),
        ("mlp", "arch = \"mlp-relu\"\nhidden = 4\ndepth = 3", false),
        ("attention", "arch = \"attention\"\nhidden = 4", false),
        ("trained gru", "arch = \"gru\"\nhidden = 4", true),
    ];
    let (mut computed, mut refused) = (0usize, 0usize);
    let mut failures = Vec::new();
    for (label, model, train) in models {
        for &op in Operator::ALL {
            for &st in Statistic::ALL {
                for &est in Estimator::ALL {
                    let path: PathBuf = dir.join("combo.toml");
                    std::fs::write(&path, spec(model, op, st, est, train)).unwrap();
                    let sf = load(&path).unwrap();
                    match resolve(&sf, "cpu") {
                        Err(e) => {
                            let msg = e.to_string();
                            let loc = format!("{}:", path.display());
                            // file:line:column: — a located refusal.
                            let located = msg.strip_prefix(&loc).is_some_and(|rest| {
                                let mut it = rest.splitn(3, ':');
                                matches!((it.next(), it.next()), (Some(l), Some(c))
                                    if l.parse::<usize>().is_ok() && c.parse::<usize>().is_ok())
                            });
                            if !located {
                                failures.push(format!("{label} {op} {st} {est}: unlocated: {msg}"));
                            }
                            refused += 1;
                        }
                        Ok(plan) => {
                            for pp in &plan.points {
                                match compute_point(&pp.spec, &pp.task, 7, None) {
                                    Ok(out) if !out.rows.is_empty() => {}
                                    Ok(_) => {
                                        failures.push(format!("{label} {op} {st} {est}: no rows"))
                                    }
                                    Err(e) => failures.push(format!(
                                        "{label} {op} {st} {est}: accepted but failed: {e}"
                                    )),
                                }
                            }
                            computed += 1;
                        }
                    }
                }
            }
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Not vacuous: both sides are populated.
    assert!(
        computed > 300 && refused > 2000,
        "computed {computed}, refused {refused}"
    );
    eprintln!("{computed} combinations computed, {refused} refused at validation");
}
