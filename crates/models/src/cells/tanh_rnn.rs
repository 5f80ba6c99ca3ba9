//! PyTorch `nn.RNN` (tanh, one layer, batch-first): h' = tanh(W_ih x + b_ih + W_hh h + b_hh), each
//! bias optional. D(s) = diag(1 − z_t²) is shared by all four tensors.

use std::sync::Arc;

use faer::{Mat, MatMut, MatRef};
use gentk_linalg::kernels::gemm;

use crate::error::{Result, config};
use crate::init;
use crate::params::{ParamEntry, ParamLayout, Params, tensor_matrix, tensor_matrix_mut};
use crate::rollout::*;

/// `rnn.weight_ih_l0` [H, n_x].
pub const W_IH: &str = crate::names::W_IH;
/// `rnn.weight_hh_l0` [H, H].
pub const W_HH: &str = crate::names::W_HH;
/// `rnn.bias_ih_l0` [H].
pub const B_IH: &str = crate::names::B_IH;
/// `rnn.bias_hh_l0` [H].
pub const B_HH: &str = crate::names::B_HH;

/// Configuration of the tanh RNN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TanhRnnConfig {
    /// Input size n_x.
    pub input: usize,
    /// Hidden size H.
    pub hidden: usize,
    /// Include b_ih.
    pub bias_ih: bool,
    /// Include b_hh.
    pub bias_hh: bool,
}

impl TanhRnnConfig {
    /// nn.RNN(input, hidden) with both biases.
    pub fn new(input: usize, hidden: usize) -> Self {
        TanhRnnConfig {
            input,
            hidden,
            bias_ih: true,
            bias_hh: true,
        }
    }
}

/// The tanh RNN.
#[derive(Debug, Clone)]
pub struct TanhRnn {
    cfg: TanhRnnConfig,
    params: Params,
    e_ih: ParamEntry,
    e_hh: ParamEntry,
    e_bih: Option<ParamEntry>,
    e_bhh: Option<ParamEntry>,
}

const D: usize = 0;

impl TanhRnn {
    /// The parameter layout (PyTorch order).
    pub fn layout(cfg: &TanhRnnConfig) -> ParamLayout {
        let (h, x) = (cfg.hidden, cfg.input);
        let mut t = vec![(W_IH, vec![h, x]), (W_HH, vec![h, h])];
        if cfg.bias_ih {
            t.push((B_IH, vec![h]));
        }
        if cfg.bias_hh {
            t.push((B_HH, vec![h]));
        }
        ParamLayout::new(t)
    }

    /// Zero parameters.
    pub fn zeros(cfg: TanhRnnConfig) -> Result<Self> {
        if cfg.hidden == 0 || cfg.input == 0 {
            return Err(config("hidden/input", "sizes must be ≥ 1"));
        }
        let params = Params::zeros(Self::layout(&cfg));
        let lay = params.layout();
        let opt = |on: bool, n: &str| -> Result<Option<ParamEntry>> {
            Ok(if on { Some(lay.get(n)?.clone()) } else { None })
        };
        let (e_bih, e_bhh) = (opt(cfg.bias_ih, B_IH)?, opt(cfg.bias_hh, B_HH)?);
        let (e_ih, e_hh) = (lay.get(W_IH)?.clone(), lay.get(W_HH)?.clone());
        Ok(TanhRnn {
            cfg,
            params,
            e_ih,
            e_hh,
            e_bih,
            e_bhh,
        })
    }

    /// PyTorch default init: every tensor U(±1/√H) (drawn in state_dict order), then W_hh ← g·W_hh.
    pub fn init(cfg: TanhRnnConfig, gain: f64, seed: u64) -> Result<Self> {
        let mut m = Self::zeros(cfg)?;
        let e_hh = m.e_hh.clone();
        init::pytorch_rnn_init(&mut m.params, m.cfg.hidden, &e_hh, gain, seed);
        Ok(m)
    }

