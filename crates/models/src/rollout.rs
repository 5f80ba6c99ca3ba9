//! The rollout of a recurrent model on a batch and the derivative interface the NTK operators are
//! built from.
//!
//! Layout conventions (PAPER.md §1): a site is s = (b, t), enumerated b-major (N = B·T sites); every
//! per-site array is an N x width row-major matrix, so the state buffer `[B, T, H]` *is* the N x H
//! site matrix. `t` is the 0-based step index: step t maps z_t (= h0 at t = 0) to z_{t+1}.
//! Per-step derivative blocks are H x m column-major matrices whose column j belongs to trial
//! j % B (columns ordered (probe, trial)), so one GEMM applies a step Jacobian to every trial and
//! probe at once.

use std::ops::Range;
use std::sync::Arc;

use faer::{Mat, MatMut, MatRef};

use crate::error::Result;
use crate::params::Params;

/// A forward pass on a batch with everything its derivatives need (no derivative recomputes it).
#[derive(Debug, Clone)]
pub struct Rollout {
    /// Trials B.
    pub batch: usize,
    /// Steps T.
    pub time: usize,
    /// Hidden size H.
    pub hidden: usize,
    /// Input size n_x.
    pub input: usize,
    /// Inputs x_{b,t}, N x n_x.
    pub inputs: Vec<f64>,
    /// Initial states, B x H.
    pub h0: Vec<f64>,
    /// States z_{b,t} after each step, N x H (the `[B, T, H]` tensor).
    pub states: Vec<f64>,
    /// States before each step z_{b,t−1} (h0 at the first step), N x H.
    pub prev: Vec<f64>,
    /// Cell-specific per-site arrays (activations, gates, derivative factors), each N x H.
    pub tape: Vec<Vec<f64>>,
}

impl Rollout {
    /// Number of sites N = B·T.
    pub fn sites(&self) -> usize {
        self.batch * self.time
    }
    /// Flat state dimension n = N·H.
    pub fn state_dim(&self) -> usize {
        self.sites() * self.hidden
    }
    /// Site index of (b, t).
    pub fn site(&self, b: usize, t: usize) -> usize {
        b * self.time + t
    }
    /// Inputs as the N x n_x site matrix.
    pub fn input_matrix(&self) -> MatRef<'_, f64> {
        MatRef::from_row_major_slice(&self.inputs, self.sites(), self.input)
    }
    /// z_{t−1} per site as an N x H matrix.
    pub fn prev_matrix(&self) -> MatRef<'_, f64> {
        MatRef::from_row_major_slice(&self.prev, self.sites(), self.hidden)
    }
    /// States as an N x H matrix.
    pub fn state_matrix(&self) -> MatRef<'_, f64> {
        MatRef::from_row_major_slice(&self.states, self.sites(), self.hidden)
    }
    /// Tape array `i` as an N x H matrix.
    pub fn tape_matrix(&self, i: usize) -> MatRef<'_, f64> {
        MatRef::from_row_major_slice(&self.tape[i], self.sites(), self.hidden)
    }
    /// Row (b, t) of an N x width per-site array.
    pub fn site_row<'a>(&self, data: &'a [f64], width: usize, b: usize, t: usize) -> &'a [f64] {
        let s = self.site(b, t);
        &data[s * width..(s + 1) * width]
    }
}

/// The derivative factor D(s) = ∂f/∂u of one weight at every site.
#[derive(Debug, Clone)]
pub enum SiteFactor {
    /// D(s) = c·I for every site (weight-based cells: c = dt).
    Scalar(f64),
    /// D(s) = diag(d(s)), d given as an N x H matrix (shared between weights with one pre-activation).
    Diagonal(Arc<Mat<f64>>),
}

