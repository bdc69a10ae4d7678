//! The encoder-decoder model: embeddings + positions, encoder, decoder, generator.

use super::ctc::{Upsampler, UpsamplerConfig};
use super::decoder::{Decoder, DecoderCache, DecoderConfig, DecoderOutput};
use super::dropout::{Dropout, DropoutConfig};
use super::encoder::{Encoder, EncoderConfig, EncoderOutput};
use super::feed_forward::Activation;
use super::frontend::{AudioFrontend, AudioFrontendConfig};
use super::mask::{attention_mask, causal_mask_after};
use super::positional::{Positional, PositionalEncoding, PositionalEncodingConfig};
use burn::module::{Module, Param};
use burn::nn::Initializer;
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::prelude::*;

/// Hyperparameters of the whole model. Defaults are the paper's base model (Table 3), except
/// the vocabulary sizes, which come from the data (0 = "not set yet").
#[derive(Config, Debug, PartialEq)]
pub struct TransformerConfig {
    #[config(default = 0)]
    pub src_vocab_size: usize,
    #[config(default = 0)]
    pub tgt_vocab_size: usize,
    #[config(default = 512)]
    pub d_model: usize,
    #[config(default = 8)]
    pub n_heads: usize,
    #[config(default = 2048)]
    pub d_ff: usize,
    #[config(default = 6)]
    pub n_encoder_layers: usize,
    #[config(default = 6)]
    pub n_decoder_layers: usize,
    /// Dropout on embeddings+positions, on each sublayer output, inside the FFN and on the
    /// attention probabilities (the paper's P_drop).
    #[config(default = 0.1)]
    pub dropout: f64,
    #[config(default = "Activation::Relu")]
    pub activation: Activation,
    /// `false` = post-norm (the paper); `true` = pre-norm.
    #[config(default = false)]
    pub norm_first: bool,
    /// A LayerNorm at the end of each stack (PyTorch's `nn.Transformer` always has one; pre-norm
    /// needs it; the paper's post-norm model has none).
    #[config(default = false)]
    pub final_norm: bool,
    /// Longest source or target sequence (positions) the model accepts.
    #[config(default = 256)]
    pub max_len: usize,
    #[config(default = "Positional::Sinusoidal")]
    pub positional: Positional,
    /// Multiply embeddings by sqrt(d_model) before adding positions (section 3.4).
    #[config(default = true)]
    pub scale_embeddings: bool,
    /// One embedding table for source and target (needs equal vocabularies).
    #[config(default = false)]
    pub share_embeddings: bool,
    /// The generator reuses the target embedding matrix (transposed, no bias), section 3.4.
    #[config(default = false)]
    pub tie_generator: bool,
    #[config(default = 1e-5)]
    pub layer_norm_eps: f64,
    /// A bias added to every logit after the generator, `[1, tgt_vocab]` (saved as
    /// `final_logits_bias`): Marian models have one beside their tied, bias-free generator.
    /// Starts at zero; unlike transformers (a buffer), fine-tuning trains it.
    #[config(default = false)]
    pub logits_bias: bool,
    /// The decoder: `autoregressive` (the paper's: BEGIN, one token a step, END) or `ctc`
    /// (non-autoregressive: every output position at once over the encoder's states upsampled
    /// `ctc_upsample` times, trained with CTC; see `model::ctc`).
    #[config(default = "DecoderKind::Autoregressive")]
    pub decoder_kind: DecoderKind,
    /// Decoder positions per source position of a `ctc` decoder (Libovický & Helcl's k).
    #[config(default = 3)]
    pub ctc_upsample: usize,
    /// The source is audio: feature frames of this many channels (mel bands) go through an
    /// [`AudioFrontend`] instead of a source embedding (Whisper). `src_vocab_size` is unused.
    #[config(default = "None")]
    pub audio_mels: Option<usize>,
    /// The decoder's own positions, when they differ from the encoder's (Whisper: 1,500
    /// sinusoids stored as weights for the encoder, 448 learned for the decoder): their kind
    /// and `decoder_max_len`. `None` for both: one table for both sides, as in the paper.
    #[config(default = "None")]
    pub decoder_positional: Option<Positional>,
    #[config(default = "None")]
    pub decoder_max_len: Option<usize>,
}

