//! The `gentk` command line: a thin layer over the gentk crates that parses arguments, calls the
//! libraries and formats their results.

mod example;
mod inspect;
mod runner_cmds;
mod slurm;

use clap::{Parser, Subcommand};

/// The global empirical NTK of recurrent networks, in Rust.
#[derive(Parser)]
#[command(name = "gentk", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// K, NTK_S and P statistics of a PyTorch RNN/GRU saved as safetensors.
    Inspect(inspect::InspectArgs),
    /// Run experiment specs into results/<name>/.
    Run {
        /// Spec files.
        specs: Vec<std::path::PathBuf>,
        #[command(flatten)]
        args: runner_cmds::RunArgs,
    },
    /// Run a spec's points as a Slurm job array (one task per shard) and a dependent job that
    /// assembles the table; `--dry-run` prints the scripts.
    Slurm(slurm::SlurmArgs),
    /// Run every spec in experiments/.
    ReproduceAll {
        /// Folder of specs.
        #[arg(long, default_value = "experiments")]
        dir: std::path::PathBuf,
        #[command(flatten)]
        args: runner_cmds::RunArgs,
    },
    /// List specs, their figure ids, whether results/ is current and how many points are cached.
    List {
        /// Folder of specs.
        #[arg(long, default_value = "experiments")]
        dir: std::path::PathBuf,
        /// Results root.
        #[arg(long, default_value = "results")]
        results: std::path::PathBuf,
        /// Cache root.
        #[arg(long, env = "GENTK_CACHE", default_value = "target/gentk-cache")]
        cache: std::path::PathBuf,
        /// Preset whose points are counted.
        #[arg(long, default_value = "cpu")]
        preset: String,
    },
    /// Check the claims of specs (default: every spec in experiments/) on their committed tables.
    Check {
        /// Spec files.
        specs: Vec<std::path::PathBuf>,
        /// Folder of specs (when none are given).
        #[arg(long, default_value = "experiments")]
        dir: std::path::PathBuf,
        /// Results root.
        #[arg(long, default_value = "results")]
        results: std::path::PathBuf,
    },
    /// Check specs without running them.
    Validate {
        /// Spec files.
        files: Vec<std::path::PathBuf>,
        #[command(flatten)]
        limits: runner_cmds::LimitArgs,
    },
    /// Compare two result directories or Parquet files (exit 1 when beyond tolerance).
    Diff {
        /// First result set.
        a: std::path::PathBuf,
        /// Second result set.
        b: std::path::PathBuf,
        /// Relative tolerance.
        #[arg(long, default_value_t = 0.0)]
        rtol: f64,
        /// Absolute tolerance.
        #[arg(long, default_value_t = 0.0)]
        atol: f64,
        /// Also compare measured wall times (`timings.parquet`; they differ between runs).
        #[arg(long)]
        timings: bool,
        /// Before each table's cell list, how far each (measure, operator, statistic) moved: max
        /// |A − B|, normwise (÷ max |B|) and elementwise relative (e.g. an f32 run against f64).
        #[arg(long)]
        by_statistic: bool,
    },
    /// Print a Parquet table as text (usable as a git textconv).
    Show {
        /// The table.
        file: std::path::PathBuf,
    },
    /// Run a SQL query on a Parquet table (registered as `t`; what a claim's `value.sql` sees).
    Query {
        /// The table.
        file: std::path::PathBuf,
        /// The query, e.g. "SELECT measure, max(value) FROM t GROUP BY measure".
        sql: String,
    },
    /// Write a tiny float32 weights + inputs pair (as PyTorch saves them) for trying `inspect`.
    ExampleFiles {
        /// Output directory.
        dir: std::path::PathBuf,
    },
}

/// Polars sums a SQL aggregate in per-thread partitions, so a claim's number is the same to the
/// last bit on every run only with one polars thread. Its pool reads `POLARS_MAX_THREADS` when
/// first used; setting the variable in-process needs `unsafe`, so the binary re-executes itself
/// (same PID, same arguments) with it set. Our own parallelism (rayon, across points) is unaffected.
fn pin_polars_to_one_thread() {
    const VAR: &str = "POLARS_MAX_THREADS";
    if std::env::var_os(VAR).is_some_and(|v| v == "1") {
        return;
    }
    #[cfg(unix)]
    if let Ok(exe) = std::env::current_exe() {
        use std::os::unix::process::CommandExt as _;
        let err = std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env(VAR, "1")
            .exec();
        eprintln!(
            "warning: could not pin polars to one thread ({err}); claim values may differ in their last bits between runs"
        );
    }
}

fn main() -> std::process::ExitCode {
    pin_polars_to_one_thread();
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Inspect(a) => inspect::inspect(a).map(|r| {
            if a.json {
                r.to_string()
            } else {
                inspect::table(&r)
            }
        }),
        Command::Run { specs, args } => runner_cmds::cmd_run(specs, args),
        Command::ReproduceAll { dir, args } => runner_cmds::cmd_reproduce_all(dir, args),
        Command::Slurm(a) => slurm::cmd_slurm(a),
        Command::List {
            dir,
            results,
            cache,
            preset,
        } => runner_cmds::cmd_list(dir, results, cache, preset),
        Command::Validate { files, limits } => runner_cmds::cmd_validate(files, limits),
        Command::Show { file } => runner_cmds::cmd_show(file),
        Command::Query { file, sql } => runner_cmds::cmd_query(file, sql),
        Command::Check {
            specs,
            dir,
            results,
        } => runner_cmds::cmd_check(specs, dir, results),
        Command::Diff {
            a,
            b,
            rtol,
            atol,
            timings,
            by_statistic,
        } => match runner_cmds::cmd_diff(a, b, (*rtol, *atol), (*timings, *by_statistic)) {
            Ok((report, clean)) => {
                use std::io::Write as _;
                let _ = writeln!(std::io::stdout().lock(), "{report}");
                return if clean {
                    std::process::ExitCode::SUCCESS
                } else {
                    std::process::ExitCode::from(1)
                };
            }
            Err(e) => Err(e),
        },
        Command::ExampleFiles { dir } => example::write_example(dir)
            .map(|(w, x)| format!("wrote {} and {}", w.display(), x.display())),
    };
    match result {
        Ok(out) => {
            // A closed pipe (`gentk show … | head`) is the reader's choice, not an error to panic on.
            use std::io::Write as _;
            let _ = writeln!(std::io::stdout().lock(), "{out}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            std::process::ExitCode::from(2)
        }
    }
}
