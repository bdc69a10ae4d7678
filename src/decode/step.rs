//! The one decoding step that greedy search, beam search and the benchmark share: feed the
//! newest token of every row through the decoder (with the KV cache), project to the
//! vocabulary, and return next-token log-probabilities.

use crate::model::{DecoderCache, Transformer};
use crate::vocab::{BEGIN, PAD};
use burn::prelude::*;

/// One member's state in an incremental decode: its encoder output and decoder cache.
struct MemberState<'a, B: Backend> {
    model: &'a Transformer<B>,
    memory: Tensor<B, 3>,
    src_padding: Tensor<B, 2, Bool>,
    cache: DecoderCache<B>,
}

/// The encoder output of a batch of rows and the decoder's cache for them, per member of an
/// ensemble (one member: a model alone): the state of an incremental decode.
pub struct Stepper<'a, B: Backend> {
    members: Vec<MemberState<'a, B>>,
    /// Each member's weight, summing to 1.
    weights: Vec<f32>,
    /// Added to the log-probabilities: `-inf` at PAD and BEGIN, 0 elsewhere.
    forbidden: Tensor<B, 3>,
}

impl<'a, B: Backend> Stepper<'a, B> {
    /// Encode `src` with one model: one row per input.
    ///
    /// # Shapes
    /// - `src`, `src_padding`: `[rows, src_len]`
    pub fn new(
        model: &'a Transformer<B>,
        src: Tensor<B, 2, Int>,
        src_padding: Tensor<B, 2, Bool>,
    ) -> Self {
        Self::ensemble(&[(model, 1.0)], src, src_padding)
    }

    /// Encode `src` with every member of an ensemble, `(model, weight)`: the members share
    /// the vocabularies (checked where they are loaded); the weights are normalised to sum 1.
    ///
    /// # Shapes
    /// - `src`, `src_padding`: `[rows, src_len]`
    pub fn ensemble(
        members: &[(&'a Transformer<B>, f32)],
        src: Tensor<B, 2, Int>,
        src_padding: Tensor<B, 2, Bool>,
    ) -> Self {
        assert!(!members.is_empty(), "an ensemble has at least one member");
        let device = src.device();
        // PAD and BEGIN are never generated (fairseq forbids both): a model whose BEGIN logit
        // happens to be the largest would otherwise write `<s>` into its output.
        let vocab = members[0].0.tgt_vocab_size();
        let mut bias = vec![0.0f32; vocab];
        bias[PAD] = f32::NEG_INFINITY;
        bias[BEGIN] = f32::NEG_INFINITY;
        let forbidden = Tensor::<B, 3>::from_data(TensorData::new(bias, [1, 1, vocab]), &device);
        let total: f32 = members.iter().map(|(_, w)| w).sum();
        Self {
            members: members
                .iter()
                .map(|&(model, _)| MemberState {
                    model,
                    memory: model.encode(src.clone(), Some(src_padding.clone())).memory,
                    src_padding: src_padding.clone(),
                    cache: DecoderCache::new(model.n_decoder_layers()),
                })
                .collect(),
            weights: members.iter().map(|(_, w)| w / total).collect(),
            forbidden,
        }
    }

    /// The longest output every member can position.
    pub fn max_len(&self) -> usize {
        self.members
            .iter()
            .map(|m| m.model.max_len())
            .min()
            .expect("at least one member")
    }

    /// Continue with rows `index` of the previous step, in that order: finished rows leave the
    /// batch so later steps do not compute them, beams move, rows repeat as one row per input
    /// widens into a beam. Every member's source padding and cache follow.
    ///
    /// # Shapes
    /// - `index`: `[kept_rows]`
    pub fn keep(&mut self, index: Tensor<B, 1, Int>) {
        for member in &mut self.members {
            // The encoder output is read at the first step only (the cache then holds each
            // layer's cross-attention keys and values): later, it is not worth copying.
            if member.cache.len == 0 {
                member.memory = member.memory.clone().select(0, index.clone());
            }
            let cache = std::mem::replace(&mut member.cache, DecoderCache::new(0));
            member.cache = cache.select(index.clone());
            member.src_padding = member.src_padding.clone().select(0, index.clone());
        }
    }

    /// Log-probabilities of the token after `last` (each row's newest token): with several
    /// members, the weighted average of their log-probabilities (Marian's ensemble rule; fairseq
    /// averages probabilities instead), so the scores stay on one model's scale.
    ///
    /// # Shapes
    /// - `last`: `[rows, 1]`
    /// - output: `[rows, tgt_vocab]`
    pub fn next_log_probs(&mut self, last: Tensor<B, 2, Int>) -> Tensor<B, 2> {
        let [rows, _one] = last.dims();
        let single = self.members.len() == 1;
        let mut sum: Option<Tensor<B, 3>> = None;
        for (member, &weight) in self.members.iter_mut().zip(&self.weights) {
            let hidden = member
                .model
                .decode(
                    last.clone(),
                    &member.memory,
                    Some(member.src_padding.clone()),
                    None,
                    Some(&mut member.cache),
                )
                .hidden; // [rows, 1, d_model]
            let logits = member.model.generate(hidden); // [rows, 1, vocab]
            let log_probs = burn::tensor::activation::log_softmax(logits, 2);
            let weighted = if single {
                log_probs
            } else {
                log_probs * weight
            };
            sum = Some(match sum {
                None => weighted,
                Some(acc) => acc + weighted,
            });
        }
        let sum = sum.expect("at least one member");
        let [_, _, vocab] = sum.dims();
        // Forbidden after the softmax, not before (as fairseq does): the scores stay the
        // model's own log-probabilities, not renormalised over the allowed tokens.
        (sum + self.forbidden.clone()).reshape([rows, vocab])
    }
}

/// Log-probabilities brought to the host in one read, row-major, and the vocabulary size.
///
/// # Shapes
/// - `log_probs`: `[rows, vocab]`
pub fn to_host<B: Backend>(log_probs: Tensor<B, 2>) -> (Vec<f32>, usize) {
    let [_rows, vocab] = log_probs.dims();
    let values = log_probs
        .into_data()
        .convert::<f32>()
        .to_vec()
        .expect("f32 log-probabilities");
    (values, vocab)
}
