//! Inference on a model directory: text in, text out, with clear errors for input the model
//! cannot take.

use crate::artifact::{self, ArtifactError, LoadedModel};
use crate::data::batcher::EncodedPair;
use crate::data::Seq2SeqBatcher;
use crate::decode::{Decoding, Hypothesis};
use crate::rerank::{decode_with, System};
use crate::vocab::VocabError;
use burn::prelude::*;
use std::ops::Range;
use std::path::Path;

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

/// Why several model directories cannot decode as one ensemble.
#[derive(Debug, thiserror::Error)]
pub enum EnsembleError {
    #[error(transparent)]
    Load(#[from] ArtifactError),
    #[error("an ensemble needs at least one model")]
    NoModels,
    #[error("{weights} weights for {models} models (give one weight per --model)")]
    WeightCount { weights: usize, models: usize },
    #[error("ensemble weights must be finite, non-negative and not all zero, got {0:?}")]
    BadWeights(Vec<f32>),
    #[error("{} and {} cannot decode as an ensemble: their {what} differ (members must be trained on the same data with the same tokenization)", first.display(), other.display())]
    Mismatch {
        first: std::path::PathBuf,
        other: std::path::PathBuf,
        what: &'static str,
    },
}

/// The weights of an ensemble of `models` members, normalised to sum 1: `weights` (one per
/// member, finite, non-negative, not all zero), or uniform when `None`.
pub fn ensemble_weights(weights: Option<&[f32]>, models: usize) -> Result<Vec<f32>, EnsembleError> {
    let weights = match weights {
        None => vec![1.0; models],
        Some(w) if w.len() != models => {
            return Err(EnsembleError::WeightCount {
                weights: w.len(),
                models,
            })
        }
        Some(w) => w.to_vec(),
    };
    let total: f32 = weights.iter().sum();
    if weights.iter().any(|w| !w.is_finite() || *w < 0.0) || total <= 0.0 {
        return Err(EnsembleError::BadWeights(weights));
    }
    Ok(weights.iter().map(|w| w / total).collect())
}

/// Whether the model in `dir` (`other`) reads and writes what the one in `first_dir`
/// (`first`) does: the same vocabularies, decoder kind, task, tokenization and tokenizer
/// files, so that one's token ids are the other's.
pub fn check_compatible<B: Backend>(
    first_dir: &Path,
    first: &LoadedModel<B>,
    dir: &Path,
    other: &LoadedModel<B>,
) -> Result<(), EnsembleError> {
    let mismatch = |what| EnsembleError::Mismatch {
        first: first_dir.to_path_buf(),
        other: dir.to_path_buf(),
        what,
    };
    let (a, b) = (first, other);
    if a.src_vocab != b.src_vocab {
        return Err(mismatch("source vocabularies"));
    }
    if a.tgt_vocab != b.tgt_vocab {
        return Err(mismatch("target vocabularies"));
    }
    if a.model.ctc_upsample() != b.model.ctc_upsample() {
        return Err(mismatch(
            "decoders (autoregressive, or CTC with its upsampling)",
        ));
    }
    let (da, db) = (&a.config.data, &b.config.data);
    if (da.task, da.src_tokens, da.tgt_tokens, da.src_eos)
        != (db.task, db.src_tokens, db.tgt_tokens, db.src_eos)
    {
        return Err(mismatch("tasks or tokenizations"));
    }
    for file in [
        crate::data::text_codec::JOINT_TOKENIZER_FILE,
        crate::data::text_codec::SRC_TOKENIZER_FILE,
        crate::data::text_codec::TGT_TOKENIZER_FILE,
    ] {
        if std::fs::read(first_dir.join(file)).ok() != std::fs::read(dir.join(file)).ok() {
            return Err(mismatch("tokenizers"));
        }
    }
    Ok(())
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
    pub rescorers: Vec<crate::rerank::Rescorer<B>>,
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

    /// Load one model directory, or several as an ensemble whose members' per-step
    /// log-probabilities are averaged with `weights` (uniform when `None`). The members must
    /// share their vocabularies, tokenization and tokenizer files.
    pub fn load_ensemble(
        dirs: &[std::path::PathBuf],
        weights: Option<&[f32]>,
        device: B::Device,
    ) -> Result<Self, EnsembleError> {
        let (first_dir, rest) = dirs.split_first().ok_or(EnsembleError::NoModels)?;
        let weights = ensemble_weights(weights, dirs.len())?;
        let mut predictor = Self::load(first_dir, device)?;
        for dir in rest {
            let other = artifact::load(dir, &predictor.device)?;
            check_compatible(first_dir, &predictor.loaded, dir, &other)?;
            if predictor.loaded.config.data.right_left != other.config.data.right_left {
                return Err(EnsembleError::Mismatch {
                    first: first_dir.clone(),
                    other: dir.clone(),
                    what: "target directions (one was trained with --right-left; rescore with it instead: --rescore)",
                });
            }
            predictor.others.push(other.model);
        }
        predictor.weights = weights;
        Ok(predictor)
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

/// Cut inputs sorted by length (`lengths`, ascending) into batches of at most `batch_size`,
/// at least one per thread when there are enough inputs: a batch larger than a thread's share
/// is split. When that leaves one batch per thread (`--batch-size` at least the share, e.g.
/// all inputs at once), the cut points balance the batches' total length instead of their
/// counts, since decoding time grows with length: cut by counts, the thread with the longest
/// half of the inputs worked alone at the end. Returns ranges into the sorted order.
fn batch_ranges(lengths: &[usize], batch_size: usize, threads: usize) -> Vec<Range<usize>> {
    let n = lengths.len();
    let threads = threads.max(1);
    let share = n.div_ceil(threads).max(1);
    let size = batch_size.clamp(1, share);
    let by_count = || (0..n).step_by(size).map(|s| s..(s + size).min(n)).collect();
    if size < share || threads == 1 || n < threads {
        return by_count();
    }
    // The decoding cost of an input: its tokens plus BEGIN and END.
    let total: usize = lengths.iter().map(|l| l + 2).sum();
    let mut ranges = Vec::with_capacity(threads);
    let (mut start, mut sum) = (0, 0);
    for (i, len) in lengths.iter().enumerate() {
        sum += len + 2;
        let done = ranges.len() + 1;
        // Close a batch once it reaches its share of the total, leaving an input for each
        // batch still to come (and close it when only that many are left).
        let left = n - (i + 1);
        let reached = sum * threads >= total * done;
        if done < threads && left >= threads - done && (reached || left == threads - done) {
            ranges.push(start..i + 1);
            start = i + 1;
        }
    }
    ranges.push(start..n);
    if ranges.iter().any(|r| r.len() > batch_size) {
        return by_count();
    }
    ranges
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

/// Decode one batch of encoded sources with the members `(model, weight)`, in the order
/// they write targets (see [`crate::rerank::decode_with`] for reading order).
pub(crate) fn decode_batch<B: Backend>(
    members: &[(&crate::model::Transformer<B>, f32)],
    device: &B::Device,
    sources: &[&Vec<usize>],
    decoding: &Decoding,
) -> Vec<Vec<Hypothesis>> {
    let pairs: Vec<EncodedPair> = sources
        .iter()
        .map(|src| EncodedPair {
            src: src.to_vec(),
            tgt: Vec::new(),
        })
        .collect();
    let batch = Seq2SeqBatcher.batch_pairs::<B>(&pairs, device);
    decoding.run_ensemble(members, batch.src, batch.src_padding)
}

/// Attention weights of one decoded input, per layer and head.
#[derive(Debug, Clone)]
pub struct AttentionMaps {
    pub source: Vec<String>,
    /// The greedy output followed by `</s>`: what each decoder position predicted.
    pub output: Vec<String>,
    /// Per layer, per head: `[output][source]`.
    pub cross: Vec<Vec<Vec<Vec<f32>>>>,
    /// Per layer, per head: `[source][source]`.
    pub encoder: Vec<Vec<Vec<Vec<f32>>>>,
    /// Per layer, per head: `[output][output]` (query position i sees BEGIN + outputs before i).
    pub decoder: Vec<Vec<Vec<Vec<f32>>>>,
}

fn split_heads<B: Backend>(weights: Tensor<B, 4>) -> Vec<Vec<Vec<f32>>> {
    let [_, heads, queries, keys] = weights.dims();
    let flat: Vec<f32> = weights
        .into_data()
        .convert::<f32>()
        .to_vec()
        .expect("f32 weights");
    (0..heads)
        .map(|h| {
            (0..queries)
                .map(|q| flat[(h * queries + q) * keys..(h * queries + q + 1) * keys].to_vec())
                .collect()
        })
        .collect()
}

impl<B: Backend> Predictor<B> {
    /// Decode `text` greedily, then run the teacher-forced forward over that output to collect
    /// every attention map.
    pub fn attention(&self, text: &str, allow_unk: bool) -> Result<AttentionMaps, InputError> {
        if self.loaded.model.is_ctc() {
            return Err(InputError::NoOutputAttention);
        }
        let ids = self.encode(text, allow_unk)?;
        let prediction = &self.predict(std::slice::from_ref(&ids), &Decoding::greedy())[0][0];
        let mut out_ids = self.loaded.tgt_vocab.encode(&prediction.tokens, true)?;
        // The decoder's own order: a right-to-left model's maps run from the last token.
        let mut output = prediction.tokens.clone();
        if self.right_left() {
            out_ids.reverse();
            output.reverse();
        }
        let device = &self.device;
        let src = Tensor::<B, 2, Int>::from_data(
            TensorData::new(
                ids.iter().map(|&i| i as i64).collect::<Vec<_>>(),
                [1, ids.len()],
            ),
            device,
        );
        let tgt: Vec<i64> = std::iter::once(crate::vocab::BEGIN as i64)
            .chain(out_ids.iter().map(|&i| i as i64))
            .collect();
        let tgt_len = tgt.len();
        let tgt = Tensor::<B, 2, Int>::from_data(TensorData::new(tgt, [1, tgt_len]), device);
        let model = &self.loaded.model;
        let encoded = model.encode(src, None);
        let decoded = model.decode(tgt, &encoded.memory, None, None, None);
        let source = self.loaded.codec.source_tokens(text);
        output.push(crate::vocab::SPECIALS[crate::vocab::END].to_string());
        Ok(AttentionMaps {
            source,
            output,
            cross: decoded.cross_weights.into_iter().map(split_heads).collect(),
            encoder: encoded.self_weights.into_iter().map(split_heads).collect(),
            decoder: decoded.self_weights.into_iter().map(split_heads).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::batch_ranges;

    /// The ranges cover 0..n in order, without gaps or overlaps.
    fn assert_partition(ranges: &[std::ops::Range<usize>], n: usize) {
        let mut at = 0;
        for r in ranges {
            assert_eq!(r.start, at, "{ranges:?}");
            assert!(r.end > r.start, "empty batch in {ranges:?}");
            at = r.end;
        }
        assert_eq!(at, n, "{ranges:?}");
    }

    #[test]
    fn batches_below_a_threads_share_are_cut_by_count() {
        let lengths: Vec<usize> = (0..10).collect();
        let ranges = batch_ranges(&lengths, 3, 2);
        assert_eq!(ranges, vec![0..3, 3..6, 6..9, 9..10]);
        // One thread: one batch of everything when the batch size allows it.
        assert_eq!(batch_ranges(&lengths, 64, 1), vec![0..10]);
    }

    #[test]
    fn one_batch_per_thread_balances_total_length_not_counts() {
        // Sorted lengths 1..=100: cut by count, the second half holds 3,775 + 100 of the
        // 5,250 + 200 units of work (cost = length + 2): 71%.
        let lengths: Vec<usize> = (1..=100).collect();
        let ranges = batch_ranges(&lengths, 1000, 2);
        assert_partition(&ranges, 100);
        assert_eq!(ranges.len(), 2);
        let cost =
            |r: &std::ops::Range<usize>| lengths[r.clone()].iter().map(|l| l + 2).sum::<usize>();
        let (a, b) = (cost(&ranges[0]), cost(&ranges[1]));
        assert!(a.abs_diff(b) <= 102, "{a} vs {b}: {ranges:?}");
        assert!(ranges[0].len() > ranges[1].len(), "{ranges:?}");
        // Three threads.
        let ranges = batch_ranges(&lengths, 1000, 3);
        assert_partition(&ranges, 100);
        assert_eq!(ranges.len(), 3);
        let costs: Vec<usize> = ranges.iter().map(cost).collect();
        let (lo, hi) = (costs.iter().min().unwrap(), costs.iter().max().unwrap());
        // Within two inputs' cost of each other (a cut falls between inputs).
        assert!(hi - lo <= 2 * 102, "{costs:?}");
    }

    #[test]
    fn a_balanced_cut_never_exceeds_the_batch_size_or_leaves_a_thread_empty() {
        // The batch size is the share: balancing would make the short batch larger than it.
        let lengths: Vec<usize> = (1..=100).collect();
        assert_eq!(batch_ranges(&lengths, 50, 2), vec![0..50, 50..100]);
        // Equal lengths: the balanced cut is the count cut.
        assert_eq!(batch_ranges(&[5; 9], 64, 3), vec![0..3, 3..6, 6..9]);
        // One very long input: every thread still gets a batch.
        let mut skewed = vec![1; 5];
        skewed.push(1000);
        let ranges = batch_ranges(&skewed, 64, 3);
        assert_partition(&ranges, 6);
        assert_eq!(ranges.len(), 3);
        // Fewer inputs than threads: one each.
        assert_eq!(batch_ranges(&[3, 4], 64, 4), vec![0..1, 1..2]);
        assert!(batch_ranges(&[], 64, 2).is_empty());
    }
}
