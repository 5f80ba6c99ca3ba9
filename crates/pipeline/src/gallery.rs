//! `results/README.md`: the state of the reproduction readable on a git host without running
//! anything — one section per figure spec with its claim, its checked `[[claim]]`s (holds or fails,
//! with both numbers), its charts inline and links to its table, notes and spec.

use std::fmt::Write as _;
use std::path::Path;

use gentk_report::io::write_atomic;
use gentk_spec::SpecFile;

use crate::claims::ClaimResult;
use crate::error::Result;

/// One figure spec and its checked claims.
pub struct Entry<'a> {
    /// The spec.
    pub spec: &'a SpecFile,
    /// Its claims, checked on its table.
    pub claims: Vec<ClaimResult>,
}

/// The gallery's Markdown for `entries` (in order), with links relative to `results_dir`.
pub fn markdown(entries: &[Entry<'_>], results_dir: &Path) -> String {
    let mut md = String::from(
        "# Reproduction gallery\n\nWritten by `gentk reproduce-all` from the committed specs and tables; do not edit. \
         Each section is one spec of `experiments/`: the figure's claim, every `[[claim]]` of the spec checked on \
         its table (`gentk check` reruns them), the charts, and links to the table, the notes and the spec.\n\n",
    );
    let (total, held) = (
        entries.iter().map(|e| e.claims.len()).sum::<usize>(),
        entries
            .iter()
            .flat_map(|e| &e.claims)
            .filter(|c| c.holds)
            .count(),
    );
    let _ = writeln!(
        md,
        "{} specs, {held} of {total} checked claims hold.\n",
        entries.len()
    );
    for e in entries {
        let s = &e.spec.spec;
        let name = &s.experiment.name;
        let figure = if s.experiment.figure.is_empty() {
            String::new()
        } else {
            format!("{} — ", s.experiment.figure)
        };
        let _ = writeln!(md, "## {figure}{name}\n");
        if !s.experiment.claim.is_empty() {
            let _ = writeln!(md, "> {}\n", s.experiment.claim.trim());
        }
        for c in &e.claims {
            let _ = writeln!(
                md,
                "- {} {}",
                if c.holds { "✅" } else { "❌" },
                c.to_string()
                    .trim_start_matches("holds ")
                    .trim_start_matches("FAILS ")
            );
        }
        if !e.claims.is_empty() {
            md.push('\n');
        }
        for p in &s.plots {
            let _ = writeln!(md, "![{}]({name}/{}.png)", p.title.replace(']', ""), p.file);
        }
        let spec_link = if e.spec.path.is_relative() {
            format!("../{}", e.spec.path.display())
        } else {
            e.spec.path.display().to_string()
        };
        let notes = if results_dir.join(name).join("NOTES.md").exists() {
            format!(" · [notes]({name}/NOTES.md)")
        } else {
            String::new()
        };
        let _ = writeln!(
            md,
            "\n[table]({name}/table.parquet) · [claims]({name}/claims.toml){notes} · [spec]({spec_link})\n"
        );
    }
    md
}

/// Writes `results_dir/README.md`.
pub fn write(entries: &[Entry<'_>], results_dir: &Path) -> Result<()> {
    write_atomic(
        &results_dir.join("README.md"),
        markdown(entries, results_dir).as_bytes(),
    )?;
    Ok(())
}
