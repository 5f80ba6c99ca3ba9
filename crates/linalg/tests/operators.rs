//! Operator algebra: every combinator against its dense formula, adjoint identities, shape errors,
//! both partial traces against explicit dense formulas, Neumann exactness.

mod common;

use common::*;
use faer::Mat;
use gentk_linalg::rank::{dense_compress, dense_partial_trace, pr_dense};
use gentk_linalg::*;

#[test]
fn compose_gram_sum_scale_sym_match_dense_formulas() {
    let a = dense(7, 5, 1);
    let b = dense(5, 4, 2);
    let c = dense(7, 5, 3);
    let (ma, mb, mc) = (mat(&a), mat(&b), mat(&c));
    assert!(rel_err(&mat(&Compose::new(&a, &b).unwrap()), &(&ma * &mb)) < 1e-14);
    assert!(rel_err(&mat(&Gram(&a)), &(&ma * ma.transpose())) < 1e-14);
    assert!(rel_err(&mat(&LinComb::sum(&a, &c).unwrap()), &(&ma + &mc)) < 1e-15);
    assert!(rel_err(&mat(&LinComb::sub(&a, &c).unwrap()), &(&ma - &mc)) < 1e-15);
    assert!(rel_err(&mat(&Scale::new(-2.5, &a)), &(&ma * faer::Scale(-2.5))) < 1e-15);
    assert!(rel_err(&mat(&Adjoint(&a)), &ma.transpose().to_owned()) < 1e-15);
    let s = dense(6, 6, 4);
    let ms = mat(&s);
    let sym = Mat::from_fn(6, 6, |i, j| 0.5 * (ms[(i, j)] + ms[(j, i)]));
    assert!(rel_err(&mat(&SymPart::new(&s).unwrap()), &sym) < 1e-15);
}

#[test]
fn kron_is_the_row_major_kronecker_product() {
    let a = dense(3, 4, 5);
    let b = dense(2, 5, 6);
    let k = Kron::new(&a, &b);
    assert_eq!(k.shape_in().numel(), 20);
    assert_eq!(k.shape_out().numel(), 6);
    let want = kron_dense(&mat(&a), &mat(&b));
    assert!(rel_err(&mat(&k), &want) < 1e-14);
    assert!(rel_err(&mat(&Adjoint(&k)), &want.transpose().to_owned()) < 1e-14);
}

#[test]
fn concat_is_the_block_row_and_its_adjoint_the_block_column() {
    let a = dense(6, 4, 21);
    let b = dense(6, 3, 22);
    let c = Concat::new(&a, &b).unwrap();
    assert_eq!(c.shape_in().numel(), 7);
    let (ma, mb) = (mat(&a), mat(&b));
    let want = Mat::from_fn(6, 7, |i, j| if j < 4 { ma[(i, j)] } else { mb[(i, j - 4)] });
    assert!(rel_err(&mat(&c), &want) < 1e-15);
    assert!(rel_err(&mat(&Adjoint(&c)), &want.transpose().to_owned()) < 1e-15);
    // Blocks of several probes go through the same path.
    let x = gaussian(7, 3, 23);
    let y = c.apply_to(x.as_ref()).unwrap();
    assert!(rel_err(&y, &(&want * &x)) < 1e-14);
    assert!(Concat::new(&a, &dense(5, 3, 24)).is_err());
}

#[test]
fn projector_is_the_outer_product() {
    let x = gaussian(5, 1, 7);
    let y = gaussian(3, 1, 8);
    let p = Projector::new(
        x.col_as_slice(0),
        Shape::flat("n", 5),
        y.col_as_slice(0),
        Shape::flat("m", 3),
    )
    .unwrap();
    let want = &y * x.transpose();
    assert!(rel_err(&mat(&p), &want) < 1e-15);
}

