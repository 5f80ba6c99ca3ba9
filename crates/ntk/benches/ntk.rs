//! NTK operator benchmarks (divan): leaky RNN and GRU, H = 256, B = 30, T = 90, n_x = 3, blocks of
//! 32 probes. Divide a block's time by 32 for the time per probe; the faer GEMM row (256 x 256 times
//! 256 x 960, one step of a 32-probe block) gives the machine's rate in the same run.

use divan::Bencher;
use divan::counter::ItemsCount;
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, Par};
use gentk_linalg::{Adjoint, LinearOp};
use gentk_models::*;
use gentk_ntk::GlobalNtk;

fn main() {
    divan::main();
}

const B: usize = 30;
const T: usize = 90;
const H: usize = 256;
const NX: usize = 3;
const K: usize = 32;

fn leaky() -> Box<dyn Recurrent> {
    let mut c = LeakyRnnConfig::new(NX, H);
    c.dt = 0.7;
    Box::new(LeakyRnn::init(c, 1.0, 1).unwrap())
}
fn gru() -> Box<dyn Recurrent> {
    Box::new(Gru::init(GruConfig::new(NX, H), 1.0, 1).unwrap())
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

#[divan::bench]
fn faer_gemm_step_shape(b: Bencher) {
    let w = Mat::<f64>::from_fn(H, H, |i, j| ((i + j) % 7) as f64);
    let x = Mat::<f64>::from_fn(H, K * B, |i, j| ((i * j) % 5) as f64);
    let mut y = Mat::zeros(H, K * B);
    b.counter(ItemsCount::new(2 * H * H * K * B))
        .bench_local(|| {
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
    ($name:ident, $g:ident => $build:expr) => {
        #[divan::bench(args = ["leaky", "gru"])]
        fn $name(b: Bencher, arch: &str) {
            let m = if arch == "leaky" { leaky() } else { gru() };
            let ro = m.rollout(&inputs(), B, T, None).unwrap();
            let $g = GlobalNtk::new(m.as_ref(), &ro);
            let op = $build;
            let x = probes(ro.state_dim());
            let mut y = Mat::zeros(ro.state_dim(), K);
            b.counter(ItemsCount::new(K))
                .bench_local(|| op.apply_block(x.as_ref(), y.as_mut()));
        }
    };
}

op_bench!(k_core_block32, g => g.k().unwrap());
op_bench!(k_autodiff_block32, g => g.k_autodiff().unwrap());
op_bench!(p_block32, g => g.p());
op_bench!(p_star_block32, g => Adjoint(g.p()));
op_bench!(ntk_block32, g => g.ntk().unwrap());

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

/// Flops of one probe through the attention operators (PAPER.md §5.12's counting: 2 per
/// multiply-add): K's core is 4·N·d·w per weight-site group (site fan-in d, channel block w); P and
/// P* each apply the six projections (2·N·fan_in·fan_out) and, per trial and head, four T x T x d_h
/// products.
fn attention_flops(blk: &AttentionBlock, tape: &AttentionTape) -> (usize, usize) {
    let g = GlobalNtk::attention(blk, tape);
    let n = AB * AT;
    let k: usize = g
        .k()
        .unwrap()
        .groups()
        .iter()
        .map(|gr| 4 * n * gr.sites.ncols() * gr.channels.clone().map_or(0, |c| c.len()))
        .sum();
    let c = blk.config();
    let (d, m) = (c.d_model, c.mlp_hidden);
    let proj = 2 * n * (4 * d * d + d * m + m * m);
    let heads = AB * c.n_heads * 4 * 2 * AT * AT * c.head_dim();
    (k, proj + heads)
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
    ($name:ident, $flops:ident, $g:ident => $build:expr) => {
        /// Counter: flops of the 32-probe block (items/s read as flop/s).
        #[divan::bench]
        fn $name(b: Bencher) {
            let (blk, tape) = attention();
            let (k_flops, p_flops) = attention_flops(&blk, &tape);
            let $flops = (k_flops, p_flops);
            let $g = GlobalNtk::attention(&blk, &tape);
            let (op, per_probe) = $build;
            let n = op.shape_in().numel();
            let x = probes(n);
            let mut y = Mat::zeros(n, K);
            b.counter(ItemsCount::new(per_probe * K))
                .bench_local(|| op.apply_block(x.as_ref(), y.as_mut()));
        }
    };
}

attention_bench!(attention_k_core_block32, f, g => (g.k().unwrap(), f.0));
attention_bench!(attention_p_block32, f, g => (g.p(), f.1));
attention_bench!(attention_p_star_block32, f, g => (Adjoint(g.p()), f.1));
attention_bench!(attention_ntk_block32, f, g => (g.ntk().unwrap(), f.0 + 2 * f.1));
