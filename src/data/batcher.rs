//! Batching: pad, build padding masks, and prepare teacher forcing.
//!
//! For a target `y_1 .. y_n` the decoder reads `BEGIN y_1 .. y_n` and is trained to predict
//! `y_1 .. y_n END`: the input is the label shifted right by one (section 3.4's "output embeddings
//! are offset by one position").

use crate::vocab::{BEGIN, END, PAD};
use burn::data::dataloader::batcher::Batcher;
use burn::prelude::*;

/// A tokenised example: ids without BEGIN/END.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedPair {
    pub src: Vec<usize>,
    pub tgt: Vec<usize>,
}

/// A padded batch ready for the model.
#[derive(Debug, Clone)]
pub struct Seq2SeqBatch<B: Backend> {
    /// `[batch, src_len]` source ids, PAD-filled.
    pub src: Tensor<B, 2, Int>,
    /// `[batch, src_len]`, `true` at padding.
    pub src_padding: Tensor<B, 2, Bool>,
    /// `[batch, tgt_len]` decoder input: BEGIN + target, PAD-filled.
    pub tgt_in: Tensor<B, 2, Int>,
    /// `[batch, tgt_len]`, `true` at padding of `tgt_in`.
    pub tgt_padding: Tensor<B, 2, Bool>,
    /// `[batch, tgt_len]` labels: target + END, PAD-filled (PAD is ignored by the loss).
    pub tgt_out: Tensor<B, 2, Int>,
}

/// Builds [`Seq2SeqBatch`]es. Items are whole buckets (`Vec<EncodedPair>`, see [`buckets`]) so a
/// batch holds sequences of similar length and wastes little padding.
#[derive(Debug, Clone, Default)]
pub struct Seq2SeqBatcher;

/// `rows` as a `[rows, len]` id tensor, each row PAD-filled (or cut) to `len`.
pub(crate) fn padded<B: Backend>(
    rows: &[Vec<usize>],
    len: usize,
    device: &B::Device,
) -> Tensor<B, 2, Int> {
    let data: Vec<i64> = rows
        .iter()
        .flat_map(|row| {
            row.iter()
                .map(|&id| id as i64)
                .chain(std::iter::repeat(PAD as i64))
                .take(len)
        })
        .collect();
    Tensor::from_data(TensorData::new(data, [rows.len(), len]), device)
}

impl Seq2SeqBatcher {
    /// Batch a list of pairs.
    pub fn batch_pairs<B: Backend>(
        &self,
        items: &[EncodedPair],
        device: &B::Device,
    ) -> Seq2SeqBatch<B> {
        assert!(!items.is_empty(), "cannot batch zero examples");
        let src_rows: Vec<Vec<usize>> = items.iter().map(|p| p.src.clone()).collect();
        let tgt_in_rows: Vec<Vec<usize>> = items
            .iter()
            .map(|p| {
                std::iter::once(BEGIN)
                    .chain(p.tgt.iter().copied())
                    .collect()
            })
            .collect();
        let tgt_out_rows: Vec<Vec<usize>> = items
            .iter()
            .map(|p| p.tgt.iter().copied().chain(std::iter::once(END)).collect())
            .collect();
        let src_len = src_rows.iter().map(Vec::len).max().unwrap_or(0);
        let tgt_len = tgt_in_rows.iter().map(Vec::len).max().unwrap_or(0);
        let src = padded::<B>(&src_rows, src_len, device);
        let tgt_in = padded::<B>(&tgt_in_rows, tgt_len, device);
        Seq2SeqBatch {
            src_padding: crate::model::mask::padding_mask(&src, PAD),
            tgt_padding: crate::model::mask::padding_mask(&tgt_in, PAD),
            src,
            tgt_in,
            tgt_out: padded::<B>(&tgt_out_rows, tgt_len, device),
        }
    }
}

impl<B: Backend> Batcher<B, Vec<EncodedPair>, Seq2SeqBatch<B>> for Seq2SeqBatcher {
    fn batch(&self, items: Vec<Vec<EncodedPair>>, device: &B::Device) -> Seq2SeqBatch<B> {
        let pairs: Vec<EncodedPair> = items.into_iter().flatten().collect();
        self.batch_pairs(&pairs, device)
    }
}

/// Cut pairs into buckets of at most `batch_size` pairs of similar length (sorted by target then
/// source length). The data loader shuffles the buckets; each bucket is one batch.
pub fn buckets(mut pairs: Vec<EncodedPair>, batch_size: usize) -> Vec<Vec<EncodedPair>> {
    assert!(batch_size > 0, "batch_size must be positive");
    pairs.sort_by_key(|p| (p.tgt.len(), p.src.len()));
    pairs
        .chunks(batch_size)
        .map(<[EncodedPair]>::to_vec)
        .collect()
}

