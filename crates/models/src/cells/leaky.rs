//! kpflow's weight-based leaky RNN (`BasicRNN`): h' = (1−dt)h + dt(W φ(h) + W_in x [+ b] [+ ξ]),
//! φ = tanh (identity for the linear variant). φ acts *before* W, which makes K = dt²·G ⊗ I_H exact.

use std::sync::Arc;

use faer::{Mat, MatMut, MatRef};
use gentk_linalg::kernels::{gemm, gemm_par, gemm_step};
use rayon::prelude::*;

use crate::error::{Result, config};
use crate::init;
use crate::params::{ParamEntry, ParamLayout, Params, tensor_matrix, tensor_matrix_mut};
use crate::rollout::*;

/// Tensor names (a kpflow `BasicRNN` state_dict under the `rnn.` prefix).
pub const W_IH: &str = crate::names::W_IH;
/// Recurrent weight W.
pub const W_HH: &str = crate::names::W_HH;
/// Optional bias (a gentk option; kpflow's BasicRNN has none).
pub const BIAS: &str = crate::names::LEAKY_BIAS;

/// Configuration of the leaky RNN.
#[derive(Debug, Clone, PartialEq)]
pub struct LeakyRnnConfig {
    /// Input size n_x.
    pub input: usize,
    /// Hidden size H.
    pub hidden: usize,
    /// Euler step dt ∈ (0, 1] (1 gives the plain weight-based RNN).
    pub dt: f64,
    /// Identity instead of tanh.
    pub linear: bool,
    /// Add a bias b.
    pub bias: bool,
    /// Std of the per-step input noise ξ (None: no noise).
    pub noise_std: Option<f64>,
    /// Seed of the noise stream (each rollout redraws from it, so rollouts are reproducible).
    pub noise_seed: u64,
}

impl LeakyRnnConfig {
    /// tanh leaky RNN with dt = 1, no bias, no noise.
    pub fn new(input: usize, hidden: usize) -> Self {
        LeakyRnnConfig {
            input,
            hidden,
            dt: 1.0,
            linear: false,
            bias: false,
            noise_std: None,
            noise_seed: 0,
        }
    }
}

/// The leaky RNN.
#[derive(Debug, Clone)]
pub struct LeakyRnn {
    cfg: LeakyRnnConfig,
    params: Params,
    e_ih: ParamEntry,
    e_hh: ParamEntry,
    e_b: Option<ParamEntry>,
}

const PHI: usize = 0;
const DPHI: usize = 1;

impl LeakyRnn {
    /// The parameter layout for a configuration.
    pub fn layout(cfg: &LeakyRnnConfig) -> ParamLayout {
        let (h, x) = (cfg.hidden, cfg.input);
        let mut t = vec![(W_IH, vec![h, x]), (W_HH, vec![h, h])];
        if cfg.bias {
            t.push((BIAS, vec![h]));
        }
        ParamLayout::new(t)
    }

    /// A model with zero parameters (set them with `params_mut` or a weight file).
    pub fn zeros(cfg: LeakyRnnConfig) -> Result<Self> {
        validate(&cfg)?;
        let params = Params::zeros(Self::layout(&cfg));
        let lay = params.layout();
        let (e_ih, e_hh) = (lay.get(W_IH)?.clone(), lay.get(W_HH)?.clone());
        let e_b = if cfg.bias {
            Some(lay.get(BIAS)?.clone())
        } else {
            None
        };
        Ok(LeakyRnn {
            cfg,
            params,
            e_ih,
            e_hh,
            e_b,
        })
    }

    /// PyTorch-default initialisation (W_in, W as `nn.Linear` weights: U(±1/√fan_in)), then
    /// W ← g·W.
    pub fn init(cfg: LeakyRnnConfig, gain: f64, seed: u64) -> Result<Self> {
        let mut m = Self::zeros(cfg)?;
        let (h, x) = (m.cfg.hidden, m.cfg.input);
        let mut r = init::rng(seed, init::purpose::INIT);
        let w_ih = init::linear_uniform(&mut r, x, h * x);
        let w_hh = init::linear_uniform(&mut r, h, h * h);
        m.params.tensor_mut(W_IH)?.copy_from_slice(&w_ih);
        m.params
            .tensor_mut(W_HH)?
            .iter_mut()
            .zip(&w_hh)
            .for_each(|(d, s)| *d = gain * s);
        if m.cfg.bias {
            let b = init::linear_uniform(&mut r, x, h);
            m.params.tensor_mut(BIAS)?.copy_from_slice(&b);
        }
        Ok(m)
    }

