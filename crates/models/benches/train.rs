//! One training iteration (forward + BPTT backward) on memory-pro: leaky RNN H = 256, batch 64,
//! T = 90 (≈ 2.3 GFLOP). Counters are flops, so items/s is FLOP/s; the faer GEMM row of the
//! dominant shape (256 x 256 x 64) is the reference rate measured in the same run.

use divan::Bencher;
use divan::counter::ItemsCount;
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, Par};
use gentk_models::train::adjoint_recursion;
use gentk_models::*;
use gentk_tasks::{MemoryProConfig, memory_pro};

fn main() {
    divan::main();
}

const B: usize = 64;
const H: usize = 256;
const T: usize = 90;
const FLOP_STEP: usize = 2 * H * H * B * T; // one recurrent pass over all steps

fn setup() -> (LeakyRnn, Readout, Batch) {
    let mut c = LeakyRnnConfig::new(3, H);
    c.dt = 0.7;
    let m = LeakyRnn::init(c, 1.0, 1).unwrap();
    let r = Readout::init(H, 3, true, 1).unwrap();
    let d = memory_pro(
        &MemoryProConfig {
            n_samples: B,
            ..Default::default()
        },
        true,
        0,
    )
    .unwrap();
    (
        m,
        r,
        Batch {
            batch: B,
            time: T,
            inputs: d.inputs,
            targets: d.targets,
        },
    )
}

#[divan::bench]
fn faer_gemm_256x256x64(b: Bencher) {
    let w = Mat::<f64>::from_fn(H, H, |i, j| ((i + j) % 7) as f64);
    let x = Mat::<f64>::from_fn(H, B, |i, j| ((i * j) % 5) as f64);
    let mut y = Mat::zeros(H, B);
    b.counter(ItemsCount::new(2 * H * H * B)).bench_local(|| {
        matmul(
            y.as_mut(),
            Accum::Replace,
            w.as_ref(),
            x.as_ref(),
            1.0,
            Par::Seq,
        )
    });
}

#[divan::bench]
fn iteration_forward_backward(b: Bencher) {
    let (m, r, bt) = setup();
    b.counter(ItemsCount::new(3 * FLOP_STEP))
        .bench_local(|| loss_and_grad(&m, &r, &bt, Loss::Mse).unwrap().loss);
}

/// What `train` runs per iteration: the batch split into fixed 32-trial chunks in parallel.
#[divan::bench]
fn iteration_chunked(b: Bencher) {
    let (m, r, bt) = setup();
    b.counter(ItemsCount::new(3 * FLOP_STEP))
        .bench_local(|| batch_loss_grad(&m, &r, &bt, Loss::Mse).unwrap().0);
}

#[divan::bench]
fn part_rollout(b: Bencher) {
    let (m, _, bt) = setup();
    b.counter(ItemsCount::new(FLOP_STEP))
        .bench_local(|| m.rollout(&bt.inputs, B, T, None).unwrap());
}

#[divan::bench]
fn part_adjoint_recursion(b: Bencher) {
    let (m, _, bt) = setup();
    let ro = m.rollout(&bt.inputs, B, T, None).unwrap();
    let q = vec![1e-3; ro.state_dim()];
    b.counter(ItemsCount::new(FLOP_STEP))
        .bench_local(|| adjoint_recursion(&m, &ro, &q));
}

#[divan::bench]
fn part_param_vjp(b: Bencher) {
    let (m, _, bt) = setup();
    let ro = m.rollout(&bt.inputs, B, T, None).unwrap();
    let q = vec![1e-3; ro.state_dim()];
    let mut g = vec![0.0; m.params().layout().len()];
    b.counter(ItemsCount::new(FLOP_STEP))
        .bench_local(|| m.param_vjp(&ro, &q, &mut g));
}
