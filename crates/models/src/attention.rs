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

use std::sync::Arc;

use faer::{Mat, MatMut, MatRef};
use gentk_linalg::kernels::gemm;

use crate::error::{Result, check_size, config};
use crate::init;
use crate::params::{ParamEntry, ParamLayout, Params, tensor_matrix, tensor_matrix_mut};

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
    /// Width of V: 3D + D + D + M + M.
    pub fn state_width(&self) -> usize {
        5 * self.d_model + 2 * self.mlp_hidden
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
use names::*;

/// The attention + MLP block.
#[derive(Debug, Clone)]
pub struct AttentionBlock {
    cfg: AttentionConfig,
    params: Params,
    e: [ParamEntry; 9],
    pos: Option<ParamEntry>,
}

/// Everything a forward pass records, per token (rows b·T + t).
#[derive(Debug, Clone)]
pub struct AttentionTape {
    /// Trials.
    pub batch: usize,
    /// Tokens per trial.
    pub time: usize,
    pub(crate) x_in: Mat<f64>,
    pub(crate) h0: Mat<f64>,
    pub(crate) q: Mat<f64>,
    pub(crate) k: Mat<f64>,
    pub(crate) v: Mat<f64>,
    /// Attention matrices, index b·heads + h, each T x T (rows: queries).
    pub probs: Vec<Mat<f64>>,
    pub(crate) a: Mat<f64>,
    pub(crate) ao: Mat<f64>,
    pub(crate) u1: Mat<f64>,
    pub(crate) h1: Mat<f64>,
    pub(crate) u2: Mat<f64>,
    pub(crate) h2: Mat<f64>,
    /// Outputs y, N x d_out.
    pub y: Mat<f64>,
}

fn erf_gelu(x: f64) -> (f64, f64) {
    let cdf = 0.5 * (1.0 + libm::erf(x / std::f64::consts::SQRT_2));
    let pdf = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
    (x * cdf, cdf + x * pdf)
}

fn gelu_mat(x: &Mat<f64>) -> (Mat<f64>, Mat<f64>) {
    let mut g = Mat::zeros(x.nrows(), x.ncols());
    let mut d = Mat::zeros(x.nrows(), x.ncols());
    for j in 0..x.ncols() {
        for i in 0..x.nrows() {
            let (a, b) = erf_gelu(x[(i, j)]);
            g[(i, j)] = a;
            d[(i, j)] = b;
        }
    }
    (g, d)
}

/// C = A Bᵀ (rows are tokens throughout).
fn abt(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Mat<f64> {
    let mut c = Mat::zeros(a.nrows(), b.nrows());
    gemm(c.as_mut(), a, b.transpose(), 1.0, false);
    c
}

fn add_abt(mut c: MatMut<'_, f64>, a: MatRef<'_, f64>, b: MatRef<'_, f64>) {
    gemm(c.as_mut(), a, b.transpose(), 1.0, true);
}

fn hadamard(a: &Mat<f64>, b: &Mat<f64>) -> Mat<f64> {
    Mat::from_fn(a.nrows(), a.ncols(), |i, j| a[(i, j)] * b[(i, j)])
}

impl AttentionBlock {
    /// The parameter layout.
    pub fn layout(cfg: &AttentionConfig) -> ParamLayout {
        let (d, m, din) = (cfg.d_model, cfg.mlp_hidden, cfg.input_features());
        let mut t = vec![(W_IN, vec![d, din]), (B_IN, vec![d])];
        if cfg.positional == Positional::Learned {
            t.push((POS, vec![cfg.max_seq_len, d]));
        }
        t.extend([
            (W_Q, vec![d, d]),
            (W_K, vec![d, d]),
            (W_V, vec![d, d]),
            (W_O, vec![d, d]),
            (W_1, vec![m, d]),
            (W_2, vec![m, m]),
            (W_3, vec![cfg.d_output, m]),
        ]);
        ParamLayout::new(t)
    }

    /// Zero parameters.
    pub fn zeros(cfg: AttentionConfig) -> Result<Self> {
        if cfg.d_model == 0 || cfg.n_heads == 0 || cfg.d_model % cfg.n_heads != 0 {
            return Err(config(
                "n_heads",
                format!(
                    "d_model {} must be a positive multiple of n_heads {}",
                    cfg.d_model, cfg.n_heads
                ),
            ));
        }
        if cfg.d_input == 0 || cfg.mlp_hidden == 0 || cfg.d_output == 0 || cfg.max_seq_len == 0 {
            return Err(config(
                "d_input/mlp_hidden/d_output/max_seq_len",
                "sizes must be ≥ 1",
            ));
        }
        if cfg.fourier_freqs.is_some() && cfg.d_input != 1 {
            return Err(config("fourier_freqs", "Fourier features need d_input = 1"));
        }
        if let Positional::Sinusoidal { components } = cfg.positional
            && components > cfg.d_model
        {
            return Err(config(
                "positional.components",
                format!("{components} exceeds d_model {}", cfg.d_model),
            ));
        }
        let params = Params::zeros(Self::layout(&cfg));
        let l = params.layout();
        let g = |n: &str| l.get(n).cloned();
        let e = [
            g(W_IN)?,
            g(B_IN)?,
            g(W_Q)?,
            g(W_K)?,
            g(W_V)?,
            g(W_O)?,
            g(W_1)?,
            g(W_2)?,
            g(W_3)?,
        ];
        let pos = if cfg.positional == Positional::Learned {
            Some(g(POS)?)
        } else {
            None
        };
        Ok(AttentionBlock {
            cfg,
            params,
            e,
            pos,
        })
    }

    /// PyTorch Linear defaults (U(±1/√fan_in), weights and the input bias); learned positions
    /// 0.02·N(0, 1).
    pub fn init(cfg: AttentionConfig, seed: u64) -> Result<Self> {
        let mut m = Self::zeros(cfg)?;
        let mut r = init::rng(seed, init::purpose::INIT);
        let (w_in, b_in) = (m.e[0].clone(), m.e[1].clone());
        let fan = w_in.shape[1];
        let v = init::linear_uniform(&mut r, fan, w_in.len());
        m.params.values_mut()[w_in.range()].copy_from_slice(&v);
        let v = init::linear_uniform(&mut r, fan, b_in.len());
        m.params.values_mut()[b_in.range()].copy_from_slice(&v);
        if let Some(p) = m.pos.clone() {
            let v = init::normal(&mut r, p.len());
            m.params.values_mut()[p.range()]
                .iter_mut()
                .zip(v)
                .for_each(|(d, s)| *d = 0.02 * s);
        }
        let entries = m.e.clone();
        for e in &entries[2..] {
            let v = init::linear_uniform(&mut r, e.shape[1], e.len());
            m.params.values_mut()[e.range()].copy_from_slice(&v);
        }
        Ok(m)
    }

    /// Parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }
    /// Mutable parameters.
    pub fn params_mut(&mut self) -> &mut Params {
        &mut self.params
    }
    /// The configuration.
    pub fn config(&self) -> &AttentionConfig {
        &self.cfg
    }

    /// h0 = x_in W_inᵀ + b_in (+ the positional term), per token (N x D).
    pub(crate) fn input_projection(&self, x_in: &Mat<f64>, time: usize) -> Mat<f64> {
        let d = self.cfg.d_model;
        let n = x_in.nrows();
        let mut h0 = abt(x_in.as_ref(), self.w(0));
        let b_in = &self.params.values()[self.e[1].range()];
        let pos = match self.cfg.positional {
            Positional::Off => None,
            Positional::Learned => self
                .pos
                .as_ref()
                .map(|p| tensor_matrix(self.params.values(), p).to_owned()),
            Positional::Sinusoidal { components } => Some(self.sinusoid(time, components)),
        };
        for s in 0..n {
            for c in 0..d {
                h0[(s, c)] += b_in[c] + pos.as_ref().map_or(0.0, |p| p[(s % time, c)]);
            }
        }
        h0
    }

    /// Multi-head softmax attention of per-token q, k, v (N x D): a = [A_h v_h]_h and the A_h.
    pub(crate) fn attend(
        &self,
        q: &Mat<f64>,
        k: &Mat<f64>,
        v: &Mat<f64>,
        batch: usize,
        time: usize,
    ) -> (Mat<f64>, Vec<Mat<f64>>) {
        let (d, nh) = (self.cfg.d_model, self.cfg.n_heads);
        let n = batch * time;
        let dh = d / nh;
        let scale = 1.0 / (dh as f64).sqrt();
        let mut a = Mat::zeros(n, d);
        let mut probs = Vec::with_capacity(batch * nh);
        for b in 0..batch {
            for hd in 0..nh {
                let rows =
                    |m: &Mat<f64>| m.as_ref().submatrix(b * time, hd * dh, time, dh).to_owned();
                let (qh, kh, vh) = (rows(q), rows(k), rows(v));
                let mut sc = abt(qh.as_ref(), kh.as_ref());
                for i in 0..time {
                    let row_max = (0..time)
                        .filter(|&j| !self.cfg.causal || j <= i)
                        .map(|j| sc[(i, j)] * scale)
                        .fold(f64::NEG_INFINITY, f64::max);
                    let mut z = 0.0;
                    for j in 0..time {
                        let e = if self.cfg.causal && j > i {
                            0.0
                        } else {
                            (sc[(i, j)] * scale - row_max).exp()
                        };
                        sc[(i, j)] = e;
                        z += e;
                    }
                    for j in 0..time {
                        sc[(i, j)] /= z;
                    }
                }
                let mut ah = Mat::zeros(time, dh);
                gemm(ah.as_mut(), sc.as_ref(), vh.as_ref(), 1.0, false);
                a.as_mut()
                    .submatrix_mut(b * time, hd * dh, time, dh)
                    .copy_from(&ah);
                probs.push(sc);
            }
        }
        (a, probs)
    }

    pub(crate) fn w(&self, i: usize) -> MatRef<'_, f64> {
        tensor_matrix(self.params.values(), &self.e[i])
    }

    pub(crate) fn features(&self, x: &[f64], n: usize) -> Mat<f64> {
        let din = self.cfg.d_input;
        match self.cfg.fourier_freqs {
            None => MatRef::from_row_major_slice(x, n, din).to_owned(),
            Some(k) => Mat::from_fn(n, 2 * k + 1, |s, c| {
                let v = x[s];
                if c == 0 {
                    v
                } else if c <= k {
                    (2.0 * std::f64::consts::PI * 2f64.powi(c as i32 - 1) * v).sin()
                } else {
                    (2.0 * std::f64::consts::PI * 2f64.powi((c - k) as i32 - 1) * v).cos()
                }
            }),
        }
    }

    /// The fixed sinusoidal table (T x D), zero beyond `components` channels.
    pub(crate) fn sinusoid(&self, time: usize, components: usize) -> Mat<f64> {
        let d = self.cfg.d_model;
        Mat::from_fn(time, d, |t, c| {
            if c >= components {
                return 0.0;
            }
            let i = (c / 2) as f64;
            let ang = t as f64 / 10000f64.powf(2.0 * i / d as f64);
            if c % 2 == 0 { ang.sin() } else { ang.cos() }
        })
    }

    /// Forward pass on x `[B, T, d_in]`.
    pub fn forward(&self, x: &[f64], batch: usize, time: usize) -> Result<AttentionTape> {
        if batch == 0 || time == 0 || time > self.cfg.max_seq_len {
            return Err(config(
                "batch/time",
                format!(
                    "need B ≥ 1 and 1 ≤ T ≤ max_seq_len {}",
                    self.cfg.max_seq_len
                ),
            ));
        }
        let n = batch * time;
        check_size(
            "inputs",
            &format!("[{batch}, {time}, {}]", self.cfg.d_input),
            n * self.cfg.d_input,
            x.len(),
        )?;
        if let Some(i) = x.iter().position(|v| !v.is_finite()) {
            return Err(config(
                "inputs",
                format!("non-finite value at flat index {i}"),
            ));
        }
        let x_in = self.features(x, n);
        let h0 = self.input_projection(&x_in, time);
        let (q, k, v) = (
            abt(h0.as_ref(), self.w(2)),
            abt(h0.as_ref(), self.w(3)),
            abt(h0.as_ref(), self.w(4)),
        );
        let (a, probs) = self.attend(&q, &k, &v, batch, time);
        let ao = abt(a.as_ref(), self.w(5));
        let (u1, _) = gelu_mat(&ao);
        let h1 = abt(u1.as_ref(), self.w(6));
        let (u2, _) = gelu_mat(&h1);
        let h2 = abt(u2.as_ref(), self.w(7));
        let y = abt(h2.as_ref(), self.w(8));
        Ok(AttentionTape {
            batch,
            time,
            x_in,
            h0,
            q,
            k,
            v,
            probs,
            a,
            ao,
            u1,
            h1,
            u2,
            h2,
            y,
        })
    }

    /// V = [h0, h0, h0, a, u1, u2, h2] as an N x width row-major buffer (the `[B, T, width]` state).
    pub fn state(&self, tape: &AttentionTape) -> Vec<f64> {
        let parts = [
            &tape.h0, &tape.h0, &tape.h0, &tape.a, &tape.u1, &tape.u2, &tape.h2,
        ];
        concat_rows(&parts)
    }

    /// δV = J_θ δθ for one tangent (length n_θ) → N x width.
    pub fn param_jvp(&self, tape: &AttentionTape, dtheta: &[f64]) -> Vec<f64> {
        let (d, nh, time) = (self.cfg.d_model, self.cfg.n_heads, tape.time);
        let n = tape.batch * time;
        let dw = |i: usize| tensor_matrix(dtheta, &self.e[i]);
        let mut dh0 = abt(tape.x_in.as_ref(), dw(0));
        let db = &dtheta[self.e[1].range()];
        let dpos = self.pos.as_ref().map(|p| tensor_matrix(dtheta, p));
        for s in 0..n {
            for c in 0..d {
                dh0[(s, c)] += db[c] + dpos.map_or(0.0, |p| p[(s % time, c)]);
            }
        }
        let proj = |wi: usize| {
            let mut m = abt(dh0.as_ref(), self.w(wi));
            add_abt(m.as_mut(), tape.h0.as_ref(), dw(wi));
            m
        };
        let (dq, dk, dv) = (proj(2), proj(3), proj(4));
        let dh = d / nh;
        let scale = 1.0 / (dh as f64).sqrt();
        let mut da = Mat::zeros(n, d);
        for b in 0..tape.batch {
            for hd in 0..nh {
                let blk =
                    |m: &Mat<f64>| m.as_ref().submatrix(b * time, hd * dh, time, dh).to_owned();
                let (qh, kh, vh, dqh, dkh, dvh) = (
                    blk(&tape.q),
                    blk(&tape.k),
                    blk(&tape.v),
                    blk(&dq),
                    blk(&dk),
                    blk(&dv),
                );
                let p = &tape.probs[b * nh + hd];
                let mut ds = abt(dqh.as_ref(), kh.as_ref());
                add_abt(ds.as_mut(), qh.as_ref(), dkh.as_ref());
                // dA = A ⊙ (dS·s − rowsum(A ⊙ dS·s)).
                let mut dp = Mat::zeros(time, time);
                for i in 0..time {
                    let m: f64 = (0..time).map(|j| p[(i, j)] * ds[(i, j)] * scale).sum();
                    for j in 0..time {
                        dp[(i, j)] = p[(i, j)] * (ds[(i, j)] * scale - m);
                    }
                }
                let mut dah = Mat::zeros(time, dh);
                gemm(dah.as_mut(), dp.as_ref(), vh.as_ref(), 1.0, false);
                gemm(dah.as_mut(), p.as_ref(), dvh.as_ref(), 1.0, true);
                da.as_mut()
                    .submatrix_mut(b * time, hd * dh, time, dh)
                    .copy_from(&dah);
            }
        }
        let mut dao = abt(da.as_ref(), self.w(5));
        add_abt(dao.as_mut(), tape.a.as_ref(), dw(5));
        let (_, g1) = gelu_mat(&tape.ao);
        let du1 = hadamard(&g1, &dao);
        let mut dh1 = abt(du1.as_ref(), self.w(6));
        add_abt(dh1.as_mut(), tape.u1.as_ref(), dw(6));
        let (_, g2) = gelu_mat(&tape.h1);
        let du2 = hadamard(&g2, &dh1);
        let mut dh2 = abt(du2.as_ref(), self.w(7));
        add_abt(dh2.as_mut(), tape.u2.as_ref(), dw(7));
        concat_rows(&[&dh0, &dh0, &dh0, &da, &du1, &du2, &dh2])
    }

    /// δθ = J_θᵀ g for a cotangent g (N x width) → length n_θ (W_3's gradient is zero: V does not
    /// depend on it).
    pub fn param_vjp(&self, tape: &AttentionTape, g: &[f64]) -> Vec<f64> {
        let (d, m, nh, time) = (
            self.cfg.d_model,
            self.cfg.mlp_hidden,
            self.cfg.n_heads,
            tape.time,
        );
        let n = tape.batch * time;
        let width = self.cfg.state_width();
        let part = |off: usize, w: usize| Mat::from_fn(n, w, |s, c| g[s * width + off + c]);
        let mut grad = vec![0.0; self.params.layout().len()];
        // V = [h0 | h0 | h0 | a | u1 (D) | u2 (M) | h2 (M)].
        let g_h2 = part(5 * d + m, m);
        let mut g_u2 = part(5 * d, m);
        let mut g_u1 = part(4 * d, d);
        let mut g_a = part(3 * d, d);
        let mut g_h0 = part(0, d);
        for c in [d, 2 * d] {
            let p = part(c, d);
            g_h0 += &p;
        }
        let put = |i: usize, gout: &Mat<f64>, input: &Mat<f64>, grad: &mut Vec<f64>| {
            gemm(
                tensor_matrix_mut(grad, &self.e[i]),
                gout.transpose(),
                input.as_ref(),
                1.0,
                false,
            );
        };
        put(7, &g_h2, &tape.u2, &mut grad);
        gemm(g_u2.as_mut(), g_h2.as_ref(), self.w(7), 1.0, true);
        let (_, d2) = gelu_mat(&tape.h1);
        let g_h1 = hadamard(&d2, &g_u2);
        put(6, &g_h1, &tape.u1, &mut grad);
        gemm(g_u1.as_mut(), g_h1.as_ref(), self.w(6), 1.0, true);
        let (_, d1) = gelu_mat(&tape.ao);
        let g_ao = hadamard(&d1, &g_u1);
        put(5, &g_ao, &tape.a, &mut grad);
        gemm(g_a.as_mut(), g_ao.as_ref(), self.w(5), 1.0, true);
        let dh = d / nh;
        let scale = 1.0 / (dh as f64).sqrt();
        let (mut g_q, mut g_k, mut g_v) = (Mat::zeros(n, d), Mat::zeros(n, d), Mat::zeros(n, d));
        for b in 0..tape.batch {
            for hd in 0..nh {
                let blk = |mm: &Mat<f64>| {
                    mm.as_ref()
                        .submatrix(b * time, hd * dh, time, dh)
                        .to_owned()
                };
                let (qh, kh, vh, gah) = (blk(&tape.q), blk(&tape.k), blk(&tape.v), blk(&g_a));
                let p = &tape.probs[b * nh + hd];
                let gp = abt(gah.as_ref(), vh.as_ref()); // g_A = g_a vᵀ
                let mut gvh = Mat::zeros(time, dh);
                gemm(gvh.as_mut(), p.transpose(), gah.as_ref(), 1.0, false);
                let mut gs = Mat::zeros(time, time);
                for i in 0..time {
                    let mm: f64 = (0..time).map(|j| p[(i, j)] * gp[(i, j)]).sum();
                    for j in 0..time {
                        gs[(i, j)] = scale * p[(i, j)] * (gp[(i, j)] - mm);
                    }
                }
                let mut gqh = Mat::zeros(time, dh);
                gemm(gqh.as_mut(), gs.as_ref(), kh.as_ref(), 1.0, false);
                let mut gkh = Mat::zeros(time, dh);
                gemm(gkh.as_mut(), gs.transpose(), qh.as_ref(), 1.0, false);
                g_q.as_mut()
                    .submatrix_mut(b * time, hd * dh, time, dh)
                    .copy_from(&gqh);
                g_k.as_mut()
                    .submatrix_mut(b * time, hd * dh, time, dh)
                    .copy_from(&gkh);
                g_v.as_mut()
                    .submatrix_mut(b * time, hd * dh, time, dh)
                    .copy_from(&gvh);
            }
        }
        for (i, gx) in [(2, &g_q), (3, &g_k), (4, &g_v)] {
            put(i, gx, &tape.h0, &mut grad);
            gemm(g_h0.as_mut(), gx.as_ref(), self.w(i), 1.0, true);
        }
        put(0, &g_h0, &tape.x_in, &mut grad);
        for (c, x) in grad[self.e[1].range()].iter_mut().enumerate() {
            *x = (0..n).map(|s| g_h0[(s, c)]).sum();
        }
        if let Some(p) = &self.pos {
            let mut gp = tensor_matrix_mut(&mut grad, p);
            for s in 0..n {
                for c in 0..d {
                    gp[(s % time, c)] += g_h0[(s, c)];
                }
            }
        }
        grad
    }

    /// Weight sites of the fine-grained state (PAPER.md §3.7–3.8): each weight W_j with its per-token
    /// site variable v_j; with the pre-activations in the state, K = ⊕_j (G_j ⊗ I).
    pub fn weight_sites(&self, tape: &AttentionTape) -> Vec<AttentionSite> {
        let n = tape.batch * tape.time;
        let s = |m: &Mat<f64>| Arc::new(m.clone());
        let ones = Arc::new(Mat::from_fn(n, 1, |_, _| 1.0));
        let h0 = s(&tape.h0);
        let mut v = vec![
            AttentionSite {
                param: W_IN.into(),
                sites: s(&tape.x_in),
            },
            AttentionSite {
                param: B_IN.into(),
                sites: ones,
            },
            AttentionSite {
                param: W_Q.into(),
                sites: h0.clone(),
            },
            AttentionSite {
                param: W_K.into(),
                sites: h0.clone(),
            },
            AttentionSite {
                param: W_V.into(),
                sites: h0,
            },
            AttentionSite {
                param: W_O.into(),
                sites: s(&tape.a),
            },
            AttentionSite {
                param: W_1.into(),
                sites: s(&tape.u1),
            },
            AttentionSite {
                param: W_2.into(),
                sites: s(&tape.u2),
            },
            AttentionSite {
                param: W_3.into(),
                sites: s(&tape.h2),
            },
        ];
        if self.pos.is_some() {
            v.push(AttentionSite {
                param: POS.into(),
                sites: Arc::new(Mat::from_fn(n, tape.time, |r, c| {
                    if r % tape.time == c { 1.0 } else { 0.0 }
                })),
            });
        }
        v
    }
}

/// One weight of the attention block with its per-token site variables (N x fan_in): the weight's
/// pre-activation at token s is W v(s) (a positional table is a weight with one-hot sites).
#[derive(Debug, Clone)]
pub struct AttentionSite {
    /// Tensor name.
    pub param: String,
    /// Site variables, N x fan_in.
    pub sites: Arc<Mat<f64>>,
}

fn concat_rows(parts: &[&Mat<f64>]) -> Vec<f64> {
    let n = parts[0].nrows();
    let width: usize = parts.iter().map(|p| p.ncols()).sum();
    let mut out = vec![0.0; n * width];
    for s in 0..n {
        let mut off = 0;
        for p in parts {
            for c in 0..p.ncols() {
                out[s * width + off + c] = p[(s, c)];
            }
            off += p.ncols();
        }
    }
    out
}
