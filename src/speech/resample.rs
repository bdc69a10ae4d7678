//! Band-limited resampling to Whisper's 16 kHz.
//!
//! [`resample`] zero-pads (or truncates) the whole signal's spectrum, as
//! `scipy.signal.resample` does: `X = rfft(x)`, `M = round(N * to / from)` outputs, the Nyquist
//! bin of an even length halved when upsampling (doubled when downsampling), then
//! `y = irfft(X', M) * M / N`, in f64. It is the ideal low-pass for a periodic signal, and it
//! is what the reference transcripts (`scripts/whisper_reference.py`) were made with, so 8 kHz
//! prompts reach both decoders as the same samples up to float rounding. Past
//! [`FFT_MAX_SAMPLES`] (a 6-minute file at 44.1 kHz, whose FFT would take a gigabyte) it falls
//! back to [`resample_sinc`]:
//! each output sample at input position `t = n * in_rate / out_rate` is
//! `sum_k x[k] * s * sinc(s * (t - k)) * kaiser((t - k) / half)` over the inputs within `half`
//! samples, where `s = min(1, out_rate / in_rate)` lowers the cutoff to the output's Nyquist
//! frequency when downsampling and `half = ZERO_CROSSINGS / s`. Whisper's own loader resamples
//! with ffmpeg (faster-whisper with PyAV's libswresample): a different filter, so features of
//! audio at other rates agree with theirs closely, not bit for bit; 16 kHz input is used as is.

/// Zero crossings of the sinc on each side (the filter's half length at the cutoff).
const ZERO_CROSSINGS: f64 = 24.0;
/// Kaiser window shape (about 80 dB stop-band attenuation).
const KAISER_BETA: f64 = 8.0;
/// The cutoff as a fraction of the lower Nyquist frequency (the transition band below it).
const ROLLOFF: f64 = 0.95;

/// The modified Bessel function of the first kind, order 0 (its power series).
fn bessel_i0(x: f64) -> f64 {
    let mut sum = 1.0;
    let mut term = 1.0;
    let half = x / 2.0;
    for k in 1..64 {
        term *= (half / k as f64) * (half / k as f64);
        sum += term;
        if term < sum * 1e-17 {
            break;
        }
    }
    sum
}

/// The longest signal resampled through one FFT.
pub const FFT_MAX_SAMPLES: usize = 1 << 24;

/// `samples` at `from` Hz, resampled to `to` Hz: `round(len * to / from)` samples.
pub fn resample(samples: &[f32], from: u32, to: u32) -> Vec<f32> {
    if from == to || samples.is_empty() {
        return samples.to_vec();
    }
    if samples.len() > FFT_MAX_SAMPLES {
        return resample_sinc(samples, from, to);
    }
    let n = samples.len();
    let m = ((n as f64 * to as f64 / from as f64).round() as usize).max(1);
    let mut planner = realfft::RealFftPlanner::<f64>::new();
    let forward = planner.plan_fft_forward(n);
    let inverse = planner.plan_fft_inverse(m);
    let mut input: Vec<f64> = samples.iter().map(|&x| x as f64).collect();
    let mut spectrum = forward.make_output_vec();
    forward
        .process(&mut input, &mut spectrum)
        .expect("buffers sized by the plan");
    let mut out_spectrum = inverse.make_input_vec();
    let k = spectrum.len().min(out_spectrum.len());
    out_spectrum[..k].copy_from_slice(&spectrum[..k]);
    let shorter = n.min(m);
    if shorter.is_multiple_of(2) {
        let nyquist = shorter / 2;
        if m > n {
            out_spectrum[nyquist] *= 0.5;
        } else if m < n {
            out_spectrum[nyquist] *= 2.0;
        }
    }
    // A real signal's DC and (even length) Nyquist bins are real: irfft reads their real parts.
    out_spectrum[0].im = 0.0;
    if m.is_multiple_of(2) {
        out_spectrum[m / 2].im = 0.0;
    }
    let mut output = inverse.make_output_vec();
    inverse
        .process(&mut out_spectrum, &mut output)
        .expect("buffers sized by the plan");
    // realfft's inverse is unnormalised (a factor m): irfft's 1/m times scipy's m / n.
    output.into_iter().map(|y| (y / n as f64) as f32).collect()
}

