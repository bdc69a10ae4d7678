//! The one decoding step that greedy search, beam search and the benchmark share: feed the
//! newest token of every row through the decoder (with the KV cache), project to the
//! vocabulary, and return next-token log-probabilities.

use crate::model::{DecoderCache, Transformer};
use crate::vocab::{BEGIN, PAD};
use burn::prelude::*;

/// The encoder output of a batch of rows and the decoder's cache for them: the state of an
/// incremental decode.
pub struct Stepper<'a, B: Backend> {
    model: &'a Transformer<B>,
    memory: Tensor<B, 3>,
    src_padding: Tensor<B, 2, Bool>,
    cache: DecoderCache<B>,
    /// Added to the log-probabilities: `-inf` at PAD and BEGIN, 0 elsewhere.
    forbidden: Tensor<B, 3>,
}

impl<'a, B: Backend> Stepper<'a, B> {
    /// Encode `src`: one row per input.
    ///
    /// # Shapes
    /// - `src`, `src_padding`: `[rows, src_len]`
    pub fn new(
        model: &'a Transformer<B>,
        src: Tensor<B, 2, Int>,
        src_padding: Tensor<B, 2, Bool>,
    ) -> Self {
        let device = src.device();
        let memory = model.encode(src, Some(src_padding.clone())).memory;
        // PAD and BEGIN are never generated (fairseq forbids both): a model whose BEGIN logit
        // happens to be the largest would otherwise write `<s>` into its output.
        let vocab = model.tgt_vocab_size();
        let mut bias = vec![0.0f32; vocab];
        bias[PAD] = f32::NEG_INFINITY;
        bias[BEGIN] = f32::NEG_INFINITY;
        let forbidden = Tensor::<B, 3>::from_data(TensorData::new(bias, [1, 1, vocab]), &device);
        Self {
            model,
            memory,
            src_padding,
            cache: DecoderCache::new(model.n_decoder_layers()),
            forbidden,
        }
    }

    /// Continue with rows `index` of the previous step, in that order: finished rows leave the
    /// batch so later steps do not compute them, beams move, rows repeat as one row per input
    /// widens into a beam. The source padding and the cache follow.
    ///
    /// # Shapes
    /// - `index`: `[kept_rows]`
    pub fn keep(&mut self, index: Tensor<B, 1, Int>) {
        // The encoder output is read at the first step only (the cache then holds each
        // layer's cross-attention keys and values): later, it is not worth copying.
        if self.cache.len == 0 {
            self.memory = self.memory.clone().select(0, index.clone());
        }
        let cache = std::mem::replace(&mut self.cache, DecoderCache::new(0));
        self.cache = cache.select(index.clone());
        self.src_padding = self.src_padding.clone().select(0, index);
    }

    /// Log-probabilities of the token after `last` (each row's newest token).
    ///
    /// # Shapes
    /// - `last`: `[rows, 1]`
    /// - output: `[rows, tgt_vocab]`
    pub fn next_log_probs(&mut self, last: Tensor<B, 2, Int>) -> Tensor<B, 2> {
        let [rows, _one] = last.dims();
        let hidden = self
            .model
            .decode(
                last,
                &self.memory,
                Some(self.src_padding.clone()),
                None,
                Some(&mut self.cache),
            )
            .hidden; // [rows, 1, d_model]
        let logits = self.model.generate(hidden); // [rows, 1, vocab]
        let [_, _, vocab] = logits.dims();
        // Forbidden after the softmax, not before (as fairseq does): the scores stay the
        // model's own log-probabilities, not renormalised over the allowed tokens.
        (burn::tensor::activation::log_softmax(logits, 2) + self.forbidden.clone())
            .reshape([rows, vocab])
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