/// Cut pairs into batches by a token budget (fairseq's `--max-tokens`, tensor2tensor's
/// `batch_size` in tokens): pairs sorted by target then source length, each batch as many
/// consecutive pairs as fit `max_tokens` padded positions on its longer side (source, or the
/// decoder's `BEGIN + target`). Short words then come in large batches and long ones in small,
/// so every step does about the same work. A pair longer than the budget gets a batch alone.
pub fn token_buckets(mut pairs: Vec<EncodedPair>, max_tokens: usize) -> Vec<Vec<EncodedPair>> {
    assert!(max_tokens > 0, "max_tokens must be positive");
    pairs.sort_by_key(|p| (p.tgt.len(), p.src.len()));
    let mut batches = Vec::new();
    let mut current: Vec<EncodedPair> = Vec::new();
    let mut width = 0; // the padded length of the current batch's longer side
    for pair in pairs {
        let pair_width = pair.src.len().max(pair.tgt.len() + 1);
        let new_width = width.max(pair_width);
        if !current.is_empty() && (current.len() + 1) * new_width > max_tokens {
            batches.push(std::mem::take(&mut current));
            width = pair_width;
        } else {
            width = new_width;
        }
        current.push(pair);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

/// Cut pairs into batches of at most `batch_size` pairs after a seeded shuffle (no bucketing).
pub fn random_batches(
    mut pairs: Vec<EncodedPair>,
    batch_size: usize,
    seed: u64,
) -> Vec<Vec<EncodedPair>> {
    assert!(batch_size > 0, "batch_size must be positive");
    let mut rng = crate::rng::SplitMix64(seed);
    for i in (1..pairs.len()).rev() {
        pairs.swap(i, rng.below(i + 1));
    }
    pairs
        .chunks(batch_size)
        .map(<[EncodedPair]>::to_vec)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::tests::TestBackend;

    fn ints(t: Tensor<TestBackend, 2, Int>) -> Vec<i64> {
        t.into_data().convert::<i64>().to_vec::<i64>().unwrap()
    }

    #[test]
    fn pads_masks_and_shifts_a_hand_made_batch() {
        let device = Default::default();
        let items = vec![
            EncodedPair {
                src: vec![7, 8, 9],
                tgt: vec![4, 5],
            },
            EncodedPair {
                src: vec![6],
                tgt: vec![4, 5, 6],
            },
        ];
        let batch = Seq2SeqBatcher.batch_pairs::<TestBackend>(&items, &device);
        assert_eq!(batch.src.dims(), [2, 3]);
        assert_eq!(ints(batch.src), vec![7, 8, 9, 6, 0, 0]);
        assert_eq!(
            batch.src_padding.into_data().to_vec::<bool>().unwrap(),
            vec![false, false, false, false, true, true]
        );
        // decoder input = BEGIN(1) + target; labels = target + END(2)
        assert_eq!(batch.tgt_in.dims(), [2, 4]);
        assert_eq!(ints(batch.tgt_in), vec![1, 4, 5, 0, 1, 4, 5, 6]);
        assert_eq!(ints(batch.tgt_out), vec![4, 5, 2, 0, 4, 5, 6, 2]);
        assert_eq!(
            batch.tgt_padding.into_data().to_vec::<bool>().unwrap(),
            vec![false, false, false, true, false, false, false, false]
        );
    }

    #[test]
    fn buckets_group_similar_lengths() {
        let pairs: Vec<EncodedPair> = [5, 1, 4, 2, 3]
            .iter()
            .map(|&n| EncodedPair {
                src: vec![9; n],
                tgt: vec![9; n],
            })
            .collect();
        let b = buckets(pairs, 2);
        let lens: Vec<Vec<usize>> = b
            .iter()
            .map(|b| b.iter().map(|p| p.tgt.len()).collect())
            .collect();
        assert_eq!(lens, vec![vec![1, 2], vec![3, 4], vec![5]]);
    }

    #[test]
    fn token_buckets_fill_a_budget_of_padded_positions() {
        // Target lengths 1..=6 with sources one shorter; the decoder side (target + 1) is the
        // longer one, so widths are 2..=7.
        let pairs: Vec<EncodedPair> = [6, 1, 4, 2, 3, 5, 1]
            .iter()
            .map(|&n| EncodedPair {
                src: vec![9; n - 1],
                tgt: vec![9; n],
            })
            .collect();
        let batches = token_buckets(pairs, 10);
        let lens: Vec<Vec<usize>> = batches
            .iter()
            .map(|b| b.iter().map(|p| p.tgt.len()).collect())
            .collect();
        // [1,1,2]: 3 x width 3 = 9 <= 10; adding 3 would be 4 x 4 = 16.
        // [3,4]: 2 x 5 = 10; [5]: 1 x 6 (adding 6: 2 x 7 = 14); [6] alone.
        assert_eq!(lens, vec![vec![1, 1, 2], vec![3, 4], vec![5], vec![6]]);
        for batch in &batches {
            let width = batch.iter().map(|p| p.tgt.len() + 1).max().unwrap();
            assert!(batch.len() == 1 || batch.len() * width <= 10);
        }
    }

    #[test]
    fn a_pair_over_the_token_budget_gets_a_batch_alone() {
        let pairs = vec![
            EncodedPair {
                src: vec![9; 2],
                tgt: vec![9; 2],
            },
            EncodedPair {
                src: vec![9; 30],
                tgt: vec![9; 3],
            },
        ];
        let batches = token_buckets(pairs, 8);
        assert_eq!(batches.len(), 2);
        assert_eq!(batches[1][0].src.len(), 30);
    }
}
