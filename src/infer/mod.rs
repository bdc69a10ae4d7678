//! Inference on a model directory: text in, text out, with clear errors for input the model
//! cannot take.

use crate::artifact::{self, ArtifactError, LoadedModel};
use crate::decode::{Decoding, Hypothesis};
use crate::rerank::{decode_with, System};
use crate::vocab::VocabError;
use burn::prelude::*;
use std::path::Path;

mod attention;
mod batches;
mod ensemble;
mod rescore;
pub mod sentences;

pub use attention::AttentionMaps;
use batches::batch_ranges;
pub use ensemble::{check_compatible, ensemble_weights, EnsembleError};
pub use rescore::{RescoreError, Rescorer};

/// Why one input cannot be decoded.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("empty input")]
    Empty,
    #[error(transparent)]
    Unknown(#[from] VocabError),
    #[error("input of {len} symbols is longer than the model's maximum of {max}")]
    TooLong { len: usize, max: usize },
    #[error("a CTC model has no attention from output tokens to draw (its decoder positions are not the output's); its encoder's self-attention is the same as an autoregressive model's")]
    NoOutputAttention,
}

/// One decoded output.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Prediction {
    /// Output tokens joined as the task writes them (phones with spaces, characters together).
    pub text: String,
    pub tokens: Vec<String>,
    /// Ranking score (log-probability, length-normalised with `lenpen`).
    pub score: f64,
    /// `false` if the length limit stopped decoding before END.
    pub finished: bool,
}

/// A loaded model (or ensemble of models) ready to decode.
pub struct Predictor<B: Backend> {
    /// The model, or an ensemble's first member: its vocabularies, tokenizer and config serve
    /// all members.
    pub loaded: LoadedModel<B>,
    /// An ensemble's other members (empty for one model).
    pub others: Vec<crate::model::Transformer<B>>,
    /// Every member's weight, `loaded` first, normalised to sum 1.
    pub weights: Vec<f32>,
    device: B::Device,
    /// Batches [`Predictor::predict_many`] decodes at once (default: the cores).
    pub threads: usize,
    /// Models that rerank the outputs with this one ([`crate::rerank`]; none: decode alone).
    pub rescorers: Vec<Rescorer<B>>,
    /// The rescorers' share of the combined score, split evenly among them.
    pub rescore_weight: f64,
}

/// What [`Predictor::predict_many`] calls with each decoded batch: the indices of its inputs
/// and their predictions.
pub type OnBatch<'a> = dyn FnMut(&[usize], &[Vec<Prediction>]) + 'a;

