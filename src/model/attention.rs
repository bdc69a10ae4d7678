//! Multi-head attention (Vaswani et al. 2017, section 3.2).
//!
//! `MultiHead(Q, K, V) = Concat(head_1, ..., head_h) W^O`, with
//! `head_i = softmax(Q W_i^Q (K W_i^K)^T / sqrt(d_head)) V W_i^V`.
//!
//! The three input projections are packed into one `[d_model, 3 * d_model]` matrix in the order
//! Q | K | V, exactly as PyTorch's `nn.MultiheadAttention.in_proj_weight` packs them (transposed,
//! since Burn stores `Linear` weights as `[d_in, d_out]`). Self-attention then projects with one
//! matmul; cross-attention projects queries with the Q slice and keys/values with the K|V slice.

use super::dropout::{Dropout, DropoutConfig};
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::softmax;
use burn::tensor::module::linear;

use super::tokenwise::tokenwise;

/// Bias added to the scores of blocked (query, key) pairs before the softmax. Finite rather
/// than `-inf` so a row whose keys are all blocked gives finite (meaningless) weights instead of
/// NaN; `exp(score - 1e9 - max)` is exactly 0 in f32, so any row with one open key matches
/// `-inf` masking.
const BLOCKED_SCORE: f32 = -1.0e9;

/// Configuration of [`MultiHeadAttention`].
#[derive(Config, Debug)]
pub struct MultiHeadAttentionConfig {
    /// Model width; split into `n_heads` heads of `d_model / n_heads`.
    pub d_model: usize,
    /// Number of attention heads.
    pub n_heads: usize,
    /// Dropout on the attention probabilities (the paper's "attention dropout").
    #[config(default = 0.1)]
    pub dropout: f64,
}

/// Multi-head scaled dot-product attention with a packed Q|K|V input projection.
#[derive(Module, Debug)]
pub struct MultiHeadAttention<B: Backend> {
    /// W^Q | W^K | W^V, `[d_model, 3 * d_model]`, with their biases.
    pub in_proj: Linear<B>,
    /// W^O, `[d_model, d_model]`.
    pub out_proj: Linear<B>,
    dropout: Dropout,
    n_heads: usize,
    d_head: usize,
}

/// Output of [`MultiHeadAttention`].
#[derive(Debug, Clone)]
pub struct MhaOutput<B: Backend> {
    /// `[batch, query_len, d_model]`
    pub context: Tensor<B, 3>,
    /// Attention probabilities per head, before dropout: `[batch, n_heads, query_len, key_len]`.
    pub weights: Tensor<B, 4>,
}

impl MultiHeadAttentionConfig {
    /// Build the module. Panics if `d_model` is not a multiple of `n_heads` (validate user
    /// configs first with [`crate::model::TransformerConfig::validate`]).
    pub fn init<B: Backend>(&self, device: &B::Device) -> MultiHeadAttention<B> {
        assert!(
            self.n_heads > 0 && self.d_model.is_multiple_of(self.n_heads),
            "d_model ({}) must be a positive multiple of n_heads ({})",
            self.d_model,
            self.n_heads
        );
        MultiHeadAttention {
            in_proj: LinearConfig::new(self.d_model, 3 * self.d_model).init(device),
            out_proj: LinearConfig::new(self.d_model, self.d_model).init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
            n_heads: self.n_heads,
            d_head: self.d_model / self.n_heads,
        }
    }
}

impl<B: Backend> MultiHeadAttention<B> {
    /// Number of heads.
    pub fn n_heads(&self) -> usize {
        self.n_heads
    }

    fn d_model(&self) -> usize {
        self.n_heads * self.d_head
    }

    /// Project with columns `[start, start + width)` of the packed projection.
    fn project_slice(&self, x: Tensor<B, 3>, start: usize, width: usize) -> Tensor<B, 3> {
        let weight = self.in_proj.weight.val().narrow(1, start, width);
        let bias = self
            .in_proj
            .bias
            .as_ref()
            .map(|b| b.val().narrow(0, start, width));
        tokenwise(x, |x| linear(x, weight, bias))
    }

    /// Split `[batch, len, k * d_model]` into `k` tensors of heads `[batch, n_heads, len, d_head]`.
    fn split_heads<const K: usize>(&self, x: Tensor<B, 3>) -> [Tensor<B, 4>; K] {
        let [batch, len, _] = x.dims();
        let heads = x
            .reshape([batch, len, K * self.n_heads, self.d_head])
            .swap_dims(1, 2); // [batch, K * n_heads, len, d_head]
        let parts = heads.chunk(K, 1);
        core::array::from_fn(|i| parts[i].clone())
    }

    /// Queries for `x`, split into heads.
    ///
    /// # Shapes
    /// - `x`: `[batch, query_len, d_model]`
    /// - output: `[batch, n_heads, query_len, d_head]`
    pub fn project_query(&self, x: Tensor<B, 3>) -> Tensor<B, 4> {
        let [q] = self.split_heads::<1>(self.project_slice(x, 0, self.d_model()));
        q
    }

