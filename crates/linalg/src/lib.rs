//! # gentk-linalg
//!
//! The numerical engine of gentk: matrix-free linear operators on shaped tensor spaces and seeded,
//! budgeted randomized estimators on top of faer. An operator applies to *blocks* of probe vectors
//! (columns of a column-major matrix), so every estimator runs its probes as one GEMM-shaped call.
//!
//! * [`LinearOp`] and combinators ([`Compose`], [`Adjoint`], [`Gram`], [`LinComb`], [`Scale`],
//!   [`Kron`], [`View`], [`SymPart`]), leaves ([`Identity`], [`Dense`], [`Projector`],
//!   [`Diagonal`], [`Spectral`]), both partial traces ([`Compress`] = kpflow's compression,
//!   [`PartialTrace`] = textbook) and [`NeumannInverse`].
//! * Estimators: [`trace`] (Hutchinson, Hutch++, NA-Hutch++, XTrace, XNysTrace, one-sided),
//!   [`norms`] (Frobenius, alignment), [`rank`] (participation ratios, U-statistic), [`eig`] (block
//!   Lanczos), [`lowrank`] (randomized SVD, Nyström), [`slq`] (spectral densities).
//!
//! Every estimator takes a matvec budget and a seed; results are bit-identical for any rayon thread
//! count (dense kernels run `Par::Seq`; parallel work is split into fixed column chunks).
//!
//! ```
//! use gentk_linalg::{testing, trace::{hutchpp, HutchppSplit}};
//! let a = testing::spectral_operator(500, 20, testing::Profile::Decaying(1.0), 7).unwrap();
//! let truth: f64 = a.eigenvalues().iter().sum();
//! let est = hutchpp(&a, 60, 42, HutchppSplit::Library).unwrap();
//! assert!((est.value - truth).abs() < 1e-8 * truth); // rank 20 < 20 sketch probes: exact
//! assert_eq!(est.matvecs, 60);
//! ```

pub mod combinators;
pub mod eig;
pub mod error;
pub mod estimate;
pub mod kernels;
pub mod lowrank;
pub mod neumann;
pub mod norms;
pub mod op;
pub mod partial;
pub mod primitives;
pub mod probes;
pub mod rank;
pub mod scalar;
pub mod shape;
pub mod slq;
pub mod testing;
pub mod trace;

pub use combinators::{Adjoint, Compose, Concat, Gram, Kron, LinComb, Scale, SymPart, View};
pub use error::{LinalgError, Result};
pub use estimate::Estimate;
pub use neumann::NeumannInverse;
pub use op::{DENSE_LIMIT, LinearOp, LinearOpExt, materialize};
pub use partial::{Compress, PartialTrace, PtraceVariant};
pub use primitives::{Dense, Diagonal, Identity, Projector, Spectral};
pub use probes::ProbeKind;
pub use scalar::{Precision, Real};
pub use shape::{Axis, AxisSplit, Shape};