/// Which decoder a [`Transformer`] has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DecoderKind {
    /// The paper's: reads BEGIN + the target so far, predicts the next token.
    #[default]
    Autoregressive,
    /// Non-autoregressive: reads the upsampled source, predicts all positions at once (CTC).
    Ctc,
}

/// A configuration that cannot build a working model.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("{0} must be greater than 0")]
    Zero(&'static str),
    #[error("d_model ({d_model}) must be divisible by n_heads ({n_heads})")]
    HeadsDontDivide { d_model: usize, n_heads: usize },
    #[error("dropout must be in [0, 1), got {0}")]
    Dropout(f64),
    #[error("share_embeddings needs equal vocabularies, got source {src} and target {tgt}")]
    SharedVocab { src: usize, tgt: usize },
    #[error("layer_norm_eps must be positive, got {0}")]
    Epsilon(f64),
    #[error("a ctc decoder needs ctc_upsample >= 1 and max_len ({max_len}) >= ctc_upsample ({upsample})")]
    Upsample { upsample: usize, max_len: usize },
    #[error("an audio source ({0}) cannot share embeddings with the target or have a CTC decoder")]
    Audio(&'static str),
}

impl TransformerConfig {
    /// Check that the configuration can build a working model.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let src_vocab = match self.audio_mels {
            Some(mels) => mels, // the front end's channels take the source vocabulary's place
            None => self.src_vocab_size,
        };
        for (name, value) in [
            ("src_vocab_size", src_vocab),
            ("tgt_vocab_size", self.tgt_vocab_size),
            ("d_model", self.d_model),
            ("n_heads", self.n_heads),
            ("d_ff", self.d_ff),
            ("n_encoder_layers", self.n_encoder_layers),
            ("n_decoder_layers", self.n_decoder_layers),
            ("max_len", self.max_len),
            (
                "decoder_max_len",
                self.decoder_max_len.unwrap_or(self.max_len),
            ),
        ] {
            if value == 0 {
                return Err(ConfigError::Zero(name));
            }
        }
        if !self.d_model.is_multiple_of(self.n_heads) {
            return Err(ConfigError::HeadsDontDivide {
                d_model: self.d_model,
                n_heads: self.n_heads,
            });
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(ConfigError::Dropout(self.dropout));
        }
        if self.share_embeddings && self.src_vocab_size != self.tgt_vocab_size {
            return Err(ConfigError::SharedVocab {
                src: self.src_vocab_size,
                tgt: self.tgt_vocab_size,
            });
        }
        if self.layer_norm_eps.is_nan() || self.layer_norm_eps <= 0.0 {
            return Err(ConfigError::Epsilon(self.layer_norm_eps));
        }
        if self.audio_mels.is_some() && self.share_embeddings {
            return Err(ConfigError::Audio("share_embeddings"));
        }
        if self.audio_mels.is_some() && self.decoder_kind == DecoderKind::Ctc {
            return Err(ConfigError::Audio("decoder_kind ctc"));
        }
        if self.decoder_kind == DecoderKind::Ctc
            && (self.ctc_upsample == 0 || self.ctc_upsample > self.max_len)
        {
            return Err(ConfigError::Upsample {
                upsample: self.ctc_upsample,
                max_len: self.max_len,
            });
        }
        Ok(())
    }

    /// The longest source the model reads: `max_len`, or for a CTC decoder the longest whose
    /// upsampled states fit `max_len` positions.
    pub fn max_source_len(&self) -> usize {
        match self.decoder_kind {
            DecoderKind::Autoregressive => self.max_len,
            DecoderKind::Ctc => self.max_len / self.ctc_upsample.max(1),
        }
    }

    fn encoder(&self) -> EncoderConfig {
        EncoderConfig::new(self.d_model, self.n_heads, self.d_ff)
            .with_n_layers(self.n_encoder_layers)
            .with_dropout(self.dropout)
            .with_activation(self.activation)
            .with_norm_first(self.norm_first)
            .with_final_norm(self.final_norm)
            .with_layer_norm_eps(self.layer_norm_eps)
    }

    fn decoder(&self) -> DecoderConfig {
        DecoderConfig::new(self.d_model, self.n_heads, self.d_ff)
            .with_n_layers(self.n_decoder_layers)
            .with_dropout(self.dropout)
            .with_activation(self.activation)
            .with_norm_first(self.norm_first)
            .with_final_norm(self.final_norm)
            .with_layer_norm_eps(self.layer_norm_eps)
    }

    /// Build the model with freshly initialised weights. Panics on an invalid configuration:
    /// call [`Self::validate`] first on anything a user wrote.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Transformer<B> {
        if let Err(err) = self.validate() {
            panic!("invalid TransformerConfig: {err}");
        }
        // Burn's Embedding starts from N(0, 1); times sqrt(d_model) that would drown the
        // sinusoids (amplitude 1). Like tensor2tensor and fairseq, start from N(0, d_model^-0.5)
        // so the scaled embeddings and the positions have comparable size.
        let embedding = |vocab: usize| {
            let std = if self.scale_embeddings {
                (self.d_model as f64).powf(-0.5)
            } else {
                1.0
            };
            EmbeddingConfig::new(vocab, self.d_model)
                .with_initializer(Initializer::Normal { mean: 0.0, std })
                .init(device)
        };
        let src_embed = self
            .audio_mels
            .is_none()
            .then(|| embedding(self.src_vocab_size));
        let frontend = self
            .audio_mels
            .map(|n_mels| AudioFrontendConfig::new(n_mels, self.d_model).init(device));
        let tgt_embed = (!self.share_embeddings).then(|| embedding(self.tgt_vocab_size));
        let decoder_positions =
            (self.decoder_positional.is_some() || self.decoder_max_len.is_some()).then(|| {
                PositionalEncodingConfig::new(
                    self.d_model,
                    self.decoder_max_len.unwrap_or(self.max_len),
                )
                .with_kind(self.decoder_positional.unwrap_or(self.positional))
                .init(device)
            });
        let generator = (!self.tie_generator)
            .then(|| LinearConfig::new(self.d_model, self.tgt_vocab_size).init(device));
        let final_logits_bias = self
            .logits_bias
            .then(|| Param::from_tensor(Tensor::zeros([1, self.tgt_vocab_size], device)));
        let upsampler = (self.decoder_kind == DecoderKind::Ctc)
            .then(|| UpsamplerConfig::new(self.d_model, self.ctc_upsample).init(device));
        Transformer {
            src_embed,
            frontend,
            tgt_embed,
            upsampler,
            positions: PositionalEncodingConfig::new(self.d_model, self.max_len)
                .with_kind(self.positional)
                .init(device),
            decoder_positions,
            encoder: self.encoder().init(device),
            decoder: self.decoder().init(device),
            generator,
            final_logits_bias,
            dropout: DropoutConfig::new(self.dropout).init(),
            d_model: self.d_model,
            scale_embeddings: self.scale_embeddings,
        }
    }
}

