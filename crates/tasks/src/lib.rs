//! # gentk-tasks
//!
//! The tasks of the global-NTK paper as pure functions of (configuration, seed): flip-flop,
//! memory-pro (and its one-hot and multi-task variants), low-rank forecast, teacher–student inputs,
//! Gaussian sequences and circle data. Configurations are serde types whose defaults are the
//! paper's; impossible values are errors naming the field; nothing is global or mutated
//! (PAPER.md §7.5). Training batches come from a seeded [`BatchSampler`].
//!
//! ```
//! use gentk_tasks::{TaskConfig, generate};
//! let cfg: TaskConfig = TaskConfig::MemoryPro(Default::default());
//! let data = generate(&cfg, false, 0).unwrap();
//! assert_eq!((data.time, data.n_in, data.n_out), (90, 3, 3));
//! ```

pub mod dataset;
pub mod error;
pub mod flipflop;
pub mod forecast;
pub mod memory;
pub mod rng;
pub mod simple;

pub use dataset::{BatchSampler, Dataset};
pub use error::{Result, TaskError};
pub use flipflop::{FlipFlopConfig, flip_flop};
pub use forecast::{LowRankForecast, LowRankForecastConfig, low_rank_forecast};
pub use memory::{
    MemoryProConfig, MemoryProOneHotConfig, MultiTaskConfig, memory_pro, memory_pro_one_hot,
    multi_task,
};
pub use simple::{
    GaussianClustersConfig, TeacherStudentInputConfig, circle, gaussian_clusters,
    gaussian_sequences, teacher_student_inputs,
};

use serde::{Deserialize, Serialize};

/// Any task, as written in an experiment spec (`kind = "memory_pro"` plus that task's fields).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TaskConfig {
    /// n-bit flip-flop.
    FlipFlop(FlipFlopConfig),
    /// Memory-pro (anti/delay variants by flags).
    MemoryPro(MemoryProConfig),
    /// One-hot memory-pro.
    MemoryProOneHot(MemoryProOneHotConfig),
    /// MemPro/MemAnti/DelayPro/DelayAnti with context and task channels.
    MultiTask(MultiTaskConfig),
    /// Low-rank forecast (its own structure and data seeds; the generate seed is unused).
    LowRankForecast(LowRankForecastConfig),
    /// Teacher–student inputs (targets come from the teacher model).
    TeacherStudent(TeacherStudentInputConfig),
    /// i.i.d. Gaussian sequences.
    GaussianSequences(GaussianSequencesConfig),
    /// Circle classification.
    Circle(CircleConfig),
    /// Gaussian class clusters with one-hot targets (F13-extras).
    GaussianClusters(GaussianClustersConfig),
}

/// Gaussian sequence configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GaussianSequencesConfig {
    /// Sequences.
    pub n_samples: usize,
    /// Tokens per sequence.
    #[serde(rename = "T")]
    pub time: usize,
    /// Input dimension.
    pub d_input: usize,
}

impl Default for GaussianSequencesConfig {
    fn default() -> Self {
        GaussianSequencesConfig {
            n_samples: 10,
            time: 50,
            d_input: 8,
        }
    }
}

/// Circle data configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CircleConfig {
    /// Samples.
    pub n_samples: usize,
}

impl Default for CircleConfig {
    fn default() -> Self {
        CircleConfig { n_samples: 10_000 }
    }
}

/// The sizes a task generates, known without generating it (validation uses them to bound and
/// check a spec before any work).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskDims {
    /// Trials.
    pub n: usize,
    /// Steps per trial.
    pub time: usize,
    /// Input channels.
    pub n_in: usize,
    /// Target channels (0: the task has no targets).
    pub n_out: usize,
}

