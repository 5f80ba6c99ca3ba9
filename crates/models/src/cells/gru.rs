//! PyTorch `nn.GRU` (one layer, batch-first, gate order r, z, n):
//! r = σ(W_ir x + b_ir + W_hr h + b_hr), ζ = σ(W_iz x + b_iz + W_hz h + b_hz),
//! n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)), h' = (1 − ζ) ⊙ n + ζ ⊙ h.
//!
//! Site factors (PAPER.md §3.6), with c = W_hn h + b_hn: d_r = (1−ζ)(1−n²) c r(1−r),
//! d_ζ = (h − n) ζ(1−ζ), d_n = (1−ζ)(1−n²), d_n̂ = d_n r; A = diag(ζ) + d_ζ W_hz + d_r W_hr + d_n̂ W_hn.

use std::sync::Arc;

use faer::{Mat, MatMut, MatRef};
use gentk_linalg::kernels::{gemm, gemm_step};

use crate::error::{Result, config};
use crate::init;
use crate::params::{ParamEntry, ParamLayout, Params, tensor_matrix, tensor_matrix_mut};
use crate::rollout::*;

/// `rnn.weight_ih_l0` [3H, n_x] (rows r, z, n).
pub const W_IH: &str = crate::names::W_IH;
/// `rnn.weight_hh_l0` [3H, H].
pub const W_HH: &str = crate::names::W_HH;
/// `rnn.bias_ih_l0` [3H].
pub const B_IH: &str = crate::names::B_IH;
/// `rnn.bias_hh_l0` [3H].
pub const B_HH: &str = crate::names::B_HH;

/// Configuration of the GRU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GruConfig {
    /// Input size n_x.
    pub input: usize,
    /// Hidden size H.
    pub hidden: usize,
    /// Include both bias vectors (PyTorch's `bias=True`).
    pub bias: bool,
}

impl GruConfig {
    /// nn.GRU(input, hidden) with biases.
    pub fn new(input: usize, hidden: usize) -> Self {
        GruConfig {
            input,
            hidden,
            bias: true,
        }
    }
}

/// The GRU.
#[derive(Debug, Clone)]
pub struct Gru {
    cfg: GruConfig,
    params: Params,
    e_ih: ParamEntry,
    e_hh: ParamEntry,
    e_b: Option<(ParamEntry, ParamEntry)>,
}

const ZETA: usize = 0;
const DR: usize = 1;
const DZ: usize = 2;
const DN: usize = 3;
const DNH: usize = 4;

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + crate::activations::exp(-x))
}

impl Gru {
    /// The parameter layout (PyTorch order).
    pub fn layout(cfg: &GruConfig) -> ParamLayout {
        let (h, x) = (cfg.hidden, cfg.input);
        let mut t = vec![(W_IH, vec![3 * h, x]), (W_HH, vec![3 * h, h])];
        if cfg.bias {
            t.push((B_IH, vec![3 * h]));
            t.push((B_HH, vec![3 * h]));
        }
        ParamLayout::new(t)
    }

    /// Zero parameters.
    pub fn zeros(cfg: GruConfig) -> Result<Self> {
        if cfg.hidden == 0 || cfg.input == 0 {
            return Err(config("hidden/input", "sizes must be ≥ 1"));
        }
        let params = Params::zeros(Self::layout(&cfg));
        let lay = params.layout();
        let e_b = if cfg.bias {
            Some((lay.get(B_IH)?.clone(), lay.get(B_HH)?.clone()))
        } else {
            None
        };
        let (e_ih, e_hh) = (lay.get(W_IH)?.clone(), lay.get(W_HH)?.clone());
        Ok(Gru {
            cfg,
            params,
            e_ih,
            e_hh,
            e_b,
        })
    }

    /// PyTorch default init: every tensor U(±1/√H), then all of W_hh ← g·W_hh.
    pub fn init(cfg: GruConfig, gain: f64, seed: u64) -> Result<Self> {
        let mut m = Self::zeros(cfg)?;
        let e_hh = m.e_hh.clone();
        init::pytorch_rnn_init(&mut m.params, m.cfg.hidden, &e_hh, gain, seed);
        Ok(m)
    }

    /// The configuration.
    pub fn config(&self) -> &GruConfig {
        &self.cfg
    }

    fn bias_vecs(&self) -> (Vec<f64>, Vec<f64>) {
        let h3 = 3 * self.cfg.hidden;
        match &self.e_b {
            Some((a, b)) => (
                self.params.values()[a.range()].to_vec(),
                self.params.values()[b.range()].to_vec(),
            ),
            None => (vec![0.0; h3], vec![0.0; h3]),
        }
    }
}