/// The Transformer encoder-decoder.
#[derive(Module, Debug)]
pub struct Transformer<B: Backend> {
    /// `None` for an audio source (`frontend` reads it).
    pub src_embed: Option<Embedding<B>>,
    /// The audio front end of a speech model (`TransformerConfig::audio_mels`).
    pub frontend: Option<AudioFrontend<B>>,
    /// `None` when embeddings are shared: the target side uses `src_embed`.
    pub tgt_embed: Option<Embedding<B>>,
    /// A CTC decoder's upsampler (`None`: the autoregressive decoder). A CTC model reads no
    /// target tokens, so its `tgt_embed` serves only a tied generator.
    pub upsampler: Option<Upsampler<B>>,
    /// The encoder's positions (and the decoder's, unless `decoder_positions` is set).
    pub positions: PositionalEncoding<B>,
    /// The decoder's own positions (`TransformerConfig::decoder_positional`).
    pub decoder_positions: Option<PositionalEncoding<B>>,
    pub encoder: Encoder<B>,
    pub decoder: Decoder<B>,
    /// `None` when tied to the target embedding.
    pub generator: Option<Linear<B>>,
    /// `[1, tgt_vocab]`, added to the logits (`TransformerConfig::logits_bias`).
    pub final_logits_bias: Option<Param<Tensor<B, 2>>>,
    dropout: Dropout,
    d_model: usize,
    scale_embeddings: bool,
}

