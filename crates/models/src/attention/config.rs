//! The attention block's configuration, its tensor names and the channel layout of its states.

use std::ops::Range;

use crate::error::{Result, config};

/// Positional term added to the input projection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Positional {
    /// None (the paper's main panels).
    Off,
    /// Learned [max_len, D] embedding initialised 0.02·N(0, 1) (a trainable parameter).
    Learned,
    /// Fixed Vaswani sinusoids (base 10000, sin on even and cos on odd channels), keeping only the
    /// first `components` channels.
    Sinusoidal {
        /// Channels kept (the rest are zero).
        components: usize,
    },
}

/// Configuration of the attention block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttentionConfig {
    /// Raw input size d_in.
    pub d_input: usize,
    /// Model width D.
    pub d_model: usize,
    /// Heads (D must be divisible by it).
    pub n_heads: usize,
    /// MLP width M.
    pub mlp_hidden: usize,
    /// Output size.
    pub d_output: usize,
    /// Longest sequence (positional tables).
    pub max_seq_len: usize,
    /// Positional term.
    pub positional: Positional,
    /// Deterministic Fourier features with this many frequencies (needs d_in = 1).
    pub fourier_freqs: Option<usize>,
    /// Causal mask (an option; the paper has none).
    pub causal: bool,
}

impl Default for AttentionConfig {
    /// The configuration of every panel of the transformer study.
    fn default() -> Self {
        AttentionConfig {
            d_input: 8,
            d_model: 64,
            n_heads: 1,
            mlp_hidden: 128,
            d_output: 1,
            max_seq_len: 128,
            positional: Positional::Off,
            fourier_freqs: None,
            causal: false,
        }
    }
}

impl AttentionConfig {
    /// Width of x_in after optional Fourier features.
    pub fn input_features(&self) -> usize {
        match self.fourier_freqs {
            Some(k) => 2 * k + 1,
            None => self.d_input,
        }
    }
    /// Width of V (and of the pre-activation state): 3D + D + D + M + M.
    pub fn state_width(&self) -> usize {
        5 * self.d_model + 2 * self.mlp_hidden
    }
    /// Head width d_h = D / heads.
    pub fn head_dim(&self) -> usize {
        self.d_model / self.n_heads
    }
    /// The channel blocks of V and of the pre-activation state.
    pub fn channels(&self) -> Channels {
        Channels {
            d: self.d_model,
            m: self.mlp_hidden,
        }
    }

    /// Refuses sizes the block cannot be built with.
    pub fn validate(&self) -> Result<()> {
        if self.d_model == 0 || self.n_heads == 0 || self.d_model % self.n_heads != 0 {
            return Err(config(
                "n_heads",
                format!(
                    "d_model {} must be a positive multiple of n_heads {}",
                    self.d_model, self.n_heads
                ),
            ));
        }
        if self.d_input == 0 || self.mlp_hidden == 0 || self.d_output == 0 || self.max_seq_len == 0
        {
            return Err(config(
                "d_input/mlp_hidden/d_output/max_seq_len",
                "sizes must be ≥ 1",
            ));
        }
        if self.fourier_freqs.is_some() && self.d_input != 1 {
            return Err(config("fourier_freqs", "Fourier features need d_input = 1"));
        }
        if self.fourier_freqs == Some(0) {
            return Err(config("fourier_freqs", "at least one frequency"));
        }
        if let Positional::Sinusoidal { components } = self.positional
            && components > self.d_model
        {
            return Err(config(
                "positional.components",
                format!("{components} exceeds d_model {}", self.d_model),
            ));
        }
        Ok(())
    }
}

/// Channel ranges per token. V = [h0 | h0 | h0 | a | u1 | u2 | h2]; the pre-activation state the
/// weights write into is u = [h0 | q | k | v | attn_out | h1 | h2], block for block the same widths,
/// so the propagation operator P: δu ↦ δV is square.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Channels {
    d: usize,
    m: usize,
}

impl Channels {
    /// h0 (W_in, b_in, positions write it; V's first copy).
    pub fn h0(&self) -> Range<usize> {
        0..self.d
    }
    /// q (W_Q), V's second h0 copy.
    pub fn q(&self) -> Range<usize> {
        self.d..2 * self.d
    }
    /// k (W_K), V's third h0 copy.
    pub fn k(&self) -> Range<usize> {
        2 * self.d..3 * self.d
    }
    /// v (W_V); V's head outputs a.
    pub fn v(&self) -> Range<usize> {
        3 * self.d..4 * self.d
    }
    /// attn_out (W_O); V's u1 = gelu(attn_out).
    pub fn attn_out(&self) -> Range<usize> {
        4 * self.d..5 * self.d
    }
    /// h1 (W_1); V's u2 = gelu(h1).
    pub fn h1(&self) -> Range<usize> {
        5 * self.d..5 * self.d + self.m
    }
    /// h2 (W_2), in both states.
    pub fn h2(&self) -> Range<usize> {
        5 * self.d + self.m..5 * self.d + 2 * self.m
    }
    /// Total width.
    pub fn width(&self) -> usize {
        5 * self.d + 2 * self.m
    }
}

/// Parameter names.
pub mod names {
    /// Input projection weight.
    pub const W_IN: &str = "input_proj.weight";
    /// Input projection bias.
    pub const B_IN: &str = "input_proj.bias";
    /// Learned positional embedding.
    pub const POS: &str = "pos_embedding";
    /// Query projection.
    pub const W_Q: &str = "attn.q.weight";
    /// Key projection.
    pub const W_K: &str = "attn.k.weight";
    /// Value projection.
    pub const W_V: &str = "attn.v.weight";
    /// Output projection.
    pub const W_O: &str = "attn.o.weight";
    /// First MLP layer.
    pub const W_1: &str = "mlp.0.weight";
    /// Second MLP layer.
    pub const W_2: &str = "mlp.1.weight";
    /// Output layer.
    pub const W_3: &str = "mlp.2.weight";
}
