//! Every attention map of one decoded input, for plots (`seq2seq attention`).

use super::{InputError, Predictor};
use crate::decode::Decoding;
use burn::prelude::*;

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
