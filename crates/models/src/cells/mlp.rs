//! MLPs with depth playing time (PAPER.md §6.6, §6.7): layer ℓ's output is the state z_ℓ of "step"
//! ℓ, so the state of a batch is `[B, L, width]` and P, K, NTK_S are built exactly as for RNNs.
//!
//! * layer 0: z_0 = act(W_0 x + b_0) (no dependence on a previous state: A_0 = 0);
//! * layer ℓ ≥ 1: z_ℓ = act(W_ℓ z_{ℓ−1} + b_ℓ), or z_{ℓ−1} + act(W_ℓ z_{ℓ−1} + b_ℓ) when residual.
//!
//! Deep ReLU MLP of the trace paper: `MlpConfig::deep_relu(100, 64, 15)` (Linear 100→64, then 14 ×
//! [ReLU, Linear 64→64], final ReLU). Residual tanh MLP: `MlpConfig::residual_tanh(2, N, L)`.
//! Tensor names: `layers.{ℓ}.weight` [width, fan_in], `layers.{ℓ}.bias` [width].

use std::sync::Arc;

use faer::{Mat, MatMut, MatRef};
use gentk_linalg::kernels::gemm;

use crate::error::{Result, check_size, config};
use crate::init;
use crate::params::{ParamEntry, ParamLayout, Params, tensor_matrix, tensor_matrix_mut};
use crate::rollout::*;

/// Elementwise nonlinearity of an MLP layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// max(0, u), derivative 0 at u = 0 (PyTorch's convention).
    Relu,
    /// tanh(u).
    Tanh,
}

impl Activation {
    fn eval(self, u: f64) -> (f64, f64) {
        match self {
            Activation::Relu => {
                if u > 0.0 {
                    (u, 1.0)
                } else {
                    (0.0, 0.0)
                }
            }
            Activation::Tanh => {
                let t = crate::activations::tanh(u);
                (t, 1.0 - t * t)
            }
        }
    }
}

/// Configuration of an MLP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MlpConfig {
    /// Input size n_x.
    pub input: usize,
    /// Width of every layer (the state size H).
    pub width: usize,
    /// Number of layers L (the "time" axis).
    pub depth: usize,
    /// Nonlinearity.
    pub activation: Activation,
    /// Residual blocks for layers ≥ 1.
    pub residual: bool,
    /// Biases on every layer.
    pub bias: bool,
}

impl MlpConfig {
    /// Plain ReLU MLP with biases.
    pub fn deep_relu(input: usize, width: usize, depth: usize) -> Self {
        MlpConfig {
            input,
            width,
            depth,
            activation: Activation::Relu,
            residual: false,
            bias: true,
        }
    }
    /// [Linear + tanh] then residual tanh blocks, with biases.
    pub fn residual_tanh(input: usize, width: usize, depth: usize) -> Self {
        MlpConfig {
            input,
            width,
            depth,
            activation: Activation::Tanh,
            residual: true,
            bias: true,
        }
    }
}

/// An MLP whose layers are the steps of a [`StepModel`].
#[derive(Debug, Clone)]
pub struct Mlp {
    cfg: MlpConfig,
    params: Params,
    w: Vec<ParamEntry>,
    b: Vec<Option<ParamEntry>>,
}

/// Name of layer ℓ's weight.
pub fn weight_name(l: usize) -> String {
    format!("layers.{l}.weight")
}
/// Name of layer ℓ's bias.
pub fn bias_name(l: usize) -> String {
    format!("layers.{l}.bias")
}

impl Mlp {
    /// The parameter layout.
    pub fn layout(cfg: &MlpConfig) -> ParamLayout {
        let mut t = Vec::new();
        for l in 0..cfg.depth {
            let fan_in = if l == 0 { cfg.input } else { cfg.width };
            t.push((weight_name(l), vec![cfg.width, fan_in]));
            if cfg.bias {
                t.push((bias_name(l), vec![cfg.width]));
            }
        }
        ParamLayout::new(t)
    }