impl<B: Backend> Transformer<B> {
    /// Number of decoder layers (the size of a [`DecoderCache`]).
    pub fn n_decoder_layers(&self) -> usize {
        self.decoder.layers.len()
    }

    /// The same model with a tied generator made explicit: a linear layer holding the target
    /// embedding's transpose, stored `[d_model, tgt_vocab]` row-major as a linear layer's
    /// weight is. The same logits up to rounding (a thin product may sum in another order);
    /// for decoding only (saved, it would no longer match its config's
    /// `tie_generator`). Why: the tied product reads the `[tgt_vocab, d_model]` embedding as a
    /// transposed operand, which gemm repacks at every call: 45% of a translation beam search's
    /// time at batch 1 (8,000 x 512 floats a step).
    pub fn with_untied_generator(mut self) -> Self {
        if self.generator.is_none() {
            let weight = self.target_embedding().weight.val(); // [tgt_vocab, d_model]
            let device = weight.device();
            // [d_model, tgt_vocab], contiguous (the data of the transposed view, in its order).
            let transposed = Tensor::from_data(weight.transpose().into_data(), &device);
            self.generator = Some(Linear {
                weight: Param::from_tensor(transposed),
                bias: None,
            });
        }
        self
    }

    /// Size of the target vocabulary (the generator's outputs).
    pub fn tgt_vocab_size(&self) -> usize {
        self.target_embedding().weight.dims()[0]
    }

    /// Longest source (and, autoregressive, output) the model reads: the positions the
    /// positional encoding covers; for a CTC decoder, divided by its upsampling.
    pub fn max_len(&self) -> usize {
        match (&self.upsampler, &self.decoder_positions) {
            (Some(up), _) => self.positions.max_len() / up.factor(),
            (None, Some(decoder)) => decoder.max_len().min(self.positions.max_len()),
            (None, None) => self.positions.max_len(),
        }
    }

    /// The longest output the decoder positions (Whisper: 448, whatever its encoder reads).
    pub fn max_target_len(&self) -> usize {
        self.decoder_positions
            .as_ref()
            .map_or_else(|| self.max_len(), PositionalEncoding::max_len)
    }

    /// Whether the source is audio features ([`Self::encode_audio`]) rather than tokens.
    pub fn is_audio(&self) -> bool {
        self.frontend.is_some()
    }

    /// Whether the decoder is the non-autoregressive CTC one ([`Self::forward_ctc`]).
    pub fn is_ctc(&self) -> bool {
        self.upsampler.is_some()
    }

    /// The CTC decoder's positions per source position (`None`: autoregressive).
    pub fn ctc_upsample(&self) -> Option<usize> {
        self.upsampler.as_ref().map(Upsampler::factor)
    }

    fn target_embedding(&self) -> &Embedding<B> {
        self.tgt_embed
            .as_ref()
            .or(self.src_embed.as_ref())
            .expect("a target embedding (checked by TransformerConfig::validate)")
    }

