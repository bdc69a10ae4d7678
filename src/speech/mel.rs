//! Whisper's log-mel spectrogram (`whisper.audio.log_mel_spectrogram`), in plain Rust.
//!
//! 16 kHz mono samples; a periodic Hann window of 400 samples every 160 (10 ms), frames centred
//! by reflecting 200 samples at each end (`torch.stft(center=True, pad_mode="reflect")`); the
//! power of a real 400-point FFT (201 bins), the last frame dropped; an 80- or 128-band
//! Slaney-style mel filterbank (librosa's `filters.mel(sr=16000, n_fft=400, norm="slaney")`,
//! the matrices whisper ships as `mel_filters.npz`, computed here); `log10(max(x, 1e-10))`,
//! floored at the spectrogram's maximum minus 8, then `(x + 4) / 4`.
//!
//! Deviation: the FFT and the filterbank run in f64 (whisper: float32 in torch); the features
//! agree with whisper's to float32 rounding (`tests/suite/speech.rs`).

use realfft::RealFftPlanner;

/// Samples per second Whisper reads.
pub const SAMPLE_RATE: usize = 16_000;
/// FFT size and window length (25 ms).
pub const N_FFT: usize = 400;
/// Samples between frames (10 ms).
pub const HOP: usize = 160;
/// Samples in one 30-second window.
pub const WINDOW_SAMPLES: usize = 30 * SAMPLE_RATE;
/// Frames in one 30-second window.
pub const WINDOW_FRAMES: usize = WINDOW_SAMPLES / HOP;

/// A log-mel spectrogram, `[n_mels, frames]` row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct LogMel {
    pub n_mels: usize,
    pub frames: usize,
    pub values: Vec<f32>,
}

impl LogMel {
    /// Frames `start..start + WINDOW_FRAMES` (zeros past the end), as `[n_mels, WINDOW_FRAMES]`.
    pub fn window(&self, start: usize) -> Vec<f32> {
        let mut out = vec![0.0f32; self.n_mels * WINDOW_FRAMES];
        let end = (start + WINDOW_FRAMES).min(self.frames);
        if start < end {
            for m in 0..self.n_mels {
                let row = &self.values[m * self.frames..(m + 1) * self.frames];
                out[m * WINDOW_FRAMES..m * WINDOW_FRAMES + (end - start)]
                    .copy_from_slice(&row[start..end]);
            }
        }
        out
    }
}

/// Hz to mels on the Slaney scale (linear below 1 kHz, logarithmic above), librosa's
/// `hz_to_mel(htk=False)`.
fn hz_to_mel(f: f64) -> f64 {
    let (f_sp, min_log_hz) = (200.0 / 3.0, 1000.0);
    let min_log_mel = min_log_hz / f_sp;
    let logstep = (6.4f64).ln() / 27.0;
    if f >= min_log_hz {
        min_log_mel + (f / min_log_hz).ln() / logstep
    } else {
        f / f_sp
    }
}

fn mel_to_hz(m: f64) -> f64 {
    let (f_sp, min_log_hz) = (200.0 / 3.0, 1000.0);
    let min_log_mel = min_log_hz / f_sp;
    let logstep = (6.4f64).ln() / 27.0;
    if m >= min_log_mel {
        min_log_hz * (logstep * (m - min_log_mel)).exp()
    } else {
        f_sp * m
    }
}

/// librosa's `filters.mel(sr=16000, n_fft=400, n_mels, fmin=0, fmax=8000, htk=False,
/// norm="slaney")`: `[n_mels, N_FFT / 2 + 1]` row-major, triangles between mel-spaced
/// frequencies, each scaled to unit area (`2 / (f[i+2] - f[i])`).
pub fn mel_filters(n_mels: usize) -> Vec<f64> {
    let bins = N_FFT / 2 + 1;
    let fft_freqs: Vec<f64> = (0..bins)
        .map(|i| i as f64 * (SAMPLE_RATE as f64 / 2.0) / (bins - 1) as f64)
        .collect();
    let (lo, hi) = (hz_to_mel(0.0), hz_to_mel(SAMPLE_RATE as f64 / 2.0));
    let mel_f: Vec<f64> = (0..n_mels + 2)
        .map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (n_mels + 1) as f64))
        .collect();
    let mut weights = vec![0.0f64; n_mels * bins];
    for i in 0..n_mels {
        let (left, centre, right) = (mel_f[i], mel_f[i + 1], mel_f[i + 2]);
        let enorm = 2.0 / (right - left);
        for (j, &f) in fft_freqs.iter().enumerate() {
            let lower = (f - left) / (centre - left);
            let upper = (right - f) / (right - centre);
            weights[i * bins + j] = lower.min(upper).max(0.0) * enorm;
        }
    }
    weights
}