/// Windowed-sinc resampling for signals too long for one FFT: `ceil(len * to / from)` samples.
pub fn resample_sinc(samples: &[f32], from: u32, to: u32) -> Vec<f32> {
    if from == to || samples.is_empty() {
        return samples.to_vec();
    }
    let ratio = to as f64 / from as f64;
    let scale = ratio.min(1.0) * ROLLOFF;
    let half = ZERO_CROSSINGS / scale;
    // The Kaiser window on a fine grid of |u| / half in [0, 1], read by linear interpolation.
    const GRID: usize = 4096;
    let norm = bessel_i0(KAISER_BETA);
    let table: Vec<f64> = (0..=GRID + 1)
        .map(|i| {
            let r = (i as f64 / GRID as f64).min(1.0);
            bessel_i0(KAISER_BETA * (1.0 - r * r).sqrt()) / norm
        })
        .collect();
    let kaiser = |r: f64| {
        let x = r.abs().min(1.0) * GRID as f64;
        let i = x as usize;
        let frac = x - i as f64;
        table[i] * (1.0 - frac) + table[i + 1] * frac
    };
    let out_len = (samples.len() as f64 * ratio).ceil() as usize;
    let step = from as f64 / to as f64;
    (0..out_len)
        .map(|n| {
            let t = n as f64 * step;
            let first = ((t - half).ceil().max(0.0)) as usize;
            let last = ((t + half).floor() as usize).min(samples.len() - 1);
            let mut acc = 0.0f64;
            for (k, &x) in samples.iter().enumerate().take(last + 1).skip(first) {
                let u = t - k as f64;
                let window = kaiser(u / half);
                let v = scale * u;
                let sinc = if v.abs() < 1e-12 {
                    1.0
                } else {
                    (std::f64::consts::PI * v).sin() / (std::f64::consts::PI * v)
                };
                acc += x as f64 * scale * sinc * window;
            }
            acc as f32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f64, rate: u32, seconds: f64) -> Vec<f32> {
        let n = (rate as f64 * seconds) as usize;
        (0..n)
            .map(|i| (2.0 * std::f64::consts::PI * freq * i as f64 / rate as f64).sin() as f32)
            .collect()
    }

    /// Largest error against the ideal tone away from the ends (where the filter runs out).
    fn error(got: &[f32], want: &[f32]) -> f32 {
        let edge = 200;
        got[edge..got.len() - edge]
            .iter()
            .zip(&want[edge..])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max)
    }

    #[test]
    fn tones_in_band_survive_up_and_down_sampling() {
        // Whole periods of 1 kHz in 0.5 s: the FFT method is exact for them; the sinc one
        // away from the ends.
        for from in [8_000u32, 22_050, 44_100, 48_000] {
            let want = tone(1000.0, 16_000, 0.5);
            let out = resample(&tone(1000.0, from, 0.5), from, 16_000);
            assert_eq!(out.len(), 8_000, "{from}");
            let e = out
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(e < 1e-4, "{from} Hz (FFT): max error {e}");
            let out = resample_sinc(&tone(1000.0, from, 0.5), from, 16_000);
            assert_eq!(out.len(), 8_000, "{from}");
            let e = error(&out, &want);
            assert!(e < 2e-3, "{from} Hz (sinc): max error {e}");
        }
    }

    #[test]
    fn tones_above_the_new_nyquist_are_removed() {
        // 11 kHz at 44.1 kHz cannot exist at 16 kHz (Nyquist 8 kHz): it must not alias to 5 kHz.
        let out = resample_sinc(&tone(11_000.0, 44_100, 0.5), 44_100, 16_000);
        let rms = (out[200..out.len() - 200].iter().map(|x| x * x).sum::<f32>()
            / (out.len() - 400) as f32)
            .sqrt();
        assert!(rms < 1e-3, "rms {rms}");
        let out = resample(&tone(11_000.0, 44_100, 0.5), 44_100, 16_000);
        let rms = (out.iter().map(|x| x * x).sum::<f32>() / out.len() as f32).sqrt();
        assert!(rms < 1e-4, "rms {rms} (FFT)");
        assert_eq!(resample(&[0.5, -0.25], 16_000, 16_000), vec![0.5, -0.25]);
    }
}
