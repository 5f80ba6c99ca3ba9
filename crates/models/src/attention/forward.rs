//! The block itself: parameters (PyTorch Linear initialisation), the forward pass and its tape.

use faer::{Mat, MatRef};
use gentk_linalg::kernels::gemm;

use super::config::{AttentionConfig, Positional, names::*};
use super::head::{Head, probabilities};
use crate::error::{Result, check_size, config};
use crate::init;
use crate::params::{ParamEntry, ParamLayout, Params, tensor_matrix};

/// The layout entries of the block's tensors, by name.
#[derive(Debug, Clone)]
pub(crate) struct Tensors {
    pub(crate) w_in: ParamEntry,
    pub(crate) b_in: ParamEntry,
    pub(crate) pos: Option<ParamEntry>,
    pub(crate) w_q: ParamEntry,
    pub(crate) w_k: ParamEntry,
    pub(crate) w_v: ParamEntry,
    pub(crate) w_o: ParamEntry,
    pub(crate) w_1: ParamEntry,
    pub(crate) w_2: ParamEntry,
    pub(crate) w_3: ParamEntry,
}

/// The attention + MLP block.
#[derive(Debug, Clone)]
pub struct AttentionBlock {
    cfg: AttentionConfig,
    params: Params,
    pub(crate) t: Tensors,
}

/// Everything a forward pass records, per token (rows b·T + t), so no derivative recomputes it.
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
    /// gelu'(attn_out).
    pub(crate) g1: Mat<f64>,
    pub(crate) h1: Mat<f64>,
    pub(crate) u2: Mat<f64>,
    /// gelu'(h1).
    pub(crate) g2: Mat<f64>,
    pub(crate) h2: Mat<f64>,
    /// Outputs y, N x d_out.
    pub y: Mat<f64>,
}

impl AttentionTape {
    /// Tokens N = B·T.
    pub fn tokens(&self) -> usize {
        self.batch * self.time
    }
    /// The block's input features x_in (after Fourier features), N x d_in'.
    pub fn input_features(&self) -> MatRef<'_, f64> {
        self.x_in.as_ref()
    }
}

/// Exact (erf) gelu, PyTorch's default, and its derivative.
pub(crate) fn gelu(x: f64) -> (f64, f64) {
    let cdf = 0.5 * (1.0 + libm::erf(x / std::f64::consts::SQRT_2));
    let pdf = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
    (x * cdf, cdf + x * pdf)
}

/// gelu and gelu' elementwise.
pub(crate) fn gelu_mat(x: &Mat<f64>) -> (Mat<f64>, Mat<f64>) {
    let mut g = Mat::zeros(x.nrows(), x.ncols());
    let mut d = Mat::zeros(x.nrows(), x.ncols());
    for j in 0..x.ncols() {
        for i in 0..x.nrows() {
            let (a, b) = gelu(x[(i, j)]);
            g[(i, j)] = a;
            d[(i, j)] = b;
        }
    }
    (g, d)
}

