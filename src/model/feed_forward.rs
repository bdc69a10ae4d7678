//! Position-wise feed-forward network (section 3.3): `FFN(x) = max(0, x W_1 + b_1) W_2 + b_2`.

use super::dropout::{Dropout, DropoutConfig};
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::{gelu, relu, silu};

use super::tokenwise::tokenwise;
use serde::{Deserialize, Serialize};

/// The FFN's non-linearity. The paper uses ReLU; GELU is offered because many later models use it
/// (and Burn's own transformer defaults to it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    #[default]
    Relu,
    Gelu,
    /// `x * sigmoid(x)` (SiLU, "swish"): the activation of the opus-mt Marian models.
    #[serde(alias = "swish")]
    Silu,
}

/// Configuration of [`FeedForward`].
#[derive(Config, Debug)]
pub struct FeedForwardConfig {
    pub d_model: usize,
    /// Inner width (the paper's `d_ff` = 2048 for `d_model` = 512).
    pub d_ff: usize,
    #[config(default = 0.1)]
    pub dropout: f64,
    #[config(default = "Activation::Relu")]
    pub activation: Activation,
}

/// Two linear maps with a non-linearity between them, applied to each position separately.
/// Field names follow PyTorch's `TransformerEncoderLayer` (`linear1`, `linear2`).
#[derive(Module, Debug)]
pub struct FeedForward<B: Backend> {
    pub linear1: Linear<B>,
    pub linear2: Linear<B>,
    dropout: Dropout,
    #[module(skip)]
    activation: Activation,
}

impl FeedForwardConfig {
    pub fn init<B: Backend>(&self, device: &B::Device) -> FeedForward<B> {
        FeedForward {
            linear1: LinearConfig::new(self.d_model, self.d_ff).init(device),
            linear2: LinearConfig::new(self.d_ff, self.d_model).init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
            activation: self.activation,
        }
    }
}

impl<B: Backend> FeedForward<B> {
    /// # Shapes
    /// - `x`: `[batch, len, d_model]`
    /// - output: `[batch, len, d_model]`
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        // Position-wise: on the `[batch * len, d_model]` rows (see `tokenwise` for why).
        tokenwise(x, |x| {
            let hidden = self.linear1.forward(x); // [batch * len, d_ff]
            let hidden = match self.activation {
                Activation::Relu => relu(hidden),
                Activation::Gelu => gelu(hidden),
                Activation::Silu => silu(hidden),
            };
            // PyTorch (and the Annotated Transformer) drop out the inner activations too.
            self.linear2.forward(self.dropout.forward(hidden))
        })
    }
}
