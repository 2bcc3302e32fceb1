//! Element-wise math: abs/ceil/floor/exp/ln/log2/log10/sqrt, trigonometry,
//! rad/deg/sgn, clamp/clamp_min/clamp_max and round (Prometheus v2.42
//! `promql/functions.go`, `simpleFunc` and friends), plus the float
//! primitives of Go's `math` package whose edge cases differ from Rust's.
//!
//! Exactness (checked against Prometheus 2.42 by `golden_tests`): `+ - * /`,
//! `sqrt`, `floor`, `ceil`, `abs` and `mod` are correctly rounded in both
//! languages, so they match Prometheus bit for bit. `^` follows Go's
//! `math.Pow` algorithm (exact repeated squaring for integer exponents), so
//! integer powers match too. The transcendental functions (exp, ln, log2,
//! log10, trigonometry, hyperbolics, and fractional powers and atan2) use
//! the platform libm, which differs from Go's implementations by an ulp or
//! so; Go's own `Exp` on amd64 differs between CPUs with and without FMA.

use crate::promql::value::{Sample, Vector};

use super::NodeCache;

/// Applies `f` to every sample, dropping the metric name
/// (Prometheus's `simpleFunc`).
pub(crate) fn simple(vec: &[Sample], cache: &mut NodeCache, f: impl Fn(f64) -> f64) -> Vector {
    vec.iter()
        .map(|s| Sample {
            metric: cache.drop_metric_name(&s.metric),
            t: s.t,
            v: f(s.v),
        })
        .collect()
}

pub(crate) fn exp(x: f64) -> f64 {
    x.exp()
}

pub(crate) fn ln(x: f64) -> f64 {
    x.ln()
}

/// Go's `math.Log2`: exact for powers of two, `Log(frac)/ln 2 + exp`
/// otherwise.
pub(crate) fn log2(x: f64) -> f64 {
    let (frac, exp) = frexp(x);
    if frac == 0.5 {
        return f64::from(exp - 1);
    }
    ln(frac) * (1.0 / std::f64::consts::LN_2) + f64::from(exp)
}

/// Go's `math.Log10`: `Log(x) * (1/Ln10)`.
pub(crate) fn log10(x: f64) -> f64 {
    ln(x) * (1.0 / std::f64::consts::LN_10)
}

pub(crate) fn sin(x: f64) -> f64 {
    x.sin()
}
pub(crate) fn cos(x: f64) -> f64 {
    x.cos()
}
pub(crate) fn tan(x: f64) -> f64 {
    x.tan()
}
pub(crate) fn asin(x: f64) -> f64 {
    x.asin()
}
pub(crate) fn acos(x: f64) -> f64 {
    x.acos()
}
pub(crate) fn atan(x: f64) -> f64 {
    x.atan()
}
pub(crate) fn sinh(x: f64) -> f64 {
    x.sinh()
}
pub(crate) fn cosh(x: f64) -> f64 {
    x.cosh()
}
pub(crate) fn tanh(x: f64) -> f64 {
    x.tanh()
}
pub(crate) fn asinh(x: f64) -> f64 {
    x.asinh()
}
pub(crate) fn acosh(x: f64) -> f64 {
    x.acosh()
}
pub(crate) fn atanh(x: f64) -> f64 {
    x.atanh()
}

/// Go's `math.Atan2`.
pub(crate) fn atan2(y: f64, x: f64) -> f64 {
    y.atan2(x)
}

/// `v * Pi / 180`, in that order.
pub(crate) fn rad(v: f64) -> f64 {
    v * std::f64::consts::PI / 180.0
}

/// `v * 180 / Pi`, in that order.
pub(crate) fn deg(v: f64) -> f64 {
    v * 180.0 / std::f64::consts::PI
}

/// -1, 1, or the value itself for zeros and NaN.
pub(crate) fn sgn(v: f64) -> f64 {
    if v < 0.0 {
        -1.0
    } else if v > 0.0 {
        1.0
    } else {
        v
    }
}

/// Go's `math.Max`: +Inf wins, then NaN, and +0 beats -0.
pub(crate) fn go_max(x: f64, y: f64) -> f64 {
    if x == f64::INFINITY || y == f64::INFINITY {
        return f64::INFINITY;
    }
    if x.is_nan() || y.is_nan() {
        return f64::NAN;
    }
    if x == 0.0 && x == y {
        return if x.is_sign_negative() { y } else { x };
    }
    if x > y {
        x
    } else {
        y
    }
}

