//! The attention block's fine-grained state (PAPER.md §3.7): the forward pass is the fixed point of
//! the constraint map, K = ⊕_j G_j ⊗ I from the model's weight sites equals J_θ J_θᵀ of the explicit
//! map, and NTK_S of the whole forward pass equals P K Pᵀ with P = (I − ∂F/∂z)⁻¹ — all three against
//! 4-point finite differences (truncation ~h⁴ ≈ 1e-12 at h = 1e-3, round-off ~ε/h ≈ 1e-13).

use gentk_models::*;
use gentk_ntk::attention::{attention_fine_checks, attention_fine_k};

fn config(pos: Positional, heads: usize, fourier: Option<usize>, causal: bool) -> AttentionConfig {
    AttentionConfig {
        d_input: if fourier.is_some() { 1 } else { 3 },
        d_model: 4,
        n_heads: heads,
        mlp_hidden: 5,
        d_output: 2,
        max_seq_len: 3,
        positional: pos,
        fourier_freqs: fourier,
        causal,
    }
}

fn inputs(n: usize, seed: u64) -> Vec<f64> {
    (0..n)
        .map(|i| (((i as u64 * 2654435761 + seed * 97) % 1000) as f64 / 500.0) - 1.0)
        .collect()
}

#[test]
fn fine_grained_k_and_ntk_decomposition_hold_in_every_variant() {
    let (batch, time) = (2, 3);
    for (name, cfg) in [
        ("1 head", config(Positional::Off, 1, None, false)),
        (
            "2 heads + learned positions",
            config(Positional::Learned, 2, None, false),
        ),
        (
            "2 heads + sinusoid(3)",
            config(Positional::Sinusoidal { components: 3 }, 2, None, false),
        ),
        ("fourier(2)", config(Positional::Off, 1, Some(2), false)),
        ("causal 2 heads", config(Positional::Off, 2, None, true)),
    ] {
        let block = AttentionBlock::init(cfg.clone(), 5).unwrap();
        let x = inputs(batch * time * cfg.d_input, 3);
        let c = attention_fine_checks(&block, &x, batch, time, 1e-3).unwrap();
        assert!(
            c.fixed_point < 1e-15,
            "{name}: fixed point {}",
            c.fixed_point
        );
        assert!(
            c.k_error < 1e-10,
            "{name}: K core vs FD J_θ J_θᵀ {}",
            c.k_error
        );
        assert!(
            c.ntk_error < 1e-9,
            "{name}: P K Pᵀ vs FD NTK {}",
            c.ntk_error
        );
    }
}

#[test]
fn fine_grained_k_is_block_diagonal_with_identical_channel_blocks() {
    let cfg = config(Positional::Learned, 2, None, false);
    let block = AttentionBlock::init(cfg.clone(), 1).unwrap();
    let (batch, time) = (2, 3);
    let tape = block
        .forward(&inputs(batch * time * 3, 1), batch, time)
        .unwrap();
    let k = attention_fine_k(&block, &tape).unwrap();
    let width = block.fine_width();
    assert_eq!(width, 5 * 4 + 2 * 5 + 2);
    let n = batch * time;
    // Entries only between equal channels; every channel of a block carries the same Gram.
    for r in 0..n * width {
        for c in 0..n * width {
            if r % width != c % width {
                assert_eq!(k[(r, c)], 0.0);
            }
        }
    }
    let off = 5 * 4; // h1 block starts after h0, q, k, v, attn_out.
    for s in 0..n {
        for t in 0..n {
            let g = k[(s * width + off, t * width + off)];
            for ch in 1..5 {
                assert_eq!(k[(s * width + off + ch, t * width + off + ch)], g);
            }
        }
    }
}
