//! # gentk-pipeline
//!
//! Declarative TOML experiments → deterministic, cached Parquet tables and charts. A spec
//! ([`spec::Spec`]) names a model, a task, optional training, measurements, a sweep, plots and
//! presets; [`runner::run`] expands the sweep, computes points in parallel with per-point caches
//! keyed by content hashes, and writes `results/<name>/{table.parquet, *.png, *.svg, manifest.toml}`
//! atomically. [`table`] reads tables back for `show` and `diff`. The syntax is documented in
//! `docs/experiments.md`.

pub mod error;
pub mod measure;
pub mod plot;
pub mod runner;
pub mod spec;
pub mod sweep;
pub mod table;

pub use error::{PipelineError, Result};
pub use runner::{RunOptions, RunSummary, run};
pub use spec::{Spec, SpecFile, load};