    /// Keys and values for `memory` (one matmul with the K|V slice), split into heads.
    ///
    /// # Shapes
    /// - `memory`: `[batch, key_len, d_model]`
    /// - output: two `[batch, n_heads, key_len, d_head]`
    pub fn project_key_value(&self, memory: Tensor<B, 3>) -> (Tensor<B, 4>, Tensor<B, 4>) {
        let d_model = self.d_model();
        let [k, v] = self.split_heads::<2>(self.project_slice(memory, d_model, 2 * d_model));
        (k, v)
    }

    /// Queries, keys and values of self-attention. Training: three matmuls, one per slice of
    /// the packed projection (each slice's gradient lands in its part of `in_proj`). Without
    /// autodiff (decoding): one matmul over the whole packed projection, split afterwards,
    /// which is the same arithmetic with a third of the dispatches.
    ///
    /// # Shapes
    /// - `x`: `[batch, len, d_model]`
    /// - output: three `[batch, n_heads, len, d_head]`
    pub fn project_self(&self, x: Tensor<B, 3>) -> [Tensor<B, 4>; 3] {
        if !B::ad_enabled(&x.device()) {
            return self.split_heads::<3>(tokenwise(x, |x| self.in_proj.forward(x)));
        }
        let d_model = self.d_model();
        core::array::from_fn(|i| {
            let [h] = self.split_heads::<1>(self.project_slice(x.clone(), i * d_model, d_model));
            h
        })
    }

    /// Scaled dot-product attention over projected heads, then concatenation and W^O.
    ///
    /// # Shapes
    /// - `q`: `[batch, n_heads, query_len, d_head]`
    /// - `k`, `v`: `[batch, n_heads, key_len, d_head]`
    /// - `mask`: `[batch or 1, 1, query_len or 1, key_len]`, `true` = blocked (see [`super::mask`])
    /// - output: context `[batch, query_len, d_model]`, weights `[batch, n_heads, query_len, key_len]`
    pub fn attend(
        &self,
        q: Tensor<B, 4>,
        k: Tensor<B, 4>,
        v: Tensor<B, 4>,
        mask: Option<Tensor<B, 4, Bool>>,
    ) -> MhaOutput<B> {
        let [batch, n_heads, query_len, d_head] = q.dims();
        // Scale the queries before the product, as PyTorch does (fewer multiplications).
        let q = q.mul_scalar(1.0 / (d_head as f64).sqrt());
        let mut scores = q.matmul(k.swap_dims(2, 3)); // [batch, n_heads, query_len, key_len]
        if let Some(mask) = mask {
            // Adding a broadcast bias is cheaper than filling through an expanded mask: no
            // full-size boolean tensor, and the backward pass passes the gradient through.
            let bias = mask.float().mul_scalar(BLOCKED_SCORE);
            scores = scores + bias;
        }
        let weights = softmax(scores, 3);
        // The paper's attention dropout acts on the probabilities (Burn's built-in MHA drops
        // scores before the softmax instead).
        let context = self.dropout.forward(weights.clone()).matmul(v); // [batch, n_heads, query_len, d_head]
        let context = context
            .swap_dims(1, 2)
            .reshape([batch, query_len, n_heads * d_head]);
        MhaOutput {
            context: tokenwise(context, |c| self.out_proj.forward(c)),
            weights,
        }
    }

    /// Self-attention: queries, keys and values all come from `x`.
    ///
    /// # Shapes
    /// - `x`: `[batch, len, d_model]`
    /// - `mask`: see [`Self::attend`]
    pub fn forward_self(&self, x: Tensor<B, 3>, mask: Option<Tensor<B, 4, Bool>>) -> MhaOutput<B> {
        let [q, k, v] = self.project_self(x);
        self.attend(q, k, v, mask)
    }

    /// Cross-attention: queries from `x` (the decoder), keys and values from `memory` (the
    /// encoder output).
    ///
    /// # Shapes
    /// - `x`: `[batch, query_len, d_model]`
    /// - `memory`: `[batch, key_len, d_model]`
    pub fn forward_cross(
        &self,
        x: Tensor<B, 3>,
        memory: Tensor<B, 3>,
        mask: Option<Tensor<B, 4, Bool>>,
    ) -> MhaOutput<B> {
        let q = self.project_query(x);
        let (k, v) = self.project_key_value(memory);
        self.attend(q, k, v, mask)
    }

    /// The general form with distinct query, key and value inputs (three projections).
    ///
    /// # Shapes
    /// - `query`: `[batch, query_len, d_model]`
    /// - `key`, `value`: `[batch, key_len, d_model]`
    pub fn forward(
        &self,
        query: Tensor<B, 3>,
        key: Tensor<B, 3>,
        value: Tensor<B, 3>,
        mask: Option<Tensor<B, 4, Bool>>,
    ) -> MhaOutput<B> {
        let d_model = self.d_model();
        let q = self.project_query(query);
        let [k] = self.split_heads::<1>(self.project_slice(key, d_model, d_model));
        let [v] = self.split_heads::<1>(self.project_slice(value, 2 * d_model, d_model));
        self.attend(q, k, v, mask)
    }
}
