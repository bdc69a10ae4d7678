//! The decoder: a stack of identical layers, each masked self-attention, cross-attention over the
//! encoder output, and a feed-forward network, every sublayer wrapped in dropout + residual +
//! LayerNorm (section 3.1).
//!
//! The same forward serves training (whole target at once, causal mask) and step-by-step decoding
//! (an explicit [`DecoderCache`] holding each layer's keys and values).

use super::attention::{MhaOutput, MultiHeadAttention, MultiHeadAttentionConfig};
use super::dropout::{Dropout, DropoutConfig};
use super::feed_forward::{Activation, FeedForward, FeedForwardConfig};
use super::sublayer::Sublayer;
use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig};
use burn::prelude::*;

/// Configuration of a [`DecoderLayer`] and, with `n_layers`, of a [`Decoder`].
#[derive(Config, Debug)]
pub struct DecoderConfig {
    pub d_model: usize,
    pub n_heads: usize,
    pub d_ff: usize,
    #[config(default = 1)]
    pub n_layers: usize,
    #[config(default = 0.1)]
    pub dropout: f64,
    #[config(default = "Activation::Relu")]
    pub activation: Activation,
    /// See [`super::EncoderConfig::norm_first`].
    #[config(default = false)]
    pub norm_first: bool,
    /// See [`super::EncoderConfig::final_norm`].
    #[config(default = false)]
    pub final_norm: bool,
    #[config(default = 1e-5)]
    pub layer_norm_eps: f64,
}

/// One decoder layer. Field names follow PyTorch's `nn.TransformerDecoderLayer`, except that its
/// `multihead_attn` is called `cross_attn` here.
#[derive(Module, Debug)]
pub struct DecoderLayer<B: Backend> {
    pub self_attn: MultiHeadAttention<B>,
    pub cross_attn: MultiHeadAttention<B>,
    pub ffn: FeedForward<B>,
    pub norm1: LayerNorm<B>,
    pub norm2: LayerNorm<B>,
    pub norm3: LayerNorm<B>,
    dropout: Dropout,
    norm_first: bool,
}

/// The decoder stack.
#[derive(Module, Debug)]
pub struct Decoder<B: Backend> {
    pub layers: Vec<DecoderLayer<B>>,
    pub norm: Option<LayerNorm<B>>,
}

/// Keys and values one decoder layer has computed so far.
#[derive(Debug, Clone)]
pub struct LayerCache<B: Backend> {
    /// Self-attention keys and values, each `[rows, n_heads, capacity, d_head]`: positions
    /// `0..len` (the [`DecoderCache`]'s `len`) hold the decoded ones, the rest is room that
    /// the next steps write in place. Full, the capacity doubles: the past is copied
    /// O(log len) times, not at every step as concatenating each step's keys would.
    pub self_kv: Option<(Tensor<B, 4>, Tensor<B, 4>)>,
    /// Cross-attention keys and values of the encoder output, computed at the first step,
    /// each `[entries, n_heads, src_len, d_head]`: one entry per `cross_group` rows (see
    /// [`DecoderCache::cross_group`]).
    pub cross_kv: Option<(Tensor<B, 4>, Tensor<B, 4>)>,
}

/// The smallest self-attention cache, in positions: a few doublings fewer for short outputs.
const MIN_CAPACITY: usize = 8;

impl<B: Backend> LayerCache<B> {
    /// Write this step's self-attention keys and values after the `decoded` positions
    /// already cached (in place while the capacity lasts, else into a buffer twice as long)
    /// and return the keys and values of every position so far.
    ///
    /// # Shapes
    /// - `k`, `v`: `[rows, n_heads, new, d_head]`
    /// - output: each `[rows, n_heads, decoded + new, d_head]` (views of the cache)
    fn append_self(
        &mut self,
        k: Tensor<B, 4>,
        v: Tensor<B, 4>,
        decoded: usize,
    ) -> (Tensor<B, 4>, Tensor<B, 4>) {
        let [rows, n_heads, new, d_head] = k.dims();
        let end = decoded + new;
        let (keys, values) = match self.self_kv.take() {
            Some((keys, values)) if keys.dims()[2] >= end => (keys, values),
            past => {
                let capacity = end.max(2 * decoded).max(MIN_CAPACITY);
                let device = k.device();
                let grow = |past: Option<Tensor<B, 4>>| {
                    let room = Tensor::empty([rows, n_heads, capacity - decoded, d_head], &device);
                    match past {
                        Some(past) if decoded > 0 => Tensor::cat(
                            vec![
                                past.slice([0..rows, 0..n_heads, 0..decoded, 0..d_head]),
                                room,
                            ],
                            2,
                        ),
                        _ => room,
                    }
                };
                let (keys, values) = past.unzip();
                (grow(keys), grow(values))
            }
        };
        // Uniquely owned here (the views handed out last step are gone): written in place.
        let at = [0..rows, 0..n_heads, decoded..end, 0..d_head];
        let keys = keys.slice_assign(at.clone(), k);
        let values = values.slice_assign(at, v);
        let so_far = [0..rows, 0..n_heads, 0..end, 0..d_head];
        let out = (
            keys.clone().slice(so_far.clone()),
            values.clone().slice(so_far),
        );
        self.self_kv = Some((keys, values));
        out
    }
}

