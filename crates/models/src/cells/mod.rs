//! The recurrent cells.

pub mod gru;
pub mod leaky;
pub mod mlp;
pub mod tanh_rnn;

pub use gru::{Gru, GruConfig};
pub use leaky::{LeakyRnn, LeakyRnnConfig};
pub use mlp::{Activation, Mlp, MlpConfig};
pub use tanh_rnn::{TanhRnn, TanhRnnConfig};