impl TaskConfig {
    /// Checks every field without generating anything (validation calls it on every sweep point;
    /// [`generate`] would return the same error).
    pub fn validate(&self) -> Result<()> {
        match self {
            TaskConfig::FlipFlop(c) => c.validate().map(|_| ()),
            TaskConfig::MemoryPro(c) => c.validate(),
            TaskConfig::MemoryProOneHot(c) => c.validate(),
            TaskConfig::MultiTask(c) => c.validate(),
            TaskConfig::LowRankForecast(c) => c.validate(),
            TaskConfig::TeacherStudent(c) => c.validate(),
            TaskConfig::GaussianSequences(c) => {
                error::positive("n_samples", c.n_samples)?;
                error::positive("T", c.time)?;
                error::positive("d_input", c.d_input)
            }
            TaskConfig::Circle(c) => error::positive("n_samples", c.n_samples),
            TaskConfig::GaussianClusters(c) => c.validate(),
        }
    }

    /// The same task with `n` trials: a training set drawn from the task the model is analysed on
    /// (its own size, independent of the analysed trials).
    pub fn with_samples(&self, n: usize) -> TaskConfig {
        let mut c = self.clone();
        match &mut c {
            TaskConfig::FlipFlop(c) => c.n_samples = n,
            TaskConfig::MemoryPro(c) => c.n_samples = n,
            TaskConfig::MemoryProOneHot(c) => c.base.n_samples = n,
            TaskConfig::MultiTask(c) => c.base.n_samples = n,
            TaskConfig::LowRankForecast(c) => c.n_samples = n,
            TaskConfig::TeacherStudent(c) => c.n_samples = n,
            TaskConfig::GaussianSequences(c) => c.n_samples = n,
            TaskConfig::Circle(c) => c.n_samples = n,
            TaskConfig::GaussianClusters(c) => c.n_samples = n,
        }
        c
    }

    /// The dataset's sizes, as [`generate`] would produce them (equal by test for every kind).
    pub fn dims(&self) -> TaskDims {
        let d = |n, time, n_in, n_out| TaskDims {
            n,
            time,
            n_in,
            n_out,
        };
        match self {
            TaskConfig::FlipFlop(c) => d(
                c.n_samples,
                c.time,
                c.channels + usize::from(c.mix_anti),
                c.channels,
            ),
            TaskConfig::MemoryPro(c) => d(c.n_samples, c.time(), 3, 3),
            TaskConfig::MemoryProOneHot(c) => d(
                c.base.n_samples,
                c.base.time(),
                1 + c.n_angles,
                1 + c.n_angles,
            ),
            TaskConfig::MultiTask(c) => d(
                4 * (c.base.n_samples / 4),
                c.t_context + c.base.time(),
                7,
                3,
            ),
            TaskConfig::LowRankForecast(c) => d(c.n_samples, c.time, c.d_inp, c.d_targ),
            TaskConfig::TeacherStudent(c) => d(c.n_samples, c.time, c.input_dim, 0),
            TaskConfig::GaussianSequences(c) => d(c.n_samples, c.time, c.d_input, 0),
            TaskConfig::Circle(c) => d(c.n_samples, 1, 2, 1),
            TaskConfig::GaussianClusters(c) => d(c.n_samples, 1, c.d_input, c.classes),
        }
    }
}

/// Generates any task's dataset from (config, noise flag, seed).
pub fn generate(cfg: &TaskConfig, noise: bool, seed: u64) -> Result<Dataset> {
    match cfg {
        TaskConfig::FlipFlop(c) => flip_flop(c, noise, seed),
        TaskConfig::MemoryPro(c) => memory_pro(c, noise, seed),
        TaskConfig::MemoryProOneHot(c) => memory_pro_one_hot(c, noise, seed),
        TaskConfig::MultiTask(c) => multi_task(c, noise, seed),
        TaskConfig::LowRankForecast(c) => Ok(low_rank_forecast(c, noise)?.data),
        TaskConfig::TeacherStudent(c) => teacher_student_inputs(c, seed),
        TaskConfig::GaussianSequences(c) => {
            gaussian_sequences(c.n_samples, c.time, c.d_input, seed)
        }
        TaskConfig::Circle(c) => circle(c.n_samples, seed),
        TaskConfig::GaussianClusters(c) => gaussian_clusters(c, seed),
    }
}
