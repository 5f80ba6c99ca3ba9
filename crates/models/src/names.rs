//! PyTorch `state_dict` tensor names of the recurrent cells and the readout, written once: the cells,
//! the safetensors loader, `gentk example-files` and the pipeline's direct measurements all use these.

/// Input weight of the recurrent layer `rnn` (`[H, I]`, GRU `[3H, I]`).
pub const W_IH: &str = "rnn.weight_ih_l0";
/// Recurrent weight (`[H, H]`, GRU `[3H, H]`).
pub const W_HH: &str = "rnn.weight_hh_l0";
/// Input bias of `nn.RNN` / `nn.GRU`.
pub const B_IH: &str = "rnn.bias_ih_l0";
/// Recurrent bias of `nn.RNN` / `nn.GRU`.
pub const B_HH: &str = "rnn.bias_hh_l0";
/// The leaky RNN's single optional bias.
pub const LEAKY_BIAS: &str = "rnn.bias_l0";
/// kpflow `BasicRNN`'s tied copy of [`W_IH`].
pub const TIED_W_IH: &str = "rnn.cell.weight_ih";
/// kpflow `BasicRNN`'s tied copy of [`W_HH`].
pub const TIED_W_HH: &str = "rnn.cell.weight_hh";
/// Readout weight `Wout.weight` (`[n_y, H]`).
pub const W_OUT: &str = "Wout.weight";
/// Readout bias `Wout.bias` (`[n_y]`).
pub const B_OUT: &str = "Wout.bias";