/// The log-mel spectrogram of 16 kHz `samples`: `samples.len() / HOP` frames (the frame centred
/// on the last sample dropped, as whisper drops it).
pub fn log_mel(samples: &[f32], n_mels: usize) -> LogMel {
    let n = samples.len();
    let pad = N_FFT / 2;
    // Reflect padding (the edge sample not repeated); a signal shorter than the padding is
    // zero-padded first so that the reflection exists.
    let base: Vec<f64> = if n > pad {
        samples.iter().map(|&s| s as f64).collect()
    } else {
        let mut v: Vec<f64> = samples.iter().map(|&s| s as f64).collect();
        v.resize(pad + 1, 0.0);
        v
    };
    let len = base.len();
    let mut padded = Vec::with_capacity(len + 2 * pad);
    padded.extend((1..=pad).rev().map(|k| base[k]));
    padded.extend_from_slice(&base);
    padded.extend((1..=pad).map(|k| base[len - 1 - k]));
    let frames = n / HOP; // 1 + n / HOP centred frames, the last dropped
    let window: Vec<f64> = (0..N_FFT)
        .map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / N_FFT as f64).cos())
        .collect();
    let bins = N_FFT / 2 + 1;
    let mut planner = RealFftPlanner::<f64>::new();
    let fft = planner.plan_fft_forward(N_FFT);
    let mut input = fft.make_input_vec();
    let mut spectrum = fft.make_output_vec();
    let mut scratch = fft.make_scratch_vec();
    // Power spectrum, [frames, bins].
    let mut power = vec![0.0f64; frames * bins];
    for t in 0..frames {
        let start = t * HOP;
        for (i, slot) in input.iter_mut().enumerate() {
            *slot = padded[start + i] * window[i];
        }
        fft.process_with_scratch(&mut input, &mut spectrum, &mut scratch)
            .expect("buffers sized by the plan");
        for (b, c) in spectrum.iter().enumerate() {
            power[t * bins + b] = c.norm_sqr();
        }
    }
    let filters = mel_filters(n_mels);
    let mut values = vec![0.0f64; n_mels * frames];
    for m in 0..n_mels {
        let filter = &filters[m * bins..(m + 1) * bins];
        for t in 0..frames {
            let p = &power[t * bins..(t + 1) * bins];
            let energy: f64 = filter.iter().zip(p).map(|(w, x)| w * x).sum();
            values[m * frames + t] = energy.max(1e-10).log10();
        }
    }
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let floor = max - 8.0;
    LogMel {
        n_mels,
        frames,
        values: values
            .into_iter()
            .map(|v| ((v.max(floor) + 4.0) / 4.0) as f32)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_triangles_of_unit_area_covering_the_band() {
        let f = mel_filters(80);
        let bins = N_FFT / 2 + 1;
        assert_eq!(f.len(), 80 * bins);
        assert!(f.iter().all(|&w| w >= 0.0));
        // Every filter has some weight; the lowest starts at bin 0's neighbourhood.
        for m in 0..80 {
            assert!(
                f[m * bins..(m + 1) * bins].iter().any(|&w| w > 0.0),
                "filter {m}"
            );
        }
        // Slaney's scale is linear below 1 kHz: 200/3 Hz per mel.
        assert!((hz_to_mel(600.0) - 9.0).abs() < 1e-12);
        assert!((mel_to_hz(hz_to_mel(3000.0)) - 3000.0).abs() < 1e-9);
    }

    #[test]
    fn frames_and_range_follow_whisper() {
        // 1 s of a 440 Hz tone: 100 frames, values within [max - 8, max] mapped by (x + 4) / 4.
        let samples: Vec<f32> = (0..SAMPLE_RATE)
            .map(|i| (2.0 * std::f32::consts::PI * 440.0 * i as f32 / SAMPLE_RATE as f32).sin())
            .collect();
        let mel = log_mel(&samples, 80);
        assert_eq!((mel.n_mels, mel.frames), (80, 100));
        let max = mel.values.iter().copied().fold(f32::MIN, f32::max);
        let min = mel.values.iter().copied().fold(f32::MAX, f32::min);
        assert!(max - min <= 2.0 + 1e-6, "{min}..{max}");
        // The loudest band is the filter weighing 440 Hz (FFT bin 11, 40 Hz apart) the most.
        let filters = mel_filters(80);
        let bins = N_FFT / 2 + 1;
        let by = |values: &dyn Fn(usize) -> f64| {
            (0..80)
                .max_by(|&a, &b| values(a).total_cmp(&values(b)))
                .unwrap()
        };
        let expected = by(&|m| filters[m * bins + 11]);
        let loudest = by(&|m| mel.values[m * 100 + 50] as f64);
        assert_eq!(loudest, expected);
        // A window past the end is zeros.
        assert!(mel.window(100).iter().all(|&v| v == 0.0));
        assert_eq!(mel.window(0).len(), 80 * WINDOW_FRAMES);
    }
}