/// C = A Bᵀ (rows are tokens throughout).
pub(crate) fn abt(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Mat<f64> {
    let mut c = Mat::zeros(a.nrows(), b.nrows());
    gemm(c.as_mut(), a, b.transpose(), 1.0, false);
    c
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
        cfg.validate()?;
        let params = Params::zeros(Self::layout(&cfg));
        let l = params.layout();
        let g = |n: &str| l.get(n).cloned();
        let t = Tensors {
            w_in: g(W_IN)?,
            b_in: g(B_IN)?,
            pos: if cfg.positional == Positional::Learned {
                Some(g(POS)?)
            } else {
                None
            },
            w_q: g(W_Q)?,
            w_k: g(W_K)?,
            w_v: g(W_V)?,
            w_o: g(W_O)?,
            w_1: g(W_1)?,
            w_2: g(W_2)?,
            w_3: g(W_3)?,
        };
        Ok(AttentionBlock { cfg, params, t })
    }

    /// PyTorch Linear defaults (U(±1/√fan_in), weights and the input bias); learned positions
    /// 0.02·N(0, 1). Draw order: W_in, b_in, positions, W_Q, W_K, W_V, W_O, W_1, W_2, W_3.
    pub fn init(cfg: AttentionConfig, seed: u64) -> Result<Self> {
        let mut m = Self::zeros(cfg)?;
        let mut r = init::rng(seed, init::purpose::INIT);
        let t = m.t.clone();
        let fan = t.w_in.shape[1];
        let vals = m.params.values_mut();
        vals[t.w_in.range()].copy_from_slice(&init::linear_uniform(&mut r, fan, t.w_in.len()));
        vals[t.b_in.range()].copy_from_slice(&init::linear_uniform(&mut r, fan, t.b_in.len()));
        if let Some(p) = &t.pos {
            let v = init::normal(&mut r, p.len());
            vals[p.range()]
                .iter_mut()
                .zip(v)
                .for_each(|(d, s)| *d = 0.02 * s);
        }
        for e in [&t.w_q, &t.w_k, &t.w_v, &t.w_o, &t.w_1, &t.w_2, &t.w_3] {
            vals[e.range()].copy_from_slice(&init::linear_uniform(&mut r, e.shape[1], e.len()));
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

    /// A weight matrix by its layout entry.
    pub(crate) fn w(&self, e: &ParamEntry) -> MatRef<'_, f64> {
        tensor_matrix(self.params.values(), e)
    }

    /// The positional term per position (T x D), if any.
    fn positions(&self, time: usize) -> Option<Mat<f64>> {
        match self.cfg.positional {
            Positional::Off => None,
            Positional::Learned => self.t.pos.as_ref().map(|p| {
                tensor_matrix(self.params.values(), p)
                    .subrows(0, time)
                    .to_owned()
            }),
            Positional::Sinusoidal { components } => Some(self.sinusoid(time, components)),
        }
    }

    /// h0 = x_in W_inᵀ + b_in (+ the positional term), per token (N x D).
    pub(crate) fn input_projection(&self, x_in: &Mat<f64>, time: usize) -> Mat<f64> {
        let mut h0 = abt(x_in.as_ref(), self.w(&self.t.w_in));
        let b_in = &self.params.values()[self.t.b_in.range()];
        let pos = self.positions(time);
        for s in 0..h0.nrows() {
            for (c, b) in b_in.iter().enumerate() {
                h0[(s, c)] += b + pos.as_ref().map_or(0.0, |p| p[(s % time, c)]);
            }
        }
        h0
    }

    /// Visits every (trial, head) pair, trial-major (the order of `AttentionTape::probs`).
    pub(crate) fn for_heads(&self, batch: usize, mut f: impl FnMut(usize, usize)) {
        for b in 0..batch {
            for hd in 0..self.cfg.n_heads {
                f(b, hd);
            }
        }
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
        let dh = self.cfg.head_dim();
        let scale = 1.0 / (dh as f64).sqrt();
        let mut a = Mat::zeros(batch * time, self.cfg.d_model);
        let mut probs = Vec::with_capacity(batch * self.cfg.n_heads);
        self.for_heads(batch, |b, hd| {
            let blk = |m| super::head::block(m, b, hd, time, dh);
            let p = probabilities(blk(q), blk(k), scale, self.cfg.causal);
            gemm(
                a.as_mut().submatrix_mut(b * time, hd * dh, time, dh),
                p.as_ref(),
                blk(v),
                1.0,
                false,
            );
            probs.push(p);
        });
        (a, probs)
    }

    /// The head of trial `b`, head `hd` of a tape.
    pub(crate) fn head<'a>(&self, tape: &'a AttentionTape, b: usize, hd: usize) -> Head<'a> {
        let (time, dh) = (tape.time, self.cfg.head_dim());
        let blk = |m: &'a Mat<f64>| m.as_ref().submatrix(b * time, hd * dh, time, dh);
        Head {
            p: tape.probs[b * self.cfg.n_heads + hd].as_ref(),
            q: blk(&tape.q),
            k: blk(&tape.k),
            v: blk(&tape.v),
            scale: 1.0 / (dh as f64).sqrt(),
        }
    }

    /// x_in: the raw inputs, or [x, sin(2π2^k x)…, cos(2π2^k x)…] with Fourier features.
    pub(crate) fn features(&self, x: &[f64], n: usize) -> Mat<f64> {
        match self.cfg.fourier_freqs {
            None => MatRef::from_row_major_slice(x, n, self.cfg.d_input).to_owned(),
            Some(k) => Mat::from_fn(n, 2 * k + 1, |s, c| {
                let v = x[s];
                let tau = 2.0 * std::f64::consts::PI;
                if c == 0 {
                    v
                } else if c <= k {
                    (tau * 2f64.powi(c as i32 - 1) * v).sin()
                } else {
                    (tau * 2f64.powi((c - k) as i32 - 1) * v).cos()
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
        self.forward_injected(x, batch, time, None)
    }

    /// Forward pass with `inject` (N x width, row-major) added to the pre-activation state
    /// u = [h0 | q | k | v | attn_out | h1 | h2] as it is computed: the map whose derivative at
    /// zero injection is the propagation operator P (finite-difference checks).
    pub fn forward_injected(
        &self,
        x: &[f64],
        batch: usize,
        time: usize,
        inject: Option<&[f64]>,
    ) -> Result<AttentionTape> {
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
        let width = self.cfg.state_width();
        if let Some(j) = inject {
            check_size("injection", &format!("[{n}, {width}]"), n * width, j.len())?;
        }
        let c = self.cfg.channels();
        let add = |mut m: Mat<f64>, r: std::ops::Range<usize>| {
            if let Some(j) = inject {
                m += MatRef::from_row_major_slice(j, n, width).subcols(r.start, r.len());
            }
            m
        };
        let x_in = self.features(x, n);
        let h0 = add(self.input_projection(&x_in, time), c.h0());
        let t = &self.t;
        let (q, k, v) = (
            add(abt(h0.as_ref(), self.w(&t.w_q)), c.q()),
            add(abt(h0.as_ref(), self.w(&t.w_k)), c.k()),
            add(abt(h0.as_ref(), self.w(&t.w_v)), c.v()),
        );
        let (a, probs) = self.attend(&q, &k, &v, batch, time);
        let ao = add(abt(a.as_ref(), self.w(&t.w_o)), c.attn_out());
        let (u1, g1) = gelu_mat(&ao);
        let h1 = add(abt(u1.as_ref(), self.w(&t.w_1)), c.h1());
        let (u2, g2) = gelu_mat(&h1);
        let h2 = add(abt(u2.as_ref(), self.w(&t.w_2)), c.h2());
        let y = abt(h2.as_ref(), self.w(&t.w_3));
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
            g1,
            h1,
            u2,
            g2,
            h2,
            y,
        })
    }

    /// V = [h0, h0, h0, a, u1, u2, h2] as an N x width row-major buffer (the `[B, T, width]` state).
    pub fn state(&self, tape: &AttentionTape) -> Vec<f64> {
        let parts = [
            &tape.h0, &tape.h0, &tape.h0, &tape.a, &tape.u1, &tape.u2, &tape.h2,
        ];
        let width: usize = parts.iter().map(|p| p.ncols()).sum();
        let mut out = vec![0.0; tape.tokens() * width];
        let mut off = 0;
        for p in parts {
            for s in 0..p.nrows() {
                for c in 0..p.ncols() {
                    out[s * width + off + c] = p[(s, c)];
                }
            }
            off += p.ncols();
        }
        out
    }
}
