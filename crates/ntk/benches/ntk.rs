//! NTK operator benchmarks (divan) with flop counters, so "items/s" reads as FLOP/s: leaky RNN and
//! GRU at B = 30, T = 90, n_x = 3, blocks of 32 probes, H = 256 (set `GENTK_BENCH_H=512` for the
//! larger size). Each operator's flops come from the flop model next to it (PAPER.md §5.12:
//! `KroneckerCore::flops_per_probe`, `Propagation::flops_per_probe`, `NtkState::flops_per_probe`);
//! the faer GEMM rows give the machine's rate at the recursion's step shape (H x H times H x 32·B)
//! on one thread and on two, in the same run. Args ending in `-f32` run the operator with
//! `precision = "f32"` (compare with the f32 GEMM rows).

use divan::Bencher;
use divan::counter::ItemsCount;
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, Par};
use gentk_linalg::{Adjoint, LinearOp, Precision};
use gentk_models::*;
use gentk_ntk::GlobalNtk;

fn main() {
    divan::main();
}

const B: usize = 30;
const T: usize = 90;
const NX: usize = 3;
const K: usize = 32;

/// Hidden size: 256 unless `GENTK_BENCH_H` says otherwise.
fn hidden() -> usize {
    std::env::var("GENTK_BENCH_H")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

fn leaky() -> Box<dyn Recurrent> {
    let mut c = LeakyRnnConfig::new(NX, hidden());
    c.dt = 0.7;
    Box::new(LeakyRnn::init(c, 1.0, 1).unwrap())
}
fn gru() -> Box<dyn Recurrent> {
    Box::new(Gru::init(GruConfig::new(NX, hidden()), 1.0, 1).unwrap())
}
fn inputs() -> Vec<f64> {
    (0..B * T * NX)
        .map(|i| ((i * 7919) % 1000) as f64 / 1000.0 - 0.5)
        .collect()
}
fn probes(n: usize) -> Mat<f64> {
    Mat::from_fn(n, K, |i, j| {
        (((i * 31 + j * 17) % 101) as f64 - 50.0) / 50.0
    })
}

/// The recursions' step GEMM for a whole 32-probe block, H x H times H x (32·B), on one thread
/// (`Par::Seq`) and on two (`Par::rayon(2)`): the reference rates of BENCHMARKS.md. One sample is
/// T such GEMMs in sequence, as in one pass of a recursion, so a sample lasts ~0.1 s rather than
/// ~1 ms (single-GEMM samples varied by 20 % between runs).
#[divan::bench(args = [1, 2])]
fn faer_gemm_step_shape(b: Bencher, threads: usize) {
    gemm_step_shape::<f64>(b, threads);
}

/// [`faer_gemm_step_shape`] in f32: the reference rate of the `-f32` rows.
#[divan::bench(args = [1, 2])]
fn faer_gemm_step_shape_f32(b: Bencher, threads: usize) {
    gemm_step_shape::<f32>(b, threads);
}

fn gemm_step_shape<T: gentk_linalg::Real>(b: Bencher, threads: usize) {
    let h = hidden();
    let w = Mat::<T>::from_fn(h, h, |i, j| T::of(((i + j) % 7) as f64));
    let x = Mat::<T>::from_fn(h, K * B, |i, j| T::of(((i * j) % 5) as f64));
    let mut y = Mat::<T>::zeros(h, K * B);
    let par = if threads == 1 {
        Par::Seq
    } else {
        Par::rayon(threads)
    };
    b.counter(ItemsCount::new(2 * h * h * K * B * T))
        .bench_local(|| {
            for _ in 0..T {
                matmul(
                    y.as_mut(),
                    Accum::Replace,
                    w.as_ref(),
                    x.as_ref(),
                    T::of(1.0),
                    par,
                )
            }
        });
}

#[divan::bench(args = ["leaky", "gru"])]
fn setup_rollout_and_core(b: Bencher, arch: &str) {
    let m = if arch == "leaky" { leaky() } else { gru() };
    let x = inputs();
    b.bench_local(|| {
        let ro = m.rollout(&x, B, T, None).unwrap();
        let k = GlobalNtk::new(m.as_ref(), &ro).k().unwrap();
        k.groups().len()
    });
}

macro_rules! op_bench {
    ($name:ident, $args:expr, $g:ident => $build:expr) => {
        /// Counter: flops of the 32-probe block (items/s read as flop/s).
        #[divan::bench(args = $args)]
        fn $name(b: Bencher, arch: &str) {
            let m = if arch.starts_with("leaky") {
                leaky()
            } else {
                gru()
            };
            let ro = m.rollout(&inputs(), B, T, None).unwrap();
            let precision = if arch.ends_with("-f32") {
                Precision::F32
            } else {
                Precision::F64
            };
            let $g = GlobalNtk::new(m.as_ref(), &ro)
                .with_precision(precision)
                .unwrap();
            let (op, per_probe) = $build;
            let x = probes(ro.state_dim());
            let mut y = Mat::zeros(ro.state_dim(), K);
            b.counter(ItemsCount::new(per_probe as usize * K))
                .bench_local(|| op.apply_block(x.as_ref(), y.as_mut()));
        }
    };
}

// K by autodiff (J_θ J_θ*) costs the same flops as the core by PAPER.md §5.12's count, so its row
// uses the core's flop model.
const BOTH: [&str; 4] = ["leaky", "gru", "leaky-f32", "gru-f32"];
op_bench!(k_core_block32, BOTH, g => { let k = g.k().unwrap(); let f = k.flops_per_probe(); (k, f) });
op_bench!(k_autodiff_block32, ["leaky", "gru"], g => (g.k_autodiff().unwrap(), g.k().unwrap().flops_per_probe()));
op_bench!(p_block32, BOTH, g => { let p = g.p(); let f = p.flops_per_probe(); (p, f) });
op_bench!(p_star_block32, BOTH, g => { let p = g.p(); let f = p.flops_per_probe(); (Adjoint(p), f) });
op_bench!(ntk_block32, BOTH, g => { let n = g.ntk().unwrap(); let f = n.flops_per_probe(); (n, f) });

// The attention block at F12's full-preset size: B = 15 sequences of T = 50 tokens, d_in = 1000
// (the sweep's largest), d_model 64, MLP 128, 1 head: V has 576 channels, n = 432,000.
const AB: usize = 15;
const AT: usize = 50;
const AD_IN: usize = 1000;

fn attention() -> (AttentionBlock, AttentionTape) {
    let cfg = AttentionConfig {
        d_input: AD_IN,
        ..Default::default()
    };
    let blk = AttentionBlock::init(cfg, 1).unwrap();
    let x: Vec<f64> = (0..AB * AT * AD_IN)
        .map(|i| ((i * 7919) % 1000) as f64 / 500.0 - 1.0)
        .collect();
    let tape = blk.forward(&x, AB, AT).unwrap();
    (blk, tape)
}

#[divan::bench]
fn faer_gemm_attention_shape(b: Bencher) {
    // The dominant GEMM of the attention core at this size: the input-projection group's
    // (w x N)(N x d) with w = 64 channels, N = 750 tokens, d = 1001 site columns; 32 of them.
    let n = AB * AT;
    let q = Mat::<f64>::from_fn(64, n, |i, j| ((i + j) % 7) as f64);
    let s = Mat::<f64>::from_fn(n, AD_IN + 1, |i, j| ((i * j) % 5) as f64);
    let mut y = Mat::zeros(64, AD_IN + 1);
    b.counter(ItemsCount::new(2 * 64 * n * (AD_IN + 1) * K))
        .bench_local(|| {
            for _ in 0..K {
                matmul(
                    y.as_mut(),
                    Accum::Replace,
                    q.as_ref(),
                    s.as_ref(),
                    1.0,
                    Par::Seq,
                )
            }
        });
}

macro_rules! attention_bench {
    ($name:ident, $g:ident => $build:expr) => {
        /// Counter: flops of the 32-probe block (items/s read as flop/s).
        #[divan::bench]
        fn $name(b: Bencher) {
            let (blk, tape) = attention();
            let $g = GlobalNtk::attention(&blk, &tape);
            let (op, per_probe) = $build;
            let n = op.shape_in().numel();
            let x = probes(n);
            let mut y = Mat::zeros(n, K);
            b.counter(ItemsCount::new(per_probe as usize * K))
                .bench_local(|| op.apply_block(x.as_ref(), y.as_mut()));
        }
    };
}

attention_bench!(attention_k_core_block32, g => { let k = g.k().unwrap(); let f = k.flops_per_probe(); (k, f) });
attention_bench!(attention_p_block32, g => { let p = g.p(); let f = p.flops_per_probe(); (p, f) });
attention_bench!(attention_p_star_block32, g => { let p = g.p(); let f = p.flops_per_probe(); (Adjoint(p), f) });
attention_bench!(attention_ntk_block32, g => { let n = g.ntk().unwrap(); let f = n.flops_per_probe(); (n, f) });