/// Go's `math.Min`: -Inf wins, then NaN, and -0 beats +0.
pub(crate) fn go_min(x: f64, y: f64) -> f64 {
    if x == f64::NEG_INFINITY || y == f64::NEG_INFINITY {
        return f64::NEG_INFINITY;
    }
    if x.is_nan() || y.is_nan() {
        return f64::NAN;
    }
    if x == 0.0 && x == y {
        return if x.is_sign_negative() { x } else { y };
    }
    if x < y {
        x
    } else {
        y
    }
}

/// `clamp(v, min, max)`: nothing when max < min.
pub(crate) fn clamp(vec: &[Sample], min: f64, max: f64, cache: &mut NodeCache) -> Vector {
    if max < min {
        return Vec::new();
    }
    simple(vec, cache, |v| go_max(min, go_min(max, v)))
}

pub(crate) fn clamp_max(vec: &[Sample], max: f64, cache: &mut NodeCache) -> Vector {
    simple(vec, cache, |v| go_min(max, v))
}

pub(crate) fn clamp_min(vec: &[Sample], min: f64, cache: &mut NodeCache) -> Vector {
    simple(vec, cache, |v| go_max(min, v))
}

/// `round(v, to_nearest)`: `floor(v * (1/to_nearest) + 0.5) / (1/to_nearest)`,
/// ties up, in Prometheus's order of operations.
pub(crate) fn round(vec: &[Sample], to_nearest: f64, cache: &mut NodeCache) -> Vector {
    let inv = 1.0 / to_nearest;
    simple(vec, cache, |v| (v * inv + 0.5).floor() / inv)
}

/// Go's `math.Mod`, which is C's `fmod` (exact), with Go's special cases:
/// NaN for an infinite or NaN dividend or a zero or NaN divisor.
pub(crate) fn go_mod(x: f64, y: f64) -> f64 {
    if y == 0.0 || x.is_infinite() || x.is_nan() || y.is_nan() {
        return f64::NAN;
    }
    x % y
}

/// Go's `math.Frexp`: `x = frac * 2^exp` with `frac` in [0.5, 1).
pub(crate) fn frexp(x: f64) -> (f64, i32) {
    if x == 0.0 || x.is_nan() || x.is_infinite() {
        return (x, 0);
    }
    let (mut x, mut exp) = (x, 0i32);
    if x.abs() < f64::MIN_POSITIVE {
        // Normalise a subnormal first.
        x *= (1u64 << 52) as f64;
        exp = -52;
    }
    let bits = x.to_bits();
    exp += ((bits >> 52) & 0x7ff) as i32 - 1022;
    let bits = (bits & !(0x7ffu64 << 52)) | (1022u64 << 52);
    (f64::from_bits(bits), exp)
}

/// Go's `math.Ldexp`: `frac * 2^exp`, rounding subnormal results as Go does.
pub(crate) fn ldexp(frac: f64, exp: i32) -> f64 {
    if frac == 0.0 || frac.is_nan() || frac.is_infinite() {
        return frac;
    }
    let (frac, e) = frexp(frac);
    let mut exp = i64::from(exp) + i64::from(e);
    let mut bits = frac.to_bits();
    exp += ((bits >> 52) & 0x7ff) as i64 - 1023;
    if exp < -1075 {
        return 0f64.copysign(frac);
    }
    if exp > 1023 {
        return if frac < 0.0 {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        };
    }
    let mut m = 1.0;
    if exp < -1022 {
        // Denormal: build it through a multiplication so it rounds.
        exp += 53;
        m = 1.0 / (1u64 << 53) as f64;
    }
    bits &= !(0x7ffu64 << 52);
    bits |= ((exp + 1023) as u64) << 52;
    m * f64::from_bits(bits)
}

/// 2^63 as a float.
const TWO_POW_63: f64 = (1u64 << 63) as f64;

/// Go's `math.Modf` of a non-negative finite value: integer and fraction.
fn modf(f: f64) -> (f64, f64) {
    if f < 1.0 {
        return (0.0, f);
    }
    let i = f.trunc();
    (i, f - i)
}

