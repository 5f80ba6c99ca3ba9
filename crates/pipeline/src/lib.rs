//! # gentk-pipeline
//!
//! The runner: a validated [`gentk_spec::Plan`] → every point computed in parallel (rayon) with a
//! content-addressed, verified per-point cache ([`cache`]) → rows ([`gentk_report::Row`]) → the
//! table, charts and manifest written atomically ([`runner::run`]). [`measure`] computes one point:
//! its data, its model (trained with snapshots when asked) and every measurement of each snapshot.
//! Specs are parsed and validated by `gentk-spec`; tables and charts are drawn by `gentk-report`.

pub mod cache;
pub mod claims;
pub mod error;
pub mod gallery;
pub mod manifest;
pub mod measure;
pub mod notes;
pub mod phases;
pub mod runner;

pub use error::{PipelineError, Result};
pub use gentk_report::{io, plot, query, table};
pub use gentk_spec::{Spec, SpecFile, load, resolve};
pub use runner::{RunOptions, RunSummary, run};
