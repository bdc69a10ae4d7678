//! seq2seq patch: a vectorized f32 `erf`, and exact GELU through it.
//!
//! flex computed GELU (`0.5 x (1 + erf(x / sqrt 2))`) one element at a time through libm's
//! `erff`, whose branches (four ranges) and two `expf` calls per element keep LLVM from
//! vectorizing it, on one thread. Whisper's feed-forward layers apply it to `[1500, 4 d]`
//! values per layer and window: 17% of a Whisper transcription's samples were `erff` and the
//! `expf` it calls.
//!
//! This is the same algorithm as libm's `erff` (FreeBSD `s_erff.c`, Sun Microsystems 1993:
//! "Permission to use, copy, modify, and distribute this software is freely granted, provided
//! that this notice is preserved"), with its coefficients, made branch-free: every range's
//! formula is computed and the right one selected per element, and the tail's coefficient set
//! is selected before its one polynomial. `exp` is [`super::exp`]'s vectorizable Cephes
//! formula. Plain arithmetic inside `#[macerator::with_simd]`, which LLVM vectorizes for the
//! instruction set found at run time.
//!
//! Accuracy: within a few ulp of libm's `erff` (seq2seq's `tests/backends.rs` compares flex's
//! GELU with an f64 reference over `[-10, 10]` and with libm's formula); NaN stays NaN, ±inf
//! gives ±1.

#[cfg(not(feature = "std"))]
#[allow(unused_imports)]
use num_traits::Float;

const ERX: f32 = 8.450_629_1e-1;
// erf on [0, 0.84375]: x + x * P(x^2) / Q(x^2)
const PP: [f32; 5] = [
    1.283_791_7e-1,
    -3.250_421e-1,
    -2.848_175e-2,
    -5.770_270_2e-3,
    -2.376_301_7e-5,
];
const QQ: [f32; 5] = [
    3.979_172_1e-1,
    6.502_225e-2,
    5.081_306_2e-3,
    1.324_947_4e-4,
    -3.960_228_2e-6,
];
// erf on [0.84375, 1.25]: ERX + P(s) / Q(s), s = |x| - 1
const PA: [f32; 7] = [
    -2.362_118_6e-3,
    4.148_561e-1,
    -3.722_078_8e-1,
    3.183_466_2e-1,
    -1.108_946_9e-1,
    3.547_830_5e-2,
    -2.166_375_5e-3,
];
const QA: [f32; 6] = [
    1.064_208_8e-1,
    5.403_979_4e-1,
    7.182_865_6e-2,
    1.261_712_2e-1,
    1.363_708_4e-2,
    1.198_450_0e-2,
];
// erfc on [1.25, 1/0.35]: exp(-x^2 - 0.5625 + R(s) / S(s)) / x, s = 1 / x^2
const RA: [f32; 8] = [
    -9.864_944e-3,
    -6.938_585_6e-1,
    -1.055_862_6e1,
    -6.237_533e1,
    -1.623_966_7e2,
    -1.846_050_9e2,
    -8.128_744e1,
    -9.814_329,
];
const SA: [f32; 8] = [
    1.965_127_2e1,
    1.376_577_6e2,
    4.345_658_9e2,
    6.453_872_7e2,
    4.290_081_5e2,
    1.086_350_0e2,
    6.570_249_6,
    -6.042_441_4e-2,
];
// erfc on [1/0.35, 6]: the same form (RB6, SB7 end the series: padded with 0)
const RB: [f32; 8] = [
    -9.864_943e-3,
    -7.992_832_7e-1,
    -1.775_795_6e1,
    -1.606_363_8e2,
    -6.375_664_7e2,
    -1.025_095_1e3,
    -4.835_192e2,
    0.0,
];
const SB: [f32; 8] = [
    3.033_806e1,
    3.257_925e2,
    1.536_729_6e3,
    3.199_858_2e3,
    2.553_050_3e3,
    4.745_285_3e2,
    -2.244_095_2e1,
    0.0,
];

/// `erf(x)` by the branch-free form of libm's algorithm, for one element.
#[inline(always)]
pub fn erf_one(x: f32) -> f32 {
    let a = x.abs();
    // |x| < 0.84375
    let z = x * x;
    let r = PP[0] + z * (PP[1] + z * (PP[2] + z * (PP[3] + z * PP[4])));
    let s = 1.0 + z * (QQ[0] + z * (QQ[1] + z * (QQ[2] + z * (QQ[3] + z * QQ[4]))));
    let small = x + x * (r / s);
    // 0.84375 <= |x| < 1.25
    let t = a - 1.0;
    let p = PA[0] + t * (PA[1] + t * (PA[2] + t * (PA[3] + t * (PA[4] + t * (PA[5] + t * PA[6])))));
    let q = 1.0 + t * (QA[0] + t * (QA[1] + t * (QA[2] + t * (QA[3] + t * (QA[4] + t * QA[5])))));
    let mid = ERX + p / q;
    // 1.25 <= |x| < 6 (clamped so the unused lanes stay finite)
    let ac = a.clamp(1.25, 6.0);
    let u = 1.0 / (ac * ac);
    let near = ac < 2.857_142_8;
    let c = |i: usize| if near { RA[i] } else { RB[i] };
    let d = |i: usize| if near { SA[i] } else { SB[i] };
    let rr = c(0) + u * (c(1) + u * (c(2) + u * (c(3) + u * (c(4) + u * (c(5) + u * (c(6) + u * c(7)))))));
    let ss = 1.0
        + u * (d(0)
            + u * (d(1) + u * (d(2) + u * (d(3) + u * (d(4) + u * (d(5) + u * (d(6) + u * d(7))))))));
    // z rounded down to 12 significant bits, so that z * z is exact (libm's split).
    let zh = f32::from_bits(ac.to_bits() & 0xffff_e000);
    let erfc = super::exp::exp_one(-zh * zh - 0.5625) * super::exp::exp_one((zh - ac) * (zh + ac) + rr / ss) / ac;
    let tail = 1.0 - erfc;
    let y = if a < 0.843_75 {
        small
    } else if a < 1.25 {
        mid.copysign(x)
    } else if a < 6.0 {
        tail.copysign(x)
    } else {
        1.0f32.copysign(x)
    };
    if x.is_nan() { x } else { y }
}

/// Exact GELU of one element: `0.5 x (1 + erf(x / sqrt 2))`, flex's formula.
#[inline(always)]
fn gelu_one(x: f32) -> f32 {
    0.5 * x * (1.0 + erf_one(x / core::f32::consts::SQRT_2))
}

/// `xs[i] = gelu(xs[i])`.
pub fn gelu_inplace_f32(xs: &mut [f32]) {
    gelu_inplace_simd(xs);
}

/// `out[i] = gelu(xs[i])`.
///
/// # Panics
/// If the lengths differ.
pub fn gelu_into_f32(xs: &[f32], out: &mut [f32]) {
    assert_eq!(xs.len(), out.len(), "gelu_into_f32: lengths differ");
    gelu_into_simd(xs, out);
}

#[macerator::with_simd]
fn gelu_inplace_simd<S: macerator::Simd>(xs: &mut [f32]) {
    for x in xs.iter_mut() {
        *x = gelu_one(*x);
    }
}

#[macerator::with_simd]
fn gelu_into_simd<S: macerator::Simd>(xs: &[f32], out: &mut [f32]) {
    for (o, &x) in out.iter_mut().zip(xs) {
        *o = gelu_one(x);
    }
}
