//! Derivatives of x ↦ V in the propagation form of PAPER.md §3.7: every weight writes one channel
//! block of the pre-activation state u = [h0 | q | k | v | attn_out | h1 | h2], so the parameter
//! derivative at fixed u is the weight-site map J_u (δu_j = S_j δW_jᵀ, K = J_u J_u* = ⊕_j G_j ⊗ I),
//! and the propagation operator P = dV/du carries an injection δu through the block: the
//! projections, the softmax coupling of the tokens of a trial, the gelu factors. dV/dθ = P J_u.
//! All maps act on one probe at a time as N x width row-major buffers (the `[B, T, width]` layout).

use std::ops::Range;

use faer::{Mat, MatMut, MatRef};
use gentk_linalg::kernels::gemm;

use super::forward::{AttentionBlock, AttentionTape};
use crate::params::{tensor_matrix, tensor_matrix_mut};

/// `out <- a ⊙ b`.
fn hadamard_into(a: MatRef<'_, f64>, b: MatRef<'_, f64>, mut out: MatMut<'_, f64>) {
    for j in 0..a.ncols() {
        for i in 0..a.nrows() {
            out[(i, j)] = a[(i, j)] * b[(i, j)];
        }
    }
}

fn cols(x: MatRef<'_, f64>, r: Range<usize>) -> MatRef<'_, f64> {
    x.subcols(r.start, r.len())
}

fn cols_mut(x: MatMut<'_, f64>, r: Range<usize>) -> MatMut<'_, f64> {
    x.subcols_mut(r.start, r.len())
}

impl AttentionBlock {
    fn views<'a>(
        &self,
        tape: &AttentionTape,
        x: &'a [f64],
        y: &'a mut [f64],
    ) -> (MatRef<'a, f64>, MatMut<'a, f64>) {
        let (n, w) = (tape.tokens(), self.config().state_width());
        (
            MatRef::from_row_major_slice(x, n, w),
            MatMut::from_row_major_slice_mut(y, n, w),
        )
    }

    /// δV = P δu: an injection δu at the pre-activations carried to V (length N·width each).
    pub fn propagate(&self, tape: &AttentionTape, du: &[f64], dv_out: &mut [f64]) {
        let c = self.config().channels();
        let (du, mut out) = self.views(tape, du, dv_out);
        let t = &self.t;
        let dh0 = cols(du, c.h0());
        for r in [c.h0(), c.q(), c.k()] {
            cols_mut(out.as_mut(), r).copy_from(dh0);
        }
        let proj = |inj: Range<usize>, w| {
            let mut m = cols(du, inj).to_owned();
            gemm(m.as_mut(), dh0, self.w(w).transpose(), 1.0, true);
            m
        };
        let (dq, dk, dv) = (
            proj(c.q(), &t.w_q),
            proj(c.k(), &t.w_k),
            proj(c.v(), &t.w_v),
        );
        let (time, dh) = (tape.time, self.config().head_dim());
        let mut da = Mat::zeros(tape.tokens(), self.config().d_model);
        self.for_heads(tape.batch, |b, hd| {
            let blk = |m| super::head::block(m, b, hd, time, dh);
            self.head(tape, b, hd).jvp(
                blk(&dq),
                blk(&dk),
                blk(&dv),
                da.as_mut().submatrix_mut(b * time, hd * dh, time, dh),
            );
        });
        cols_mut(out.as_mut(), c.v()).copy_from(&da);
        let mut dao = cols(du, c.attn_out()).to_owned();
        gemm(
            dao.as_mut(),
            da.as_ref(),
            self.w(&t.w_o).transpose(),
            1.0,
            true,
        );
        hadamard_into(
            tape.g1.as_ref(),
            dao.as_ref(),
            cols_mut(out.as_mut(), c.attn_out()),
        );
        let mut dh1 = cols(du, c.h1()).to_owned();
        gemm(
            dh1.as_mut(),
            cols(out.as_ref(), c.attn_out()),
            self.w(&t.w_1).transpose(),
            1.0,
            true,
        );
        hadamard_into(
            tape.g2.as_ref(),
            dh1.as_ref(),
            cols_mut(out.as_mut(), c.h1()),
        );
        let mut dh2 = cols(du, c.h2()).to_owned();
        gemm(
            dh2.as_mut(),
            cols(out.as_ref(), c.h1()),
            self.w(&t.w_2).transpose(),
            1.0,
            true,
        );
        cols_mut(out, c.h2()).copy_from(&dh2);
    }

    /// g_u = P* g_V, the transpose of [`AttentionBlock::propagate`].
    pub fn propagate_adjoint(&self, tape: &AttentionTape, gv: &[f64], gu_out: &mut [f64]) {
        let c = self.config().channels();
        let (g, mut out) = self.views(tape, gv, gu_out);
        let t = &self.t;
        // h2 → u2 → h1 → u1 → attn_out → a.
        cols_mut(out.as_mut(), c.h2()).copy_from(cols(g, c.h2()));
        let mut gu2 = cols(g, c.h1()).to_owned();
        gemm(gu2.as_mut(), cols(g, c.h2()), self.w(&t.w_2), 1.0, true);
        hadamard_into(
            tape.g2.as_ref(),
            gu2.as_ref(),
            cols_mut(out.as_mut(), c.h1()),
        );
        let mut gu1 = cols(g, c.attn_out()).to_owned();
        gemm(
            gu1.as_mut(),
            cols(out.as_ref(), c.h1()),
            self.w(&t.w_1),
            1.0,
            true,
        );
        hadamard_into(
            tape.g1.as_ref(),
            gu1.as_ref(),
            cols_mut(out.as_mut(), c.attn_out()),
        );
        let mut ga = cols(g, c.v()).to_owned();
        gemm(
            ga.as_mut(),
            cols(out.as_ref(), c.attn_out()),
            self.w(&t.w_o),
            1.0,
            true,
        );
        // The heads: a ← q, k, v.
        let (n, d) = (tape.tokens(), self.config().d_model);
        let (time, dh) = (tape.time, self.config().head_dim());
        let (mut gq, mut gk, mut gvv) = (Mat::zeros(n, d), Mat::zeros(n, d), Mat::zeros(n, d));
        self.for_heads(tape.batch, |b, hd| {
            let (r, cc) = (b * time, hd * dh);
            self.head(tape, b, hd).vjp_add(
                ga.as_ref().submatrix(r, cc, time, dh),
                gq.as_mut().submatrix_mut(r, cc, time, dh),
                gk.as_mut().submatrix_mut(r, cc, time, dh),
                gvv.as_mut().submatrix_mut(r, cc, time, dh),
            );
        });
        // h0 feeds its three copies in V and q, k, v.
        let mut gh0 = cols(g, c.h0()).to_owned();
        gh0 += cols(g, c.q());
        gh0 += cols(g, c.k());
        for (gx, w) in [(&gq, &t.w_q), (&gk, &t.w_k), (&gvv, &t.w_v)] {
            gemm(gh0.as_mut(), gx.as_ref(), self.w(w), 1.0, true);
        }
        cols_mut(out.as_mut(), c.q()).copy_from(&gq);
        cols_mut(out.as_mut(), c.k()).copy_from(&gk);
        cols_mut(out.as_mut(), c.v()).copy_from(&gvv);
        cols_mut(out, c.h0()).copy_from(&gh0);
    }

    /// δu = J_u δθ, the weight-site map: δu_j = S_j δW_jᵀ in weight j's channel block (the bias
    /// and the learned positions write h0 too; W_3 writes nothing of u).
    pub fn site_jvp(&self, tape: &AttentionTape, dtheta: &[f64], du_out: &mut [f64]) {
        let (n, w) = (tape.tokens(), self.config().state_width());
        let mut out = MatMut::from_row_major_slice_mut(du_out, n, w);
        out.fill(0.0);
        let t = &self.t;
        for (e, site, ch) in self.site_blocks(tape) {
            gemm(
                cols_mut(out.as_mut(), ch),
                site,
                tensor_matrix(dtheta, e).transpose(),
                1.0,
                true,
            );
        }
        let mut h0 = cols_mut(out.as_mut(), self.config().channels().h0());
        let db = &dtheta[t.b_in.range()];
        let dpos = t.pos.as_ref().map(|p| tensor_matrix(dtheta, p));
        for s in 0..n {
            for (c, b) in db.iter().enumerate() {
                h0[(s, c)] += b + dpos.map_or(0.0, |p| p[(s % tape.time, c)]);
            }
        }
    }

    /// δθ = J_u* g_u (overwrites `grad`, length n_θ; W_3's entries are zero).
    pub fn site_vjp(&self, tape: &AttentionTape, gu: &[f64], grad: &mut [f64]) {
        let (n, w) = (tape.tokens(), self.config().state_width());
        let g = MatRef::from_row_major_slice(gu, n, w);
        grad.iter_mut().for_each(|x| *x = 0.0);
        let t = &self.t;
        for (e, site, ch) in self.site_blocks(tape) {
            gemm(
                tensor_matrix_mut(grad, e),
                cols(g, ch).transpose(),
                site,
                1.0,
                false,
            );
        }
        let gh0 = cols(g, self.config().channels().h0());
        for (c, x) in grad[t.b_in.range()].iter_mut().enumerate() {
            *x = (0..n).map(|s| gh0[(s, c)]).sum();
        }
        if let Some(p) = &t.pos {
            let mut gp = tensor_matrix_mut(grad, p);
            for s in 0..n {
                for c in 0..gh0.ncols() {
                    gp[(s % tape.time, c)] += gh0[(s, c)];
                }
            }
        }
    }

    /// The weight matrices with their site variables and channel blocks (the bias and positions,
    /// whose sites are constant, are handled by the callers).
    fn site_blocks<'a>(
        &'a self,
        tape: &'a AttentionTape,
    ) -> [(&'a crate::params::ParamEntry, MatRef<'a, f64>, Range<usize>); 7] {
        let (t, c) = (&self.t, self.config().channels());
        [
            (&t.w_in, tape.x_in.as_ref(), c.h0()),
            (&t.w_q, tape.h0.as_ref(), c.q()),
            (&t.w_k, tape.h0.as_ref(), c.k()),
            (&t.w_v, tape.h0.as_ref(), c.v()),
            (&t.w_o, tape.a.as_ref(), c.attn_out()),
            (&t.w_1, tape.u1.as_ref(), c.h1()),
            (&t.w_2, tape.u2.as_ref(), c.h2()),
        ]
    }

    /// δV = J δθ = P J_u δθ for one tangent (length n_θ) → N x width.
    pub fn param_jvp(&self, tape: &AttentionTape, dtheta: &[f64]) -> Vec<f64> {
        let len = tape.tokens() * self.config().state_width();
        let mut du = vec![0.0; len];
        self.site_jvp(tape, dtheta, &mut du);
        let mut dv = vec![0.0; len];
        self.propagate(tape, &du, &mut dv);
        dv
    }

    /// δθ = J* g = J_u* P* g for a cotangent g (N x width) → length n_θ (W_3's gradient is zero:
    /// V does not depend on it).
    pub fn param_vjp(&self, tape: &AttentionTape, g: &[f64]) -> Vec<f64> {
        let mut gu = vec![0.0; g.len()];
        self.propagate_adjoint(tape, g, &mut gu);
        let mut grad = vec![0.0; self.params().layout().len()];
        self.site_vjp(tape, &gu, &mut grad);
        grad
    }
}
