//! Computes one sweep point: builds the task data and the model from the resolved spec, trains if
//! asked (measuring at checkpoints), and evaluates every measurement into rows.

use gentk_linalg::eig::EigOptions;
use gentk_linalg::norms::{alignment, frobenius_norm, rel_diff};
use gentk_linalg::rank::{
    PrOptions, data_pr, participation_ratio, participation_ratio_partial, ustat_partial_pr,
};
use gentk_linalg::trace::{HutchppSplit, direct_one_sided, fhutch, hutchpp};
use gentk_linalg::{Gram, LinearOp, PtraceVariant};
use gentk_models::*;
use gentk_ntk::GlobalNtk;
use gentk_ntk::analysis::{SPACE, TIME, exact_stats, top_modes};
use gentk_tasks::{BatchSampler, Dataset, generate};
use serde::{Deserialize, Serialize};

use crate::spec::{Measure, Spec};

pub mod attention;
mod build;
pub mod checks;
pub mod direct;
mod schema;

use build::{Built, build_model};
use schema::task_config;
pub use schema::{ARCHS, LEGENDS, OPERATORS, PLOT_KINDS, STATISTICS, check_measure, validate};

/// Largest state dimension an `exact` measurement materialises.
pub const EXACT_LIMIT: usize = 4096;

/// One output row (the sweep values are added by the runner).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// Measurement name.
    pub measure: String,
    /// Operator measured.
    pub operator: String,
    /// Statistic.
    pub statistic: String,
    /// Eigenvalue index, or −1.
    pub index: i64,
    /// Training iteration the value belongs to (−1 without training).
    pub iteration: i64,
    /// The value.
    pub value: f64,
    /// Standard error (randomized estimators that have one).
    pub stderr: Option<f64>,
    /// Operator applications spent.
    pub matvecs: i64,
    /// `exact` or `randomized`.
    pub estimator: String,
    /// Matvec budget.
    pub budget: i64,
    /// Partial-trace variant of space/time ranks (`-` otherwise).
    pub ptrace_variant: String,
    /// The point's derived seed.
    pub seed: i64,
    /// Trial of a mode component (`temporal_modes`), else −1.
    #[serde(default = "minus_one")]
    pub trial: i64,
    /// Time step of a mode component (`temporal_modes`), else −1.
    #[serde(default = "minus_one")]
    pub step: i64,
}

fn minus_one() -> i64 {
    -1
}

type Value3 = (i64, f64, Option<f64>, i64);
/// A mode component: (mode index, trial, step, value).
type ModeEntry = (i64, i64, i64, f64);

/// All eigenvalues (descending) of the temporal compression C_h = compress_mean over hidden units,
/// materialised exactly (B·T applications of the operator).
fn time_spectrum<A: LinearOp>(a: &A, m: &Measure) -> Result<Vec<f64>, String> {
    let _ = m;
    let c = gentk_linalg::Compress::mean(a, TIME).map_err(|e| e.to_string())?;
    let dense = gentk_linalg::materialize(&c, EXACT_LIMIT).map_err(|e| e.to_string())?;
    gentk_linalg::kernels::sym_eigvals_desc(
        gentk_linalg::kernels::symmetrize(dense.as_ref()).as_ref(),
    )
    .map_err(|e| e.to_string())
}