/// The incremental decoding state of the whole stack: an explicit value, so beam search can
/// reorder it with [`DecoderCache::select`] or [`DecoderCache::regroup`].
#[derive(Debug, Clone)]
pub struct DecoderCache<B: Backend> {
    pub layers: Vec<LayerCache<B>>,
    /// Number of target positions already decoded (the position offset of the next step).
    pub len: usize,
    /// Rows that read one cross-attention entry: rows `e * g .. (e + 1) * g` read entry `e`.
    /// The beams of one input share its encoder output, so beam search keeps one entry per
    /// input and attends with its `g` beams as `g` queries of that entry (no copy per beam).
    pub cross_group: usize,
}

/// One layer's part of an incremental decoding step: its cache and where the stack is.
pub struct LayerStep<'a, B: Backend> {
    pub cache: &'a mut LayerCache<B>,
    /// Positions decoded before this step ([`DecoderCache::len`]).
    pub decoded: usize,
    /// [`DecoderCache::cross_group`].
    pub cross_group: usize,
}

impl<B: Backend> DecoderCache<B> {
    /// An empty cache for a decoder of `n_layers` layers.
    pub fn new(n_layers: usize) -> Self {
        Self {
            layers: (0..n_layers)
                .map(|_| LayerCache {
                    self_kv: None,
                    cross_kv: None,
                })
                .collect(),
            len: 0,
            cross_group: 1,
        }
    }

    /// Rows per cross-attention entry (see [`DecoderCache::cross_group`]).
    pub fn cross_group(&self) -> usize {
        self.cross_group
    }

    /// Keep (and repeat or reorder) batch rows: row `i` of the result is row `indices[i]`, with
    /// a cross-attention entry of its own (group 1).
    pub fn select(self, indices: Tensor<B, 1, Int>) -> Self {
        let entries = if self.cross_group == 1 {
            indices.clone()
        } else {
            indices.clone().div_scalar(self.cross_group as i64)
        };
        self.regroup(Some(indices), Some(entries), 1)
    }

    /// Row `i` of the result is row `rows[i]` (self-attention keys and values); the
    /// cross-attention entries are `entries` of this cache, read by `group` consecutive rows
    /// each. `None` keeps the rows or the entries as they are (no copy).
    ///
    /// # Shapes
    /// - `rows`: `[new_rows]`; `entries`: `[new_rows / group]`
    pub fn regroup(
        self,
        rows: Option<Tensor<B, 1, Int>>,
        entries: Option<Tensor<B, 1, Int>>,
        group: usize,
    ) -> Self {
        let pick =
            |kv: Option<(Tensor<B, 4>, Tensor<B, 4>)>, index: &Option<Tensor<B, 1, Int>>| match (
                kv, index,
            ) {
                (Some((k, v)), Some(index)) => {
                    Some((k.select(0, index.clone()), v.select(0, index.clone())))
                }
                (kv, _) => kv,
            };
        Self {
            layers: self
                .layers
                .into_iter()
                .map(|layer| LayerCache {
                    self_kv: pick(layer.self_kv, &rows),
                    cross_kv: pick(layer.cross_kv, &entries),
                })
                .collect(),
            len: self.len,
            cross_group: group,
        }
    }
}

/// Output of the decoder stack.
#[derive(Debug, Clone)]
pub struct DecoderOutput<B: Backend> {
    /// `[batch, tgt_len, d_model]`
    pub hidden: Tensor<B, 3>,
    /// Masked self-attention weights per layer, each `[batch, n_heads, tgt_len, decoded_len]`.
    pub self_weights: Vec<Tensor<B, 4>>,
    /// Cross-attention weights per layer, each `[batch, n_heads, tgt_len, src_len]`.
    pub cross_weights: Vec<Tensor<B, 4>>,
}

impl DecoderConfig {
    fn norm<B: Backend>(&self, device: &B::Device) -> LayerNorm<B> {
        LayerNormConfig::new(self.d_model)
            .with_epsilon(self.layer_norm_eps)
            .init(device)
    }

    pub fn init_layer<B: Backend>(&self, device: &B::Device) -> DecoderLayer<B> {
        let attention =
            MultiHeadAttentionConfig::new(self.d_model, self.n_heads).with_dropout(self.dropout);
        DecoderLayer {
            self_attn: attention.init(device),
            cross_attn: attention.init(device),
            ffn: FeedForwardConfig::new(self.d_model, self.d_ff)
                .with_dropout(self.dropout)
                .with_activation(self.activation)
                .init(device),
            norm1: self.norm(device),
            norm2: self.norm(device),
            norm3: self.norm(device),
            dropout: DropoutConfig::new(self.dropout).init(),
            norm_first: self.norm_first,
        }
    }

    pub fn init<B: Backend>(&self, device: &B::Device) -> Decoder<B> {
        Decoder {
            layers: (0..self.n_layers)
                .map(|_| self.init_layer(device))
                .collect(),
            norm: self.final_norm.then(|| self.norm(device)),
        }
    }
}

