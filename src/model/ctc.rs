//! The non-autoregressive decoder's own pieces: the source states upsampled k times
//! (Libovický & Helcl 2018) and connectionist temporal classification over them (Graves et
//! al. 2006).
//!
//! The autoregressive decoder reads BEGIN + the target so far and predicts one token a step.
//! This one reads no target: its input is the encoder's output stretched to `k` positions per
//! source position ([`Upsampler`]: one linear map `d -> k * d`, split into `k` states), its
//! self-attention has no causal mask (every position sees every other), and all `k * src_len`
//! positions predict a token or a blank at once, in one pass. CTC sums the probabilities of
//! every alignment that reduces to the target ([`collapse`]: repeats merged, then blanks
//! removed), so no length predictor is needed: the output is as long as the best alignment
//! says, at most `k * src_len` tokens.
//!
//! Why CTC here: a pronunciation follows its spelling monotonically (a letter gives zero, one
//! or two phonemes, very rarely three), which is exactly the monotonic alignment CTC assumes;
//! a length predictor and a decoder fed with copied source embeddings (Gu et al. 2018) would
//! have to learn what the alignment gives for free.
//!
//! **The blank is PAD's id**: PAD is never an output, so the target vocabulary needs no extra
//! symbol and a CTC model's vocabularies are an autoregressive model's.

use super::tokenwise::tokenwise;
use crate::vocab::{END, PAD};
use burn::nn::loss::CTCLossConfig;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::log_softmax;

/// The blank symbol's id: PAD's.
pub const BLANK: usize = PAD;

/// Configuration of an [`Upsampler`].
#[derive(Config, Debug)]
pub struct UpsamplerConfig {
    pub d_model: usize,
    /// Positions per source position (`k`; Libovický & Helcl use 3).
    pub factor: usize,
}

impl UpsamplerConfig {
    pub fn init<B: Backend>(&self, device: &B::Device) -> Upsampler<B> {
        Upsampler {
            linear: LinearConfig::new(self.d_model, self.d_model * self.factor).init(device),
            factor: self.factor,
        }
    }
}

/// Stretches `[batch, src_len, d]` encoder states to `[batch, src_len * k, d]`: each state
/// through one linear map to `k * d` values, cut into `k` consecutive states.
#[derive(Module, Debug)]
pub struct Upsampler<B: Backend> {
    pub linear: Linear<B>,
    factor: usize,
}

impl<B: Backend> Upsampler<B> {
    /// Positions per source position.
    pub fn factor(&self) -> usize {
        self.factor
    }

    /// # Shapes
    /// - `memory`: `[batch, src_len, d_model]`
    /// - `src_padding`: `[batch, src_len]`, `true` = padding
    /// - output: `[batch, src_len * k, d_model]` (position `i * k + j` is the `j`-th state made
    ///   from source position `i`) and its padding `[batch, src_len * k]`
    pub fn forward(
        &self,
        memory: Tensor<B, 3>,
        src_padding: Option<Tensor<B, 2, Bool>>,
    ) -> (Tensor<B, 3>, Option<Tensor<B, 2, Bool>>) {
        let [batch, src_len, d_model] = memory.dims();
        let k = self.factor;
        let states = tokenwise(memory, |h| self.linear.forward(h)) // [batch, src_len, k * d]
            .reshape([batch, src_len * k, d_model]);
        let padding = src_padding.map(|pad| upsample_padding(pad, k));
        (states, padding)
    }
}

/// The padding of an upsampled sequence: each source position's flag repeated `k` times.
///
/// # Shapes
/// - `padding`: `[batch, src_len]`, `true` = padding
/// - output: `[batch, src_len * k]`
pub fn upsample_padding<B: Backend>(padding: Tensor<B, 2, Bool>, k: usize) -> Tensor<B, 2, Bool> {
    let [batch, src_len] = padding.dims();
    padding
        .reshape([batch, src_len, 1])
        .expand([batch, src_len, k])
        .reshape([batch, src_len * k])
}

/// CTC's reduction of an alignment to an output: runs of one symbol merged, then blanks
/// removed (`a a - a b b -> a a b`).
pub fn collapse(path: &[usize]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut previous = None;
    for &symbol in path {
        if Some(symbol) != previous && symbol != BLANK {
            out.push(symbol);
        }
        previous = Some(symbol);
    }
    out
}