    /// Plants `count` fixed points of the input-free dynamics in W (PAPER.md §6.3); returns them.
    pub fn plant_fixed_points(&mut self, count: usize, seed: u64) -> Result<Vec<Vec<f64>>> {
        if self.cfg.linear || self.cfg.bias {
            return Err(config(
                "plant_fixed_points",
                "needs the tanh leaky RNN without bias",
            ));
        }
        let h = self.cfg.hidden;
        let mut r = init::rng(seed, init::purpose::PLANT);
        Ok(init::plant_fixed_points(
            self.params.tensor_mut(W_HH)?,
            h,
            count,
            &mut r,
        ))
    }

    /// The configuration.
    pub fn config(&self) -> &LeakyRnnConfig {
        &self.cfg
    }

    fn phi(&self, v: f64) -> (f64, f64) {
        if self.cfg.linear {
            (v, 1.0)
        } else {
            let t = crate::activations::tanh(v);
            (t, 1.0 - t * t)
        }
    }
}

fn validate(cfg: &LeakyRnnConfig) -> Result<()> {
    if cfg.hidden == 0 || cfg.input == 0 {
        return Err(config("hidden/input", "sizes must be ≥ 1"));
    }
    if !(cfg.dt > 0.0 && cfg.dt <= 1.0) {
        return Err(config("dt", format!("must lie in (0, 1], got {}", cfg.dt)));
    }
    if let Some(s) = cfg.noise_std
        && !(s >= 0.0 && s.is_finite())
    {
        return Err(config(
            "noise_std",
            format!("must be a non-negative number, got {s}"),
        ));
    }
    Ok(())
}

impl StepModel for LeakyRnn {
    recurrent_step_model_basics!("leaky-rnn");

    /// A v = (1−dt) v + dt·W (φ'(z_t) ⊙ v).
    fn state_jvp(&self, ro: &Rollout, t: usize, v: MatRef<'_, f64>, mut out: MatMut<'_, f64>) {
        let (h, dt) = (self.cfg.hidden, self.cfg.dt);
        let w = tensor_matrix(self.params.values(), &self.e_hh);
        let d = &ro.tape[DPHI];
        let tmp = Mat::from_fn(h, v.ncols(), |i, j| {
            ro.site_row(d, h, j % ro.batch, t)[i] * v[(i, j)]
        });
        gemm_par(out.as_mut(), w, tmp.as_ref(), dt, false);
        for j in 0..v.ncols() {
            for i in 0..h {
                out[(i, j)] += (1.0 - dt) * v[(i, j)];
            }
        }
    }

    /// Aᵀ w = (1−dt) w + dt·φ'(z_t) ⊙ (Wᵀ w).
    fn state_vjp(&self, ro: &Rollout, t: usize, w: MatRef<'_, f64>, mut out: MatMut<'_, f64>) {
        let (h, dt) = (self.cfg.hidden, self.cfg.dt);
        let wm = tensor_matrix(self.params.values(), &self.e_hh);
        let mut tmp = Mat::zeros(h, w.ncols());
        gemm_par(tmp.as_mut(), wm.transpose(), w, 1.0, false);
        let d = &ro.tape[DPHI];
        for j in 0..w.ncols() {
            let row = ro.site_row(d, h, j % ro.batch, t);
            for i in 0..h {
                out[(i, j)] = (1.0 - dt) * w[(i, j)] + dt * row[i] * tmp[(i, j)];
            }
        }
    }

    /// out += (1−dt) v + dt·W (φ'(z_t) ⊙ v): one elementwise pass, then the GEMM accumulates into
    /// `out`.
    fn state_jvp_add(
        &self,
        ro: &Rollout,
        t: usize,
        v: MatRef<'_, f64>,
        mut out: MatMut<'_, f64>,
        scratch: &mut [f64],
    ) {
        let (h, dt, m) = (self.cfg.hidden, self.cfg.dt, v.ncols());
        let (Some(vc), Some(mut oc)) = (v.try_as_col_major(), out.as_mut().try_as_col_major_mut())
        else {
            return add_via_scratch(out, scratch, |a| self.state_jvp(ro, t, v, a));
        };
        let d = &ro.tape[DPHI];
        let tmp = &mut scratch[..h * m];
        for (j, tc) in tmp.chunks_exact_mut(h).enumerate() {
            let dr = ro.site_row(d, h, j % ro.batch, t);
            let (vj, oj) = (vc.col(j).as_slice(), oc.as_mut().col_mut(j).as_slice_mut());
            for i in 0..h {
                tc[i] = dr[i] * vj[i];
                oj[i] += (1.0 - dt) * vj[i];
            }
        }
        let w = tensor_matrix(self.params.values(), &self.e_hh);
        let tmp = MatRef::from_column_major_slice(tmp, h, m);
        gemm_step(oc.as_dyn_stride_mut(), w, tmp, dt, true);
    }