/// A weight site: W (or a row block of it) enters the steps in `steps` as u = W v(s), so its
/// contribution to J_θ is δz(s) = D(s)(δW v(s)) and to K it is 𝒟 (S Sᵀ ⊗ I_H) 𝒟 with S the site
/// matrix. Sites are the (b, t) with t in `steps`, enumerated b-major: row b·|steps| + (t − start).
#[derive(Debug, Clone)]
pub struct WeightSite {
    /// The parameter tensor (state_dict name).
    pub param: String,
    /// Rows of that tensor forming this weight (a gate block of a stacked GRU tensor), each block of
    /// H rows mapping onto the hidden state.
    pub rows: Range<usize>,
    /// The steps at which the weight acts (all of 0..T for recurrent weights, one layer for MLPs).
    pub steps: Range<usize>,
    /// Site vectors v(s), (B·|steps|) x d (a bias has d = 1 and v = 1).
    pub sites: Arc<Mat<f64>>,
    /// D(s), over the same sites.
    pub factor: SiteFactor,
    /// The state channels the weight writes (None: all H; the attention block's weights each write
    /// one channel block of its pre-activation state, K = ⊕_j G_j ⊗ I over the blocks).
    pub channels: Option<Range<usize>>,
}

impl WeightSite {
    /// GEMM flops of this weight times its site vectors for one tangent (2 per multiply-add):
    /// 2 · rows · d · channels, `hidden` channels unless the weight writes a block.
    pub fn flops(&self, hidden: usize) -> u64 {
        let ch = self.channels.as_ref().map_or(hidden, |c| c.len());
        2 * (self.sites.nrows() * self.sites.ncols() * ch) as u64
    }
    /// Row of the site matrix for trial `b` at step `t` (None when the weight does not act at t).
    pub fn row(&self, b: usize, t: usize) -> Option<usize> {
        self.steps
            .contains(&t)
            .then(|| b * self.steps.len() + (t - self.steps.start))
    }
}

/// The derivative interface of a model whose state is a sequence z_1..z_T of H-vectors per trial
/// (recurrent time, or depth for MLPs): z_t = f_t(x_t, z_{t−1}; θ). Everything reads the [`Rollout`].
pub trait StepModel: Send + Sync {
    /// Short architecture name (`leaky-rnn`, `rnn`, `gru`, `mlp`).
    fn arch(&self) -> &'static str;
    /// Input size n_x.
    fn input_size(&self) -> usize;
    /// Hidden size H.
    fn hidden_size(&self) -> usize;
    /// Parameters acting on the state (the readout is separate).
    fn params(&self) -> &Params;
    /// Mutable parameters (training, gain, planting).
    fn params_mut(&mut self) -> &mut Params;
    /// f_t(x_t, h_prev; θ) for every trial with the rollout's inputs at step `t` and an explicit
    /// previous state `h_prev` (`[B, H]`): the single-step map the derivatives linearise.
    fn step(&self, ro: &Rollout, t: usize, h_prev: &[f64]) -> Result<Vec<f64>>;
    /// `out <- A_t v` for the step Jacobian A_t = ∂f_t/∂z_{t−1} at step `t` (0-based); blocks H x m.
    fn state_jvp(&self, ro: &Rollout, t: usize, v: MatRef<'_, f64>, out: MatMut<'_, f64>);
    /// `out <- A_tᵀ w`.
    fn state_vjp(&self, ro: &Rollout, t: usize, w: MatRef<'_, f64>, out: MatMut<'_, f64>);
    /// `out <- J_θ(s) δθ` at every site, out = N x H (flattened `[B, T, H]`).
    fn param_jvp(&self, ro: &Rollout, dtheta: &[f64], out: &mut [f64]);
    /// `grad <- Σ_s J_θ(s)ᵀ w(s)` (overwrites `grad`, length n_θ).
    fn param_vjp(&self, ro: &Rollout, w: &[f64], grad: &mut [f64]);
    /// Every weight's site vectors and D factors (one entry per tensor or gate block).
    fn weight_sites(&self, ro: &Rollout) -> Vec<WeightSite>;

