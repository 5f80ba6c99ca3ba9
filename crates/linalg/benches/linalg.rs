//! Benchmarks of gentk-linalg (divan). Counters are flop counts, so divan's "items/s" column reads
//! as FLOP/s; compare each operator row with the faer GEMM row of the same size in the same run.
//!
//! Run: `cargo bench -p gentk-linalg` (or `just bench`).

use divan::counter::ItemsCount;
use divan::{Bencher, black_box};
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, Par};
use gentk_linalg::eig::{EigOptions, top_eigenpairs};
use gentk_linalg::norms::alignment;
use gentk_linalg::rank::{PrOptions, participation_ratio, ustat_partial_pr};
use gentk_linalg::slq::slq;
use gentk_linalg::testing::{Profile, spectral_operator};
use gentk_linalg::trace::*;
use gentk_linalg::*;

fn main() {
    divan::main();
}

fn gaussian(r: usize, c: usize, seed: u64) -> Mat<f64> {
    gentk_linalg::probes::seeded_block(seed, 7, ProbeKind::Gaussian, r, c)
}

/// (n, probes) pairs: a state-sized operator with an estimator-sized block.
const SIZES: [(usize, usize); 3] = [(512, 64), (1024, 128), (2048, 128)];

#[divan::bench(args = SIZES)]
fn gemm_faer_seq(b: Bencher, (n, k): (usize, usize)) {
    let (a, x) = (gaussian(n, n, 1), gaussian(n, k, 2));
    let mut y = Mat::zeros(n, k);
    b.counter(ItemsCount::new(2 * n * n * k)).bench_local(|| {
        matmul(
            y.as_mut(),
            Accum::Replace,
            a.as_ref(),
            x.as_ref(),
            1.0,
            Par::Seq,
        )
    });
}

#[divan::bench(args = SIZES)]
fn gemm_faer_rayon2(b: Bencher, (n, k): (usize, usize)) {
    let (a, x) = (gaussian(n, n, 1), gaussian(n, k, 2));
    let mut y = Mat::zeros(n, k);
    b.counter(ItemsCount::new(2 * n * n * k)).bench_local(|| {
        matmul(
            y.as_mut(),
            Accum::Replace,
            a.as_ref(),
            x.as_ref(),
            1.0,
            Par::rayon(2),
        )
    });
}

#[divan::bench(args = SIZES)]
fn dense_op_block(b: Bencher, (n, k): (usize, usize)) {
    let (a, x) = (Dense::new(gaussian(n, n, 1)), gaussian(n, k, 2));
    let mut y = Mat::zeros(n, k);
    b.counter(ItemsCount::new(2 * n * n * k))
        .bench_local(|| a.apply_block(x.as_ref(), y.as_mut()));
}

#[divan::bench(args = SIZES)]
fn composed_op_block(b: Bencher, (n, k): (usize, usize)) {
    // (A B)ᵀ-free composition A ∘ B*: two GEMMs of the same size per block.
    let (a, bb) = (Dense::new(gaussian(n, n, 1)), Dense::new(gaussian(n, n, 3)));
    let op = Compose::new(&a, Adjoint(&bb)).unwrap();
    let x = gaussian(n, k, 2);
    let mut y = Mat::zeros(n, k);
    b.counter(ItemsCount::new(4 * n * n * k))
        .bench_local(|| op.apply_block(x.as_ref(), y.as_mut()));
}

#[divan::bench(args = SIZES)]
fn kron_op_block(b: Bencher, (n, k): (usize, usize)) {
    // G ⊗ I_H with G on (n/32) sites and H = 32: the Kronecker-core shape of the NTK's K.
    let s = n / 32;
    let g = Dense::new(gaussian(s, s, 4));
    let op = Kron::new(&g, Identity::new(Shape::flat("hidden", 32)));
    let x = gaussian(n, k, 2);
    let mut y = Mat::zeros(n, k);
    b.counter(ItemsCount::new(2 * s * s * 32 * k))
        .bench_local(|| op.apply_block(x.as_ref(), y.as_mut()));
}

/// Estimators on a dense 1024² PSD operator, budget 120: counters are operator applications, so
/// "items/s" = matvecs/s; the time per matvec minus the GEMM time is each estimator's overhead.
mod estimators {
    use super::*;
    const N: usize = 1024;
    const M: usize = 120;

    fn op() -> Dense {
        let g = gaussian(N, N, 5);
        Dense::new(&g * g.transpose())
    }

    #[divan::bench]
    fn hutchinson_(b: Bencher) {
        let a = op();
        b.counter(ItemsCount::new(M))
            .bench_local(|| black_box(hutchinson(&a, M, 1, ProbeKind::Rademacher).unwrap()));
    }
    #[divan::bench]
    fn hutchpp_(b: Bencher) {
        let a = op();
        b.counter(ItemsCount::new(M))
            .bench_local(|| black_box(hutchpp(&a, M, 1, HutchppSplit::Library).unwrap()));
    }
    #[divan::bench]
    fn na_hutchpp_(b: Bencher) {
        let a = op();
        b.counter(ItemsCount::new(M))
            .bench_local(|| black_box(na_hutchpp(&a, M, 1).unwrap()));
    }
    #[divan::bench]
    fn xtrace_(b: Bencher) {
        let a = op();
        b.counter(ItemsCount::new(M))
            .bench_local(|| black_box(xtrace(&a, M, 1).unwrap()));
    }
    #[divan::bench]
    fn xnystrace_(b: Bencher) {
        let a = op();
        b.counter(ItemsCount::new(M))
            .bench_local(|| black_box(xnystrace(&a, M, 1).unwrap()));
    }
    #[divan::bench]
    fn fhutch_(b: Bencher) {
        let a = op();
        b.counter(ItemsCount::new(M))
            .bench_local(|| black_box(fhutch(&a, M, 1).unwrap()));
    }
    #[divan::bench]
    fn alignment_(b: Bencher) {
        let a = op();
        let id = Identity::new(a.shape_in().clone());
        b.counter(ItemsCount::new(M))
            .bench_local(|| black_box(alignment(&a, &id, M, 1).unwrap()));
    }
    #[divan::bench]
    fn participation_ratio_randomized(b: Bencher) {
        let a = op();
        let o = PrOptions {
            budget: M,
            seed: 1,
            exact_limit: 0,
        };
        b.counter(ItemsCount::new(M))
            .bench_local(|| black_box(participation_ratio(&a, o).unwrap()));
    }
    #[divan::bench]
    fn ustat_partial_pr_(b: Bencher) {
        let a = View::new(
            op(),
            Shape::new([("m", 32), ("n", 32)]),
            Shape::new([("m", 32), ("n", 32)]),
        )
        .unwrap();
        b.counter(ItemsCount::new(M))
            .bench_local(|| black_box(ustat_partial_pr(&a, &["m"], M, 1).unwrap()));
    }
    #[divan::bench]
    fn lanczos_top10(b: Bencher) {
        let a = spectral_operator(N, N, Profile::Decaying(1.0), 6).unwrap();
        let o = EigOptions {
            dense_limit: 0,
            max_matvecs: 400,
            tol: 1e-8,
            ..Default::default()
        };
        let mv = top_eigenpairs(&a, 10, o).unwrap().matvecs;
        b.counter(ItemsCount::new(mv))
            .bench_local(|| black_box(top_eigenpairs(&a, 10, o).unwrap()));
    }
    #[divan::bench]
    fn slq_10x12(b: Bencher) {
        let a = op();
        b.counter(ItemsCount::new(120usize))
            .bench_local(|| black_box(slq(&a, 10, 12, 1).unwrap()));
    }
}
