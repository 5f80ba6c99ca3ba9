//! # gentk-models
//!
//! Recurrent models of the global-NTK paper with exact, hand-written derivatives: kpflow's leaky
//! weight-based RNN, PyTorch's tanh `nn.RNN` and `nn.GRU`. A [`Recurrent`] model produces a
//! [`Rollout`] (states plus a tape of gates and derivative factors), then applies step Jacobians
//! A_t and their transposes to blocks of vectors (the recursions of P and P*), the parameter
//! Jacobian J_θ and its transpose at every site, and lists its [`WeightSite`]s — the site vectors and
//! D factors of the Kronecker core K = Σ_w 𝒟_w (S_w S_wᵀ ⊗ I) 𝒟_wᵀ. Parameters are one flat vector
//! with a PyTorch `state_dict` layout; initialisation is PyTorch's in distribution, from seeded
//! streams; weights load and save as safetensors.
//!
//! ```
//! use gentk_models::{LeakyRnn, LeakyRnnConfig, Recurrent};
//! let model = LeakyRnn::init(LeakyRnnConfig::new(3, 16), 1.0, 7).unwrap();
//! let (b, t) = (2, 5);
//! let x = vec![0.1; b * t * 3];
//! let ro = model.rollout(&x, b, t, None).unwrap();
//! assert_eq!(ro.states.len(), b * t * 16);
//! ```

pub mod activations;
pub mod attention;
pub mod cells;
pub mod error;
pub mod factored;
pub mod init;
pub mod names;
pub mod params;
pub mod readout;
pub mod recursion;
pub mod rollout;
pub mod teacher;
pub mod train;
pub mod weights;

pub use attention::{AttentionBlock, AttentionConfig, AttentionTape, FineBlock, Positional};
pub use cells::{
    Activation, Gru, GruConfig, LeakyRnn, LeakyRnnConfig, Mlp, MlpConfig, TanhRnn, TanhRnnConfig,
};
pub use error::{ModelError, Result};
pub use factored::{FactoredStep, GateSide, ModelStep, Skip, StepOp};
pub use params::{ParamEntry, ParamLayout, Params};
pub use readout::Readout;
pub use rollout::{Recurrent, Rollout, SiteFactor, StepModel, WeightSite};
pub use teacher::{StudentCase, TeacherStudent};
pub use train::{
    Batch, CallbackError, Checkpoint, Loss, LossGrad, Optimizer, TrainConfig, TrainError,
    TrainReport, Trainable, batch_loss_grad, loss_and_grad, train,
};
pub use weights::{Arch, LoadedModel, StateDict, load_model, read_state_dict, save_model};