/// Top-k eigenvectors of the temporal compression C (keep batch, time) of a symmetric operator, as
/// [B, T] curves; signs fixed so each mode's largest-magnitude entry is positive.
fn temporal_modes<A: LinearOp>(a: &A, m: &Measure, seed: u64) -> Result<Vec<ModeEntry>, String> {
    let c = gentk_linalg::Compress::sum(a, TIME).map_err(|e| e.to_string())?;
    let shape = c.shape_in().clone();
    let (b, t) = (shape.axes()[0].size, shape.axes()[1].size);
    let k = m.k.min(b * t);
    let dense_limit = if m.estimator == "exact" {
        EXACT_LIMIT
    } else {
        0
    };
    let r = top_modes(
        &c,
        k,
        EigOptions {
            max_matvecs: m.budget.max(2 * k),
            dense_limit,
            seed,
            ..Default::default()
        },
    )
    .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    // kpflow's "weighted mode" λ_i² u_i (PAPER F3) when asked; unit eigenvectors otherwise.
    let weighted = m.statistic == "temporal_modes_weighted";
    for (i, v) in r.vectors.iter().enumerate() {
        let w = if weighted {
            r.values[i] * r.values[i]
        } else {
            1.0
        };
        let big = v
            .iter()
            .copied()
            .fold(0.0f64, |acc, x| if x.abs() > acc.abs() { x } else { acc });
        let sign = if big < 0.0 { -1.0 } else { 1.0 };
        for (pos, x) in v.iter().enumerate() {
            out.push((i as i64, (pos / t) as i64, (pos % t) as i64, w * sign * x));
        }
    }
    Ok(out)
}

fn psd_stat<A: LinearOp, F: LinearOp>(
    a: &A,
    f: Option<&F>,
    m: &Measure,
    shape: &gentk_linalg::Shape,
    seed: u64,
) -> Result<Vec<Value3>, String> {
    let s = |e: gentk_linalg::LinalgError| e.to_string();
    let n = a.shape_in().numel();
    let variant = match m.variant.as_str() {
        "compress_sum" => PtraceVariant::CompressSum,
        "compress_mean" => PtraceVariant::CompressMean,
        _ => PtraceVariant::Textbook,
    };
    if m.estimator == "exact" {
        if n > EXACT_LIMIT {
            return Err(format!(
                "exact measurement of a {n}-dimensional operator exceeds {EXACT_LIMIT}; use estimator = \"randomized\""
            ));
        }
        let dense = gentk_linalg::materialize(a, EXACT_LIMIT).map_err(s)?;
        let st = exact_stats(dense.as_ref(), shape, m.k).map_err(|e| e.to_string())?;
        let one = |v: f64| vec![(-1, v, None, n as i64)];
        return Ok(match m.statistic.as_str() {
            "trace" => one(st.trace),
            "fro2" => one(st.fro2),
            "eff_rank" => one(st.eff_rank),
            "eff_rank_space" => one(if variant == PtraceVariant::Textbook {
                st.eff_rank_space
            } else {
                st.eff_rank_space_kp
            }),
            "eff_rank_time" => one(if variant == PtraceVariant::Textbook {
                st.eff_rank_time
            } else {
                st.eff_rank_time_kp
            }),
            "top_eigs" | "spectrum" => {
                let all = gentk_linalg::kernels::sym_eigvals_desc(
                    gentk_linalg::kernels::symmetrize(dense.as_ref()).as_ref(),
                )
                .map_err(s)?;
                let k = if m.statistic == "spectrum" {
                    all.len()
                } else {
                    m.k.min(all.len())
                };
                all.into_iter()
                    .take(k)
                    .enumerate()
                    .map(|(i, v)| (i as i64, v, None, n as i64))
                    .collect()
            }
            other => {
                return Err(format!(
                    "statistic `{other}` does not apply to operator `{}`",
                    m.operator
                ));
            }
        });
    }
    let b = m.budget;
    Ok(match m.statistic.as_str() {
        "trace" => {
            let e = hutchpp(a, b, seed, HutchppSplit::Library).map_err(s)?;
            vec![(-1, e.value, e.stderr, e.matvecs as i64)]
        }
        "fro2" => {
            let e = frobenius_norm(a, b, seed).map_err(s)?;
            vec![(
                -1,
                e.value * e.value,
                e.stderr.map(|x| 2.0 * e.value * x),
                2 * e.matvecs as i64,
            )]
        }
        "eff_rank" => {
            let e = participation_ratio(
                a,
                PrOptions {
                    budget: b,
                    seed,
                    exact_limit: 0,
                },
            )
            .map_err(s)?;
            vec![(-1, e.value, None, e.matvecs as i64)]
        }
        "eff_rank_space" | "eff_rank_time" => {
            let keep = if m.statistic == "eff_rank_space" {
                SPACE
            } else {
                TIME
            };
            match (variant, f) {
                (PtraceVariant::Textbook, Some(f)) => {
                    let u = ustat_partial_pr(f, keep, b, seed).map_err(s)?;
                    vec![(-1, u.textbook, None, u.matvecs as i64)]
                }
                _ => {
                    let e = participation_ratio_partial(
                        a,
                        keep,
                        variant,
                        PrOptions {
                            budget: b,
                            seed,
                            exact_limit: b,
                        },
                    )
                    .map_err(s)?;
                    vec![(-1, e.value, None, e.matvecs as i64)]
                }
            }
        }
        "top_eigs" => {
            let r = top_modes(
                a,
                m.k.min(n),
                EigOptions {
                    max_matvecs: b.max(2 * m.k),
                    dense_limit: 0,
                    seed,
                    ..Default::default()
                },
            )
            .map_err(|e| e.to_string())?;
            r.values
                .into_iter()
                .enumerate()
                .map(|(i, v)| (i as i64, v, None, b as i64))
                .collect()
        }
        other => {
            return Err(format!(
                "statistic `{other}` does not apply to operator `{}` with a randomized estimator",
                m.operator
            ));
        }
    })
}