/// Per-layer output: hidden state and the two attention maps.
type LayerOutput<B> = (Tensor<B, 3>, Tensor<B, 4>, Tensor<B, 4>);

impl<B: Backend> DecoderLayer<B> {
    /// # Shapes
    /// - `x`: `[batch, tgt_len, d_model]` (the new positions only when a cache is given)
    /// - `memory`: `[batch, src_len, d_model]` (unused once the cache holds the cross keys/values);
    ///   with a step whose `cross_group` is `g`: `[batch / g, src_len, d_model]`
    /// - `self_mask`: `[batch or 1, 1, tgt_len, decoded_len]`, causal (+ target padding)
    /// - `cross_mask`: `[batch, 1, 1, src_len]`, source padding (`[batch / g, ...]` as `memory`)
    /// - output: `[batch, tgt_len, d_model]` and the weights of both attentions
    pub fn forward(
        &self,
        x: Tensor<B, 3>,
        memory: &Tensor<B, 3>,
        self_mask: Option<Tensor<B, 4, Bool>>,
        cross_mask: Option<Tensor<B, 4, Bool>>,
        step: Option<LayerStep<'_, B>>,
    ) -> LayerOutput<B> {
        let sub = Sublayer {
            norm_first: self.norm_first,
        };

        // Masked self-attention; with a cache, this step's keys/values are appended to the past.
        let [q, k, v] = self.self_attn.project_self(sub.input(&self.norm1, &x));
        let group = step.as_ref().map_or(1, |step| step.cross_group);
        let (cache, k, v) = match step {
            Some(step) => {
                let (k, v) = step.cache.append_self(k, v, step.decoded);
                (Some(step.cache), k, v)
            }
            None => (None, k, v),
        };
        let attn = self.self_attn.attend(q, k, v, self_mask);
        let x = sub.output(&self.norm1, &self.dropout, x, attn.context);

        // Cross-attention: queries from the decoder, keys/values from the encoder output.
        let (k, v) = match cache {
            Some(LayerCache {
                cross_kv: Some(kv), ..
            }) => kv.clone(),
            Some(cache) => {
                let kv = self.cross_attn.project_key_value(memory.clone());
                cache.cross_kv = Some(kv.clone());
                kv
            }
            None => self.cross_attn.project_key_value(memory.clone()),
        };
        let query = sub.input(&self.norm2, &x);
        let cross = if group == 1 {
            self.cross_attn
                .attend(self.cross_attn.project_query(query), k, v, cross_mask)
        } else {
            // `group` rows of one step read one entry: as `group` queries of one row.
            let [rows, tgt_len, d_model] = query.dims();
            let entries = rows / group;
            let q =
                self.cross_attn
                    .project_query(query.reshape([entries, group * tgt_len, d_model]));
            let out = self.cross_attn.attend(q, k, v, cross_mask);
            let [_, n_heads, _, src_len] = out.weights.dims();
            MhaOutput {
                context: out.context.reshape([rows, tgt_len, d_model]),
                weights: out
                    .weights
                    .reshape([entries, n_heads, group, tgt_len, src_len])
                    .swap_dims(1, 2)
                    .reshape([rows, n_heads, tgt_len, src_len]),
            }
        };
        let x = sub.output(&self.norm2, &self.dropout, x, cross.context);

        let ff = self.ffn.forward(sub.input(&self.norm3, &x));
        let x = sub.output(&self.norm3, &self.dropout, x, ff);
        (x, attn.weights, cross.weights)
    }
}

impl<B: Backend> Decoder<B> {
    /// # Shapes
    /// - `x`: embedded target `[batch, tgt_len, d_model]`
    /// - `memory`: `[batch, src_len, d_model]`
    /// - masks: see [`DecoderLayer::forward`]
    pub fn forward(
        &self,
        mut x: Tensor<B, 3>,
        memory: &Tensor<B, 3>,
        self_mask: Option<Tensor<B, 4, Bool>>,
        cross_mask: Option<Tensor<B, 4, Bool>>,
        mut cache: Option<&mut DecoderCache<B>>,
    ) -> DecoderOutput<B> {
        let tgt_len = x.dims()[1];
        let mut self_weights = Vec::with_capacity(self.layers.len());
        let mut cross_weights = Vec::with_capacity(self.layers.len());
        for (i, layer) in self.layers.iter().enumerate() {
            let step = cache.as_deref_mut().map(|c| LayerStep {
                decoded: c.len,
                cross_group: c.cross_group,
                cache: &mut c.layers[i],
            });
            let (out, sw, cw) =
                layer.forward(x, memory, self_mask.clone(), cross_mask.clone(), step);
            x = out;
            self_weights.push(sw);
            cross_weights.push(cw);
        }
        if let Some(cache) = cache {
            cache.len += tgt_len;
        }
        if let Some(norm) = &self.norm {
            x = norm.forward(x);
        }
        DecoderOutput {
            hidden: x,
            self_weights,
            cross_weights,
        }
    }
}
