//! The `gentk` command line: a thin layer over the gentk crates that parses arguments, calls the
//! libraries and formats their results.

mod example;
mod inspect;

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
    /// Write a tiny float32 weights + inputs pair (as PyTorch saves them) for trying `inspect`.
    ExampleFiles {
        /// Output directory.
        dir: std::path::PathBuf,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Inspect(a) => inspect::inspect(a).map(|r| {
            if a.json {
                r.to_string()
            } else {
                inspect::table(&r)
            }
        }),
        Command::ExampleFiles { dir } => example::write_example(dir)
            .map(|(w, x)| format!("wrote {} and {}", w.display(), x.display())),
    };
    match result {
        Ok(out) => {
            println!("{out}");
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