fn measure_one(
    built: &Built,
    readout: &Readout,
    ro: &Rollout,
    data: &Dataset,
    m: &Measure,
    seed: u64,
) -> Result<Vec<Value3>, String> {
    let g = GlobalNtk::new(built.sm(), ro);
    let shape = g.state_shape();
    let e = |x: gentk_ntk::NtkError| x.to_string();
    let none: Option<&gentk_linalg::Identity> = None;
    match (m.operator.as_str(), m.statistic.as_str()) {
        ("data", "data_pr") => {
            let x = faer::MatRef::from_row_major_slice(&data.inputs, data.n * data.time, data.n_in);
            Ok(vec![(-1, data_pr(x, false), None, 0)])
        }
        ("k", "kron_error") | ("ntk", "kron_error") if m.estimator == "randomized" => {
            // ‖A − B‖_F / max(‖A‖_F, ‖B‖_F), all three by Hutch++ with `budget` matvecs.
            let err = if m.operator == "k" {
                rel_diff(
                    &g.k().map_err(e)?,
                    &g.k_autodiff().map_err(e)?,
                    m.budget,
                    seed,
                    0.0,
                )
            } else {
                rel_diff(
                    &g.ntk().map_err(e)?,
                    &g.ntk_full().map_err(e)?,
                    m.budget,
                    seed,
                    0.0,
                )
            }
            .map_err(|x| x.to_string())?;
            Ok(vec![(-1, err, None, 6 * m.budget as i64)])
        }
        ("k", "kron_error") | ("ntk", "kron_error") => {
            let core = gentk_linalg::materialize(&g.k().map_err(e)?, EXACT_LIMIT)
                .map_err(|x| x.to_string())?;
            let auto = gentk_linalg::materialize(&g.k_autodiff().map_err(e)?, EXACT_LIMIT)
                .map_err(|x| x.to_string())?;
            let err = if m.operator == "k" {
                (&core - &auto).norm_l2() / auto.norm_l2()
            } else {
                let p =
                    gentk_linalg::materialize(&g.p(), EXACT_LIMIT).map_err(|x| x.to_string())?;
                let pkp = &p * &core * p.transpose();
                let full = gentk_linalg::materialize(&g.ntk_full().map_err(e)?, EXACT_LIMIT)
                    .map_err(|x| x.to_string())?;
                (&pkp - &full).norm_l2() / full.norm_l2()
            };
            Ok(vec![(-1, err, None, 0)])
        }
        ("ntk", "alignment_pp_star") => {
            let al = alignment(&g.ntk().map_err(e)?, &g.pp_star(), m.budget, seed)
                .map_err(|x| x.to_string())?;
            Ok(vec![(-1, al.cos, None, 2 * al.probes as i64)])
        }
        ("k", _) => psd_stat(
            &g.k().map_err(e)?,
            Some(&g.j_theta().map_err(e)?),
            m,
            &shape,
            seed,
        ),
        ("k_autodiff", _) => psd_stat(
            &g.k_autodiff().map_err(e)?,
            Some(&g.j_theta().map_err(e)?),
            m,
            &shape,
            seed,
        ),
        ("ntk", _) => psd_stat(
            &g.ntk().map_err(e)?,
            Some(&g.dz_dtheta().map_err(e)?),
            m,
            &shape,
            seed,
        ),
        ("pp_star", _) => psd_stat(&g.pp_star(), Some(&g.p()), m, &shape, seed),
        ("p", "fro2") => {
            let r = if m.estimator == "exact" {
                direct_one_sided(&g.p())
            } else {
                fhutch(&g.p(), m.budget, seed)
            }
            .map_err(|x| x.to_string())?;
            Ok(vec![(-1, r.value, r.stderr, r.matvecs as i64)])
        }
        ("p", _) => psd_stat(&Gram(g.p()), Some(&g.p()), m, &shape, seed),
        ("output_ntk", _) => {
            let op = g.output_ntk(readout).map_err(e)?;
            let oshape = gentk_linalg::Shape::new([
                ("batch", ro.batch),
                ("time", ro.time),
                ("hidden", readout.output_size()),
            ]);
            psd_stat(&op, none, m, &oshape, seed)
        }
        ("gram", _) => {
            let gd = gentk_linalg::Dense::new(checks::site_gram(&g, ro)?)
                .symmetric(1e-9)
                .map_err(|x| x.to_string())?;
            let gshape =
                gentk_linalg::Shape::new([("batch", ro.batch), ("time", ro.time), ("hidden", 1)]);
            let view = gentk_linalg::View::new(gd, gshape.clone(), gshape.clone())
                .map_err(|x| x.to_string())?;
            psd_stat(&view, none, m, &gshape, seed)
        }
        (op, st) => Err(format!(
            "statistic `{st}` does not apply to operator `{op}`"
        )),
    }
}

