//! # gentk-ntk
//!
//! The global empirical NTK (Hazelden et al.) of a rollout as matrix-free operators on the state
//! space `[batch, time, hidden]`: the propagation operator P (forward recursion of step Jacobians)
//! and P* (backward recursion), P⁻¹ with its correct adjoint, the parameter Jacobian J_θ, the
//! parameter operator K by its Kronecker core Σ_w 𝒟_w (S_w S_wᵀ ⊗ I) 𝒟_w (the fast path) or as
//! J_θ J_θ* (the reference), NTK_S = P K P*, P P* and the output NTK — plus their analyses
//! ([`analysis`]): traces, norms, effective ranks overall/space/time in both partial-trace variants,
//! top modes, alignments, Rayleigh quotients.
//!
//! ```
//! use gentk_linalg::LinearOpExt;
//! use gentk_models::{LeakyRnn, LeakyRnnConfig, Recurrent};
//! use gentk_ntk::GlobalNtk;
//! let m = LeakyRnn::init(LeakyRnnConfig::new(2, 8), 1.0, 0).unwrap();
//! let ro = m.rollout(&vec![0.5; 2 * 6 * 2], 2, 6, None).unwrap();
//! let g = GlobalNtk::new(&m, &ro);
//! let ntk = g.ntk().unwrap();
//! let y = ntk.apply(&vec![1.0; 2 * 6 * 8]).unwrap();
//! assert_eq!(y.len(), 96);
//! ```

pub mod analysis;
pub mod attention;
pub mod error;
pub mod jacobian;
pub mod kernel;
pub mod ntk;
pub mod propagation;
pub mod source;
pub mod targets;

pub use error::{NtkError, Result};
pub use jacobian::ParamJacobian;
pub use kernel::{KroneckerCore, SiteGroup, site_groups};
pub use ntk::{GlobalNtk, SelfAdjoint, gram_modes};
pub use propagation::{Propagation, PropagationInverse};
pub use source::Source;