    /// Length of the scratch slice [`StepModel::state_jvp_add`] and [`StepModel::state_vjp_add`]
    /// need for a block of `cols` columns.
    fn step_scratch_len(&self, cols: usize) -> usize {
        self.hidden_size() * cols
    }
    /// `out += A_t v`, with `scratch` of [`StepModel::step_scratch_len`] entries (contents
    /// unspecified): the recursions' hot step, allocation-free. Cells override it to fuse their
    /// elementwise factors into one pass and accumulate the GEMM straight into `out`.
    fn state_jvp_add(
        &self,
        ro: &Rollout,
        t: usize,
        v: MatRef<'_, f64>,
        out: MatMut<'_, f64>,
        scratch: &mut [f64],
    ) {
        add_via_scratch(out, scratch, |a| self.state_jvp(ro, t, v, a));
    }
    /// `out += A_tᵀ w` (as [`StepModel::state_jvp_add`]).
    fn state_vjp_add(
        &self,
        ro: &Rollout,
        t: usize,
        w: MatRef<'_, f64>,
        out: MatMut<'_, f64>,
        scratch: &mut [f64],
    ) {
        add_via_scratch(out, scratch, |a| self.state_vjp(ro, t, w, a));
    }
    /// Flops of one A_t (or A_tᵀ) application to one column (2 per multiply-add, GEMMs only; the
    /// elementwise factors are O(H) and left out): the cost model of P and P* (PAPER.md §5.12).
    fn state_jvp_flops(&self) -> u64;
    /// Flops of J_θ on one tangent (or J_θᵀ on one cotangent), GEMMs only: every weight times
    /// its site vectors once (PAPER.md §5.12), Σ_w 2·N_w·d_w·H. The forward pass multiplies the same
    /// weights with the same vectors, so this is also a rollout's GEMM count.
    fn param_jvp_flops(&self, ro: &Rollout) -> u64 {
        let h = self.hidden_size();
        self.weight_sites(ro).iter().map(|w| w.flops(h)).sum()
    }
    /// The step Jacobians of `ro` as skip + gate diagonals + weights (the single-precision mode
    /// casts them to f32); `None` when the model does not export them.
    fn step_factors(&self, _ro: &Rollout) -> Option<crate::factored::FactoredStep<f64>> {
        None
    }

    /// J_θ on a block of tangents (n_θ x k) into an n x k block; columns run in parallel.
    fn param_jvp_block(&self, ro: &Rollout, dtheta: MatRef<'_, f64>, out: MatMut<'_, f64>) {
        for_columns(dtheta, out, |x, y| self.param_jvp(ro, x, y));
    }
    /// J_θᵀ on a block of cotangents (n x k) into an n_θ x k block.
    fn param_vjp_block(&self, ro: &Rollout, w: MatRef<'_, f64>, out: MatMut<'_, f64>) {
        for_columns(w, out, |x, y| self.param_vjp(ro, x, y));
    }
}

/// `out += f(·)`: `f` writes its block into the front of `scratch`, which is then added to `out`
/// (the unfused step of [`StepModel::state_jvp_add`]).
pub fn add_via_scratch(
    mut out: MatMut<'_, f64>,
    scratch: &mut [f64],
    f: impl FnOnce(MatMut<'_, f64>),
) {
    let (h, m) = (out.nrows(), out.ncols());
    let mut a = MatMut::from_column_major_slice_mut(&mut scratch[..h * m], h, m);
    f(a.as_mut());
    for j in 0..m {
        for i in 0..h {
            out[(i, j)] += a[(i, j)];
        }
    }
}

/// The accessors every recurrent cell implements the same way (fields `cfg.input`, `cfg.hidden`,
/// `params`; the single-step map is a one-step rollout).
macro_rules! recurrent_step_model_basics {
    ($arch:literal) => {
        fn arch(&self) -> &'static str {
            $arch
        }
        fn input_size(&self) -> usize {
            self.cfg.input
        }
        fn hidden_size(&self) -> usize {
            self.cfg.hidden
        }
        fn params(&self) -> &Params {
            &self.params
        }
        fn params_mut(&mut self) -> &mut Params {
            &mut self.params
        }
        fn step(&self, ro: &Rollout, t: usize, h_prev: &[f64]) -> Result<Vec<f64>> {
            Ok(self
                .rollout(&step_inputs(ro, t), ro.batch, 1, Some(h_prev))?
                .states)
        }
    };
}
pub(crate) use recurrent_step_model_basics;

/// A recurrent model: inputs at every step, weights shared across steps.
pub trait Recurrent: StepModel {
    /// Forward pass on inputs `[B, T, n_x]` (row-major) from `h0` (`[B, H]`, default 0).
    fn rollout(
        &self,
        inputs: &[f64],
        batch: usize,
        time: usize,
        h0: Option<&[f64]>,
    ) -> Result<Rollout>;
}