/// Target Rayleigh quotient ⟨q, A q⟩/⟨q, q⟩ of NTK_S (q = W_outᵀ y* per site) or of the output NTK
/// (q = y*), and the alignment cos_F(NTK_S(θ), NTK_S(θ₀)) with the initialisation.
fn special(
    spec: &Spec,
    built: &Built,
    readout: &Readout,
    ro: &Rollout,
    data: &Dataset,
    m: &Measure,
    mseed: u64,
    seed: u64,
) -> Result<f64, String> {
    let g = GlobalNtk::new(built.sm(), ro);
    let e = |x: gentk_ntk::NtkError| x.to_string();
    match (m.statistic.as_str(), m.operator.as_str()) {
        ("target_rayleigh", "output_ntk") => {
            if data.n_out != readout.output_size() {
                return Err(format!(
                    "the task has {} target channels but the readout {}",
                    data.n_out,
                    readout.output_size()
                ));
            }
            gentk_ntk::analysis::target_rayleigh(&g.output_ntk(readout).map_err(e)?, &data.targets)
                .map_err(|x| x.to_string())
        }
        ("target_rayleigh", "ntk") => {
            if data.n_out != readout.output_size() {
                return Err(format!(
                    "the task has {} target channels but the readout {}",
                    data.n_out,
                    readout.output_size()
                ));
            }
            let q = gentk_linalg::LinearOpExt::apply_adjoint(
                &g.readout_map(readout).map_err(e)?,
                &data.targets,
            )
            .map_err(|x| x.to_string())?;
            gentk_ntk::analysis::target_rayleigh(&g.ntk().map_err(e)?, &q)
                .map_err(|x| x.to_string())
        }
        ("alignment_init", "ntk") => {
            let init = build_model(spec, data.n_in, seed)?;
            let ro0 = init.rollout(data)?;
            let g0 = GlobalNtk::new(init.sm(), &ro0);
            Ok(
                alignment(&g.ntk().map_err(e)?, &g0.ntk().map_err(e)?, m.budget, mseed)
                    .map_err(|x| x.to_string())?
                    .cos,
            )
        }
        (st, op) => Err(format!(
            "statistic `{st}` does not apply to operator `{op}`"
        )),
    }
}

