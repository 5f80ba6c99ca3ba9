//! The recurrent cells.

pub mod gru;
pub mod leaky;
pub mod tanh_rnn;

pub use gru::{Gru, GruConfig};
pub use leaky::{LeakyRnn, LeakyRnnConfig};
pub use tanh_rnn::{TanhRnn, TanhRnnConfig};