    /// Token embeddings (scaled by sqrt(d_model)) + the positions of `positions` from
    /// `offset`, then dropout.
    fn embed(
        &self,
        embedding: &Embedding<B>,
        positions: &PositionalEncoding<B>,
        tokens: Tensor<B, 2, Int>,
        offset: usize,
    ) -> Tensor<B, 3> {
        let mut x = embedding.forward(tokens); // [batch, len, d_model]
        if self.scale_embeddings {
            x = x.mul_scalar((self.d_model as f64).sqrt());
        }
        self.dropout.forward(positions.forward(x, offset))
    }

    /// The decoder's position table.
    fn target_positions(&self) -> &PositionalEncoding<B> {
        self.decoder_positions.as_ref().unwrap_or(&self.positions)
    }

    /// Run the encoder over audio features: the front end, positions, the encoder stack (its
    /// attention weights are not kept: `self_weights` is empty).
    ///
    /// # Shapes
    /// - `features`: `[batch, n_mels, frames]`
    /// - output memory: `[batch, ceil(frames / 2), d_model]`
    pub fn encode_audio(&self, features: Tensor<B, 3>) -> EncoderOutput<B> {
        let frontend = self
            .frontend
            .as_ref()
            .expect("encode_audio needs a model with an audio front end (audio_mels)");
        let x = frontend.forward(features);
        let x = self.dropout.forward(self.positions.forward(x, 0));
        self.encoder.forward_without_weights(x, None)
    }

    /// Run the encoder.
    ///
    /// # Shapes
    /// - `src`: `[batch, src_len]` token ids
    /// - `src_padding`: `[batch, src_len]`, `true` at padding
    /// - output memory: `[batch, src_len, d_model]`
    pub fn encode(
        &self,
        src: Tensor<B, 2, Int>,
        src_padding: Option<Tensor<B, 2, Bool>>,
    ) -> EncoderOutput<B> {
        let embedding = self
            .src_embed
            .as_ref()
            .expect("encode needs token embeddings: an audio model reads encode_audio");
        let x = self.embed(embedding, &self.positions, src, 0);
        self.encoder.forward(x, attention_mask(src_padding, None))
    }

    /// Run the decoder over `tgt` (decoder input tokens, i.e. BEGIN + target so far) and return its
    /// hidden states; [`Self::generate`] turns them into logits. With a `cache`, `tgt` holds only
    /// the new positions, placed after the `cache.len` positions already decoded.
    ///
    /// # Shapes
    /// - `tgt`: `[batch, tgt_len]`
    /// - `memory`: `[batch, src_len, d_model]`
    /// - `src_padding`: `[batch, src_len]`, `tgt_padding`: `[batch, tgt_len]`; `true` = padding
    /// - output hidden: `[batch, tgt_len, d_model]`
    pub fn decode(
        &self,
        tgt: Tensor<B, 2, Int>,
        memory: &Tensor<B, 3>,
        src_padding: Option<Tensor<B, 2, Bool>>,
        tgt_padding: Option<Tensor<B, 2, Bool>>,
        cache: Option<&mut DecoderCache<B>>,
    ) -> DecoderOutput<B> {
        let [_, tgt_len] = tgt.dims();
        let offset = cache.as_ref().map_or(0, |c| c.len);
        let device = tgt.device();
        let x = self.embed(
            self.target_embedding(),
            self.target_positions(),
            tgt,
            offset,
        );
        // Query i (absolute position offset + i) may see keys 0..=offset + i. A single step
        // with a cache sees everything decoded so far: no mask needed.
        let causal = (tgt_len > 1).then(|| causal_mask_after(tgt_len, offset, &device));
        // Target padding applies to the keys of this call only; with a cache, earlier positions
        // were real tokens.
        let tgt_padding = tgt_padding.filter(|_| offset == 0);
        let self_mask = attention_mask(tgt_padding, causal);
        let cross_mask = attention_mask(src_padding, None);
        self.decoder
            .forward(x, memory, self_mask, cross_mask, cache)
    }

