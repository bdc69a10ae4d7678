//! Reading audio files as Whisper hears them: 16 kHz mono float samples.
//!
//! WAV (PCM and float), FLAC and Ogg Vorbis through symphonia, any sample rate and channel
//! count; channels averaged to mono (ffmpeg's `-ac 1` does the same for stereo), then
//! resampled ([`super::resample`]). Integer samples scale by `1 / 2^(bits - 1)`, as whisper's
//! `load_audio` reads ffmpeg's 16-bit output (`/ 32768`).

use super::mel::SAMPLE_RATE;
use std::path::{Path, PathBuf};
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

/// Why an audio file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not an audio format this build reads (WAV, FLAC, Ogg Vorbis): {reason}", path.display())]
    Format { path: PathBuf, reason: String },
    #[error("{}: no audio track", path.display())]
    NoTrack { path: PathBuf },
    #[error("{}: the audio is damaged: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },
    #[error("{}: no samples (an empty audio stream)", path.display())]
    Empty { path: PathBuf },
}

/// Decoded audio: mono samples at `rate` Hz.
#[derive(Debug, Clone)]
pub struct Audio {
    pub samples: Vec<f32>,
    pub rate: u32,
    /// Channels in the file (averaged into `samples`).
    pub channels: usize,
}

impl Audio {
    /// Duration in seconds.
    pub fn seconds(&self) -> f64 {
        self.samples.len() as f64 / self.rate as f64
    }

    /// The samples at 16 kHz.
    pub fn to_whisper_rate(&self) -> Vec<f32> {
        super::resample::resample(&self.samples, self.rate, SAMPLE_RATE as u32)
    }
}

/// Decode the file at `path` to mono samples at its own rate.
pub fn read(path: &Path) -> Result<Audio, AudioError> {
    let file = std::fs::File::open(path).map_err(|source| AudioError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let stream = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let probed = symphonia::default::get_probe()
        .format(
            &hint,
            stream,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .map_err(|e| AudioError::Format {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    let mut format = probed.format;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or_else(|| AudioError::NoTrack {
            path: path.to_path_buf(),
        })?;
    let track_id = track.id;
    let params = track.codec_params.clone();
    let mut decoder = symphonia::default::get_codecs()
        .make(&params, &DecoderOptions::default())
        .map_err(|e| AudioError::Format {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    let corrupt = |reason: String| AudioError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let mut samples = Vec::new();
    let mut rate = params.sample_rate;
    let mut channels = params.channels.map(|c| c.count());
    loop {
        let packet = match format.next_packet() {
            Ok(packet) => packet,
            Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                break
            }
            Err(SymphoniaError::ResetRequired) => break,
            Err(e) => return Err(corrupt(e.to_string())),
        };
        if packet.track_id() != track_id {
            continue;
        }
        let decoded = decoder
            .decode(&packet)
            .map_err(|e| corrupt(e.to_string()))?;
        let spec = *decoded.spec();
        let n_channels = spec.channels.count().max(1);
        rate = Some(spec.rate);
        channels = Some(n_channels);
        let mut buffer = SampleBuffer::<f32>::new(decoded.capacity() as u64, spec);
        buffer.copy_interleaved_ref(decoded);
        samples.extend(
            buffer
                .samples()
                .chunks(n_channels)
                .map(|frame| frame.iter().sum::<f32>() / n_channels as f32),
        );
    }
    let rate = rate
        .filter(|&r| r > 0)
        .ok_or_else(|| corrupt("no sample rate".into()))?;
    if samples.is_empty() {
        return Err(AudioError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(Audio {
        samples,
        rate,
        channels: channels.unwrap_or(1),
    })
}

/// Write 16-bit PCM mono WAV (tests and examples make audio with it).
pub fn write_wav(path: &Path, samples: &[f32], rate: u32) -> std::io::Result<()> {
    let mut bytes = Vec::with_capacity(44 + samples.len() * 2);
    let data_len = (samples.len() * 2) as u32;
    bytes.extend_from_slice(b"RIFF");
    bytes.extend_from_slice(&(36 + data_len).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    bytes.extend_from_slice(&16u32.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes()); // PCM
    bytes.extend_from_slice(&1u16.to_le_bytes()); // mono
    bytes.extend_from_slice(&rate.to_le_bytes());
    bytes.extend_from_slice(&(rate * 2).to_le_bytes());
    bytes.extend_from_slice(&2u16.to_le_bytes());
    bytes.extend_from_slice(&16u16.to_le_bytes());
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&data_len.to_le_bytes());
    for &s in samples {
        let v = (s.clamp(-1.0, 1.0) * 32767.0).round() as i16;
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(path, bytes)
}
