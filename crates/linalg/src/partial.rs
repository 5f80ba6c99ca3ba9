//! Partial traces over named axes, in both variants the paper distinguishes (PAPER.md §5.6):
//!
//! * [`Compress`]: kpflow's compression C_n(A) = (I_m ⊗ 1_nᵀ) A (I_m ⊗ 1_n) (`sum`), or C_n(A)/n
//!   (`mean`): the response to perturbations constant along the traced axes, summed over them.
//!   One probe costs one application of A.
//! * [`PartialTrace`]: the textbook Tr_n(A) = Σ_k (I_m ⊗ e_kᵀ) A (I_m ⊗ e_k). One probe costs n
//!   applications of A (exact and matrix-free, meant for small n or dense checks; the U-statistic in
//!   [`crate::rank`] estimates its participation ratio cheaply).
//!
//! They agree up to a scalar for separable A = B ⊗ C and differ in general (e.g. for NTK_S).

use faer::{Mat, MatMut, MatRef};

use crate::error::{LinalgError, Result};
use crate::op::LinearOp;
use crate::shape::{AxisSplit, Shape};

/// Which reduction a partial trace uses; recorded next to every reported rank.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PtraceVariant {
    /// kpflow `partial_trace`: (I ⊗ 1ᵀ) A (I ⊗ 1).
    CompressSum,
    /// kpflow `partial_avg`: (I ⊗ 1ᵀ) A (I ⊗ 1) / n.
    CompressMean,
    /// Σ_k (I ⊗ e_kᵀ) A (I ⊗ e_k).
    Textbook,
}

impl PtraceVariant {
    /// Stable name used in tables (`compress_sum`, `compress_mean`, `textbook`).
    pub fn name(self) -> &'static str {
        match self {
            PtraceVariant::CompressSum => "compress_sum",
            PtraceVariant::CompressMean => "compress_mean",
            PtraceVariant::Textbook => "textbook",
        }
    }
}

fn split_square<A: LinearOp>(context: &str, a: &A, keep: &[&str]) -> Result<AxisSplit> {
    if a.shape_in() != a.shape_out() {
        return Err(LinalgError::ShapeMismatch {
            context: format!("{context} needs shape_in == shape_out"),
            expected: a.shape_in().clone(),
            actual: a.shape_out().clone(),
        });
    }
    AxisSplit::new(a.shape_in(), keep)
}

/// kpflow's compression of a square operator onto the kept axes (sum or mean over the rest).
#[derive(Debug, Clone)]
pub struct Compress<A> {
    a: A,
    split: AxisSplit,
    mean: bool,
}

impl<A: LinearOp> Compress<A> {
    /// compress_sum: (I ⊗ 1ᵀ) A (I ⊗ 1), keeping the named axes.
    pub fn sum(a: A, keep: &[&str]) -> Result<Self> {
        let split = split_square("compress_sum", &a, keep)?;
        Ok(Compress {
            a,
            split,
            mean: false,
        })
    }
    /// compress_mean: compress_sum / n (n = size of the traced axes).
    pub fn mean(a: A, keep: &[&str]) -> Result<Self> {
        let split = split_square("compress_mean", &a, keep)?;
        Ok(Compress {
            a,
            split,
            mean: true,
        })
    }
    /// Which variant this is.
    pub fn variant(&self) -> PtraceVariant {
        if self.mean {
            PtraceVariant::CompressMean
        } else {
            PtraceVariant::CompressSum
        }
    }
    /// Size of the traced axes.
    pub fn traced_size(&self) -> usize {
        self.split.traced.numel()
    }

    fn run(&self, x: MatRef<'_, f64>, mut y: MatMut<'_, f64>, adjoint: bool) {
        let (ko, to) = (&self.split.kept_offset, &self.split.traced_offset);
        let n_full = self.a.shape_in().numel();
        let k = x.ncols();
        let mut full = Mat::zeros(n_full, k);
        for p in 0..k {
            for (i, &o) in ko.iter().enumerate() {
                let v = x[(i, p)];
                for &t in to {
                    full[(o + t, p)] = v;
                }
            }
        }
        let mut out = Mat::zeros(n_full, k);
        if adjoint {
            self.a.apply_adjoint_block(full.as_ref(), out.as_mut());
        } else {
            self.a.apply_block(full.as_ref(), out.as_mut());
        }
        let scale = if self.mean {
            1.0 / to.len() as f64
        } else {
            1.0
        };
        for p in 0..k {
            for (i, &o) in ko.iter().enumerate() {
                y[(i, p)] = scale * to.iter().map(|&t| out[(o + t, p)]).sum::<f64>();
            }
        }
    }
}

impl<A: LinearOp> LinearOp for Compress<A> {
    fn shape_in(&self) -> &Shape {
        &self.split.kept
    }
    fn shape_out(&self) -> &Shape {
        &self.split.kept
    }
    fn apply_block(&self, x: MatRef<'_, f64>, y: MatMut<'_, f64>) {
        self.run(x, y, false)
    }
    fn apply_adjoint_block(&self, x: MatRef<'_, f64>, y: MatMut<'_, f64>) {
        self.run(x, y, true)
    }
    fn is_self_adjoint(&self) -> bool {
        self.a.is_self_adjoint()
    }
}

/// The textbook partial trace Tr_n(A) of a square operator, keeping the named axes.
#[derive(Debug, Clone)]
pub struct PartialTrace<A> {
    a: A,
    split: AxisSplit,
}

impl<A: LinearOp> PartialTrace<A> {
    /// Tr_n(A) keeping the named axes; each probe costs n applications of A.
    pub fn new(a: A, keep: &[&str]) -> Result<Self> {
        let split = split_square("partial_trace", &a, keep)?;
        Ok(PartialTrace { a, split })
    }

    fn run(&self, x: MatRef<'_, f64>, mut y: MatMut<'_, f64>, adjoint: bool) {
        let (ko, to) = (&self.split.kept_offset, &self.split.traced_offset);
        let (n_full, n, k) = (self.a.shape_in().numel(), to.len(), x.ncols());
        // Column (p, j): x_p ⊗ e_j.
        let mut full = Mat::zeros(n_full, k * n);
        for p in 0..k {
            for (j, &t) in to.iter().enumerate() {
                for (i, &o) in ko.iter().enumerate() {
                    full[(o + t, p * n + j)] = x[(i, p)];
                }
            }
        }
        let mut out = Mat::zeros(n_full, k * n);
        if adjoint {
            self.a.apply_adjoint_block(full.as_ref(), out.as_mut());
        } else {
            self.a.apply_block(full.as_ref(), out.as_mut());
        }
        for p in 0..k {
            for (i, &o) in ko.iter().enumerate() {
                y[(i, p)] = to
                    .iter()
                    .enumerate()
                    .map(|(j, &t)| out[(o + t, p * n + j)])
                    .sum::<f64>();
            }
        }
    }
}

impl<A: LinearOp> LinearOp for PartialTrace<A> {
    fn shape_in(&self) -> &Shape {
        &self.split.kept
    }
    fn shape_out(&self) -> &Shape {
        &self.split.kept
    }
    fn apply_block(&self, x: MatRef<'_, f64>, y: MatMut<'_, f64>) {
        self.run(x, y, false)
    }
    fn apply_adjoint_block(&self, x: MatRef<'_, f64>, y: MatMut<'_, f64>) {
        self.run(x, y, true)
    }
    fn is_self_adjoint(&self) -> bool {
        self.a.is_self_adjoint()
    }
}
