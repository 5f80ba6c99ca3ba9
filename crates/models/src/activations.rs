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
}
