//! seq2seq patch: a vectorized f32 `exp`.
//!
//! flex computed `exp` one element at a time through libm's `expf` (a call per element), in
//! `float_exp` and in the fused softmax. Every log-softmax runs `exp` over the whole vocabulary
//! (Burn's `log_softmax` is max, sub, exp, sum, log, sub), so a translation beam search over an
//! 8,000-piece vocabulary spent 14% of its time there, and a translation training step's loss
//! as much again over its `[tokens, vocab]` logits. The same formula as Cephes' `expf` (range
//! reduction by `ln 2` in two parts, a degree-5 polynomial on `[-ln2/2, ln2/2]`, the power of two
//! put into the exponent bits), written as plain arithmetic on slices inside
//! `#[macerator::with_simd]`, so that LLVM vectorizes it for the instruction set found at run
//! time (AVX-512, AVX2, NEON, ...).
//!
//! Accuracy: within 2 ulp of libm's `expf` on normal results (seq2seq's `tests/backends.rs`
//! checks every 1/64 step of `[-87, 88]` and random points through flex's `exp`; this crate's
//! own tests do not run in seq2seq's workspace); `-inf` gives 0, NaN gives NaN, overflow gives `inf`,
//! results below the normal range are denormals or 0 as libm's (two scalings keep `2^n`
//! representable).

#[cfg(not(feature = "std"))]
#[allow(unused_imports)]
use num_traits::Float;

/// `exp(x)` by the vectorizable formula, for one element.
#[inline(always)]
pub(crate) fn exp_one(x: f32) -> f32 {
    const LOG2E: f32 = core::f32::consts::LOG2_E;
    // ln 2 in two parts: n * LN2_HI is exact for the n that occur.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding and subtracting 1.5 * 2^23 rounds to the nearest integer (|t| < 2^22 here).
    const ROUND: f32 = 12_582_912.0;
    // Past these, the result is inf or 0 anyway; clamping keeps n in i32 range and the
    // polynomial's input small (f32::max/min return the other operand for NaN: fixed below).
    let xc = x.clamp(-104.0, 89.0);
    let t = xc * LOG2E + ROUND;
    let n = t - ROUND;
    let r = (xc - n * LN2_HI) - n * LN2_LO;
    let mut p = 1.987_569_1e-4;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 5.000_000_1e-1;
    let y = p * (r * r) + r + 1.0;
    // 2^n as two factors, each with a normal exponent (n in [-150, 129]).
    // n as an integer: t's low mantissa bits hold it, offset by ROUND's (no float-to-int
    // conversion, which Rust saturates with extra instructions).
    let n = t.to_bits() as i32 - ROUND.to_bits() as i32;
    let n1 = n >> 1;
    let n2 = n - n1;
    let pow2 = |k: i32| f32::from_bits(((k + 127) as u32) << 23);
    let e = y * pow2(n1) * pow2(n2);
    if x.is_nan() { x } else { e }
}

/// `xs[i] = exp(xs[i])`.
pub fn exp_inplace_f32(xs: &mut [f32]) {
    exp_inplace_simd(xs);
}

/// `out[i] = exp(xs[i])`.
///
/// # Panics
/// If the lengths differ.
pub fn exp_into_f32(xs: &[f32], out: &mut [f32]) {
    assert_eq!(xs.len(), out.len(), "exp_into_f32: lengths differ");
    exp_into_simd(xs, out);
}

/// `out[i] = exp(xs[i] - shift)`, and the sum of the `out[i]` (a softmax's pass 2).
///
/// # Panics
/// If the lengths differ.
pub fn exp_shifted_sum_f32(xs: &[f32], shift: f32, out: &mut [f32]) -> f32 {
    assert_eq!(xs.len(), out.len(), "exp_shifted_sum_f32: lengths differ");
    exp_shifted_sum_simd(xs, shift, out)
}

/// Softmax of each `row_len`-long row of `xs`, in place: max, `exp(x - max)` and its sum,
/// then a multiply by `1 / sum`; bit for bit what flex's fused softmax writes into a new
/// buffer (for rows without NaN).
///
/// # Panics
/// If the length is not a multiple of `row_len`.
pub fn softmax_rows_inplace_f32(xs: &mut [f32], row_len: usize) {
    assert!(row_len > 0 && xs.len() % row_len == 0, "softmax_rows_inplace_f32: ragged rows");
    softmax_rows_inplace_simd(xs, row_len);
}

/// Log-softmax of each `row_len`-long row of `input` into `output`: `x - max - ln(sum of
/// exp(x - max))`. A row whose maximum is `-inf` or NaN becomes NaN, as `x - max` makes it in
/// the unfused formula.
///
/// # Panics
/// If the lengths differ or are not a multiple of `row_len`.
pub fn log_softmax_rows_f32(input: &[f32], output: &mut [f32], row_len: usize) {
    assert_eq!(input.len(), output.len(), "log_softmax_rows_f32: lengths differ");
    assert!(row_len > 0 && input.len() % row_len == 0, "log_softmax_rows_f32: ragged rows");
    log_softmax_rows_simd(input, output, row_len);
}

