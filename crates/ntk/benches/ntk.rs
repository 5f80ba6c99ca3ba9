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
