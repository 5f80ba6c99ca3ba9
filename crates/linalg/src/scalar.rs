//! The scalars the operators' inner kernels run in: f64 (the default) and f32 (the `precision =
//! "f32"` mode, twice the GEMM rate). Operators keep an f64 interface; only their insides are
//! generic, so every reduction an estimator makes stays in f64.

use std::cell::RefCell;
use std::ops::{Add, AddAssign, Mul, Sub};

/// A real scalar with faer's GEMM, the arithmetic the step kernels use, and a per-thread buffer
/// pool ([`crate::kernels::with_buffer`]).
pub trait Real:
    faer::traits::RealField
    + Copy
    + Default
    + Send
    + Sync
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + AddAssign
{
    /// Rounds an f64 to this type (round to nearest).
    fn of(x: f64) -> Self;
    /// Widens to f64 (exact).
    fn wide(self) -> f64;
    /// A buffer from this thread's pool for this type (empty when none is free).
    fn pool_take() -> Vec<Self>;
    /// Returns a buffer to this thread's pool.
    fn pool_put(buf: Vec<Self>);
}

thread_local! {
    static POOL_F64: RefCell<Vec<Vec<f64>>> = const { RefCell::new(Vec::new()) };
    static POOL_F32: RefCell<Vec<Vec<f32>>> = const { RefCell::new(Vec::new()) };
}

impl Real for f64 {
    fn of(x: f64) -> Self {
        x
    }
    fn wide(self) -> f64 {
        self
    }
    fn pool_take() -> Vec<Self> {
        POOL_F64.with(|p| p.borrow_mut().pop()).unwrap_or_default()
    }
    fn pool_put(buf: Vec<Self>) {
        POOL_F64.with(|p| p.borrow_mut().push(buf));
    }
}

impl Real for f32 {
    fn of(x: f64) -> Self {
        x as f32
    }
    fn wide(self) -> f64 {
        f64::from(self)
    }
    fn pool_take() -> Vec<Self> {
        POOL_F32.with(|p| p.borrow_mut().pop()).unwrap_or_default()
    }
    fn pool_put(buf: Vec<Self>) {
        POOL_F32.with(|p| p.borrow_mut().push(buf));
    }
}

/// An f64 vector rounded into a new vector of `T`.
pub fn narrow<T: Real>(src: &[f64]) -> Vec<T> {
    src.iter().map(|s| T::of(*s)).collect()
}

/// An f64 matrix rounded into a new matrix of `T`.
pub fn narrow_mat<T: Real>(m: faer::MatRef<'_, f64>) -> faer::Mat<T> {
    faer::Mat::from_fn(m.nrows(), m.ncols(), |i, j| T::of(m[(i, j)]))
}

/// The precision an operator's inner kernels run in (spec key `precision`; f64 is the default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Precision {
    /// Double precision throughout.
    #[default]
    F64,
    /// Single-precision data and GEMMs inside the operators, f64 interface and reductions.
    F32,
}

impl Precision {
    /// The spec spelling (`"f64"`, `"f32"`).
    pub fn name(self) -> &'static str {
        match self {
            Precision::F64 => "f64",
            Precision::F32 => "f32",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::{gemm, with_buffer};

    #[test]
    fn pools_are_per_type_and_zeroed() {
        with_buffer::<f32, _>(8, |b| b.fill(3.0));
        with_buffer::<f64, _>(8, |b| b.fill(5.0));
        with_buffer::<f32, _>(8, |b| assert!(b.iter().all(|v| *v == 0.0)));
        with_buffer::<f64, _>(8, |b| assert!(b.iter().all(|v| *v == 0.0)));
    }

    #[test]
    fn f32_gemm_matches_f64_to_single_precision() {
        let a = faer::Mat::from_fn(37, 29, |i, j| ((i * 7 + j * 3) % 11) as f64 / 11.0 - 0.4);
        let b = faer::Mat::from_fn(29, 13, |i, j| ((i * 5 + j) % 9) as f64 / 9.0 - 0.5);
        let mut c64 = faer::Mat::<f64>::zeros(37, 13);
        let mut c32 = faer::Mat::<f32>::zeros(37, 13);
        gemm(c64.as_mut(), a.as_ref(), b.as_ref(), 1.0, false);
        let (a32, b32) = (narrow_mat::<f32>(a.as_ref()), narrow_mat::<f32>(b.as_ref()));
        gemm(c32.as_mut(), a32.as_ref(), b32.as_ref(), 1.0, false);
        let mut worst = 0.0f64;
        for j in 0..13 {
            for i in 0..37 {
                worst = worst.max((c32[(i, j)].wide() - c64[(i, j)]).abs());
            }
        }
        // 29 products of |a|,|b| <= 0.6 each: error <= 29 * 0.36 * 2^-23 * small constant.
        assert!(
            worst < 29.0 * 0.36 * 4.0 * f64::from(f32::EPSILON),
            "{worst}"
        );
        assert!(
            worst > 0.0,
            "f32 must round somewhere, else the test proves nothing"
        );
    }
}