/// [`log_softmax_rows_f32`] in place: each `row_len`-long row of `xs` becomes its log-softmax,
/// bit for bit the same values, with one row of scratch instead of a second buffer.
///
/// # Panics
/// If the length is not a multiple of `row_len`.
pub fn log_softmax_rows_inplace_f32(xs: &mut [f32], row_len: usize) {
    assert!(row_len > 0 && xs.len() % row_len == 0, "log_softmax_rows_inplace_f32: ragged rows");
    let mut scratch = alloc::vec![0.0f32; row_len];
    log_softmax_rows_inplace_simd(xs, &mut scratch);
}

// The bodies are plain loops: `with_simd` compiles each for every instruction set it
// dispatches to, with that set's target features, and LLVM vectorizes them there.

#[macerator::with_simd]
fn exp_inplace_simd<S: macerator::Simd>(xs: &mut [f32]) {
    for x in xs.iter_mut() {
        *x = exp_one(*x);
    }
}

#[macerator::with_simd]
fn exp_into_simd<S: macerator::Simd>(xs: &[f32], out: &mut [f32]) {
    for (o, &x) in out.iter_mut().zip(xs) {
        *o = exp_one(x);
    }
}

#[macerator::with_simd]
fn exp_shifted_sum_simd<S: macerator::Simd>(xs: &[f32], shift: f32, out: &mut [f32]) -> f32 {
    exp_shifted_sum(xs, shift, out)
}

#[macerator::with_simd]
fn softmax_rows_inplace_simd<S: macerator::Simd>(xs: &mut [f32], row_len: usize) {
    for row in xs.chunks_exact_mut(row_len) {
        let max = max(row);
        for x in row.iter_mut() {
            *x = exp_one(*x - max);
        }
        let inv = 1.0 / sum(row);
        for x in row.iter_mut() {
            *x *= inv;
        }
    }
}

/// The body of [`exp_shifted_sum_f32`], inlined into each `with_simd` instance that uses it.
/// Two loops LLVM vectorizes (checked in the assembly: 16 lanes under AVX-512): a map, then
/// a sum; one loop doing both was left scalar.
#[inline(always)]
fn exp_shifted_sum(xs: &[f32], shift: f32, out: &mut [f32]) -> f32 {
    for (o, &x) in out.iter_mut().zip(xs) {
        *o = exp_one(x - shift);
    }
    sum(out)
}

/// Sum by 16 partial sums (a vectorizable reduction: one accumulator would keep the order).
#[inline(always)]
fn sum(xs: &[f32]) -> f32 {
    if xs.len() < 16 {
        // The same value as below (the 16 partial sums would all be +0.0).
        return xs.iter().sum();
    }
    let mut sums = [0.0f32; 16];
    let mut chunks = xs.chunks_exact(16);
    for c in &mut chunks {
        for i in 0..16 {
            sums[i] += c[i];
        }
    }
    chunks.remainder().iter().chain(&sums).sum()
}

/// Maximum by 16 partial maxima, as [`sum`].
#[inline(always)]
fn max(xs: &[f32]) -> f32 {
    if xs.len() < 16 {
        return xs.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    }
    let mut maxima = [f32::NEG_INFINITY; 16];
    let mut chunks = xs.chunks_exact(16);
    for c in &mut chunks {
        for i in 0..16 {
            maxima[i] = maxima[i].max(c[i]);
        }
    }
    chunks
        .remainder()
        .iter()
        .chain(&maxima)
        .copied()
        .fold(f32::NEG_INFINITY, f32::max)
}

#[macerator::with_simd]
fn log_softmax_rows_simd<S: macerator::Simd>(input: &[f32], output: &mut [f32], row_len: usize) {
    for (in_row, out_row) in input.chunks_exact(row_len).zip(output.chunks_exact_mut(row_len)) {
        let max = max(in_row);
        if max == f32::NEG_INFINITY || max.is_nan() {
            out_row.fill(f32::NAN);
            continue;
        }
        // exp(x - max) into out_row as scratch, overwritten by the result.
        let sum = exp_shifted_sum(in_row, max, out_row);
        let log_sum = sum.ln();
        for (o, &x) in out_row.iter_mut().zip(in_row) {
            *o = (x - max) - log_sum;
        }
    }
}

#[macerator::with_simd]
fn log_softmax_rows_inplace_simd<S: macerator::Simd>(xs: &mut [f32], scratch: &mut [f32]) {
    let row_len = scratch.len();
    for row in xs.chunks_exact_mut(row_len) {
        let max = max(row);
        if max == f32::NEG_INFINITY || max.is_nan() {
            row.fill(f32::NAN);
            continue;
        }
        // The same operations as `log_softmax_rows_simd`, exp(x - max) into the scratch row.
        let log_sum = exp_shifted_sum(row, max, scratch).ln();
        for x in row.iter_mut() {
            *x = (*x - max) - log_sum;
        }
    }
}