impl StepModel for Gru {
    recurrent_step_model_basics!("gru");

    /// A v = ζ ⊙ v + d_r ⊙ (W_hr v) + d_ζ ⊙ (W_hz v) + d_n̂ ⊙ (W_hn v), one GEMM for the three gates.
    fn state_jvp(&self, ro: &Rollout, t: usize, v: MatRef<'_, f64>, mut out: MatMut<'_, f64>) {
        let h = self.cfg.hidden;
        let mut u = Mat::zeros(3 * h, v.ncols());
        gemm(
            u.as_mut(),
            tensor_matrix(self.params.values(), &self.e_hh),
            v,
            1.0,
            false,
        );
        for j in 0..v.ncols() {
            let row = |k: usize| ro.site_row(&ro.tape[k], h, j % ro.batch, t);
            let (z, dr, dz, dnh) = (row(ZETA), row(DR), row(DZ), row(DNH));
            for i in 0..h {
                out[(i, j)] = z[i] * v[(i, j)]
                    + dr[i] * u[(i, j)]
                    + dz[i] * u[(h + i, j)]
                    + dnh[i] * u[(2 * h + i, j)];
            }
        }
    }

    /// Aᵀ w = ζ ⊙ w + W_hhᵀ [d_r ⊙ w; d_ζ ⊙ w; d_n̂ ⊙ w].
    fn state_vjp(&self, ro: &Rollout, t: usize, w: MatRef<'_, f64>, mut out: MatMut<'_, f64>) {
        let h = self.cfg.hidden;
        let mut g = Mat::zeros(3 * h, w.ncols());
        for j in 0..w.ncols() {
            let row = |k: usize| ro.site_row(&ro.tape[k], h, j % ro.batch, t);
            let (z, dr, dz, dnh) = (row(ZETA), row(DR), row(DZ), row(DNH));
            for i in 0..h {
                g[(i, j)] = dr[i] * w[(i, j)];
                g[(h + i, j)] = dz[i] * w[(i, j)];
                g[(2 * h + i, j)] = dnh[i] * w[(i, j)];
                out[(i, j)] = z[i] * w[(i, j)];
            }
        }
        gemm(
            out,
            tensor_matrix(self.params.values(), &self.e_hh).transpose(),
            g.as_ref(),
            1.0,
            true,
        );
    }

    fn step_scratch_len(&self, cols: usize) -> usize {
        3 * self.cfg.hidden * cols
    }

    /// out += ζ ⊙ v + [d_r | d_ζ | d_n̂] ⊙ (W_hh v), the 3H x m GEMM into scratch, then one pass.
    fn state_jvp_add(
        &self,
        ro: &Rollout,
        t: usize,
        v: MatRef<'_, f64>,
        mut out: MatMut<'_, f64>,
        scratch: &mut [f64],
    ) {
        let (h, m) = (self.cfg.hidden, v.ncols());
        let (Some(vc), Some(mut oc)) = (v.try_as_col_major(), out.as_mut().try_as_col_major_mut())
        else {
            return add_via_scratch(out, scratch, |a| self.state_jvp(ro, t, v, a));
        };
        let u = &mut scratch[..3 * h * m];
        gemm_step(
            MatMut::from_column_major_slice_mut(u, 3 * h, m),
            tensor_matrix(self.params.values(), &self.e_hh),
            v,
            1.0,
            false,
        );
        for (j, uj) in u.chunks_exact(3 * h).enumerate() {
            let row = |k: usize| ro.site_row(&ro.tape[k], h, j % ro.batch, t);
            let (z, dr, dz, dnh) = (row(ZETA), row(DR), row(DZ), row(DNH));
            let (vj, oj) = (vc.col(j).as_slice(), oc.as_mut().col_mut(j).as_slice_mut());
            let (ur, rest) = uj.split_at(h);
            let (uz, un) = rest.split_at(h);
            for i in 0..h {
                oj[i] += z[i] * vj[i] + dr[i] * ur[i] + dz[i] * uz[i] + dnh[i] * un[i];
            }
        }
    }