    /// The teacher–student RNN (PAPER.md §6.4): h_t = tanh(W_in x_t + b_in + W_h h_{t−1}) with
    /// W_in xavier-normal, b_in = 0, no b_hh, and W_h orthogonal scaled by `gain`.
    pub fn teacher_student(input: usize, hidden: usize, gain: f64, seed: u64) -> Result<Self> {
        let cfg = TanhRnnConfig {
            input,
            hidden,
            bias_ih: true,
            bias_hh: false,
        };
        let mut m = Self::zeros(cfg)?;
        let mut r = init::rng(seed, init::purpose::INIT);
        let w_in = init::xavier_normal(&mut r, hidden, input, 1.0);
        let w_h = init::orthogonal(&mut r, hidden, hidden, gain);
        m.params.values_mut()[m.e_ih.range()].copy_from_slice(&w_in);
        m.params.values_mut()[m.e_hh.range()].copy_from_slice(&w_h);
        Ok(m)
    }

    /// The configuration.
    pub fn config(&self) -> &TanhRnnConfig {
        &self.cfg
    }

    fn biases(&self) -> Vec<f64> {
        let th = self.params.values();
        let mut b = vec![0.0; self.cfg.hidden];
        for e in [&self.e_bih, &self.e_bhh].into_iter().flatten() {
            b.iter_mut().zip(&th[e.range()]).for_each(|(x, y)| *x += y);
        }
        b
    }
}

impl StepModel for TanhRnn {
    recurrent_step_model_basics!("rnn");

    /// A v = (1 − z²) ⊙ (W_hh v).
    fn state_jvp(&self, ro: &Rollout, t: usize, v: MatRef<'_, f64>, mut out: MatMut<'_, f64>) {
        let h = self.cfg.hidden;
        gemm(
            out.as_mut(),
            tensor_matrix(self.params.values(), &self.e_hh),
            v,
            1.0,
            false,
        );
        for j in 0..v.ncols() {
            let d = ro.site_row(&ro.tape[D], h, j % ro.batch, t);
            for i in 0..h {
                out[(i, j)] *= d[i];
            }
        }
    }

    /// Aᵀ w = W_hhᵀ ((1 − z²) ⊙ w).
    fn state_jvp_flops(&self) -> u64 {
        2 * (self.cfg.hidden as u64).pow(2)
    }

    /// A_t = diag(act'(a_t)) W_hh: one output-side gate.
    fn step_factors(&self, ro: &Rollout) -> Option<crate::factored::FactoredStep<f64>> {
        use crate::factored::{FactoredStep, GateSide, Skip, interleave};
        let h = self.cfg.hidden;
        Some(FactoredStep::new(
            (ro.batch, ro.time, h),
            GateSide::Out,
            Skip::None,
            1,
            interleave(&[&ro.tape[D]], h, 1.0),
            vec![tensor_matrix(self.params.values(), &self.e_hh)],
            vec![Some(0); ro.time],
        ))
    }

    fn state_vjp(&self, ro: &Rollout, t: usize, w: MatRef<'_, f64>, out: MatMut<'_, f64>) {
        let h = self.cfg.hidden;
        let tmp = Mat::from_fn(h, w.ncols(), |i, j| {
            ro.site_row(&ro.tape[D], h, j % ro.batch, t)[i] * w[(i, j)]
        });
        gemm(
            out,
            tensor_matrix(self.params.values(), &self.e_hh).transpose(),
            tmp.as_ref(),
            1.0,
            false,
        );
    }

    /// δz = (1 − z²) ⊙ (Z_prev δW_hhᵀ + X δW_ihᵀ + 1(δb_ih + δb_hh)ᵀ).
    fn param_jvp(&self, ro: &Rollout, dtheta: &[f64], out: &mut [f64]) {
        let (n, h) = (ro.sites(), self.cfg.hidden);
        let mut o = MatMut::from_row_major_slice_mut(out, n, h);
        gemm(
            o.as_mut(),
            ro.prev_matrix(),
            tensor_matrix(dtheta, &self.e_hh).transpose(),
            1.0,
            false,
        );
        gemm(
            o.as_mut(),
            ro.input_matrix(),
            tensor_matrix(dtheta, &self.e_ih).transpose(),
            1.0,
            true,
        );
        let mut db = vec![0.0; h];
        for e in [&self.e_bih, &self.e_bhh].into_iter().flatten() {
            db.iter_mut()
                .zip(&dtheta[e.range()])
                .for_each(|(x, y)| *x += y);
        }
        let d = ro.tape_matrix(D);
        for s in 0..n {
            for i in 0..h {
                o[(s, i)] = d[(s, i)] * (o[(s, i)] + db[i]);
            }
        }
    }