    /// The generator: a linear map to vocabulary logits (the softmax is left to the loss or the
    /// decoder, which need log-probabilities).
    ///
    /// # Shapes
    /// - `hidden`: `[batch, len, d_model]`
    /// - output: `[batch, len, tgt_vocab]`
    pub fn generate(&self, hidden: Tensor<B, 3>) -> Tensor<B, 3> {
        let logits = match &self.generator {
            Some(generator) => super::tokenwise::tokenwise(hidden, |h| generator.forward(h)),
            None => {
                let weight = self.target_embedding().weight.val(); // [tgt_vocab, d_model]
                super::tokenwise::tokenwise(hidden, |h| {
                    burn::tensor::module::linear(h, weight.transpose(), None)
                })
            }
        };
        match &self.final_logits_bias {
            Some(bias) => {
                let [batch, len, vocab] = logits.dims();
                logits
                    + bias
                        .val()
                        .reshape([1, 1, vocab])
                        .expand([batch, len, vocab])
            }
            None => logits,
        }
    }

    /// Teacher-forced forward: logits for every target position.
    ///
    /// # Shapes
    /// - `src`: `[batch, src_len]`, `tgt`: `[batch, tgt_len]` (decoder input: BEGIN + target)
    /// - paddings: `[batch, src_len]`, `[batch, tgt_len]`, `true` = padding
    /// - output: `[batch, tgt_len, tgt_vocab]`
    pub fn forward(
        &self,
        src: Tensor<B, 2, Int>,
        src_padding: Option<Tensor<B, 2, Bool>>,
        tgt: Tensor<B, 2, Int>,
        tgt_padding: Option<Tensor<B, 2, Bool>>,
    ) -> Tensor<B, 3> {
        let memory = self.encode(src, src_padding.clone()).memory;
        let hidden = self
            .decode(tgt, &memory, src_padding, tgt_padding, None)
            .hidden;
        self.generate(hidden)
    }

    /// The non-autoregressive forward (`decoder_kind: ctc`): the encoder, its states upsampled
    /// `k` times, positions added, the decoder stack with **no causal mask** (every position
    /// sees all others; padding is masked), cross-attention to the encoder as usual, and the
    /// generator at every position at once. The softmax over symbols and the blank (PAD's id)
    /// is left to the CTC loss or decoder.
    ///
    /// # Shapes
    /// - `src`, `src_padding`: `[batch, src_len]`, `true` = padding
    /// - output: logits `[batch, src_len * k, tgt_vocab]` and their padding `[batch, src_len * k]`
    pub fn forward_ctc(
        &self,
        src: Tensor<B, 2, Int>,
        src_padding: Option<Tensor<B, 2, Bool>>,
    ) -> (Tensor<B, 3>, Tensor<B, 2, Bool>) {
        let upsampler = self
            .upsampler
            .as_ref()
            .expect("forward_ctc needs a model with decoder_kind ctc");
        let [batch, src_len] = src.dims();
        let device = src.device();
        let src_padding = src_padding
            .unwrap_or_else(|| Tensor::<B, 2, Int>::zeros([batch, src_len], &device).equal_elem(1));
        let memory = self.encode(src, Some(src_padding.clone())).memory;
        let (states, padding) = upsampler.forward(memory.clone(), Some(src_padding.clone()));
        let padding = padding.expect("the upsampler repeats a given padding");
        let x = self.dropout.forward(self.positions.forward(states, 0));
        let self_mask = attention_mask(Some(padding.clone()), None);
        let cross_mask = attention_mask(Some(src_padding), None);
        let hidden = self
            .decoder
            .forward(x, &memory, self_mask, cross_mask, None)
            .hidden;
        (self.generate(hidden), padding)
    }
}
