//! Attention masks, built in one place.
//!
//! **Polarity: `true` = blocked.** A `true` entry means "this query may not look at this key".
//! This is Burn's convention and also PyTorch's for boolean masks (`key_padding_mask`,
//! `attn_mask`); it is the opposite of the Annotated Transformer, where `true` means keep.
//!
//! Every mask handed to [`MultiHeadAttention`](super::MultiHeadAttention) is a rank-4
//! `[batch, 1, query_len, key_len]` tensor (broadcast over heads), built by [`attention_mask`].

use burn::prelude::*;

/// Padding mask from token ids: `true` where the token is `pad_id`.
///
/// # Shapes
/// - `tokens`: `[batch, len]`
/// - output: `[batch, len]`
pub fn padding_mask<B: Backend>(tokens: &Tensor<B, 2, Int>, pad_id: usize) -> Tensor<B, 2, Bool> {
    tokens.clone().equal_elem(pad_id as i64)
}

/// Padding mask from sequence lengths: `true` at positions `>= lengths[b]`.
///
/// # Shapes
/// - output: `[batch, max_len]` with `batch = lengths.len()`
pub fn padding_mask_from_lengths<B: Backend>(
    lengths: &[usize],
    max_len: usize,
    device: &B::Device,
) -> Tensor<B, 2, Bool> {
    let data: Vec<bool> = lengths
        .iter()
        .flat_map(|&len| (0..max_len).map(move |pos| pos >= len))
        .collect();
    Tensor::from_data(TensorData::new(data, [lengths.len(), max_len]), device)
}

/// Causal ("subsequent") mask: query `i` may not look at keys `j > i`.
///
/// # Shapes
/// - output: `[len, len]`, `true` strictly above the diagonal
pub fn causal_mask<B: Backend>(len: usize, device: &B::Device) -> Tensor<B, 2, Bool> {
    causal_mask_after::<B>(len, 0, device)
}

/// Causal mask for `len` new queries that follow `past` positions already decoded: query `i`
/// sits at absolute position `past + i` and may see keys `0..=past + i`.
///
/// # Shapes
/// - output: `[len, past + len]`
pub fn causal_mask_after<B: Backend>(
    len: usize,
    past: usize,
    device: &B::Device,
) -> Tensor<B, 2, Bool> {
    // Burn's `tril_mask` is `false` on the lower triangle (j - i <= offset), `true` elsewhere.
    Tensor::<B, 2, Bool>::tril_mask([len, past + len], past as i64, device)
}

/// Combine an optional key padding mask and an optional causal mask into the rank-4 mask that
/// attention takes. Returns `None` when there is nothing to mask.
///
/// # Shapes
/// - `key_padding`: `[batch, key_len]`
/// - `causal`: `[query_len, key_len]`
/// - output: `[batch, 1, query_len, key_len]`; with only a padding mask, `query_len` is 1 and
///   broadcasts; with only a causal mask, `batch` is 1.
pub fn attention_mask<B: Backend>(
    key_padding: Option<Tensor<B, 2, Bool>>,
    causal: Option<Tensor<B, 2, Bool>>,
) -> Option<Tensor<B, 4, Bool>> {
    match (key_padding, causal) {
        (None, None) => None,
        (Some(pad), None) => {
            let [batch, key_len] = pad.dims();
            Some(pad.reshape([batch, 1, 1, key_len]))
        }
        (None, Some(causal)) => {
            let [query_len, key_len] = causal.dims();
            Some(causal.reshape([1, 1, query_len, key_len]))
        }
        (Some(pad), Some(causal)) => {
            let [batch, key_len] = pad.dims();
            let [query_len, causal_keys] = causal.dims();
            assert_eq!(
                key_len, causal_keys,
                "padding mask has {key_len} keys but the causal mask has {causal_keys}"
            );
            let pad = pad
                .reshape([batch, 1, 1, key_len])
                .expand([batch, 1, query_len, key_len]);
            let causal = causal
                .reshape([1, 1, query_len, key_len])
                .expand([batch, 1, query_len, key_len]);
            Some(pad.bool_or(causal))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::tests::TestBackend;

    fn bools<const D: usize>(t: Tensor<TestBackend, D, Bool>) -> Vec<bool> {
        t.into_data().to_vec::<bool>().unwrap()
    }

    #[test]
    fn causal_is_true_strictly_above_diagonal() {
        let device = Default::default();
        let mask = causal_mask::<TestBackend>(3, &device);
        assert_eq!(
            bools(mask),
            vec![false, true, true, false, false, true, false, false, false]
        );
    }

    #[test]
    fn causal_after_past_positions() {
        let device = Default::default();
        let mask = causal_mask_after::<TestBackend>(2, 3, &device);
        assert_eq!(mask.dims(), [2, 5]);
        assert_eq!(
            bools(mask),
            vec![false, false, false, false, true, false, false, false, false, false]
        );
    }

    #[test]
    fn padding_from_tokens_and_lengths_agree() {
        let device = Default::default();
        let tokens =
            Tensor::<TestBackend, 2, Int>::from_data([[5, 6, 7, 0], [8, 9, 0, 0]], &device);
        let from_tokens = padding_mask(&tokens, 0);
        let from_lengths = padding_mask_from_lengths::<TestBackend>(&[3, 2], 4, &device);
        let expected = vec![false, false, false, true, false, false, true, true];
        assert_eq!(bools(from_tokens), expected);
        assert_eq!(bools(from_lengths), expected);
    }

    #[test]
    fn combined_mask_blocks_future_and_padding() {
        let device = Default::default();
        let pad = padding_mask_from_lengths::<TestBackend>(&[3, 2], 3, &device);
        let mask = attention_mask(Some(pad), Some(causal_mask(3, &device))).unwrap();
        assert_eq!(mask.dims(), [2, 1, 3, 3]);
        #[rustfmt::skip]
        let expected = vec![
            // batch 0: length 3, causal only
            false, true, true,
            false, false, true,
            false, false, false,
            // batch 1: length 2, key 2 is padding for every query
            false, true, true,
            false, false, true,
            false, false, true,
        ];
        assert_eq!(bools(mask), expected);
    }

    #[test]
    fn no_masks_is_none() {
        assert!(attention_mask::<TestBackend>(None, None).is_none());
    }
}
