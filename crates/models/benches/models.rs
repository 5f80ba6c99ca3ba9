//! Model benchmarks (divan). Counters are flops, so "items/s" reads as FLOP/s; compare with the faer
//! GEMM rows of the same shape in the same run. Setting: leaky RNN H = 256, B = 30, T = 90, n_x = 3.
//! Counters come from the model's flop models (PAPER.md §5.12): `StepModel::state_jvp_flops` for
//! the recursions (T·B step Jacobians per probe), `StepModel::param_jvp_flops` for J_θ, J_θᵀ and
//! the rollout (each weight times its site vectors once).

use divan::Bencher;
use divan::counter::ItemsCount;
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, Par};
use gentk_models::recursion::propagate_op;
use gentk_models::{LeakyRnn, LeakyRnnConfig, Recurrent, Rollout, StepModel};

fn main() {
    divan::main();
}

const B: usize = 30;
const T: usize = 90;
const H: usize = 256;
const NX: usize = 3;
const K: usize = 32;

fn setup() -> (LeakyRnn, Vec<f64>, Rollout) {
    let mut c = LeakyRnnConfig::new(NX, H);
    c.dt = 0.7;
    let m = LeakyRnn::init(c, 1.0, 1).unwrap();
    let x: Vec<f64> = (0..B * T * NX)
        .map(|i| ((i * 7919) % 1000) as f64 / 1000.0 - 0.5)
        .collect();
    let ro = m.rollout(&x, B, T, None).unwrap();
    (m, x, ro)
}

/// Reference: one step's GEMM shape (H x H times H x K·B), sequential and on 2 threads.
#[divan::bench(args = [false, true])]
fn faer_gemm_step_shape(b: Bencher, rayon: bool) {
    let w = Mat::<f64>::from_fn(H, H, |i, j| ((i + 3 * j) % 17) as f64 * 0.01);
    let v = Mat::<f64>::from_fn(H, K * B, |i, j| ((i * j) % 13) as f64 * 0.01);
    let mut out = Mat::zeros(H, K * B);
    let par = if rayon { Par::rayon(2) } else { Par::Seq };
    b.counter(ItemsCount::new(2 * H * H * K * B))
        .bench_local(|| {
            matmul(
                out.as_mut(),
                Accum::Replace,
                w.as_ref(),
                v.as_ref(),
                1.0,
                par,
            )
        });
}

#[divan::bench]
fn rollout(b: Bencher) {
    let (m, x, ro) = setup();
    b.counter(ItemsCount::new(m.param_jvp_flops(&ro) as usize))
        .bench_local(|| m.rollout(&x, B, T, None).unwrap());
}

/// The forward recursion of P on a block of 32 probes: T step-JVPs of H x (32·B).
#[divan::bench]
fn p_recursion_32_probes(b: Bencher) {
    let (m, _, ro) = setup();
    let v = Mat::<f64>::from_fn(H, K * B, |i, j| ((i * j) % 13) as f64 * 0.01);
    b.counter(ItemsCount::new(T * K * B * m.state_jvp_flops() as usize))
        .bench_local(|| {
            let mut cur = v.clone();
            let mut next = Mat::zeros(H, K * B);
            for t in 0..T {
                m.state_jvp(&ro, t, cur.as_ref(), next.as_mut());
                std::mem::swap(&mut cur, &mut next);
            }
            cur
        });
}

#[divan::bench]
fn state_vjp_all_steps_32_probes(b: Bencher) {
    let (m, _, ro) = setup();
    let v = Mat::<f64>::from_fn(H, K * B, |i, j| ((i * j) % 11) as f64 * 0.01);
    b.counter(ItemsCount::new(T * K * B * m.state_jvp_flops() as usize))
        .bench_local(|| {
            let mut cur = v.clone();
            let mut next = Mat::zeros(H, K * B);
            for t in (0..T).rev() {
                m.state_vjp(&ro, t, cur.as_ref(), next.as_mut());
                std::mem::swap(&mut cur, &mut next);
            }
            cur
        });
}

/// P on a 32-probe state block through the exported step factors (`FactoredStep`), in f64 and in
/// f32 (the `precision = "f32"` kernel), one call on the bench thread (each step's GEMM column-split
/// over both cores).
#[divan::bench(args = ["f64", "f32"])]
fn factored_p_32_probes(b: Bencher, precision: &str) {
    let (m, _, ro) = setup();
    let f = m.step_factors(&ro).unwrap();
    let n = ro.state_dim();
    let flops = (T - 1) * K * B * m.state_jvp_flops() as usize;
    let x = Mat::<f64>::from_fn(n, K, |i, j| ((i * 7 + j) % 13) as f64 * 0.01);
    if precision == "f32" {
        let f = f.cast::<f32>();
        let x = Mat::<f32>::from_fn(n, K, |i, j| x[(i, j)] as f32);
        let mut y = Mat::<f32>::zeros(n, K);
        b.counter(ItemsCount::new(flops))
            .bench_local(|| propagate_op(&f, x.as_ref(), y.as_mut()));
    } else {
        let mut y = Mat::<f64>::zeros(n, K);
        b.counter(ItemsCount::new(flops))
            .bench_local(|| propagate_op(&f, x.as_ref(), y.as_mut()));
    }
}

#[divan::bench]
fn param_jvp_block_32(b: Bencher) {
    let (m, _, ro) = setup();
    let nth = m.params().layout().len();
    let d = Mat::<f64>::from_fn(nth, K, |i, j| ((i + j) % 7) as f64 * 0.01);
    let mut out = Mat::zeros(B * T * H, K);
    b.counter(ItemsCount::new(m.param_jvp_flops(&ro) as usize * K))
        .bench_local(|| m.param_jvp_block(&ro, d.as_ref(), out.as_mut()));
}

#[divan::bench]
fn param_vjp_block_32(b: Bencher) {
    let (m, _, ro) = setup();
    let nth = m.params().layout().len();
    let w = Mat::<f64>::from_fn(B * T * H, K, |i, j| ((i + j) % 5) as f64 * 0.01);
    let mut out = Mat::zeros(nth, K);
    b.counter(ItemsCount::new(m.param_jvp_flops(&ro) as usize * K))
        .bench_local(|| m.param_vjp_block(&ro, w.as_ref(), out.as_mut()));
}
