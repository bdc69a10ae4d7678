//! Transcription: audio files to text with a Whisper model, through the crate's decoding step
//! (`crate::decode::step::Stepper`: the KV cache, batched rows, rows leaving as they finish).
//!
//! Each file's log-mel features are cut into 30-second windows (the model's whole input), as
//! faster-whisper does without timestamps; all windows of all files are decoded as one batch
//! (`batch` rows at a time) and each file's text is its windows' texts in order.
//!
//! Decoding as CTranslate2's Whisper `generate` does it (its defaults): the prompt (start of
//! transcript, language and task for multilingual models, no timestamps) is read in one step;
//! `suppress_ids` are masked in the logits at every step and `suppress_ids_begin` (the blank
//! and end of text) at the first, before the log-softmax; at most `max_length / 2` tokens (224)
//! are generated, end of text included. Greedy takes the most likely token; beam search follows
//! CTranslate2's rules ([`crate::decode::ct2_beam`]: patience 1, length penalty 1).

use super::audio::{self, AudioError};
use super::mel::{self, WINDOW_FRAMES};
use super::whisper::WhisperModel;
use crate::decode::beam::{LogProbRows, Scorer};
use crate::decode::ct2_beam::{ct2_beam_search, Ct2BeamConfig};
use crate::decode::greedy::best_tokens;
use crate::decode::step::{to_host, Stepper};
use burn::prelude::*;
use std::path::PathBuf;

/// Why a transcription failed.
#[derive(Debug, thiserror::Error)]
pub enum TranscribeError {
    #[error(transparent)]
    Audio(#[from] AudioError),
    #[error("{}: {seconds:.3} s of audio is too short to transcribe (at least {min} s)", path.display())]
    TooShort {
        path: PathBuf,
        seconds: f64,
        min: f64,
    },
    #[error("{0}")]
    Prompt(String),
    #[error("the model reads {model} mel bands per frame; its front end says {front}")]
    Mels { model: usize, front: usize },
    #[error("beam size must be at least 1")]
    ZeroBeam,
}

/// How to transcribe.
#[derive(Debug, Clone)]
pub struct TranscribeOptions {
    /// Language code for a multilingual model (default: English).
    pub language: Option<String>,
    /// Translate into English instead of transcribing (multilingual models).
    pub translate: bool,
    /// 1: greedy.
    pub beam: usize,
    /// Windows decoded together.
    pub batch: usize,
}

impl Default for TranscribeOptions {
    fn default() -> Self {
        Self {
            language: None,
            translate: false,
            beam: 1,
            batch: 4,
        }
    }
}

/// One file's transcript.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Transcript {
    pub path: PathBuf,
    pub text: String,
    /// Audio duration in seconds.
    pub seconds: f64,
    /// Each 30-second window's output tokens (the prompt and end of text left out).
    pub tokens: Vec<Vec<usize>>,
    /// Each window's log-probability of its tokens (end of text included when reached).
    pub log_probs: Vec<f64>,
}

/// The shortest audio accepted: one 25 ms analysis window.
const MIN_SECONDS: f64 = mel::N_FFT as f64 / mel::SAMPLE_RATE as f64;

/// Turns audio into text with one model.
pub struct Transcriber<'a, B: Backend> {
    pub model: &'a WhisperModel<B>,
    pub device: B::Device,
}

/// The 30-second feature windows of 16 kHz `samples`, `[n_mels, 3000]` each: the log-mel of
/// the samples followed by 30 s of silence (whisper's `padding`), so that every window is whole
/// and the normalisation's maximum is the whole file's.
pub fn windows(samples: &[f32], n_mels: usize) -> Vec<Vec<f32>> {
    let mut padded = samples.to_vec();
    padded.resize(samples.len() + mel::WINDOW_SAMPLES, 0.0);
    let features = mel::log_mel(&padded, n_mels);
    let content = samples.len() / mel::HOP;
    (0..content.max(1))
        .step_by(WINDOW_FRAMES)
        .map(|start| features.window(start))
        .collect()
}

impl<'a, B: Backend> Transcriber<'a, B> {
    pub fn new(model: &'a WhisperModel<B>, device: B::Device) -> Self {
        Self { model, device }
    }

    /// Transcribe files, in order.
    pub fn files(
        &self,
        paths: &[PathBuf],
        options: &TranscribeOptions,
    ) -> Result<Vec<Transcript>, TranscribeError> {
        let mut out = Vec::with_capacity(paths.len());
        self.files_each(paths, options, &mut |t| out.push(t))?;
        Ok(out)
    }

    /// Transcribe files, handing each transcript to `on_file` as soon as its last window is
    /// decoded (in order): files are read and their features made as the batches need them.
    pub fn files_each(
        &self,
        paths: &[PathBuf],
        options: &TranscribeOptions,
        on_file: &mut dyn FnMut(Transcript),
    ) -> Result<(), TranscribeError> {
        let inputs = paths.iter().map(|path| {
            let audio = audio::read(path)?;
            Ok((path.clone(), audio.seconds(), audio.to_whisper_rate()))
        });
        self.run(inputs, options, on_file)
    }

