//! The attention block's fine-grained state (PAPER.md §3.7, "fine-grained state variant"): every
//! pre-activation u_j = W_j v_j is a state block, z = [h0, q, k, v, attn_out, h1, h2, y] per token.
//! The forward pass is the fixed point z = F(z; θ) of the explicit map below, whose parameter
//! derivative at fixed z is exactly the weight-site map, so K = ⊕_j (G_j ⊗ I); the softmax coupling
//! across tokens and the gelu derivatives move into P = (I − ∂F/∂z)⁻¹.

use faer::{Mat, MatRef};

use super::config::names::*;
use super::forward::{AttentionBlock, AttentionTape, abt};
use crate::error::{Result, check_size};

/// One block of the fine-grained state: its name, width and the weights whose pre-activation it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FineBlock {
    /// Block name (`h0`, `q`, `k`, `v`, `attn_out`, `h1`, `h2`, `y`).
    pub name: &'static str,
    /// Channels per token.
    pub width: usize,
    /// Tensors acting on it (the input projection's weight, bias and positional table share h0).
    pub params: Vec<&'static str>,
}

fn cols(z: MatRef<'_, f64>, start: usize, width: usize) -> Mat<f64> {
    z.subcols(start, width).to_owned()
}

fn gelu(x: &Mat<f64>) -> Mat<f64> {
    super::forward::gelu_mat(x).0
}

impl AttentionBlock {
    /// The blocks of the fine-grained state, in state order.
    pub fn fine_blocks(&self) -> Vec<FineBlock> {
        let c = self.config();
        let (d, m) = (c.d_model, c.mlp_hidden);
        let b = |name, width, params: &[&'static str]| FineBlock {
            name,
            width,
            params: params.to_vec(),
        };
        vec![
            b("h0", d, &[W_IN, B_IN, POS]),
            b("q", d, &[W_Q]),
            b("k", d, &[W_K]),
            b("v", d, &[W_V]),
            b("attn_out", d, &[W_O]),
            b("h1", m, &[W_1]),
            b("h2", m, &[W_2]),
            b("y", c.d_output, &[W_3]),
        ]
    }

    /// Channels per token of the fine-grained state.
    pub fn fine_width(&self) -> usize {
        self.fine_blocks().iter().map(|b| b.width).sum()
    }

    /// The fine-grained state of a forward pass, N x `fine_width` (rows b·T + t).
    pub fn fine_state(&self, tape: &AttentionTape) -> Mat<f64> {
        let parts = tape.pre_activations();
        let width: usize = parts.iter().map(|p| p.ncols()).sum();
        let mut z = Mat::zeros(parts[0].nrows(), width);
        let mut off = 0;
        for p in parts {
            z.as_mut().subcols_mut(off, p.ncols()).copy_from(p);
            off += p.ncols();
        }
        z
    }

    /// F(z; θ): every pre-activation recomputed from the state blocks it reads (h0 from the input
    /// only). The forward pass's fine state is its fixed point.
    pub fn fine_constraint(
        &self,
        x: &[f64],
        batch: usize,
        time: usize,
        z: MatRef<'_, f64>,
    ) -> Result<Mat<f64>> {
        let n = batch * time;
        check_size(
            "fine state",
            &format!("[{n}, {}]", self.fine_width()),
            n * self.fine_width(),
            z.nrows() * z.ncols(),
        )?;
        check_size(
            "inputs",
            &format!("[{batch}, {time}, {}]", self.config().d_input),
            n * self.config().d_input,
            x.len(),
        )?;
        let (d, m) = (self.config().d_model, self.config().mlp_hidden);
        let h0 = cols(z, 0, d);
        let (q, k, v) = (cols(z, d, d), cols(z, 2 * d, d), cols(z, 3 * d, d));
        let ao = cols(z, 4 * d, d);
        let (h1, h2) = (cols(z, 5 * d, m), cols(z, 5 * d + m, m));
        let (a, _) = self.attend(&q, &k, &v, batch, time);
        let parts = [
            self.input_projection(&self.features(x, n), time),
            abt(h0.as_ref(), self.w(&self.t.w_q)),
            abt(h0.as_ref(), self.w(&self.t.w_k)),
            abt(h0.as_ref(), self.w(&self.t.w_v)),
            abt(a.as_ref(), self.w(&self.t.w_o)),
            abt(gelu(&ao).as_ref(), self.w(&self.t.w_1)),
            abt(gelu(&h1).as_ref(), self.w(&self.t.w_2)),
            abt(h2.as_ref(), self.w(&self.t.w_3)),
        ];
        let mut out = Mat::zeros(n, self.fine_width());
        let mut off = 0;
        for p in &parts {
            out.as_mut().subcols_mut(off, p.ncols()).copy_from(p);
            off += p.ncols();
        }
        Ok(out)
    }
}

impl AttentionTape {
    /// Pre-activations [h0, q, k, v, attn_out, h1, h2, y], each N x width.
    pub fn pre_activations(&self) -> [&Mat<f64>; 8] {
        [
            &self.h0, &self.q, &self.k, &self.v, &self.ao, &self.h1, &self.h2, &self.y,
        ]
    }
}