#[test]
fn adjoint_identity_holds_for_every_combinator() {
    let a = dense(7, 5, 11);
    let b = dense(5, 4, 12);
    let c = dense(7, 5, 13);
    let s = dense_shaped(Shape::state(2, 3, 4), Shape::state(2, 3, 4), 14);
    let x = gaussian(5, 1, 15);
    let y = gaussian(7, 1, 16);
    let checks: Vec<(&str, f64)> = vec![
        ("dense", adjoint_defect(&a, 1)),
        ("adjoint", adjoint_defect(&Adjoint(&a), 2)),
        ("compose", adjoint_defect(&Compose::new(&a, &b).unwrap(), 3)),
        ("gram", adjoint_defect(&Gram(&a), 4)),
        ("sum", adjoint_defect(&LinComb::sum(&a, &c).unwrap(), 5)),
        ("sub", adjoint_defect(&LinComb::sub(&a, &c).unwrap(), 6)),
        ("scale", adjoint_defect(&Scale::new(3.0, &a), 7)),
        ("kron", adjoint_defect(&Kron::new(&a, &b), 8)),
        (
            "view",
            adjoint_defect(
                &View::new(&a, Shape::new([("x", 5)]), Shape::new([("p", 7)])).unwrap(),
                9,
            ),
        ),
        ("sym", adjoint_defect(&SymPart::new(&s).unwrap(), 10)),
        (
            "projector",
            adjoint_defect(
                &Projector::new(
                    x.col_as_slice(0),
                    Shape::flat("n", 5),
                    y.col_as_slice(0),
                    Shape::flat("m", 7),
                )
                .unwrap(),
                11,
            ),
        ),
        (
            "identity",
            adjoint_defect(&Identity::new(Shape::flat("n", 9)), 12),
        ),
        (
            "diagonal",
            adjoint_defect(
                &Diagonal::new((0..9).map(|i| i as f64).collect(), Shape::flat("n", 9)).unwrap(),
                13,
            ),
        ),
        (
            "compress_sum",
            adjoint_defect(&Compress::sum(&s, &["hidden"]).unwrap(), 14),
        ),
        (
            "compress_mean",
            adjoint_defect(&Compress::mean(&s, &["batch", "time"]).unwrap(), 15),
        ),
        (
            "partial_trace",
            adjoint_defect(&PartialTrace::new(&s, &["time"]).unwrap(), 16),
        ),
    ];
    for (name, defect) in checks {
        assert!(defect < 1e-13, "{name}: adjoint defect {defect:e}");
    }
}

#[test]
fn shape_mismatches_are_errors_naming_both_shapes() {
    let a = dense_shaped(Shape::new([("out", 3)]), Shape::state(1, 2, 3), 1);
    let b = dense_shaped(Shape::new([("q", 5)]), Shape::new([("r", 2)]), 2);
    let e = Compose::new(&a, &b).unwrap_err().to_string();
    assert!(
        e.contains("batch=1, time=2, hidden=3") && e.contains("q=5"),
        "{e}"
    );
    let e = LinComb::sum(&a, &b).unwrap_err().to_string();
    assert!(e.contains("shape mismatch"), "{e}");
    let e = a.apply(&[1.0; 4]).unwrap_err().to_string();
    assert!(e.contains("holds 6 entries, got 4"), "{e}");
    let e = SymPart::new(&a).unwrap_err().to_string();
    assert!(e.contains("square"), "{e}");
    let e = Compress::sum(
        &dense_shaped(Shape::state(1, 2, 3), Shape::state(1, 2, 3), 3),
        &["neuron"],
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("neuron"), "{e}");
    assert!(View::new(&a, Shape::flat("x", 7), Shape::flat("y", 3)).is_err());
}

fn random_psd_op(shape: Shape, seed: u64) -> Dense {
    let n = shape.numel();
    Dense::with_shapes(psd(n, n, seed), shape.clone(), shape).unwrap()
}

#[test]
fn compress_and_partial_trace_match_their_dense_formulas() {
    let shape = Shape::state(2, 3, 4);
    let a = dense_shaped(shape.clone(), shape.clone(), 21);
    let ma = mat(&a);
    for keep in [
        &["hidden"][..],
        &["batch", "time"],
        &["time"],
        &["batch", "hidden"],
    ] {
        let split = AxisSplit::new(&shape, keep).unwrap();
        // Explicit formulas with basis vectors, independent of dense_* helpers.
        let (m, n) = (split.kept.numel(), split.traced.numel());
        let full_index = |i: usize, j: usize| split.kept_offset[i] + split.traced_offset[j];
        let textbook = Mat::from_fn(m, m, |i, k| {
            (0..n)
                .map(|j| ma[(full_index(i, j), full_index(k, j))])
                .sum()
        });
        let csum = Mat::from_fn(m, m, |i, k| {
            (0..n)
                .map(|j| {
                    (0..n)
                        .map(|l| ma[(full_index(i, j), full_index(k, l))])
                        .sum::<f64>()
                })
                .sum()
        });
        assert!(rel_err(&mat(&PartialTrace::new(&a, keep).unwrap()), &textbook) < 1e-13);
        assert!(rel_err(&mat(&Compress::sum(&a, keep).unwrap()), &csum) < 1e-13);
        let cmean = &csum * faer::Scale(1.0 / n as f64);
        assert!(rel_err(&mat(&Compress::mean(&a, keep).unwrap()), &cmean) < 1e-13);
        assert!(rel_err(&dense_partial_trace(ma.as_ref(), &split), &textbook) < 1e-13);
        assert!(rel_err(&dense_compress(ma.as_ref(), &split, false), &csum) < 1e-13);
    }
}