    /// out += (1−dt) w + dt·φ'(z_t) ⊙ (Wᵀ w).
    fn state_vjp_add(
        &self,
        ro: &Rollout,
        t: usize,
        w: MatRef<'_, f64>,
        mut out: MatMut<'_, f64>,
        scratch: &mut [f64],
    ) {
        let (h, dt, m) = (self.cfg.hidden, self.cfg.dt, w.ncols());
        let (Some(wc), Some(mut oc)) = (w.try_as_col_major(), out.as_mut().try_as_col_major_mut())
        else {
            return add_via_scratch(out, scratch, |a| self.state_vjp(ro, t, w, a));
        };
        let tmp = &mut scratch[..h * m];
        let wm = tensor_matrix(self.params.values(), &self.e_hh);
        gemm_step(
            MatMut::from_column_major_slice_mut(tmp, h, m),
            wm.transpose(),
            w,
            1.0,
            false,
        );
        let d = &ro.tape[DPHI];
        for (j, tc) in tmp.chunks_exact(h).enumerate() {
            let dr = ro.site_row(d, h, j % ro.batch, t);
            let (wj, oj) = (wc.col(j).as_slice(), oc.as_mut().col_mut(j).as_slice_mut());
            for i in 0..h {
                oj[i] += (1.0 - dt) * wj[i] + dt * dr[i] * tc[i];
            }
        }
    }

    fn state_jvp_flops(&self) -> u64 {
        2 * (self.cfg.hidden as u64).pow(2)
    }

    /// A_t = (1−dt) I + W_hh diag(dt·φ'(z_t)): an input-side gate.
    fn step_factors(&self, ro: &Rollout) -> Option<crate::factored::FactoredStep<f64>> {
        use crate::factored::{FactoredStep, GateSide, Skip, interleave};
        let (h, dt) = (self.cfg.hidden, self.cfg.dt);
        Some(FactoredStep::new(
            (ro.batch, ro.time, h),
            GateSide::In,
            Skip::Const(1.0 - dt),
            1,
            interleave(&[&ro.tape[DPHI]], h, dt),
            vec![tensor_matrix(self.params.values(), &self.e_hh)],
            vec![Some(0); ro.time],
        ))
    }

    /// δz = dt(Φ δWᵀ + X δW_inᵀ + 1 δbᵀ) at all sites.
    fn param_jvp(&self, ro: &Rollout, dtheta: &[f64], out: &mut [f64]) {
        let (n, h, dt) = (ro.sites(), self.cfg.hidden, self.cfg.dt);
        let mut o = MatMut::from_row_major_slice_mut(out, n, h);
        gemm_par(
            o.as_mut(),
            ro.tape_matrix(PHI),
            tensor_matrix(dtheta, &self.e_hh).transpose(),
            dt,
            false,
        );
        gemm(
            o.as_mut(),
            ro.input_matrix(),
            tensor_matrix(dtheta, &self.e_ih).transpose(),
            dt,
            true,
        );
        if let Some(e) = &self.e_b {
            let db = &dtheta[e.range()];
            for s in 0..n {
                for i in 0..h {
                    o[(s, i)] += dt * db[i];
                }
            }
        }
    }

    /// δW = dt Wᵀ Φ, δW_in = dt Wᵀ X, δb = dt Σ_s w(s) with W = w as N x H.
    fn param_vjp(&self, ro: &Rollout, w: &[f64], grad: &mut [f64]) {
        let (n, h, dt) = (ro.sites(), self.cfg.hidden, self.cfg.dt);
        let wm = MatRef::from_row_major_slice(w, n, h);
        gemm_par(
            tensor_matrix_mut(grad, &self.e_hh),
            wm.transpose(),
            ro.tape_matrix(PHI),
            dt,
            false,
        );
        gemm(
            tensor_matrix_mut(grad, &self.e_ih),
            wm.transpose(),
            ro.input_matrix(),
            dt,
            false,
        );
        if let Some(e) = &self.e_b {
            let g = &mut grad[e.range()];
            g.iter_mut().for_each(|x| *x = 0.0);
            for s in 0..n {
                for i in 0..h {
                    g[i] += dt * wm[(s, i)];
                }
            }
        }
    }

