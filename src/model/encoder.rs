//! The encoder: a stack of identical layers, each self-attention then a feed-forward network,
//! every sublayer wrapped in dropout + residual + LayerNorm (section 3.1).

use super::attention::{MultiHeadAttention, MultiHeadAttentionConfig};
use super::dropout::{Dropout, DropoutConfig};
use super::feed_forward::{Activation, FeedForward, FeedForwardConfig};
use super::sublayer::Sublayer;
use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig};
use burn::prelude::*;

/// Configuration of one [`EncoderLayer`] (and, with `n_layers`, of an [`Encoder`]).
#[derive(Config, Debug)]
pub struct EncoderConfig {
    pub d_model: usize,
    pub n_heads: usize,
    pub d_ff: usize,
    #[config(default = 1)]
    pub n_layers: usize,
    #[config(default = 0.1)]
    pub dropout: f64,
    #[config(default = "Activation::Relu")]
    pub activation: Activation,
    /// `false`: the paper's post-norm, `LayerNorm(x + Sublayer(x))`.
    /// `true`: pre-norm, `x + Sublayer(LayerNorm(x))`, which trains more stably when deep.
    #[config(default = false)]
    pub norm_first: bool,
    /// A LayerNorm after the last layer. Needed with pre-norm (the residual stream is otherwise
    /// never normalised); PyTorch's `nn.Transformer` adds it in post-norm too.
    #[config(default = false)]
    pub final_norm: bool,
    #[config(default = 1e-5)]
    pub layer_norm_eps: f64,
}

/// One encoder layer. Field names follow PyTorch's `nn.TransformerEncoderLayer`.
#[derive(Module, Debug)]
pub struct EncoderLayer<B: Backend> {
    pub self_attn: MultiHeadAttention<B>,
    pub ffn: FeedForward<B>,
    pub norm1: LayerNorm<B>,
    pub norm2: LayerNorm<B>,
    dropout: Dropout,
    norm_first: bool,
}

/// The encoder stack.
#[derive(Module, Debug)]
pub struct Encoder<B: Backend> {
    pub layers: Vec<EncoderLayer<B>>,
    pub norm: Option<LayerNorm<B>>,
}

/// Output of the encoder stack.
#[derive(Debug, Clone)]
pub struct EncoderOutput<B: Backend> {
    /// `[batch, src_len, d_model]`
    pub memory: Tensor<B, 3>,
    /// Self-attention weights per layer, each `[batch, n_heads, src_len, src_len]`.
    pub self_weights: Vec<Tensor<B, 4>>,
}

impl EncoderConfig {
    fn norm<B: Backend>(&self, device: &B::Device) -> LayerNorm<B> {
        LayerNormConfig::new(self.d_model)
            .with_epsilon(self.layer_norm_eps)
            .init(device)
    }

    pub fn init_layer<B: Backend>(&self, device: &B::Device) -> EncoderLayer<B> {
        EncoderLayer {
            self_attn: MultiHeadAttentionConfig::new(self.d_model, self.n_heads)
                .with_dropout(self.dropout)
                .init(device),
            ffn: FeedForwardConfig::new(self.d_model, self.d_ff)
                .with_dropout(self.dropout)
                .with_activation(self.activation)
                .init(device),
            norm1: self.norm(device),
            norm2: self.norm(device),
            dropout: DropoutConfig::new(self.dropout).init(),
            norm_first: self.norm_first,
        }
    }

    pub fn init<B: Backend>(&self, device: &B::Device) -> Encoder<B> {
        Encoder {
            layers: (0..self.n_layers)
                .map(|_| self.init_layer(device))
                .collect(),
            norm: self.final_norm.then(|| self.norm(device)),
        }
    }
}

impl<B: Backend> EncoderLayer<B> {
    /// # Shapes
    /// - `x`: `[batch, src_len, d_model]`
    /// - `mask`: `[batch, 1, 1, src_len]` source padding, `true` = blocked
    /// - output: `[batch, src_len, d_model]` and weights `[batch, n_heads, src_len, src_len]`
    pub fn forward(
        &self,
        x: Tensor<B, 3>,
        mask: Option<Tensor<B, 4, Bool>>,
    ) -> (Tensor<B, 3>, Tensor<B, 4>) {
        let sub = Sublayer {
            norm_first: self.norm_first,
        };
        let attn = self
            .self_attn
            .forward_self(sub.input(&self.norm1, &x), mask);
        let x = sub.output(&self.norm1, &self.dropout, x, attn.context);
        let ff = self.ffn.forward(sub.input(&self.norm2, &x));
        (sub.output(&self.norm2, &self.dropout, x, ff), attn.weights)
    }
}

impl<B: Backend> Encoder<B> {
    /// # Shapes
    /// - `x`: embedded source `[batch, src_len, d_model]`
    /// - `mask`: `[batch, 1, 1, src_len]`, `true` = padding
    pub fn forward(&self, x: Tensor<B, 3>, mask: Option<Tensor<B, 4, Bool>>) -> EncoderOutput<B> {
        self.run(x, mask, true)
    }

    /// [`Self::forward`] without keeping each layer's attention weights (`self_weights` comes
    /// back empty): a speech encoder's are `[batch, heads, 1500, 1500]` per layer, hundreds of
    /// megabytes that decoding never reads.
    pub fn forward_without_weights(
        &self,
        x: Tensor<B, 3>,
        mask: Option<Tensor<B, 4, Bool>>,
    ) -> EncoderOutput<B> {
        self.run(x, mask, false)
    }

    fn run(
        &self,
        mut x: Tensor<B, 3>,
        mask: Option<Tensor<B, 4, Bool>>,
        keep_weights: bool,
    ) -> EncoderOutput<B> {
        let mut self_weights = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            let (out, weights) = layer.forward(x, mask.clone());
            x = out;
            if keep_weights {
                self_weights.push(weights);
            }
        }
        if let Some(norm) = &self.norm {
            x = norm.forward(x);
        }
        EncoderOutput {
            memory: x,
            self_weights,
        }
    }
}