    /// Transcribe 16 kHz mono signals `(name, seconds, samples)`.
    pub fn samples(
        &self,
        inputs: &[(PathBuf, f64, Vec<f32>)],
        options: &TranscribeOptions,
    ) -> Result<Vec<Transcript>, TranscribeError> {
        let mut out = Vec::with_capacity(inputs.len());
        self.run(inputs.iter().cloned().map(Ok), options, &mut |t| {
            out.push(t)
        })?;
        Ok(out)
    }

    fn run(
        &self,
        inputs: impl Iterator<Item = Result<(PathBuf, f64, Vec<f32>), TranscribeError>>,
        options: &TranscribeOptions,
        on_file: &mut dyn FnMut(Transcript),
    ) -> Result<(), TranscribeError> {
        if options.beam == 0 {
            return Err(TranscribeError::ZeroBeam);
        }
        let settings = &self.model.settings;
        let prompt = settings
            .prompt(options.language.as_deref(), options.translate)
            .map_err(TranscribeError::Prompt)?;
        let n_mels = settings.model.audio_mels.unwrap_or(0);
        let front = self.model.model.frontend.as_ref().map_or(0, |f| f.n_mels());
        if n_mels != front {
            return Err(TranscribeError::Mels {
                model: n_mels,
                front,
            });
        }
        let batch = options.batch.max(1);
        // Files whose windows are not all decoded yet (in order), and the windows waiting for
        // a batch: (index into `open`, features).
        let mut open: std::collections::VecDeque<(Transcript, usize)> = Default::default();
        let mut pending: Vec<(usize, Vec<f32>)> = Vec::new();
        let mut first = 0; // the file index of open[0]
        let mut decode = |pending: &mut Vec<(usize, Vec<f32>)>,
                          open: &mut std::collections::VecDeque<(Transcript, usize)>,
                          first: &mut usize| {
            let features: Vec<&[f32]> = pending.iter().map(|(_, w)| w.as_slice()).collect();
            let results = if options.beam == 1 {
                self.greedy(&features, n_mels, &prompt)
            } else {
                self.beam(&features, n_mels, &prompt, options.beam)
            };
            for ((file, _), (tokens, log_prob)) in pending.iter().zip(results) {
                let (t, left) = &mut open[file - *first];
                t.tokens.push(tokens);
                t.log_probs.push(log_prob);
                *left -= 1;
            }
            pending.clear();
            while open.front().is_some_and(|(_, left)| *left == 0) {
                let (mut t, _) = open.pop_front().expect("checked");
                let texts: Vec<String> = t
                    .tokens
                    .iter()
                    .map(|tokens| self.model.text(tokens).trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect();
                t.text = texts.join(" ");
                on_file(t);
                *first += 1;
            }
        };
        for (i, input) in inputs.enumerate() {
            let (path, seconds, samples) = input?;
            let seconds_16k = samples.len() as f64 / mel::SAMPLE_RATE as f64;
            if seconds_16k < MIN_SECONDS {
                return Err(TranscribeError::TooShort {
                    path,
                    seconds,
                    min: MIN_SECONDS,
                });
            }
            let file_windows = windows(&samples, n_mels);
            open.push_back((
                Transcript {
                    path,
                    text: String::new(),
                    seconds,
                    tokens: Vec::new(),
                    log_probs: Vec::new(),
                },
                file_windows.len(),
            ));
            for w in file_windows {
                pending.push((i, w));
                if pending.len() == batch {
                    decode(&mut pending, &mut open, &mut first);
                }
            }
        }
        if !pending.is_empty() {
            decode(&mut pending, &mut open, &mut first);
        }
        Ok(())
    }

    /// The encoder output of feature windows.
    ///
    /// # Shapes
    /// - each of `windows`: `[n_mels, 3000]` row-major
    /// - output: `[windows, 1500, d_model]`
    fn encode(&self, windows: &[&[f32]], n_mels: usize) -> Tensor<B, 3> {
        let rows = windows.len();
        let flat: Vec<f32> = windows.iter().flat_map(|w| w.iter().copied()).collect();
        let features = Tensor::<B, 3>::from_data(
            TensorData::new(flat, [rows, n_mels, WINDOW_FRAMES]),
            &self.device,
        );
        self.model.model.encode_audio(features).memory
    }

    /// A decoding step over the windows' encoder outputs, the first step's tokens forbidden.
    fn stepper(&self, windows: &[&[f32]], n_mels: usize) -> (Stepper<'a, B>, usize) {
        let settings = &self.model.settings;
        let memory = self.encode(windows, n_mels);
        let [rows, frames, _] = memory.dims();
        let padding = Tensor::<B, 2, Int>::zeros([rows, frames], &self.device).equal_elem(1);
        let mut stepper =
            Stepper::from_memories(&[(&self.model.model, 1.0)], vec![memory], padding, &[])
                .forbid_in_logits();
        stepper.set_forbidden(&first_step_forbidden(settings));
        (stepper, rows)
    }

    /// Tokens generated at most after `prompt`, end of text included: CTranslate2's
    /// `min(max_length / 2, max_length - (prompt - 1))`, within the decoder's positions.
    fn max_steps(&self, prompt: &[usize]) -> usize {
        let max_length = self
            .model
            .settings
            .max_length
            .min(self.model.model.max_target_len());
        (max_length / 2).min((max_length + 1).saturating_sub(prompt.len()))
    }

    /// Beam search over a batch of windows: per window, the best hypothesis's tokens and
    /// log-probability.
    fn beam(
        &self,
        windows: &[&[f32]],
        n_mels: usize,
        prompt: &[usize],
        beam: usize,
    ) -> Vec<(Vec<usize>, f64)> {
        let (stepper, rows) = self.stepper(windows, n_mels);
        let config = Ct2BeamConfig {
            beam,
            patience: 1.0,
            length_penalty: 1.0,
            num_hypotheses: 1,
            max_steps: self.max_steps(prompt),
            end: self.model.settings.eot,
        };
        let mut scorer = WhisperScorer {
            stepper,
            prompt,
            suppress: &self.model.settings.suppress_ids,
            device: self.device.clone(),
        };
        ct2_beam_search(&mut scorer, rows, &config)
            .into_iter()
            .map(|list| {
                let best = list.into_iter().next().expect("a hypothesis per window");
                (best.tokens, best.log_prob)
            })
            .collect()
    }

    /// Greedy decoding of a batch of windows: per window, its tokens and log-probability.
    fn greedy(
        &self,
        windows: &[&[f32]],
        n_mels: usize,
        prompt: &[usize],
    ) -> Vec<(Vec<usize>, f64)> {
        let settings = &self.model.settings;
        let (mut stepper, rows) = self.stepper(windows, n_mels);
        let max_new = self.max_steps(prompt);
        let mut out: Vec<(Vec<usize>, f64, bool)> = vec![(Vec::new(), 0.0, false); rows];
        let mut live: Vec<usize> = (0..rows).collect();
        let ids: Vec<i64> = (0..rows)
            .flat_map(|_| prompt.iter().map(|&t| t as i64))
            .collect();
        let mut input = Tensor::<B, 2, Int>::from_data(
            TensorData::new(ids, [rows, prompt.len()]),
            &self.device,
        );
        for step in 0..max_new {
            let best = best_tokens(stepper.next_log_probs(input)); // per row: (token, log-prob)
            if step == 0 {
                stepper.set_forbidden(&settings.suppress_ids);
            }
            for (r, &(id, lp)) in best.iter().enumerate() {
                let hyp = &mut out[live[r]];
                hyp.1 += lp as f64;
                if id == settings.eot {
                    hyp.2 = true;
                } else {
                    hyp.0.push(id);
                }
            }
            let going: Vec<usize> = (0..live.len()).filter(|&r| !out[live[r]].2).collect();
            if going.is_empty() {
                break;
            }
            if going.len() < live.len() {
                stepper.keep(&going);
            }
            let next: Vec<i64> = going
                .iter()
                .map(|&r| *out[live[r]].0.last().expect("a token was just taken") as i64)
                .collect();
            live = going.iter().map(|&r| live[r]).collect();
            input = Tensor::from_data(TensorData::new(next, [live.len(), 1]), &self.device);
        }
        out.into_iter()
            .map(|(tokens, lp, _)| (tokens, lp))
            .collect()
    }
}

/// `suppress_ids` and, at the first step, `suppress_ids_begin`.
fn first_step_forbidden(settings: &super::whisper::WhisperSettings) -> Vec<usize> {
    settings
        .suppress_ids
        .iter()
        .chain(&settings.suppress_ids_begin)
        .copied()
        .collect()
}

/// [`Scorer`] over a Whisper decoding [`Stepper`]: the whole prompt at the first step, then
/// each row's newest token; the first step's extra forbidden tokens lifted after it.
struct WhisperScorer<'a, 'p, B: Backend> {
    stepper: Stepper<'a, B>,
    prompt: &'p [usize],
    suppress: &'p [usize],
    device: B::Device,
}

impl<B: Backend> Scorer for WhisperScorer<'_, '_, B> {
    fn next_log_probs(
        &mut self,
        prefixes: &[Vec<usize>],
        parents: Option<&[usize]>,
    ) -> LogProbRows {
        let rows = prefixes.len();
        let input = match parents {
            None => {
                let ids: Vec<i64> = (0..rows)
                    .flat_map(|_| self.prompt.iter().map(|&t| t as i64))
                    .collect();
                TensorData::new(ids, [rows, self.prompt.len()])
            }
            Some(parents) => {
                self.stepper.keep(parents);
                let last: Vec<i64> = prefixes
                    .iter()
                    .map(|p| *p.last().expect("a token after the first step") as i64)
                    .collect();
                TensorData::new(last, [rows, 1])
            }
        };
        let first = parents.is_none();
        let log_probs = self
            .stepper
            .next_log_probs(Tensor::<B, 2, Int>::from_data(input, &self.device));
        if first {
            self.stepper.set_forbidden(self.suppress);
        }
        let (flat, vocab) = to_host(log_probs);
        LogProbRows::new(flat, vocab)
    }
}