    /// Zero parameters.
    pub fn zeros(cfg: MlpConfig) -> Result<Self> {
        if cfg.input == 0 || cfg.width == 0 || cfg.depth == 0 {
            return Err(config("input/width/depth", "sizes must be ≥ 1"));
        }
        let params = Params::zeros(Self::layout(&cfg));
        let lay = params.layout();
        let mut w = Vec::new();
        let mut b = Vec::new();
        for l in 0..cfg.depth {
            w.push(lay.get(&weight_name(l))?.clone());
            b.push(if cfg.bias {
                Some(lay.get(&bias_name(l))?.clone())
            } else {
                None
            });
        }
        Ok(Mlp { cfg, params, w, b })
    }

    /// nn.Linear defaults U(±1/√fan_in) for every weight and bias, then every weight ← g·weight.
    pub fn init(cfg: MlpConfig, gain: f64, seed: u64) -> Result<Self> {
        let mut m = Self::zeros(cfg)?;
        let mut r = init::rng(seed, init::purpose::INIT);
        for l in 0..m.cfg.depth {
            let fan_in = m.w[l].shape[1];
            let w = init::linear_uniform(&mut r, fan_in, m.w[l].len());
            let range = m.w[l].range();
            m.params.values_mut()[range]
                .iter_mut()
                .zip(&w)
                .for_each(|(d, s)| *d = gain * s);
            if let Some(e) = m.b[l].clone() {
                let v = init::linear_uniform(&mut r, fan_in, e.len());
                m.params.values_mut()[e.range()].copy_from_slice(&v);
            }
        }
        Ok(m)
    }

    /// Sets every bias to zero (the residual study's initialisation).
    pub fn zero_biases(&mut self) {
        for e in self.b.iter().flatten() {
            self.params.values_mut()[e.range()]
                .iter_mut()
                .for_each(|x| *x = 0.0);
        }
    }

    /// The configuration.
    pub fn config(&self) -> &MlpConfig {
        &self.cfg
    }

    /// Forward pass on x `[B, n_x]`; the rollout has time = depth and stores x at step 0 (zeros at
    /// later steps of `inputs`).
    pub fn forward(&self, x: &[f64], batch: usize) -> Result<Rollout> {
        let (nx, h, depth) = (self.cfg.input, self.cfg.width, self.cfg.depth);
        if batch == 0 {
            return Err(config("batch", "must be ≥ 1"));
        }
        check_size("inputs", &format!("[{batch}, {nx}]"), batch * nx, x.len())?;
        let n = batch * depth;
        let mut inputs = vec![0.0; n * nx];
        for b in 0..batch {
            inputs[b * depth * nx..b * depth * nx + nx].copy_from_slice(&x[b * nx..(b + 1) * nx]);
        }
        let th = self.params.values();
        let (mut states, mut prev, mut d) = (vec![0.0; n * h], vec![0.0; n * h], vec![0.0; n * h]);
        let mut cur = Mat::<f64>::zeros(batch, h);
        for l in 0..depth {
            write_step(&mut prev, depth, h, l, cur.as_ref());
            let mut pre = Mat::zeros(batch, h);
            let src = if l == 0 {
                MatRef::from_row_major_slice(x, batch, nx)
            } else {
                cur.as_ref()
            };
            gemm(
                pre.as_mut(),
                src,
                tensor_matrix(th, &self.w[l]).transpose(),
                1.0,
                false,
            );
            let bias = self.b[l].as_ref().map(|e| &th[e.range()]);
            let mut next = Mat::zeros(batch, h);
            let mut dd = Mat::zeros(batch, h);
            for b in 0..batch {
                for i in 0..h {
                    let (a, da) = self
                        .cfg
                        .activation
                        .eval(pre[(b, i)] + bias.map_or(0.0, |v| v[i]));
                    let skip = if self.cfg.residual && l > 0 {
                        cur[(b, i)]
                    } else {
                        0.0
                    };
                    next[(b, i)] = skip + a;
                    dd[(b, i)] = da;
                }
            }
            check_finite(next.as_ref(), l)?;
            cur = next;
            write_step(&mut states, depth, h, l, cur.as_ref());
            write_step(&mut d, depth, h, l, dd.as_ref());
        }
        Ok(Rollout {
            batch,
            time: depth,
            hidden: h,
            input: nx,
            inputs,
            h0: vec![0.0; batch * h],
            states,
            prev,
            tape: vec![d],
        })
    }
}

