//! Elementwise activations shared by the models.

/// tanh in f64, Cephes-style: an odd rational approximation for |x| ≤ 0.625 and 1 − 2/(e^{2|x|}+1)
/// beyond (relative error ≈ 2.5e-16, like the platform's tanh, at about half the cost: the platform
/// version goes through expm1 for every argument, which dominated rollouts).
#[inline]
pub fn tanh(x: f64) -> f64 {
    const P: [f64; 3] = [
        -9.643_991_794_250_523e-1,
        -9.928_772_310_019_186e1,
        -1.614_687_684_417_084_5e3,
    ];
    const Q: [f64; 3] = [
        1.128_116_784_916_329_3e2,
        2.235_488_390_601_004_6e3,
        4.844_063_053_251_255e3,
    ];
    let a = x.abs();
    if a > 0.625 {
        if a > 22.0 {
            return x.signum();
        }
        let s = (2.0 * a).exp();
        let z = 1.0 - 2.0 / (s + 1.0);
        if x < 0.0 { -z } else { z }
    } else if a == 0.0 {
        x
    } else {
        let z = x * x;
        let p = (P[0] * z + P[1]) * z + P[2];
        let q = ((z + Q[0]) * z + Q[1]) * z + Q[2];
        x + x * z * p / q
    }
}

/// e^x in f64, Cephes-style: x = n·ln 2 + r with |r| ≤ ½ ln 2, e^r = 1 + 2r·P(r²)/(Q(r²) − r·P(r²)),
/// then a scale by 2ⁿ (relative error ≤ 3.2e-16 against the platform's exp over ±730). Why not
/// `f64::exp`: glibc's exp dispatches to a VEX-encoded kernel and returns through legacy-SSE code,
/// and on this machine kind every call paid an SSE/AVX state transition once faer's AVX-512 kernels
/// had run: `perf` put 58 % of a GRU rollout at the instruction after that return (~140 ns a call).
/// Used by the GRU's gates. [`tanh`] still calls the platform's exp: switching it halves training
/// time but moves F10's 5-fixed-point SGD run, which is sensitive to last-bit changes, to a
/// different trajectory (see F10's notes).
#[inline]
pub fn exp(x: f64) -> f64 {
    const P: [f64; 3] = [1.261_771_930_748_105_9e-4, 3.029_944_077_074_419_6e-2, 1.0];
    const Q: [f64; 4] = [
        3.001_985_051_386_644_6e-6,
        2.524_483_403_496_841e-3,
        2.272_655_482_081_550_3e-1,
        2.0,
    ];
    const LN2_HI: f64 = 6.931_457_519_531_25e-1;
    const LN2_LO: f64 = 1.428_606_820_309_417_2e-6;
    if x.is_nan() {
        return x;
    }
    if x > 709.782_712_893_384 {
        return f64::INFINITY;
    }
    if x < -745.133_219_101_941_1 {
        return 0.0;
    }
    let n = (std::f64::consts::LOG2_E * x + 0.5).floor();
    let r = x - n * LN2_HI - n * LN2_LO;
    let rr = r * r;
    let p = r * ((P[0] * rr + P[1]) * rr + P[2]);
    let q = ((Q[0] * rr + Q[1]) * rr + Q[2]) * rr + Q[3];
    let e = 1.0 + 2.0 * (p / (q - p));
    scale_pow2(e, n as i32)
}

/// x · 2ⁿ for n in the range `exp` produces (−1075 ≤ n ≤ 1024), in two exact steps when 2ⁿ alone
/// is not a normal f64.
#[inline]
fn scale_pow2(x: f64, n: i32) -> f64 {
    let pow2 = |k: i32| f64::from_bits(((k + 1023) as u64) << 52);
    if (-1022..=1023).contains(&n) {
        x * pow2(n)
    } else {
        let h = n / 2;
        x * pow2(h) * pow2(n - h)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tanh_matches_the_platform_to_a_few_ulps() {
        let mut worst = 0.0f64;
        for i in -400_000..=400_000 {
            let x = i as f64 * 6.1e-5 + (i as f64 * 1e-9).sin() * 1e-7;
            let (a, b) = (super::tanh(x), x.tanh());
            let rel = if b == 0.0 {
                a.abs()
            } else {
                ((a - b) / b).abs()
            };
            worst = worst.max(rel);
        }
        for x in [
            1e-300,
            -1e-20,
            0.625,
            -0.625,
            0.6250000001,
            21.9,
            22.1,
            -40.0,
            710.0,
        ] {
            let (a, b) = (super::tanh(x), f64::tanh(x));
            worst = worst.max(((a - b) / b).abs());
        }
        assert!(worst < 1e-15, "worst relative error {worst:e}");
        assert_eq!(super::tanh(0.0), 0.0);
        assert!(super::tanh(f64::NAN).is_nan());
    }
    #[test]
    fn exp_matches_the_platform_to_a_few_ulps() {
        // Relative error where e^x is a normal f64; below (x < −708.4) the result is subnormal and
        // its spacing is 5e-324, so there the check is at most two subnormal steps.
        let mut worst = 0.0f64;
        let mut check = |x: f64| {
            let (a, b) = (super::exp(x), x.exp());
            if b >= f64::MIN_POSITIVE && b.is_finite() {
                worst = worst.max(((a - b) / b).abs());
            } else if b.is_finite() {
                assert!(
                    (a - b).abs() <= 1e-323,
                    "exp({x:e}) = {a:e}, platform {b:e}"
                );
            } else {
                assert_eq!(a, b, "exp({x:e})");
            }
        };
        for i in -1_000_000..=1_000_000 {
            check(i as f64 * 7.3e-4 + (i as f64 * 1e-9).sin() * 1e-7);
        }
        for x in [
            0.0, 1e-300, -1e-20, 0.5, -0.5, 1.0, 700.0, 709.78, -700.0, -708.3, -720.0, -744.0,
        ] {
            check(x);
        }
        assert!(worst < 5e-16, "worst relative error {worst:e}");
        assert_eq!(super::exp(0.0), 1.0);
        assert_eq!(super::exp(710.0), f64::INFINITY);
        assert_eq!(super::exp(-746.0), 0.0);
        assert!(super::exp(f64::NAN).is_nan());
        assert_eq!(super::exp(f64::NEG_INFINITY), 0.0);
    }
}
