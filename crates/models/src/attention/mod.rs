//! The single-block self-attention + MLP model of the transformer study (PAPER.md §6.5,
//! `SingleBlockAttnMLP`), with hand-written derivatives of x ↦ V, the weight-site tensor.
//!
//! Forward per trial (rows = tokens): optional Fourier features x_in = [x, sin(2π2^k x)…,
//! cos(2π2^k x)…] (d_in = 1 only); h0 = x_in W_inᵀ + b_in (+ positional term); per head
//! A_h = softmax(q_h k_hᵀ/√d_h) (keys on the row; optional causal mask), a_h = A_h v_h with
//! q, k, v = h0 W_{Q,K,V}ᵀ (no biases); attn_out = [a_1 … a_H] W_Oᵀ; u1 = gelu(attn_out);
//! h1 = u1 W_1ᵀ; u2 = gelu(h1); h2 = u2 W_2ᵀ; y = h2 W_3ᵀ. No residuals, no LayerNorm (defaults).
//!
//! The analysed state is V = [h0, h0, h0, a_1, …, a_H, u1, u2, h2] per token (width 576 for the
//! default configuration): the site variable of W_Q, W_K, W_V (h0, three times), of W_O's head
//! slices (a_h), of W_1 (u1), W_2 (u2) and W_3 (h2). gelu is the exact (erf) form, PyTorch's
//! default.
//!
//! Tensor names: `input_proj.weight` [D, d_in'], `input_proj.bias` [D], `pos_embedding`
//! [max_len, D] (learned positions only), `attn.q.weight`, `attn.k.weight`, `attn.v.weight`,
//! `attn.o.weight` [D, D], `mlp.0.weight` [M, D], `mlp.1.weight` [M, M], `mlp.2.weight` [d_out, M].
//!
//! Modules by job: [`config`] (sizes, names, channel blocks), [`forward`] (parameters, forward
//! pass, tape), [`head`] (one head and the only softmax routine), [`derivatives`] (P, P*, the
//! weight-site map and dV/dθ = P J_u), [`sites`] (weight sites for the Kronecker core), [`fine`]
//! (F1's fine-grained state with the output y, checked by finite differences).

pub mod config;
pub mod derivatives;
pub mod fine;
pub mod forward;
pub mod head;
pub mod sites;

pub use config::{AttentionConfig, Channels, Positional, names};
pub use fine::FineBlock;
pub use forward::{AttentionBlock, AttentionTape};