/// The CTC targets of a batch: the autoregressive labels (target + END, PAD-filled) with END
/// turned into PAD, and the target lengths.
///
/// # Shapes
/// - `tgt_out`: `[batch, tgt_len]`
/// - output: targets `[batch, tgt_len]` and lengths `[batch]`
pub fn ctc_targets<B: Backend>(
    tgt_out: Tensor<B, 2, Int>,
) -> (Tensor<B, 2, Int>, Tensor<B, 1, Int>) {
    let [batch, _] = tgt_out.dims();
    let targets = tgt_out
        .clone()
        .mask_fill(tgt_out.equal_elem(END as i64), PAD as i64);
    let lengths = targets
        .clone()
        .not_equal_elem(PAD as i64)
        .int()
        .sum_dim(1)
        .reshape([batch]);
    (targets, lengths)
}

/// The negative log-likelihood of each target under CTC: minus the log of the summed
/// probabilities of all alignments of the `time` positions that reduce to it. A target no
/// alignment can reach (longer than its positions allow) gets 0, so it does not train
/// (PyTorch's `zero_infinity`).
///
/// # Shapes
/// - `logits`: `[batch, time, vocab]`; `time_padding`: `[batch, time]`, `true` = padding
/// - `targets`: `[batch, tgt_len]`, PAD-filled, no blanks; `target_lengths`: `[batch]`
/// - output: `[batch]`
pub fn ctc_nll<B: Backend>(
    logits: Tensor<B, 3>,
    time_padding: Tensor<B, 2, Bool>,
    targets: Tensor<B, 2, Int>,
    target_lengths: Tensor<B, 1, Int>,
) -> Tensor<B, 1> {
    let [batch, _, _] = logits.dims();
    let input_lengths = time_padding.bool_not().int().sum_dim(1).reshape([batch]);
    let log_probs = log_softmax(logits, 2).swap_dims(0, 1); // [time, batch, vocab]
    CTCLossConfig::new()
        .with_blank(BLANK)
        .with_zero_infinity(true)
        .init()
        .forward(log_probs, targets, input_lengths, target_lengths)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::tests::TestBackend;

    #[test]
    fn collapse_merges_repeats_then_drops_blanks() {
        let b = BLANK;
        assert_eq!(collapse(&[5, 5, b, 5, 7, 7, b]), vec![5, 5, 7]);
        assert_eq!(collapse(&[b, b, b]), Vec::<usize>::new());
        assert_eq!(collapse(&[4, b, b, 4, 4, 6]), vec![4, 4, 6]);
        assert_eq!(collapse(&[]), Vec::<usize>::new());
    }

    #[test]
    fn upsampling_cuts_each_state_into_k_and_repeats_the_padding() {
        let device = Default::default();
        let (batch, src_len, d_model, k) = (2, 3, 4, 3);
        let up = UpsamplerConfig::new(d_model, k).init::<TestBackend>(&device);
        let memory = Tensor::<TestBackend, 3>::random(
            [batch, src_len, d_model],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &device,
        );
        let padding =
            crate::model::mask::padding_mask_from_lengths::<TestBackend>(&[3, 2], src_len, &device);
        let (states, up_padding) = up.forward(memory.clone(), Some(padding));
        assert_eq!(states.dims(), [batch, src_len * k, d_model]);
        // Position i * k + j is the j-th slice of the linear map of source state i.
        let projected = up
            .linear
            .forward(memory.clone().reshape([batch * src_len, d_model]));
        let expected = projected
            .reshape([batch, src_len, k, d_model])
            .slice([1..2, 2..3, 1..2, 0..d_model])
            .reshape([d_model]);
        let got = states
            .slice([1..2, 2 * k + 1..2 * k + 2, 0..d_model])
            .reshape([d_model]);
        let got = got.into_data().to_vec::<f32>().unwrap();
        let expected = expected.into_data().to_vec::<f32>().unwrap();
        for (g, e) in got.iter().zip(&expected) {
            assert!((g - e).abs() < 1e-6, "{got:?} != {expected:?}");
        }
        let flags = up_padding.unwrap().into_data().to_vec::<bool>().unwrap();
        let f = false;
        let t = true;
        assert_eq!(
            flags,
            vec![f, f, f, f, f, f, f, f, f, f, f, f, f, f, f, t, t, t]
        );
    }

    #[test]
    fn ctc_targets_drop_end_and_count_tokens() {
        let device = Default::default();
        let tgt_out = Tensor::<TestBackend, 2, Int>::from_data(
            [[5, 6, 7, END as i64], [8, END as i64, 0, 0]],
            &device,
        );
        let (targets, lengths) = ctc_targets(tgt_out);
        assert_eq!(
            targets
                .into_data()
                .convert::<i64>()
                .to_vec::<i64>()
                .unwrap(),
            vec![5, 6, 7, 0, 8, 0, 0, 0]
        );
        assert_eq!(
            lengths
                .into_data()
                .convert::<i64>()
                .to_vec::<i64>()
                .unwrap(),
            vec![3, 1]
        );
    }
}
