//! The anchor of the training benchmark: the same encoder-decoder built from Burn's own
//! `burn::nn::transformer` modules, which is what a Burn user has today without this crate.
//!
//! Same sizes as our model, ReLU, post-norm, dropout 0.1, sinusoidal positions, embeddings
//! scaled by sqrt(d_model), the same label-smoothed cross-entropy. Differences that are Burn's,
//! not ours: separate Q, K and V projections, dropout on the scores before the softmax, and
//! masks passed as `[batch, len]` / `[batch, q, k]` and expanded inside each layer.

use crate::data::Seq2SeqBatch;
use crate::model::mask::causal_mask;
use crate::model::{PositionalEncoding, PositionalEncodingConfig};
use crate::vocab::PAD;
use burn::module::Module;
use burn::nn::activation::ActivationConfig;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::transformer::{
    TransformerDecoder, TransformerDecoderConfig, TransformerDecoderInput, TransformerEncoder,
    TransformerEncoderConfig, TransformerEncoderInput,
};
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::prelude::*;

/// Burn's built-in encoder and decoder with our embeddings and generator around them.
#[derive(Module, Debug)]
pub struct BuiltinTransformer<B: Backend> {
    src_embedding: Embedding<B>,
    tgt_embedding: Embedding<B>,
    positional: PositionalEncoding<B>,
    encoder: TransformerEncoder<B>,
    decoder: TransformerDecoder<B>,
    generator: Linear<B>,
    #[module(skip)]
    scale: f64,
}

/// Sizes of [`BuiltinTransformer`].
#[derive(Debug, Clone, Copy)]
pub struct BuiltinSizes {
    pub vocab: usize,
    pub d_model: usize,
    pub n_heads: usize,
    pub layers: usize,
    pub d_ff: usize,
    pub max_len: usize,
}

impl BuiltinSizes {
    pub fn init<B: Backend>(&self, device: &B::Device) -> BuiltinTransformer<B> {
        let encoder =
            TransformerEncoderConfig::new(self.d_model, self.d_ff, self.n_heads, self.layers)
                .with_dropout(0.1)
                .with_activation(ActivationConfig::Relu)
                .init(device);
        let decoder =
            TransformerDecoderConfig::new(self.d_model, self.d_ff, self.n_heads, self.layers)
                .with_dropout(0.1)
                .with_activation(ActivationConfig::Relu)
                .init(device);
        BuiltinTransformer {
            src_embedding: EmbeddingConfig::new(self.vocab, self.d_model).init(device),
            tgt_embedding: EmbeddingConfig::new(self.vocab, self.d_model).init(device),
            positional: PositionalEncodingConfig::new(self.d_model, self.max_len).init(device),
            encoder,
            decoder,
            generator: LinearConfig::new(self.d_model, self.vocab).init(device),
            scale: (self.d_model as f64).sqrt(),
        }
    }
}

impl<B: Backend> BuiltinTransformer<B> {
    /// Teacher-forced label-smoothed cross-entropy, PAD ignored.
    ///
    /// # Shapes
    /// - batch: `src` `[batch, src_len]`, `tgt_in`/`tgt_out` `[batch, tgt_len]`
    /// - output: `[1]`
    pub fn forward_loss(&self, batch: Seq2SeqBatch<B>) -> Tensor<B, 1> {
        let [batch_size, tgt_len] = batch.tgt_in.dims();
        let device = batch.src.device();
        let src = self.src_embedding.forward(batch.src).mul_scalar(self.scale);
        let src = self.positional.forward(src, 0);
        let memory = self
            .encoder
            .forward(TransformerEncoderInput::new(src).mask_pad(batch.src_padding.clone()));
        let tgt = self
            .tgt_embedding
            .forward(batch.tgt_in)
            .mul_scalar(self.scale);
        let tgt = self.positional.forward(tgt, 0);
        let causal = causal_mask::<B>(tgt_len, &device)
            .unsqueeze_dim::<3>(0)
            .expand([batch_size, tgt_len, tgt_len]);
        let hidden = self.decoder.forward(
            TransformerDecoderInput::new(tgt, memory)
                .target_mask_pad(batch.tgt_padding)
                .target_mask_attn(causal)
                .memory_mask_pad(batch.src_padding),
        );
        let logits = self.generator.forward(hidden);
        let vocab = logits.dims()[2];
        CrossEntropyLossConfig::new()
            .with_pad_tokens(Some(vec![PAD]))
            .with_smoothing(Some(0.1))
            .init(&device)
            .forward(
                logits.reshape([batch_size * tgt_len, vocab]),
                batch.tgt_out.reshape([batch_size * tgt_len]),
            )
    }
}
