//! The sublayer connection (section 5.4): every attention and feed-forward sublayer is wrapped
//! in dropout, a residual sum and a LayerNorm. The paper normalises after the sum (post-norm,
//! `LayerNorm(x + Dropout(Sublayer(x)))`); pre-norm (`x + Dropout(Sublayer(LayerNorm(x)))`) is
//! the option that trains deep stacks more stably. Encoder and decoder layers both use this one
//! shape.

use super::dropout::Dropout;
use burn::nn::LayerNorm;
use burn::prelude::*;

/// Where the LayerNorm of a sublayer connection goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sublayer {
    /// `true`: pre-norm; `false`: post-norm (the paper).
    pub norm_first: bool,
}

impl Sublayer {
    /// The sublayer's input: `LayerNorm(x)` in pre-norm, `x` in post-norm.
    ///
    /// # Shapes
    /// - `x`, output: `[batch, len, d_model]`
    pub fn input<B: Backend>(&self, norm: &LayerNorm<B>, x: &Tensor<B, 3>) -> Tensor<B, 3> {
        if self.norm_first {
            norm.forward(x.clone())
        } else {
            x.clone()
        }
    }

    /// The connection's output: `x + Dropout(out)`, normalised afterwards in post-norm.
    ///
    /// # Shapes
    /// - `x`, `out`, output: `[batch, len, d_model]`
    pub fn output<B: Backend>(
        &self,
        norm: &LayerNorm<B>,
        dropout: &Dropout,
        x: Tensor<B, 3>,
        out: Tensor<B, 3>,
    ) -> Tensor<B, 3> {
        let sum = x + dropout.forward(out);
        if self.norm_first {
            sum
        } else {
            norm.forward(sum)
        }
    }
}