/// Applies `f(column_in, column_out)` to every column pair, one column per parallel work item (the
/// results are per column, so they do not depend on the thread count). Contiguous columns are
/// passed as slices without copying; strided ones go through a buffer.
pub fn for_columns<T: gentk_linalg::Real, F>(x: MatRef<'_, T>, y: MatMut<'_, T>, f: F)
where
    F: Fn(&[T], &mut [T]) + Sync,
{
    gentk_linalg::kernels::par_columns_chunked(x, y, 1, |xc, mut yc| {
        let xbuf;
        let xs = match xc.col(0).try_as_col_major() {
            Some(c) => c.as_slice(),
            None => {
                xbuf = (0..xc.nrows()).map(|i| xc[(i, 0)]).collect::<Vec<T>>();
                &xbuf
            }
        };
        match yc.as_mut().col_mut(0).try_as_col_major_mut() {
            Some(c) => f(xs, c.as_slice_mut()),
            None => {
                let mut ybuf = vec![T::default(); yc.nrows()];
                f(xs, &mut ybuf);
                for (i, v) in ybuf.into_iter().enumerate() {
                    yc[(i, 0)] = v;
                }
            }
        }
    });
}

/// Validates inputs/h0 sizes and returns h0 (zeros by default).
pub(crate) fn check_rollout_args(
    inputs: &[f64],
    batch: usize,
    time: usize,
    n_x: usize,
    hidden: usize,
    h0: Option<&[f64]>,
) -> Result<Vec<f64>> {
    if batch == 0 || time == 0 {
        return Err(crate::error::config(
            "batch/time",
            "a rollout needs B ≥ 1 and T ≥ 1",
        ));
    }
    crate::error::check_size(
        "inputs",
        &format!("[{batch}, {time}, {n_x}]"),
        batch * time * n_x,
        inputs.len(),
    )?;
    match h0 {
        Some(h) => {
            crate::error::check_size(
                "h0",
                &format!("[{batch}, {hidden}]"),
                batch * hidden,
                h.len(),
            )?;
            if let Some(i) = h.iter().position(|v| !v.is_finite()) {
                return Err(crate::error::config(
                    "h0",
                    format!("non-finite value at index {i}"),
                ));
            }
            Ok(h.to_vec())
        }
        None => Ok(vec![0.0; batch * hidden]),
    }
}

/// B x width view of step `t` of an N x width per-site array (rows b·T + t).
pub(crate) fn step_rows(
    data: &[f64],
    batch: usize,
    time: usize,
    width: usize,
    t: usize,
) -> MatRef<'_, f64> {
    MatRef::from_row_major_slice_with_stride(&data[t * width..], batch, width, time * width)
}

/// Copies a B x width block into step `t` of an N x width per-site array.
pub(crate) fn write_step(
    data: &mut [f64],
    time: usize,
    width: usize,
    t: usize,
    block: MatRef<'_, f64>,
) {
    for b in 0..block.nrows() {
        let s = b * time + t;
        for i in 0..width {
            data[s * width + i] = block[(b, i)];
        }
    }
}

/// Checks a freshly computed step for NaN/Inf.
pub(crate) fn check_finite(block: MatRef<'_, f64>, t: usize) -> Result<()> {
    for b in 0..block.nrows() {
        for i in 0..block.ncols() {
            if !block[(b, i)].is_finite() {
                return Err(crate::error::ModelError::NonFinite {
                    batch: b,
                    step: t + 1,
                });
            }
        }
    }
    Ok(())
}

/// An N x 1 matrix of ones (the site vector of a bias).
pub(crate) fn ones(n: usize) -> Arc<Mat<f64>> {
    Arc::new(Mat::from_fn(n, 1, |_, _| 1.0))
}

/// An owned copy of an N x width row-major array as a matrix.
pub(crate) fn site_matrix(data: &[f64], n: usize, width: usize) -> Arc<Mat<f64>> {
    Arc::new(MatRef::from_row_major_slice(data, n, width).to_owned())
}

/// The rollout's inputs at step `t` as a `[B, n_x]` buffer.
pub fn step_inputs(ro: &Rollout, t: usize) -> Vec<f64> {
    (0..ro.batch)
        .flat_map(|b| ro.site_row(&ro.inputs, ro.input, b, t).to_vec())
        .collect()
}