/// Go's `math.Pow`, step for step: special cases, then `exp(yf*log(x))`
/// for the fractional part of the exponent and exact repeated squaring of
/// the mantissa for the integer part.
pub(crate) fn go_pow(x: f64, y: f64) -> f64 {
    let is_odd_int = |v: f64| -> bool {
        if v.abs() >= (1u64 << 53) as f64 {
            return false;
        }
        let (xi, xf) = modf(v.abs());
        xf == 0.0 && (xi as i64) & 1 == 1
    };
    if y == 0.0 || x == 1.0 {
        return 1.0;
    }
    if y == 1.0 {
        return x;
    }
    if x.is_nan() || y.is_nan() {
        return f64::NAN;
    }
    if x == 0.0 {
        return if y < 0.0 {
            if x.is_sign_negative() && is_odd_int(y) {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            }
        } else if x.is_sign_negative() && is_odd_int(y) {
            x
        } else {
            0.0
        };
    }
    if y.is_infinite() {
        return if x == -1.0 {
            1.0
        } else if (x.abs() < 1.0) == (y > 0.0) {
            0.0
        } else {
            f64::INFINITY
        };
    }
    if x.is_infinite() {
        if x < 0.0 {
            return go_pow(1.0 / x, -y);
        }
        return if y < 0.0 { 0.0 } else { f64::INFINITY };
    }
    if y == 0.5 {
        return x.sqrt();
    }
    if y == -0.5 {
        return 1.0 / x.sqrt();
    }

    let (mut yi, mut yf) = modf(y.abs());
    if yf != 0.0 && x < 0.0 {
        return f64::NAN;
    }
    if yi >= TWO_POW_63 {
        // yi is a large even integer: the result overflows or underflows
        // for every x but -1 (1 was handled above).
        return if x == -1.0 {
            1.0
        } else if (x.abs() < 1.0) == (y > 0.0) {
            0.0
        } else {
            f64::INFINITY
        };
    }

    let mut a1 = 1.0;
    let mut ae: i64 = 0;
    if yf != 0.0 {
        if yf > 0.5 {
            yf -= 1.0;
            yi += 1.0;
        }
        a1 = exp(yf * ln(x));
    }
    let (mut x1, xe) = frexp(x);
    let mut xe = i64::from(xe);
    let mut i = yi as i64;
    while i != 0 {
        if !(-(1 << 12)..=(1 << 12)).contains(&xe) {
            // Catastrophic overflow: the exponent alone decides.
            ae += xe;
            break;
        }
        if i & 1 == 1 {
            a1 *= x1;
            ae += xe;
        }
        x1 *= x1;
        xe <<= 1;
        if x1 < 0.5 {
            x1 += x1;
            xe -= 1;
        }
        i >>= 1;
    }
    if y < 0.0 {
        a1 = 1.0 / a1;
        ae = -ae;
    }
    ldexp(
        a1,
        ae.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_min_max_semantics() {
        assert!(go_max(1.0, f64::NAN).is_nan());
        assert_eq!(go_max(f64::NAN, f64::INFINITY), f64::INFINITY);
        assert!(go_min(0.0, f64::NAN).is_nan());
        assert!(go_max(-0.0, 0.0).is_sign_positive());
        assert!(go_min(-0.0, 0.0).is_sign_negative());
    }

    #[test]
    fn pow_matches_exact_cases() {
        assert_eq!(go_pow(2.0, 10.0), 1024.0);
        assert_eq!(go_pow(1000.0, 2.0), 1_000_000.0);
        assert_eq!(go_pow(2.0, -1.0), 0.5);
        assert_eq!(go_pow(4.0, 0.5), 2.0);
        assert!(go_pow(-8.0, 1.0 / 3.0).is_nan());
        assert_eq!(go_pow(0.0, -1.0), f64::INFINITY);
        assert_eq!(go_pow(-0.0, -1.0), f64::NEG_INFINITY);
        assert_eq!(go_pow(10.0, 3.0), 1000.0);
        assert_eq!(go_pow(2.0, 1024.0), f64::INFINITY);
        assert_eq!(go_pow(2.0, -1074.0), f64::from_bits(1));
        assert!((go_pow(2.0, 0.3) - 2f64.powf(0.3)).abs() < 1e-15);
    }

    #[test]
    fn frexp_ldexp_round_trip() {
        for x in [1.0, 0.75, 3.0e-310, 1e300, -5.5] {
            let (f, e) = frexp(x);
            assert!((0.5..1.0).contains(&f.abs()), "{x}");
            assert_eq!(ldexp(f, e), x);
        }
        assert_eq!(log2(8.0), 3.0);
    }
}
