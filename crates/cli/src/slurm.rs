//! `gentk slurm SPEC`: a spec's points as a Slurm job array — one task per shard, each running
//! `gentk run SPEC --shard I/N` into a shared point cache — and a dependent assemble job that runs
//! `gentk run SPEC` once every task has succeeded, finding every point cached and writing the
//! table, charts and claims (the same bytes as a local run). The spec is validated whole before
//! anything is written or submitted; scripts go to the cache folder, never to `results/`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use gentk_pipeline::runner::{cached_points, plan};
use gentk_spec::load;

use crate::runner_cmds::LimitArgs;

/// Options of `gentk slurm`. Memory per task comes from the spec's cost model (the largest point's
/// peak times the points a task runs at once, plus 1 GiB) unless an `--sbatch-arg=--mem…` is given.
#[derive(Debug, Clone, clap::Args)]
pub struct SlurmArgs {
    /// The spec to run on the cluster.
    pub spec: PathBuf,
    /// Preset to apply (`full` is the paper's scale).
    #[arg(long, default_value = "cpu")]
    pub preset: String,
    /// Array tasks (shards); default: one per distinct point, at most 64.
    #[arg(long)]
    pub tasks: Option<usize>,
    /// CPUs per task; default: the points of a shard, at most 8 (points run in parallel).
    #[arg(long)]
    pub cpus_per_task: Option<usize>,
    /// An extra `#SBATCH` argument for both jobs (repeatable), e.g. `--sbatch-arg=--partition=cpu`.
    #[arg(long = "sbatch-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub sbatch_args: Vec<String>,
    /// Shared cache root every task writes to (must be on a filesystem all nodes see).
    #[arg(long, env = "GENTK_CACHE", default_value = "target/gentk-cache")]
    pub cache: PathBuf,
    /// Results root of the assemble job.
    #[arg(long, default_value = "results")]
    pub results: PathBuf,
    /// Print the two scripts and submit nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// The two job scripts of a submission.
struct Scripts {
    array: String,
    assemble: String,
}

fn absolute(p: &Path) -> Result<PathBuf> {
    Ok(if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()?.join(p)
    })
}

/// Single-quoted for bash.
fn quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', r"'\''"))
}

/// What a task asks of its node.
struct Resources {
    tasks: usize,
    cpus: usize,
    /// MiB per task: `cpus` points at once at the largest point's estimated peak, plus 1 GiB.
    mem_mib: u64,
}

fn scripts(a: &SlurmArgs, name: &str, r: &Resources) -> Result<Scripts> {
    let (tasks, cpus) = (r.tasks, r.cpus);
    let exe = std::env::current_exe().context("locating the gentk executable")?;
    let (spec, cache, results, cwd) = (
        absolute(&a.spec)?,
        absolute(&a.cache)?,
        absolute(&a.results)?,
        std::env::current_dir()?,
    );
    let logs = cache.join(name).join("slurm");
    let mut extra: String = a
        .sbatch_args
        .iter()
        .map(|s| format!("#SBATCH {s}\n"))
        .collect();
    // The spec's memory estimate, unless the caller set one.
    if !a.sbatch_args.iter().any(|s| s.starts_with("--mem")) {
        extra = format!("#SBATCH --mem={}M\n{extra}", r.mem_mib);
    }
    let limits = format!(
        "--max-points {} --max-memory-gib {} --max-tflop {}",
        a.limits.max_points, a.limits.max_memory_gib, a.limits.max_tflop
    );
    // Every #SBATCH line comes before the first command: sbatch stops reading them there.
    let header = |job: &str, own: &str| {
        format!(
            "#!/bin/bash\n#SBATCH --job-name=gentk-{name}-{job}\n#SBATCH --cpus-per-task={cpus}\n{own}{extra}set -euo pipefail\ncd {}\n",
            quote(&cwd)
        )
    };
    let array = format!(
        "{}# Shard ${{SLURM_ARRAY_TASK_ID}} of {tasks}: its points into the shared cache, no table.\n\
         exec {} run {} --preset {} --cache {} --jobs {cpus} --progress {limits} --shard \"${{SLURM_ARRAY_TASK_ID}}/{tasks}\"\n",
        header(
            "shard",
            &format!(
                "#SBATCH --array=1-{tasks}\n#SBATCH --output={}/%x-%A_%a.out\n",
                logs.display()
            )
        ),
        quote(&exe),
        quote(&spec),
        a.preset,
        quote(&cache),
    );
    let assemble = format!(
        "{}# Every point is cached once the array has succeeded: the table, charts and claims.\n\
         exec {} run {} --preset {} --cache {} --results {} --jobs {cpus} --progress {limits}\n",
        header(
            "assemble",
            &format!("#SBATCH --output={}/%x-%j.out\n", logs.display())
        ),
        quote(&exe),
        quote(&spec),
        a.preset,
        quote(&cache),
        quote(&results),
    );
    Ok(Scripts { array, assemble })
}

