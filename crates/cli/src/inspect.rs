//! `gentk inspect`: K, NTK_S and P statistics of a recurrent model saved from PyTorch
//! (`safetensors.torch.save_file(model.state_dict(), ...)`), on inputs saved the same way.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use gentk_linalg::trace::{direct_one_sided, fhutch};
use gentk_models::{Arch, ModelError, load_model, read_state_dict};
use gentk_ntk::GlobalNtk;
use gentk_ntk::analysis::{EXACT_LIMIT, OperatorStats, Uncertainty, exact_stats, randomized_stats};
use serde_json::{Value, json};

/// The options of `gentk inspect`.
#[derive(Debug, Clone, clap::Args)]
pub struct InspectArgs {
    /// Architecture of the saved model.
    #[arg(long, value_parser = ["leaky-rnn", "rnn", "gru"])]
    pub arch: String,
    /// state_dict of the model as safetensors (`rnn.weight_ih_l0`, `rnn.weight_hh_l0`, optional
    /// biases and `Wout.weight`/`Wout.bias`; f32 or f64).
    #[arg(long)]
    pub weights: PathBuf,
    /// Inputs as safetensors: tensor `inputs` [B, T, I], optional `h0` [B, H].
    #[arg(long)]
    pub inputs: PathBuf,
    /// Euler step of the leaky RNN.
    #[arg(long, default_value_t = 1.0)]
    pub dt: f64,
    /// Compute densely and exactly (refused above a state dimension of 4096).
    #[arg(long, conflicts_with_all = ["matvecs", "seed"])]
    pub exact: bool,
    /// Matvec budget per randomized statistic.
    #[arg(long, default_value_t = 100)]
    pub matvecs: usize,
    /// Probe seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Number of top eigenvalues.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Precision of P, K and NTK_S: `f32` runs their data and GEMMs in single precision (about
    /// twice the GEMM rate) with f64 inputs, outputs and reductions; J_θ stays f64.
    #[arg(long, default_value = "f64", value_parser = ["f64", "f32"])]
    pub precision: String,
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Runs the command and returns the report (JSON value) — printing is the caller's.
pub fn inspect(a: &InspectArgs) -> Result<Value> {
    let arch = match a.arch.as_str() {
        "leaky-rnn" => {
            if !(a.dt > 0.0 && a.dt <= 1.0) {
                bail!("--dt must lie in (0, 1], got {}", a.dt);
            }
            Arch::LeakyRnn { dt: a.dt }
        }
        "rnn" => Arch::Rnn,
        _ => Arch::Gru,
    };
    if a.matvecs < 6 {
        bail!("--matvecs must be at least 6, got {}", a.matvecs);
    }
    let sd = read_state_dict(&read(&a.weights)?)
        .with_context(|| format!("in weights file {}", a.weights.display()))?;
    let loaded = load_model(&sd, arch)
        .with_context(|| format!("in weights file {}", a.weights.display()))?;
    let model = loaded.model;
    let (h, nx) = (model.hidden_size(), model.input_size());
    let inp = read_state_dict(&read(&a.inputs)?)
        .with_context(|| format!("in inputs file {}", a.inputs.display()))?;
    let ctx = || format!("in inputs file {}", a.inputs.display());
    if let Some(k) = inp.keys().find(|k| *k != "inputs" && *k != "h0") {
        return Err(ModelError::Tensor {
            tensor: k.clone(),
            reason: "unexpected tensor (expected `inputs` and optional `h0`)".into(),
        })
        .with_context(ctx);
    }
    let x = inp
        .get("inputs")
        .ok_or_else(|| ModelError::Tensor {
            tensor: "inputs".into(),
            reason: "missing".into(),
        })
        .with_context(ctx)?;
    let [b, t, i] = x.shape[..] else {
        return Err(ModelError::Tensor {
            tensor: "inputs".into(),
            reason: format!("expected shape [B, T, I], got {:?}", x.shape),
        })
        .with_context(ctx);
    };
    if i != nx {
        return Err(ModelError::Tensor {
            tensor: "inputs".into(),
            reason: format!("has I = {i} features but the model's rnn.weight_ih_l0 expects {nx}"),
        })
        .with_context(ctx);
    }
    if b == 0 || t == 0 {
        return Err(ModelError::Tensor {
            tensor: "inputs".into(),
            reason: "B and T must be ≥ 1".into(),
        })
        .with_context(ctx);
    }
    let h0 = match inp.get("h0") {
        Some(h0) if h0.shape != [b, h] => {
            return Err(ModelError::Tensor {
                tensor: "h0".into(),
                reason: format!("expected shape [{b}, {h}], got {:?}", h0.shape),
            })
            .with_context(ctx);
        }
        Some(h0) => Some(h0.values.clone()),
        None => None,
    };
    let ro = model.rollout(&x.values, b, t, h0.as_deref())?;
    let precision = match a.precision.as_str() {
        "f32" => gentk_linalg::Precision::F32,
        _ => gentk_linalg::Precision::F64,
    };
    let g = GlobalNtk::new(model.as_ref(), &ro).with_precision(precision)?;
    let n = ro.state_dim();
    let mut report = json!({
        "arch": a.arch, "batch": b, "time": t, "hidden": h, "inputs": nx,
        "params": model.params().layout().len(), "exact": a.exact,
        "precision": precision.name(),
    });
    let k = g.k()?;
    let ntk = g.ntk()?;
    if a.exact {
        if n > EXACT_LIMIT {
            bail!(
                "--exact refuses a state dimension B·T·H = {b}·{t}·{h} = {n} above {EXACT_LIMIT} (it would materialise {n} x {n} matrices); use --matvecs M --seed S instead"
            );
        }
        let shape = g.state_shape();
        let km = gentk_linalg::materialize(&k, EXACT_LIMIT)?;
        let nm = gentk_linalg::materialize(&ntk, EXACT_LIMIT)?;
        report["k"] = stats_json(&exact_stats(km.as_ref(), &shape, a.top)?);
        report["ntk"] = stats_json(&exact_stats(nm.as_ref(), &shape, a.top)?);
        report["p"] = json!({ "fro2": direct_one_sided(&g.p())?.value });
    } else {
        let (ks, ku) = randomized_stats(&k, &g.j_theta()?, a.matvecs, a.seed, a.top)?;
        let (ns, nu) = randomized_stats(
            &ntk,
            &g.dz_dtheta()?,
            a.matvecs,
            a.seed.wrapping_add(1000),
            a.top,
        )?;
        let pf = fhutch(&g.p(), a.matvecs, a.seed.wrapping_add(2000))?;
        report["k"] = stats_json(&ks);
        report["ntk"] = stats_json(&ns);
        report["p"] = json!({ "fro2": pf.value });
        report["seed"] = json!(a.seed);
        report["matvecs"] =
            json!({ "k": unc_json(&ku).0, "ntk": unc_json(&nu).0, "p": { "fro2": pf.matvecs } });
        report["stderr"] =
            json!({ "k": unc_json(&ku).1, "ntk": unc_json(&nu).1, "p": { "fro2": pf.stderr } });
    }
    Ok(report)
}

fn stats_json(s: &OperatorStats) -> Value {
    json!({
        "trace": s.trace, "fro2": s.fro2, "eff_rank": s.eff_rank,
        "eff_rank_space": s.eff_rank_space, "eff_rank_time": s.eff_rank_time,
        "eff_rank_space_kp": s.eff_rank_space_kp, "eff_rank_time_kp": s.eff_rank_time_kp,
        "top_eigs": s.top_eigs,
    })
}

fn unc_json(u: &Uncertainty) -> (Value, Value) {
    (json!(u.matvecs), json!(u.stderr))
}

/// The human-readable table.
pub fn table(r: &Value) -> String {
    let mut s = format!(
        "gentk inspect: {} with H = {}, {} inputs, {} parameters on B = {}, T = {} ({})\n\n",
        r["arch"].as_str().unwrap_or("?"),
        r["hidden"],
        r["inputs"],
        r["params"],
        r["batch"],
        r["time"],
        if r["exact"].as_bool() == Some(true) {
            "exact".to_string()
        } else {
            format!("randomized, seed {}", r["seed"])
        }
    );
    if r["precision"].as_str() == Some("f32") {
        s.push_str("operators P, K, NTK_S in f32 (f64 reductions)\n\n");
    }
    let rows = [
        ("trace", "trace"),
        ("‖·‖_F²", "fro2"),
        ("eff. rank", "eff_rank"),
        ("eff. rank space (textbook)", "eff_rank_space"),
        ("eff. rank time (textbook)", "eff_rank_time"),
        ("eff. rank space (kpflow compression)", "eff_rank_space_kp"),
        ("eff. rank time (kpflow compression)", "eff_rank_time_kp"),
    ];
    s.push_str(&format!(
        "{:<38} {:>14} {:>14}\n",
        "statistic", "K", "NTK_S"
    ));
    for (label, key) in rows {
        let f = |op: &str| {
            let v = r[op][key].as_f64().unwrap_or(f64::NAN);
            match r["stderr"][op][key].as_f64() {
                Some(se) => format!("{v:.6e} ± {se:.1e}"),
                None => format!("{v:.6e}"),
            }
        };
        s.push_str(&format!("{label:<38} {:>14} {:>14}\n", f("k"), f("ntk")));
    }
    let eigs = |op: &str| {
        r[op]["top_eigs"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|v| format!("{:.4e}", v.as_f64().unwrap_or(f64::NAN)))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    s.push_str(&format!(
        "\ntop eigenvalues K:     {}\ntop eigenvalues NTK_S: {}\n‖P‖_F²: {:.6e}\n",
        eigs("k"),
        eigs("ntk"),
        r["p"]["fro2"].as_f64().unwrap_or(f64::NAN)
    ));
    s
}