#[test]
fn partial_traces_agree_up_to_a_scalar_for_separable_operators() {
    let b = Dense::with_shapes(psd(4, 4, 31), Shape::flat("m", 4), Shape::flat("m", 4)).unwrap();
    let c = Dense::with_shapes(psd(6, 6, 32), Shape::flat("n", 6), Shape::flat("n", 6)).unwrap();
    let a = Kron::new(&b, &c);
    let tb = mat(&PartialTrace::new(&a, &["m"]).unwrap());
    let cs = mat(&Compress::sum(&a, &["m"]).unwrap());
    let mc = mat(&c);
    let (trc, onec1) = (
        (0..6).map(|i| mc[(i, i)]).sum::<f64>(),
        (0..6)
            .map(|i| (0..6).map(|j| mc[(i, j)]).sum::<f64>())
            .sum::<f64>(),
    );
    assert!(rel_err(&tb, &(&mat(&b) * faer::Scale(trc))) < 1e-13);
    assert!(rel_err(&cs, &(&mat(&b) * faer::Scale(onec1))) < 1e-13);
    assert!((pr_dense(tb.as_ref()) - pr_dense(cs.as_ref())).abs() < 1e-12);
}

#[test]
fn partial_trace_variants_differ_for_a_generic_psd_operator() {
    // PAPER.md §5.6: on R^4 ⊗ R^6 the two PRs differ (one reference draw gave 3.55 vs 3.91).
    let shape = Shape::new([("m", 4), ("n", 6)]);
    let mut differ = 0;
    for seed in 0..5 {
        let a = random_psd_op(shape.clone(), 40 + seed);
        let t = pr_dense(mat(&PartialTrace::new(&a, &["m"]).unwrap()).as_ref());
        let c = pr_dense(mat(&Compress::sum(&a, &["m"]).unwrap()).as_ref());
        assert!((1.0..=4.0).contains(&t) && (1.0..=4.0).contains(&c));
        if (t - c).abs() > 0.05 {
            differ += 1;
        }
    }
    assert!(
        differ >= 4,
        "the variants should differ for generic PSD operators"
    );
}

#[test]
fn partial_trace_of_a_projector() {
    // Tr_n of q ↦ ⟨q, X⟩Y is Y Xᵀ (textbook) and rowsum(Y) rowsum(X)ᵀ (compression).
    let shape = Shape::new([("m", 3), ("n", 5)]);
    let (x, y) = (gaussian(3, 5, 51), gaussian(3, 5, 52));
    let flat = |m: &Mat<f64>| {
        (0..3)
            .flat_map(|i| (0..5).map(move |j| (i, j)))
            .map(|(i, j)| m[(i, j)])
            .collect::<Vec<_>>()
    };
    let p = Projector::new(&flat(&x), shape.clone(), &flat(&y), shape.clone()).unwrap();
    let textbook = &y * x.transpose();
    let rs = |m: &Mat<f64>| Mat::from_fn(3, 1, |i, _| (0..5).map(|j| m[(i, j)]).sum::<f64>());
    let compression = &rs(&y) * rs(&x).transpose();
    assert!(rel_err(&mat(&PartialTrace::new(&p, &["m"]).unwrap()), &textbook) < 1e-13);
    assert!(rel_err(&mat(&Compress::sum(&p, &["m"]).unwrap()), &compression) < 1e-13);
}

#[test]
fn neumann_is_exact_after_t_terms_for_a_nilpotent_causal_system() {
    // D = I − L ⊗ W with L the T x T down-shift: (D⁻¹)= Σ_{d<T} L^d ⊗ W^d.
    let (t, h) = (5usize, 3usize);
    let w = gaussian(h, h, 61);
    let l = Mat::from_fn(t, t, |i, j| if i == j + 1 { 1.0 } else { 0.0 });
    let lw = kron_dense(&l, &w);
    let d = Mat::<f64>::identity(t * h, t * h) - &lw;
    let dop = Dense::new(d.clone());
    // T terms = T − 1 loop iterations from x = b.
    let inv = NeumannInverse::new(&dop, t - 1, 0.0).unwrap();
    let m = mat(&inv);
    assert!(max_abs_diff(&(&d * &m), &Mat::identity(t * h, t * h)) < 1e-12);
    assert!(
        max_abs_diff(
            &(&mat(&Adjoint(&inv)) * d.transpose()),
            &Mat::identity(t * h, t * h)
        ) < 1e-12
    );
    // One term fewer is not exact for generic W.
    let short = mat(&NeumannInverse::new(&dop, t - 2, 0.0).unwrap());
    assert!(max_abs_diff(&(&d * &short), &Mat::identity(t * h, t * h)) > 1e-6);
    let b = gaussian(t * h, 2, 62);
    let s = neumann::neumann_solve(&dop, b.as_ref(), 100, 1e-14).unwrap();
    assert!(
        s.converged && s.iterations <= t,
        "{} iterations",
        s.iterations
    );
    assert!(max_abs_diff(&(&d * &s.x), &b) < 1e-12);
}

#[test]
fn materialize_refuses_large_operators() {
    let e = materialize(&Identity::new(Shape::flat("n", 5000)), 4096).unwrap_err();
    assert!(e.to_string().contains("5000"));
}