/// A row of measurement `m` with the defaults every statistic shares (index, trial, step −1).
fn base_row(m: &Measure, iteration: i64, seed: u64) -> Row {
    Row {
        measure: m.name.clone(),
        operator: m.operator.clone(),
        statistic: m.statistic.clone(),
        index: -1,
        iteration,
        value: f64::NAN,
        stderr: None,
        matvecs: 0,
        estimator: m.estimator.clone(),
        budget: m.budget as i64,
        ptrace_variant: if m.statistic.starts_with("eff_rank_") || m.statistic.starts_with("bias_")
        {
            m.variant.clone()
        } else {
            "-".into()
        },
        seed: seed as i64,
        trial: -1,
        step: -1,
    }
}

/// Appends the rows of measurement `m`'s values.
fn push_values(rows: &mut Vec<Row>, m: &Measure, iteration: i64, seed: u64, vals: Vec<Value3>) {
    for (index, value, stderr, matvecs) in vals {
        rows.push(Row {
            index,
            value,
            stderr,
            matvecs,
            ..base_row(m, iteration, seed)
        });
    }
}

/// The seed of a measurement with `seed_from`: a hash of the spec seed, the measure's name and the
/// values of the named keys in the resolved spec.
fn shared_seed(spec: &Spec, m: &Measure) -> Result<u64, String> {
    let doc = toml::Value::try_from(spec).map_err(|e| e.to_string())?;
    let mut h = blake3::Hasher::new();
    h.update(&spec.experiment.seed.to_le_bytes());
    h.update(m.name.as_bytes());
    for key in &m.seed_from {
        let v = key
            .split('.')
            .try_fold(&doc, |v, part| v.get(part))
            .ok_or_else(|| format!("seed_from key `{key}` is not in the spec"))?;
        h.update(key.as_bytes());
        h.update(v.to_string().as_bytes());
    }
    let b = h.finalize();
    Ok(u64::from_le_bytes(b.as_bytes()[..8].try_into().unwrap_or([0; 8])) >> 1)
}