    fn weight_sites(&self, ro: &Rollout) -> Vec<WeightSite> {
        let (n, h, dt) = (ro.sites(), self.cfg.hidden, self.cfg.dt);
        let mut v = vec![
            WeightSite {
                param: W_HH.into(),
                steps: 0..ro.time,
                rows: 0..h,
                sites: site_matrix(&ro.tape[PHI], n, h),
                factor: SiteFactor::Scalar(dt),
                channels: None,
            },
            WeightSite {
                param: W_IH.into(),
                steps: 0..ro.time,
                rows: 0..h,
                sites: Arc::new(ro.input_matrix().to_owned()),
                factor: SiteFactor::Scalar(dt),
                channels: None,
            },
        ];
        if self.cfg.bias {
            v.push(WeightSite {
                param: BIAS.into(),
                steps: 0..ro.time,
                rows: 0..h,
                sites: ones(n),
                factor: SiteFactor::Scalar(dt),
                channels: None,
            });
        }
        v
    }
}

impl Recurrent for LeakyRnn {
    fn rollout(
        &self,
        inputs: &[f64],
        batch: usize,
        time: usize,
        h0: Option<&[f64]>,
    ) -> Result<Rollout> {
        let (h, nx, dt) = (self.cfg.hidden, self.cfg.input, self.cfg.dt);
        let h0 = check_rollout_args(inputs, batch, time, nx, h, h0)?;
        let n = batch * time;
        let th = self.params.values();
        let (w_ih, w_hh) = (tensor_matrix(th, &self.e_ih), tensor_matrix(th, &self.e_hh));
        let bias = self.e_b.as_ref().map(|e| th[e.range()].to_vec());
        let mut noise_rng = self
            .cfg
            .noise_std
            .map(|_| init::rng(self.cfg.noise_seed, init::purpose::NOISE));
        let (mut states, mut prev) = (vec![0.0; n * h], vec![0.0; n * h]);
        let (mut phi, mut dphi) = (vec![0.0; n * h], vec![0.0; n * h]);
        let mut cur = h0.clone();
        let mut pre = Mat::<f64>::zeros(batch, h);
        let trial = time * h;
        for t in 0..time {
            // Tape rows (b, t): z_{t−1}, φ(z_{t−1}), φ'(z_{t−1}); trials in parallel (elementwise,
            // so the bits do not depend on the thread count).
            prev.par_chunks_mut(trial)
                .zip(phi.par_chunks_mut(trial))
                .zip(dphi.par_chunks_mut(trial))
                .zip(cur.par_chunks(h))
                .for_each(|(((pv, ph), dp), c)| {
                    let r = t * h..(t + 1) * h;
                    pv[r.clone()].copy_from_slice(c);
                    for ((p, d), &v) in ph[r.clone()].iter_mut().zip(&mut dp[r]).zip(c) {
                        (*p, *d) = self.phi(v);
                    }
                });
            gemm_par(
                pre.as_mut(),
                step_rows(&phi, batch, time, h, t),
                w_hh.transpose(),
                1.0,
                false,
            );
            gemm(
                pre.as_mut(),
                step_rows(inputs, batch, time, nx, t),
                w_ih.transpose(),
                1.0,
                true,
            );
            let xi = noise_rng.as_mut().map(|r| {
                init::normal(r, batch * h)
                    .into_iter()
                    .map(|v| v * self.cfg.noise_std.unwrap_or(0.0))
                    .collect::<Vec<_>>()
            });
            for b in 0..batch {
                let c = &mut cur[b * h..(b + 1) * h];
                for i in 0..h {
                    let mut f = pre[(b, i)];
                    if let Some(bb) = &bias {
                        f += bb[i];
                    }
                    if let Some(xi) = &xi {
                        f += xi[b * h + i];
                    }
                    c[i] = (1.0 - dt) * c[i] + dt * f;
                }
                if c.iter().any(|v| !v.is_finite()) {
                    return Err(crate::error::ModelError::NonFinite {
                        batch: b,
                        step: t + 1,
                    });
                }
                let s = (b * time + t) * h;
                states[s..s + h].copy_from_slice(c);
            }
        }
        Ok(Rollout {
            batch,
            time,
            hidden: h,
            input: nx,
            inputs: inputs.to_vec(),
            h0,
            states,
            prev,
            tape: vec![phi, dphi],
        })
    }
}