    /// g = (1 − z²) ⊙ w: δW_hh = gᵀ Z_prev, δW_ih = gᵀ X, δb = Σ_s g(s).
    fn param_vjp(&self, ro: &Rollout, w: &[f64], grad: &mut [f64]) {
        let (n, h) = (ro.sites(), self.cfg.hidden);
        let d = ro.tape_matrix(D);
        let g = Mat::from_fn(n, h, |s, i| d[(s, i)] * w[s * h + i]);
        gemm(
            tensor_matrix_mut(grad, &self.e_hh),
            g.transpose(),
            ro.prev_matrix(),
            1.0,
            false,
        );
        gemm(
            tensor_matrix_mut(grad, &self.e_ih),
            g.transpose(),
            ro.input_matrix(),
            1.0,
            false,
        );
        let colsum: Vec<f64> = (0..h).map(|i| (0..n).map(|s| g[(s, i)]).sum()).collect();
        for e in [&self.e_bih, &self.e_bhh].into_iter().flatten() {
            grad[e.range()].copy_from_slice(&colsum);
        }
    }

    fn weight_sites(&self, ro: &Rollout) -> Vec<WeightSite> {
        let (n, h) = (ro.sites(), self.cfg.hidden);
        let d = SiteFactor::Diagonal(site_matrix(&ro.tape[D], n, h));
        let mut v = vec![
            WeightSite {
                param: W_HH.into(),
                steps: 0..ro.time,
                rows: 0..h,
                sites: site_matrix(&ro.prev, n, h),
                factor: d.clone(),
                channels: None,
            },
            WeightSite {
                param: W_IH.into(),
                steps: 0..ro.time,
                rows: 0..h,
                sites: Arc::new(ro.input_matrix().to_owned()),
                factor: d.clone(),
                channels: None,
            },
        ];
        for e in [&self.e_bih, &self.e_bhh].into_iter().flatten() {
            v.push(WeightSite {
                param: e.name.clone(),
                steps: 0..ro.time,
                rows: 0..h,
                sites: ones(n),
                factor: d.clone(),
                channels: None,
            });
        }
        v
    }
}

impl Recurrent for TanhRnn {
    fn rollout(
        &self,
        inputs: &[f64],
        batch: usize,
        time: usize,
        h0: Option<&[f64]>,
    ) -> Result<Rollout> {
        let (h, nx) = (self.cfg.hidden, self.cfg.input);
        let h0 = check_rollout_args(inputs, batch, time, nx, h, h0)?;
        let n = batch * time;
        let th = self.params.values();
        let (w_ih, w_hh) = (tensor_matrix(th, &self.e_ih), tensor_matrix(th, &self.e_hh));
        let bias = self.biases();
        let (mut states, mut prev, mut d) = (vec![0.0; n * h], vec![0.0; n * h], vec![0.0; n * h]);
        let mut cur = MatRef::from_row_major_slice(&h0, batch, h).to_owned();
        for t in 0..time {
            write_step(&mut prev, time, h, t, cur.as_ref());
            let mut pre = Mat::zeros(batch, h);
            gemm(pre.as_mut(), cur.as_ref(), w_hh.transpose(), 1.0, false);
            gemm(
                pre.as_mut(),
                step_rows(inputs, batch, time, nx, t),
                w_ih.transpose(),
                1.0,
                true,
            );
            let mut dd = Mat::zeros(batch, h);
            for b in 0..batch {
                for i in 0..h {
                    let z = crate::activations::tanh(pre[(b, i)] + bias[i]);
                    cur[(b, i)] = z;
                    dd[(b, i)] = 1.0 - z * z;
                }
            }
            check_finite(cur.as_ref(), t)?;
            write_step(&mut states, time, h, t, cur.as_ref());
            write_step(&mut d, time, h, t, dd.as_ref());
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
            tape: vec![d],
        })
    }
}
