//! The linear readout y = W_out z + b_out of every recurrent model (`Wout.weight`, `Wout.bias`).

use faer::{Mat, MatRef};
use gentk_linalg::kernels::gemm;

use crate::error::{Result, config};
use crate::init;
use crate::params::{ParamLayout, Params};

/// `Wout.weight` [n_y, H].
pub const W_OUT: &str = crate::names::W_OUT;
/// `Wout.bias` [n_y].
pub const B_OUT: &str = crate::names::B_OUT;

/// A linear readout.
#[derive(Debug, Clone, PartialEq)]
pub struct Readout {
    params: Params,
    hidden: usize,
    output: usize,
}

impl Readout {
    /// Layout for H → n_y with or without bias.
    pub fn layout(hidden: usize, output: usize, bias: bool) -> ParamLayout {
        let mut t = vec![(W_OUT, vec![output, hidden])];
        if bias {
            t.push((B_OUT, vec![output]));
        }
        ParamLayout::new(t)
    }

    /// From explicit parameters.
    pub fn from_params(params: Params) -> Result<Self> {
        let e = params.layout().get(W_OUT)?;
        let [output, hidden] = e.shape[..] else {
            return Err(config(W_OUT, "must be 2-D"));
        };
        Ok(Readout {
            params,
            hidden,
            output,
        })
    }

    /// nn.Linear default init: U(±1/√H) for weight and bias.
    pub fn init(hidden: usize, output: usize, bias: bool, seed: u64) -> Result<Self> {
        if hidden == 0 || output == 0 {
            return Err(config("readout", "sizes must be ≥ 1"));
        }
        let mut p = Params::zeros(Self::layout(hidden, output, bias));
        let mut r = init::rng(seed, init::purpose::READOUT);
        let v = init::linear_uniform(&mut r, hidden, p.layout().len());
        p.values_mut().copy_from_slice(&v);
        Self::from_params(p)
    }

    /// Parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }
    /// Mutable parameters.
    pub fn params_mut(&mut self) -> &mut Params {
        &mut self.params
    }
    /// n_y.
    pub fn output_size(&self) -> usize {
        self.output
    }
    /// H.
    pub fn hidden_size(&self) -> usize {
        self.hidden
    }
    /// W_out as a row-major n_y x H view.
    pub fn weight(&self) -> MatRef<'_, f64> {
        MatRef::from_row_major_slice(
            &self.params.values()[..self.output * self.hidden],
            self.output,
            self.hidden,
        )
    }
    /// b_out, if present.
    pub fn bias(&self) -> Option<&[f64]> {
        self.params.tensor(B_OUT).ok()
    }

    /// Outputs for N x H states (row-major) → N x n_y (row-major).
    pub fn apply(&self, states: &[f64]) -> Vec<f64> {
        let n = states.len() / self.hidden;
        let z = MatRef::from_row_major_slice(states, n, self.hidden);
        let mut y = Mat::zeros(n, self.output);
        gemm(y.as_mut(), z, self.weight().transpose(), 1.0, false);
        let b = self.bias();
        let mut out = vec![0.0; n * self.output];
        for s in 0..n {
            for o in 0..self.output {
                out[s * self.output + o] = y[(s, o)] + b.map_or(0.0, |b| b[o]);
            }
        }
        out
    }
}