/// Computes every measurement of one resolved point.
pub fn compute_point(spec: &Spec, seed: u64) -> Result<Vec<Row>, String> {
    // faer's factorisations and operator products follow its global parallelism: sequential, so a
    // point's numbers never depend on the thread count (parallelism is across points and chunks).
    gentk_linalg::kernels::pin_sequential();
    if spec.measures.iter().all(|m| m.operator == "scalar_filter") {
        // Closed forms of the spec's gain only: no model or data is built.
        let mut rows = Vec::new();
        for m in &spec.measures {
            for (index, value, _, _) in
                direct::filter_rows(spec, m).map_err(|e| format!("measure `{}`: {e}", m.name))?
            {
                rows.push(Row {
                    index,
                    value,
                    ..base_row(m, -1, seed)
                });
            }
        }
        return Ok(rows);
    }
    let cfg = task_config(spec)?;
    let data_seed = seed ^ 0x5EED_DA7A;
    let data = generate(&cfg, spec.task.noise, data_seed).map_err(|e| e.to_string())?;
    if spec.task.batch > data.n {
        return Err(format!(
            "task.batch = {} exceeds the {} trials the task generates",
            spec.task.batch, data.n
        ));
    }
    let data = data.head(spec.task.batch).map_err(|e| e.to_string())?;
    if spec.model.arch == "attention" {
        if spec.train.is_some() {
            return Err("training specs support recurrent models only".into());
        }
        let mut rows = Vec::new();
        for (mi, vals) in attention::measure_all(spec, &data, seed)? {
            push_values(&mut rows, &spec.measures[mi], -1, seed, vals);
        }
        return Ok(rows);
    }
    let mut built = build_model(spec, data.n_in, seed)?;
    let outputs = spec.model.outputs.unwrap_or(data.n_out.max(1));
    let mut readout =
        Readout::init(spec.model.hidden, outputs, true, seed).map_err(|e| e.to_string())?;
    // Checkpoints to measure at: (iteration, model params, readout params, loss).
    let mut snaps: Vec<(i64, Params, Params, Option<f64>)> = Vec::new();
    match (&spec.train, &mut built) {
        (Some(t), Built::Rec(model)) => {
            let train_data = generate(&gentk_tasks::TaskConfig::clone(&cfg), true, data_seed ^ 1)
                .map_err(|e| e.to_string())?;
            let train_data = train_data
                .head(t.dataset_size.min(train_data.n))
                .map_err(|e| e.to_string())?;
            let mut sampler =
                BatchSampler::new(t.batch_size, true, seed ^ 2).map_err(|e| e.to_string())?;
            let optimizer = if t.optimizer == "adam" {
                Optimizer::adam(t.lr)
            } else {
                Optimizer::Sgd {
                    lr: t.lr,
                    momentum: t.momentum,
                }
            };
            let tc = TrainConfig {
                optimizer,
                iterations: t.iterations,
                grad_clip: t.grad_clip,
                trainable: t.trainable.clone(),
                tol: t.tol,
                log_every: 20,
                checkpoint_every: 1,
            };
            let want: Vec<usize> = if t.measure_at.is_empty() {
                vec![t.iterations]
            } else {
                t.measure_at.clone()
            };
            train(
                model.as_mut(),
                &mut readout,
                &tc,
                |_| {
                    let b = sampler.next(&train_data).map_err(|e| e.to_string())?;
                    Ok(Batch {
                        batch: b.n,
                        time: b.time,
                        inputs: b.inputs,
                        targets: b.targets,
                    })
                },
                |cp| {
                    if want.contains(&cp.iteration) {
                        snaps.push((
                            cp.iteration as i64,
                            cp.model.clone(),
                            cp.readout.clone(),
                            Some(cp.loss),
                        ));
                    }
                    Ok(())
                },
            )
            .map_err(|e| e.to_string())?;
        }
        (Some(_), Built::Mlp(_)) => {
            return Err("training specs support recurrent models only".into());
        }
        (None, _) => snaps.push((
            -1,
            built.sm().params().clone(),
            readout.params().clone(),
            None,
        )),
    }
    let mut rows = Vec::new();
    for (iteration, mp, rp, loss) in snaps {
        match &mut built {
            Built::Rec(m) => *m.params_mut() = mp,
            Built::Mlp(m) => *m.params_mut() = mp,
        }
        *readout.params_mut() = rp;
        let ro = built.rollout(&data)?;
        for (mi, m) in spec.measures.iter().enumerate() {
            let mseed = if m.seed_from.is_empty() {
                seed.wrapping_add(1 + mi as u64)
            } else {
                shared_seed(spec, m).map_err(|e| format!("measure `{}`: {e}", m.name))?
            };
            if m.statistic == "target_rayleigh" || m.statistic == "alignment_init" {
                let value = special(spec, &built, &readout, &ro, &data, m, mseed, seed)
                    .map_err(|x| format!("measure `{}`: {x}", m.name))?;
                rows.push(Row {
                    value,
                    ..base_row(m, iteration, seed)
                });
                continue;
            }
            if m.statistic == "time_spectrum" {
                let g = GlobalNtk::new(built.sm(), &ro);
                let e = |x: gentk_ntk::NtkError| format!("measure `{}`: {x}", m.name);
                let vals = match m.operator.as_str() {
                    "k" => time_spectrum(&g.k().map_err(e)?, m),
                    "ntk" => time_spectrum(&g.ntk().map_err(e)?, m),
                    "pp_star" => time_spectrum(&g.pp_star(), m),
                    "gram" => checks::site_gram(&g, &ro).and_then(|gram| {
                        gentk_linalg::kernels::sym_eigvals_desc(gram.as_ref())
                            .map_err(|x| x.to_string())
                    }),
                    other => Err(format!(
                        "time_spectrum needs operator k, ntk, pp_star or gram, not `{other}`"
                    )),
                }
                .map_err(|x| format!("measure `{}`: {x}", m.name))?;
                for (index, value) in vals.into_iter().enumerate() {
                    rows.push(Row {
                        index: index as i64,
                        value,
                        estimator: "exact".into(),
                        ptrace_variant: "compress_mean".into(),
                        ..base_row(m, iteration, seed)
                    });
                }
                continue;
            }
            if m.statistic.starts_with("temporal_modes") {
                let g = GlobalNtk::new(built.sm(), &ro);
                let e = |x: gentk_ntk::NtkError| format!("measure `{}`: {x}", m.name);
                let entries = match m.operator.as_str() {
                    "k" => temporal_modes(&g.k().map_err(e)?, m, mseed),
                    "ntk" => temporal_modes(&g.ntk().map_err(e)?, m, mseed),
                    "pp_star" => temporal_modes(&g.pp_star(), m, mseed),
                    other => Err(format!(
                        "temporal_modes needs operator k, ntk or pp_star, not `{other}`"
                    )),
                }
                .map_err(|x| format!("measure `{}`: {x}", m.name))?;
                for (index, trial, step, value) in entries {
                    rows.push(Row {
                        index,
                        value,
                        trial,
                        step,
                        ptrace_variant: "compress_sum".into(),
                        ..base_row(m, iteration, seed)
                    });
                }
                continue;
            }
            let vals = if checks::handles(&m.statistic) {
                let g = GlobalNtk::new(built.sm(), &ro);
                checks::measure(spec, &g, &ro, m, mseed)
                    .map_err(|e| format!("measure `{}`: {e}", m.name))?
            } else if direct::handles(&m.operator) {
                direct::measure(spec, built.sm(), &ro, m, mseed)
                    .map_err(|e| format!("measure `{}`: {e}", m.name))?
            } else if let Some(keep) = m.statistic.strip_prefix("bias_") {
                // β = 1 − PR/dim of the space (dim H) or time (dim B·T) compression.
                let inner = Measure {
                    statistic: format!("eff_rank_{keep}"),
                    ..m.clone()
                };
                let dim = if keep == "space" {
                    ro.hidden
                } else {
                    ro.sites()
                } as f64;
                measure_one(&built, &readout, &ro, &data, &inner, mseed)
                    .map_err(|e| format!("measure `{}`: {e}", m.name))?
                    .into_iter()
                    .map(|(i, v, se, mv)| (i, 1.0 - v / dim, se.map(|x| x / dim), mv))
                    .collect()
            } else if m.operator == "training" {
                vec![(
                    -1,
                    loss.ok_or("operator `training` needs a [train] table")?,
                    None,
                    0,
                )]
            } else {
                measure_one(&built, &readout, &ro, &data, m, mseed)
                    .map_err(|e| format!("measure `{}`: {e}", m.name))?
            };
            push_values(&mut rows, m, iteration, seed, vals);
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(gain: f64, d_inp: i64) -> Spec {
        toml::from_str(&format!(
            r#"
[experiment]
name = "t"
seed = 4
[model]
arch = "rnn"
hidden = 8
gain = {gain}
[task]
kind = "low_rank_forecast"
D_inp = {d_inp}
batch = 2
[[measure]]
name = "W"
operator = "resolvent_gaussian"
statistic = "eff_rank"
seed_from = ["task.D_inp"]
"#
        ))
        .unwrap()
    }

    #[test]
    fn seed_from_shares_draws_exactly_across_the_other_keys() {
        let (a, b, c) = (spec(0.5, 10), spec(1.5, 10), spec(0.5, 11));
        let sa = shared_seed(&a, &a.measures[0]).unwrap();
        assert_eq!(sa, shared_seed(&b, &b.measures[0]).unwrap());
        assert_ne!(sa, shared_seed(&c, &c.measures[0]).unwrap());
        let mut bad = a.measures[0].clone();
        bad.seed_from = vec!["task.nope".into()];
        assert!(shared_seed(&a, &bad).unwrap_err().contains("task.nope"));
    }
}