/// The machine's cores, as decoding threads.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl<B: Backend> Predictor<B> {
    /// A predictor over a model already in memory (training's dev check).
    pub fn new(loaded: LoadedModel<B>, device: B::Device) -> Self {
        Self {
            loaded,
            others: Vec::new(),
            weights: vec![1.0],
            device,
            threads: default_threads(),
            rescorers: Vec::new(),
            rescore_weight: 0.5,
        }
    }

    pub fn device(&self) -> &B::Device {
        &self.device
    }

    pub fn load(dir: &Path, device: B::Device) -> Result<Self, ArtifactError> {
        Ok(Self::new(artifact::load(dir, &device)?, device))
    }

    /// Whether the model reads and writes targets right to left (`data.right_left`).
    pub fn right_left(&self) -> bool {
        self.loaded.config.data.right_left
    }

    /// Each decoding system's direction (right to left?) and share of a reranking's score:
    /// this model or ensemble first, then each rescorer.
    fn layout(&self) -> Vec<(bool, f64)> {
        if self.rescorers.is_empty() {
            return vec![(self.right_left(), 1.0)];
        }
        let share = self.rescore_weight / self.rescorers.len() as f64;
        std::iter::once((self.right_left(), 1.0 - self.rescore_weight))
            .chain(self.rescorers.iter().map(|r| (r.right_left, share)))
            .collect()
    }

    /// The members as `(model, weight)`: the model alone, or every member of the ensemble.
    fn members(&self) -> Vec<(&crate::model::Transformer<B>, f32)> {
        std::iter::once(&self.loaded.model)
            .chain(&self.others)
            .zip(self.weights.iter().copied())
            .collect()
    }

    /// The longest input every member can position.
    fn max_len(&self) -> usize {
        self.members()
            .iter()
            .map(|(m, _)| m.max_len())
            .min()
            .expect("at least one member")
    }

    /// Source token ids of `text`, split as the model's training data was.
    pub fn encode(&self, text: &str, allow_unk: bool) -> Result<Vec<usize>, InputError> {
        let tokens = self.loaded.codec.source_tokens(text);
        if tokens.is_empty() {
            return Err(InputError::Empty);
        }
        let max = self.max_len();
        if tokens.len() > max {
            return Err(InputError::TooLong {
                len: tokens.len(),
                max,
            });
        }
        // A subword tokenizer writes `<unk>` for unseen characters itself; a piece it makes
        // that the model's vocabulary lacks (an imported Marian vocabulary leaves some of its
        // SentencePiece model's pieces out) is `<unk>` too, as MarianTokenizer has it.
        let allow_unk = allow_unk || self.loaded.codec.subwords().0.is_some();
        Ok(self.loaded.src_vocab.encode(&tokens, allow_unk)?)
    }

    fn to_prediction(&self, hyp: &Hypothesis) -> Prediction {
        let tokens: Vec<String> = self
            .loaded
            .tgt_vocab
            .decode(&hyp.tokens)
            .into_iter()
            .map(String::from)
            .collect();
        Prediction {
            text: self.loaded.codec.join_target(&tokens),
            tokens,
            score: hyp.score,
            finished: hyp.finished,
        }
    }

    /// Decode a batch of encoded inputs as `decoding` says. Returns up to `decoding.nbest()`
    /// predictions per input, best first.
    pub fn predict(&self, inputs: &[Vec<usize>], decoding: &Decoding) -> Vec<Vec<Prediction>> {
        if inputs.is_empty() {
            return Vec::new();
        }
        let sources: Vec<&Vec<usize>> = inputs.iter().collect();
        let rescorers: Vec<_> = self.rescorers.iter().map(|r| r.model.clone()).collect();
        let systems = assemble(self.members(), &rescorers, &self.layout());
        decode_with(&systems, &self.device, &sources, decoding)
            .iter()
            .map(|list| list.iter().map(|h| self.to_prediction(h)).collect())
            .collect()
    }

    /// Decode any number of encoded inputs, at most `batch_size` at a time, the batches cut
    /// from the inputs sorted by length (less padding, and rows of a batch finish together);
    /// the predictions come back in input order. [`Predictor::threads`] batches are decoded at
    /// once, each on its own thread with its own copy of the model: at decoding's batch sizes a matrix
    /// product runs on one core, so this is how a decode uses them all. `on_batch` sees each
    /// decoded batch as it comes: the indices of its inputs and their predictions.
    pub fn predict_many(
        &self,
        inputs: &[Vec<usize>],
        decoding: &Decoding,
        batch_size: usize,
        on_batch: &mut OnBatch<'_>,
    ) -> Vec<Vec<Prediction>> {
        let mut order: Vec<usize> = (0..inputs.len()).collect();
        order.sort_by_key(|&i| inputs[i].len());
        let lengths: Vec<usize> = order.iter().map(|&i| inputs[i].len()).collect();
        let chunks: Vec<&[usize]> = batch_ranges(&lengths, batch_size, self.threads)
            .into_iter()
            .map(|range| &order[range])
            .collect();
        let workers = self.threads.clamp(1, chunks.len().max(1));
        // Workers take the next batch when they are free, longest batches first (the last
        // ones of the sorted order), so that the short ones fill in at the end and no worker
        // is left with a long batch while the others idle.
        let next = std::sync::atomic::AtomicUsize::new(0);
        let mut out: Vec<Vec<Prediction>> = vec![Vec::new(); inputs.len()];
        // The members as decoding reads them: a tied generator's transpose laid out once.
        let decoding_members: Vec<(crate::model::Transformer<B>, f32)> = self
            .members()
            .into_iter()
            .map(|(m, w)| (m.clone().with_untied_generator(), w))
            .collect();
        let decoding_rescorers: Vec<crate::model::Transformer<B>> = self
            .rescorers
            .iter()
            .map(|r| r.model.clone().with_untied_generator())
            .collect();
        let layout = self.layout();
        std::thread::scope(|scope| {
            let (sender, receiver) = std::sync::mpsc::channel();
            for _ in 0..workers {
                let sender = sender.clone();
                // Each worker its own copy of every member (cheap: tensors are shared).
                let models = decoding_members.clone();
                let rescorers = decoding_rescorers.clone();
                let layout = &layout;
                let device = self.device.clone();
                let chunks = &chunks;
                let next = &next;
                scope.spawn(move || {
                    let work = || {
                        let members: Vec<_> = models.iter().map(|(m, w)| (m, *w)).collect();
                        let systems = assemble(members, &rescorers, layout);
                        loop {
                            let taken = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(c) = chunks.len().checked_sub(taken + 1) else {
                                return;
                            };
                            let sources: Vec<&Vec<usize>> =
                                chunks[c].iter().map(|&i| &inputs[i]).collect();
                            let hyps = decode_with(&systems, &device, &sources, decoding);
                            if sender.send((c, hyps)).is_err() {
                                return;
                            }
                        }
                    };
                    // The worker runs inside a rayon pool of its own one thread, so a CPU
                    // backend's parallel ops run inline on it: from outside a pool, each op
                    // would be handed to the global pool's threads and the worker put to
                    // sleep until they finish, two context switches per op (12% of a beam
                    // search's profile in kernel scheduling) with `threads` workers and the
                    // global pool's threads all competing for the same cores.
                    match rayon::ThreadPoolBuilder::new().num_threads(1).build() {
                        Ok(pool) => pool.install(work),
                        Err(_) => work(),
                    }
                });
            }
            drop(sender);
            for (c, hyps) in receiver {
                let predictions: Vec<Vec<Prediction>> = hyps
                    .iter()
                    .map(|list| list.iter().map(|h| self.to_prediction(h)).collect())
                    .collect();
                on_batch(chunks[c], &predictions);
                for (&i, list) in chunks[c].iter().zip(predictions) {
                    out[i] = list;
                }
            }
        });
        out
    }
}

/// The decoding systems: `members` (a model or ensemble), then each of `rescorers`, with the
/// directions and shares of `layout` ([`Predictor::layout`]).
fn assemble<'a, B: Backend>(
    members: Vec<(&'a crate::model::Transformer<B>, f32)>,
    rescorers: &'a [crate::model::Transformer<B>],
    layout: &[(bool, f64)],
) -> Vec<System<'a, B>> {
    let own = std::iter::once(members);
    let others = rescorers.iter().map(|m| vec![(m, 1.0)]);
    own.chain(others)
        .zip(layout)
        .map(|(members, &(right_left, share))| System {
            members,
            right_left,
            share,
        })
        .collect()
}