/// The site vectors of layer ℓ: x for ℓ = 0, z_{ℓ−1} otherwise (B x fan_in).
fn sites_of(ro: &Rollout, l: usize) -> MatRef<'_, f64> {
    if l == 0 {
        step_rows(&ro.inputs, ro.batch, ro.time, ro.input, 0)
    } else {
        step_rows(&ro.prev, ro.batch, ro.time, ro.hidden, l)
    }
}

impl StepModel for Mlp {
    fn arch(&self) -> &'static str {
        "mlp"
    }
    fn input_size(&self) -> usize {
        self.cfg.input
    }
    fn hidden_size(&self) -> usize {
        self.cfg.width
    }
    fn params(&self) -> &Params {
        &self.params
    }
    fn params_mut(&mut self) -> &mut Params {
        &mut self.params
    }
    fn step(&self, ro: &Rollout, t: usize, h_prev: &[f64]) -> Result<Vec<f64>> {
        let (h, batch) = (self.cfg.width, ro.batch);
        check_size(
            "h_prev",
            &format!("[{batch}, {h}]"),
            batch * h,
            h_prev.len(),
        )?;
        let th = self.params.values();
        let x = step_inputs(ro, 0);
        let src = if t == 0 {
            MatRef::from_row_major_slice(&x, batch, self.cfg.input)
        } else {
            MatRef::from_row_major_slice(h_prev, batch, h)
        };
        let mut pre = Mat::zeros(batch, h);
        gemm(
            pre.as_mut(),
            src,
            tensor_matrix(th, &self.w[t]).transpose(),
            1.0,
            false,
        );
        let bias = self.b[t].as_ref().map(|e| &th[e.range()]);
        let mut out = vec![0.0; batch * h];
        for b in 0..batch {
            for i in 0..h {
                let (a, _) = self
                    .cfg
                    .activation
                    .eval(pre[(b, i)] + bias.map_or(0.0, |v| v[i]));
                let skip = if self.cfg.residual && t > 0 {
                    h_prev[b * h + i]
                } else {
                    0.0
                };
                out[b * h + i] = skip + a;
            }
        }
        Ok(out)
    }

    /// A_0 = 0; A_ℓ = [I if residual] + diag(act'(u_ℓ)) W_ℓ.
    fn state_jvp(&self, ro: &Rollout, t: usize, v: MatRef<'_, f64>, mut out: MatMut<'_, f64>) {
        let h = self.cfg.width;
        if t == 0 {
            out.fill(0.0);
            return;
        }
        gemm(
            out.as_mut(),
            tensor_matrix(self.params.values(), &self.w[t]),
            v,
            1.0,
            false,
        );
        for j in 0..v.ncols() {
            let d = ro.site_row(&ro.tape[0], h, j % ro.batch, t);
            for i in 0..h {
                out[(i, j)] *= d[i];
                if self.cfg.residual {
                    out[(i, j)] += v[(i, j)];
                }
            }
        }
    }

    fn state_jvp_flops(&self) -> u64 {
        2 * (self.cfg.width as u64).pow(2)
    }

    /// A_0 = 0; A_ℓ = [I if residual] + diag(act'(u_ℓ)) W_ℓ: one output-side gate, a weight per
    /// layer.
    fn step_factors(&self, ro: &Rollout) -> Option<crate::factored::FactoredStep<f64>> {
        use crate::factored::{FactoredStep, GateSide, Skip, interleave};
        let h = self.cfg.width;
        let layers = (1..ro.time).map(|l| tensor_matrix(self.params.values(), &self.w[l]));
        Some(FactoredStep::new(
            (ro.batch, ro.time, h),
            GateSide::Out,
            if self.cfg.residual {
                Skip::Const(1.0)
            } else {
                Skip::None
            },
            1,
            interleave(&[&ro.tape[0]], h, 1.0),
            layers.collect(),
            (0..ro.time).map(|l| l.checked_sub(1)).collect(),
        ))
    }

    fn state_vjp(&self, ro: &Rollout, t: usize, w: MatRef<'_, f64>, mut out: MatMut<'_, f64>) {
        let h = self.cfg.width;
        if t == 0 {
            out.fill(0.0);
            return;
        }
        let mut g = Mat::zeros(h, w.ncols());
        for j in 0..w.ncols() {
            let d = ro.site_row(&ro.tape[0], h, j % ro.batch, t);
            for i in 0..h {
                g[(i, j)] = d[i] * w[(i, j)];
            }
        }
        gemm(
            out.as_mut(),
            tensor_matrix(self.params.values(), &self.w[t]).transpose(),
            g.as_ref(),
            1.0,
            false,
        );
        if self.cfg.residual {
            for j in 0..w.ncols() {
                for i in 0..h {
                    out[(i, j)] += w[(i, j)];
                }
            }
        }
    }

    /// δz(b, ℓ) = act'(u) ⊙ (δW_ℓ v(b, ℓ) + δb_ℓ).
    fn param_jvp(&self, ro: &Rollout, dtheta: &[f64], out: &mut [f64]) {
        let (h, depth, batch) = (self.cfg.width, self.cfg.depth, ro.batch);
        for l in 0..depth {
            let mut u = Mat::zeros(batch, h);
            gemm(
                u.as_mut(),
                sites_of(ro, l),
                tensor_matrix(dtheta, &self.w[l]).transpose(),
                1.0,
                false,
            );
            let db = self.b[l].as_ref().map(|e| &dtheta[e.range()]);
            for b in 0..batch {
                let s = ro.site(b, l);
                for i in 0..h {
                    out[s * h + i] = ro.tape[0][s * h + i] * (u[(b, i)] + db.map_or(0.0, |v| v[i]));
                }
            }
        }
    }

    fn param_vjp(&self, ro: &Rollout, w: &[f64], grad: &mut [f64]) {
        let (h, depth, batch) = (self.cfg.width, self.cfg.depth, ro.batch);
        for l in 0..depth {
            let g = Mat::from_fn(batch, h, |b, i| {
                let s = ro.site(b, l);
                ro.tape[0][s * h + i] * w[s * h + i]
            });
            gemm(
                tensor_matrix_mut(grad, &self.w[l]),
                g.transpose(),
                sites_of(ro, l),
                1.0,
                false,
            );
            if let Some(e) = &self.b[l] {
                for (i, x) in grad[e.range()].iter_mut().enumerate() {
                    *x = (0..batch).map(|b| g[(b, i)]).sum();
                }
            }
        }
    }

    fn weight_sites(&self, ro: &Rollout) -> Vec<WeightSite> {
        let (h, batch) = (self.cfg.width, ro.batch);
        let mut v = Vec::new();
        for l in 0..self.cfg.depth {
            let d = SiteFactor::Diagonal(Arc::new(
                step_rows(&ro.tape[0], batch, ro.time, h, l).to_owned(),
            ));
            v.push(WeightSite {
                param: self.w[l].name.clone(),
                rows: 0..h,
                steps: l..l + 1,
                sites: Arc::new(sites_of(ro, l).to_owned()),
                factor: d.clone(),
                channels: None,
            });
            if let Some(e) = &self.b[l] {
                v.push(WeightSite {
                    param: e.name.clone(),
                    rows: 0..h,
                    steps: l..l + 1,
                    sites: ones(batch),
                    factor: d,
                    channels: None,
                });
            }
        }
        v
    }
}