    /// out += ζ ⊙ w + W_hhᵀ [d_r ⊙ w; d_ζ ⊙ w; d_n̂ ⊙ w]: one pass builds the stacked block, the GEMM
    /// accumulates into `out`.
    fn state_vjp_add(
        &self,
        ro: &Rollout,
        t: usize,
        w: MatRef<'_, f64>,
        mut out: MatMut<'_, f64>,
        scratch: &mut [f64],
    ) {
        let (h, m) = (self.cfg.hidden, w.ncols());
        let (Some(wc), Some(mut oc)) = (w.try_as_col_major(), out.as_mut().try_as_col_major_mut())
        else {
            return add_via_scratch(out, scratch, |a| self.state_vjp(ro, t, w, a));
        };
        let g = &mut scratch[..3 * h * m];
        for (j, gj) in g.chunks_exact_mut(3 * h).enumerate() {
            let row = |k: usize| ro.site_row(&ro.tape[k], h, j % ro.batch, t);
            let (z, dr, dz, dnh) = (row(ZETA), row(DR), row(DZ), row(DNH));
            let (wj, oj) = (wc.col(j).as_slice(), oc.as_mut().col_mut(j).as_slice_mut());
            let (gr, rest) = gj.split_at_mut(h);
            let (gz, gn) = rest.split_at_mut(h);
            for i in 0..h {
                gr[i] = dr[i] * wj[i];
                gz[i] = dz[i] * wj[i];
                gn[i] = dnh[i] * wj[i];
                oj[i] += z[i] * wj[i];
            }
        }
        gemm_step(
            oc.as_dyn_stride_mut(),
            tensor_matrix(self.params.values(), &self.e_hh).transpose(),
            MatRef::from_column_major_slice(g, 3 * h, m),
            1.0,
            true,
        );
    }

    fn state_jvp_flops(&self) -> u64 {
        6 * (self.cfg.hidden as u64).pow(2)
    }

    /// A_t = diag(ζ_t) + [d_r | d_ζ | d_n̂] ⊙ W_hh (three output-side gates on the stacked W_hh).
    fn step_factors(&self, ro: &Rollout) -> Option<crate::factored::FactoredStep<f64>> {
        use crate::factored::{FactoredStep, GateSide, Skip, interleave};
        let h = self.cfg.hidden;
        let parts = [&ro.tape[DR][..], &ro.tape[DZ][..], &ro.tape[DNH][..]];
        Some(FactoredStep::new(
            (ro.batch, ro.time, h),
            GateSide::Out,
            Skip::Sites(ro.tape[ZETA].clone()),
            3,
            interleave(&parts, h, 1.0),
            vec![tensor_matrix(self.params.values(), &self.e_hh)],
            vec![Some(0); ro.time],
        ))
    }

    /// δz = d_r ⊙ (δa_ir + δa_hr) + d_ζ ⊙ (δa_iz + δa_hz) + d_n ⊙ δa_in + d_n̂ ⊙ δa_hn, where
    /// δa_i = X δW_ihᵀ + δb_ih and δa_h = Z_prev δW_hhᵀ + δb_hh.
    fn param_jvp(&self, ro: &Rollout, dtheta: &[f64], out: &mut [f64]) {
        let (n, h) = (ro.sites(), self.cfg.hidden);
        let mut ai = Mat::zeros(n, 3 * h);
        let mut ah = Mat::zeros(n, 3 * h);
        gemm(
            ai.as_mut(),
            ro.input_matrix(),
            tensor_matrix(dtheta, &self.e_ih).transpose(),
            1.0,
            false,
        );
        gemm(
            ah.as_mut(),
            ro.prev_matrix(),
            tensor_matrix(dtheta, &self.e_hh).transpose(),
            1.0,
            false,
        );
        let (bi, bh) = match &self.e_b {
            Some((a, b)) => (dtheta[a.range()].to_vec(), dtheta[b.range()].to_vec()),
            None => (vec![0.0; 3 * h], vec![0.0; 3 * h]),
        };
        let tm = |k| ro.tape_matrix(k);
        let (dr, dz, dn, dnh) = (tm(DR), tm(DZ), tm(DN), tm(DNH));
        for s in 0..n {
            for i in 0..h {
                let r = ai[(s, i)] + bi[i] + ah[(s, i)] + bh[i];
                let z = ai[(s, h + i)] + bi[h + i] + ah[(s, h + i)] + bh[h + i];
                let ni = ai[(s, 2 * h + i)] + bi[2 * h + i];
                let nh = ah[(s, 2 * h + i)] + bh[2 * h + i];
                out[s * h + i] =
                    dr[(s, i)] * r + dz[(s, i)] * z + dn[(s, i)] * ni + dnh[(s, i)] * nh;
            }
        }
    }

