//! # gentk-spec
//!
//! The experiment spec, parsed once into types and checked before any work: the TOML schema
//! ([`schema`], closed vocabularies as the enums of [`names`]), sweeps ([`sweep`]), presets and the
//! validated [`plan::Plan`] of every point ([`plan`], with the operator × statistic × estimator
//! table of [`rules`]). Every error is located at file:line:column from the TOML parser's spans
//! ([`locate`]). This crate computes nothing and builds without polars or plotters, so
//! `gentk validate` and its tests are fast. The syntax is documented in `docs/experiments.md`.

pub mod error;
pub mod limits;
pub mod locate;
pub mod names;
pub mod notes;
pub mod plan;
pub mod rules;
pub mod schema;
pub mod sweep;

pub use error::{Invalid, Result, SpecError};
pub use limits::Limits;
pub use names::{
    Arch, Colormap, Estimator, Legend, Operator, OptimizerKind, PlotKind, PlotTable,
    PositionalKind, Statistic, TargetCase, TeacherCase, TraceMethod, TrainLoss, Variant,
};
pub use plan::{Plan, PlannedPoint, SpecFile, load, resolve, resolve_with};
pub use schema::{
    Aggregate, Axis, AxisGen, Bound, Claim, Comparison, Experiment, Measure, ModelSpec, Plot,
    Quantity, Select, Spec, Sql, Sweep, TargetSpec, TaskSpec, TeacherSpec, TrainSpec, VlineWhere,
};
pub use sweep::Point;