/// Runs `sbatch --parsable ARGS SCRIPT` and returns the job id.
fn sbatch(args: &[String], script: &Path) -> Result<String> {
    let out = Command::new("sbatch")
        .arg("--parsable")
        .args(args)
        .arg(script)
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => anyhow::anyhow!(
                "`sbatch` was not found on PATH: run `gentk slurm` on a Slurm login node (or use --dry-run to see the scripts)"
            ),
            _ => anyhow::anyhow!("running sbatch: {e}"),
        })?;
    if !out.status.success() {
        bail!(
            "sbatch {} failed ({}): {}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let id = text.trim().split(';').next().unwrap_or("").to_string();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        bail!("sbatch printed no job id: {text:?}");
    }
    Ok(id)
}

/// `gentk slurm`.
pub fn cmd_slurm(a: &SlurmArgs) -> Result<String> {
    let sf = load(&a.spec)?;
    let limits = a.limits.limits()?;
    // Refused here, before anything is written or submitted.
    let p = plan(&sf, &a.preset, &limits)?;
    let name = p.spec.experiment.name.clone();
    let (cached, distinct) = cached_points(&sf, &a.preset, &limits, &a.cache)?;
    let tasks = match a.tasks {
        Some(0) => bail!("--tasks must be ≥ 1"),
        Some(n) => n,
        None => distinct.clamp(1, 64),
    };
    let cpus = match a.cpus_per_task {
        Some(0) => bail!("--cpus-per-task must be ≥ 1"),
        Some(c) => c,
        None => distinct.div_ceil(tasks).clamp(1, 8),
    };
    let peak = p
        .points
        .iter()
        .map(|pp| gentk_spec::limits::cost(&pp.spec, &pp.task.dims(), &pp.dims).memory_bytes())
        .fold(0.0, f64::max);
    let r = Resources {
        tasks,
        cpus,
        mem_mib: ((cpus as f64 * peak) / (1024.0 * 1024.0)).ceil() as u64 + 1024,
    };
    let s = scripts(a, &name, &r)?;
    if a.dry_run {
        return Ok(format!(
            "# {name}: {distinct} distinct points ({cached} cached), {tasks} array tasks × {cpus} CPUs\n\
             # --- job array ---\n{}\n# --- assemble job (submitted with --dependency=afterok:<array id> --kill-on-invalid-dep=yes) ---\n{}",
            s.array, s.assemble
        ));
    }
    let dir = absolute(&a.cache)?.join(&name).join("slurm");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let (array, assemble) = (dir.join("array.sbatch"), dir.join("assemble.sbatch"));
    gentk_pipeline::io::write_atomic(&array, s.array.as_bytes())?;
    gentk_pipeline::io::write_atomic(&assemble, s.assemble.as_bytes())?;
    let array_id = sbatch(&[], &array)?;
    let assemble_id = sbatch(
        &[
            format!("--dependency=afterok:{array_id}"),
            "--kill-on-invalid-dep=yes".into(),
        ],
        &assemble,
    )?;
    Ok(format!(
        "{name}: {distinct} distinct points ({cached} already cached) as {tasks} array tasks × {cpus} CPUs\n\
         array job {array_id}, assemble job {assemble_id} (runs once every task succeeded)\n\
         follow: squeue -j {array_id},{assemble_id}; logs in {}\n\
         progress: gentk list --cache {} --preset {}\n\
         a failed or preempted task keeps the other points; submitting again computes only what is missing\n",
        dir.display(),
        absolute(&a.cache)?.display(),
        a.preset
    ))
}