    /// G_ih = [d_r w | d_ζ w | d_n w], G_hh = [d_r w | d_ζ w | d_n̂ w]: δW_ih = G_ihᵀ X,
    /// δW_hh = G_hhᵀ Z_prev, δb = column sums.
    fn param_vjp(&self, ro: &Rollout, w: &[f64], grad: &mut [f64]) {
        let (n, h) = (ro.sites(), self.cfg.hidden);
        let tm = |k| ro.tape_matrix(k);
        let (dr, dz, dn, dnh) = (tm(DR), tm(DZ), tm(DN), tm(DNH));
        let gi = Mat::from_fn(n, 3 * h, |s, c| {
            let (g, i) = (c / h, c % h);
            w[s * h + i] * [dr, dz, dn][g][(s, i)]
        });
        let gh = Mat::from_fn(n, 3 * h, |s, c| {
            let (g, i) = (c / h, c % h);
            w[s * h + i] * [dr, dz, dnh][g][(s, i)]
        });
        gemm(
            tensor_matrix_mut(grad, &self.e_ih),
            gi.transpose(),
            ro.input_matrix(),
            1.0,
            false,
        );
        gemm(
            tensor_matrix_mut(grad, &self.e_hh),
            gh.transpose(),
            ro.prev_matrix(),
            1.0,
            false,
        );
        if let Some((a, b)) = &self.e_b {
            for (e, g) in [(a, &gi), (b, &gh)] {
                let dst = &mut grad[e.range()];
                for (c, x) in dst.iter_mut().enumerate() {
                    *x = (0..n).map(|s| g[(s, c)]).sum();
                }
            }
        }
    }

    fn weight_sites(&self, ro: &Rollout) -> Vec<WeightSite> {
        let (n, h) = (ro.sites(), self.cfg.hidden);
        let fac = |k: usize| SiteFactor::Diagonal(site_matrix(&ro.tape[k], n, h));
        let (dr, dz, dn, dnh) = (fac(DR), fac(DZ), fac(DN), fac(DNH));
        let x = Arc::new(ro.input_matrix().to_owned());
        let hp = site_matrix(&ro.prev, n, h);
        let one = ones(n);
        let mut v = Vec::new();
        let mut push = |param: &str, g: usize, sites: &Arc<Mat<f64>>, factor: &SiteFactor| {
            v.push(WeightSite {
                param: param.into(),
                rows: g * h..(g + 1) * h,
                steps: 0..ro.time,
                sites: sites.clone(),
                factor: factor.clone(),
                channels: None,
            })
        };
        for (g, d_i, d_h) in [(0, &dr, &dr), (1, &dz, &dz), (2, &dn, &dnh)] {
            push(W_IH, g, &x, d_i);
            push(W_HH, g, &hp, d_h);
            if self.cfg.bias {
                push(B_IH, g, &one, d_i);
                push(B_HH, g, &one, d_h);
            }
        }
        v
    }
}

impl Recurrent for Gru {
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
        let (b_ih, b_hh) = self.bias_vecs();
        let (mut states, mut prev) = (vec![0.0; n * h], vec![0.0; n * h]);
        let mut tape = vec![vec![0.0; n * h]; 5];
        let mut cur = MatRef::from_row_major_slice(&h0, batch, h).to_owned();
        for t in 0..time {
            write_step(&mut prev, time, h, t, cur.as_ref());
            let mut ai = Mat::zeros(batch, 3 * h);
            let mut ah = Mat::zeros(batch, 3 * h);
            gemm(
                ai.as_mut(),
                step_rows(inputs, batch, time, nx, t),
                w_ih.transpose(),
                1.0,
                false,
            );
            gemm(ah.as_mut(), cur.as_ref(), w_hh.transpose(), 1.0, false);
            let mut fac = vec![Mat::zeros(batch, h); 5];
            for b in 0..batch {
                for i in 0..h {
                    let r = sigmoid(ai[(b, i)] + b_ih[i] + ah[(b, i)] + b_hh[i]);
                    let z = sigmoid(ai[(b, h + i)] + b_ih[h + i] + ah[(b, h + i)] + b_hh[h + i]);
                    let c = ah[(b, 2 * h + i)] + b_hh[2 * h + i];
                    let nn = crate::activations::tanh(ai[(b, 2 * h + i)] + b_ih[2 * h + i] + r * c);
                    let hp = cur[(b, i)];
                    let dn = (1.0 - z) * (1.0 - nn * nn);
                    fac[ZETA][(b, i)] = z;
                    fac[DR][(b, i)] = dn * c * r * (1.0 - r);
                    fac[DZ][(b, i)] = (hp - nn) * z * (1.0 - z);
                    fac[DN][(b, i)] = dn;
                    fac[DNH][(b, i)] = dn * r;
                    cur[(b, i)] = (1.0 - z) * nn + z * hp;
                }
            }
            check_finite(cur.as_ref(), t)?;
            write_step(&mut states, time, h, t, cur.as_ref());
            for (arr, m) in tape.iter_mut().zip(&fac) {
                write_step(arr, time, h, t, m.as_ref());
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
            tape,
        })
    }
}
