//! The tutorial's picture of speech recognition: the decoder's cross attention over the audio
//! frames, one row per output token, with the spectrogram it reads (`seq2seq attention` on a
//! speech model).
//!
//! The first 30-second window is decoded greedily, then the decoder is run teacher-forced over
//! the prompt and that output to collect its cross-attention weights: for each output token
//! (and the end of text), per layer and head, a distribution over the encoder's 1,500
//! positions (20 ms each: the front end's second convolution halves the 100 frames a second
//! of the log-mel). Only the positions that hold audio are kept.

use super::mel::{self, WINDOW_FRAMES};
use super::transcribe::{windows, TranscribeError, TranscribeOptions, Transcriber};
use super::WhisperModel;
use burn::prelude::*;
use std::path::PathBuf;

/// Cross attention of one decoded window, over the part of it that holds audio.
#[derive(Debug, Clone)]
pub struct SpeechAttention {
    /// The transcript of the window.
    pub text: String,
    /// What each decoder position predicted: the output tokens' text, then `<|endoftext|>`.
    pub tokens: Vec<String>,
    /// Seconds of audio shown.
    pub seconds: f64,
    /// The log-mel features shown, `[n_mels][frames]` (frames: 100 a second).
    pub mel: Vec<Vec<f32>>,
    /// Per decoder layer, the heads' mean: `[token][position]` (positions: 50 a second).
    pub layers: Vec<Vec<Vec<f32>>>,
    /// The mean of the model's alignment heads (`WhisperSettings::alignment_heads`; Whisper's
    /// default when the model names none: every head of the upper half of the layers).
    pub alignment: Vec<Vec<f32>>,
    /// The heads averaged into `alignment`, `[layer, head]`.
    pub alignment_heads: Vec<[usize; 2]>,
}

/// Decode the first window of 16 kHz `samples` and collect its cross attention.
pub fn speech_attention<B: Backend>(
    model: &WhisperModel<B>,
    samples: &[f32],
    options: &TranscribeOptions,
    device: &B::Device,
) -> Result<SpeechAttention, TranscribeError> {
    let settings = &model.settings;
    let prompt = settings
        .prompt(options.language.as_deref(), options.translate)
        .map_err(TranscribeError::Prompt)?;
    let seconds = samples.len() as f64 / mel::SAMPLE_RATE as f64;
    let input = (PathBuf::from("input"), seconds, samples.to_vec());
    let transcript = Transcriber::new(model, device.clone())
        .samples(std::slice::from_ref(&input), options)?
        .remove(0);
    let output = transcript.tokens[0].clone();
    let n_mels = settings.model.audio_mels.unwrap_or(0);
    let features = windows(samples, n_mels).swap_remove(0);
    let frames = ((seconds * 100.0).ceil() as usize).clamp(2, WINDOW_FRAMES);
    let positions = frames / 2;
    let mel = (0..n_mels)
        .map(|m| features[m * WINDOW_FRAMES..m * WINDOW_FRAMES + frames].to_vec())
        .collect();

    let input = Tensor::<B, 3>::from_data(
        TensorData::new(features, [1, n_mels, WINDOW_FRAMES]),
        device,
    );
    let memory = model.model.encode_audio(input).memory;
    let tokens: Vec<i64> = prompt.iter().chain(&output).map(|&t| t as i64).collect();
    let len = tokens.len();
    let tgt = Tensor::<B, 2, Int>::from_data(TensorData::new(tokens, [1, len]), device);
    let decoded = model.model.decode(tgt, &memory, None, None, None);
    // Rows prompt - 1 .. len predict the output tokens and the end of text.
    let rows = output.len() + 1;
    let per_head: Vec<Vec<Vec<Vec<f32>>>> = decoded
        .cross_weights
        .into_iter()
        .map(|w| {
            let [_, heads, _, keys] = w.dims();
            let w = w
                .narrow(2, prompt.len() - 1, rows)
                .narrow(3, 0, positions.min(keys));
            let flat = w.into_data().convert::<f32>().to_vec::<f32>().expect("f32");
            let cols = positions.min(keys);
            (0..heads)
                .map(|h| {
                    (0..rows)
                        .map(|r| flat[(h * rows + r) * cols..(h * rows + r + 1) * cols].to_vec())
                        .collect()
                })
                .collect()
        })
        .collect();
    let mean = |maps: &[&Vec<Vec<f32>>]| -> Vec<Vec<f32>> {
        let mut out = vec![vec![0.0f32; positions]; rows];
        for map in maps {
            for (o, r) in out.iter_mut().zip(map.iter()) {
                for (a, b) in o.iter_mut().zip(r) {
                    *a += b / maps.len() as f32;
                }
            }
        }
        out
    };
    let layers = per_head
        .iter()
        .map(|heads| mean(&heads.iter().collect::<Vec<_>>()))
        .collect();
    let n_layers = per_head.len();
    let alignment_heads = if settings.alignment_heads.is_empty() {
        (n_layers / 2..n_layers)
            .flat_map(|l| (0..settings.model.n_heads).map(move |h| [l, h]))
            .collect()
    } else {
        settings.alignment_heads.clone()
    };
    let chosen: Vec<&Vec<Vec<f32>>> = alignment_heads
        .iter()
        .filter_map(|&[l, h]| per_head.get(l).and_then(|heads| heads.get(h)))
        .collect();
    let alignment = mean(&chosen);
    let mut token_text: Vec<String> = output
        .iter()
        .map(|&t| model.text(&[t]).trim().to_string())
        .collect();
    token_text.push("<|endoftext|>".into());
    Ok(SpeechAttention {
        text: transcript.text,
        tokens: token_text,
        seconds: seconds.min(30.0),
        mel,
        layers,
        alignment,
        alignment_heads,
    })
}
