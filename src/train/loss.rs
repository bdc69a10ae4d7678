//! The training loss: cross-entropy against label-smoothed targets, PAD positions ignored.
//!
//! The same function as burn-nn 0.21's `CrossEntropyLoss` with `smoothing` and
//! `pad_tokens`, its normalisation included (the mean over all positions, a PAD position
//! counting as zero), computed with fewer passes over the `[positions, vocab]` tensor.
//!
//! Label smoothing (the paper's section 5.4, eps_ls = 0.1) trains against
//! `q = (1 - a) onehot(t) + a / V` instead of the one-hot target `t`, so a position's loss is
//!
//! ```text
//! -sum_j q_j log p_j = -(1 - a) log p_t - (a / V) sum_j log p_j
//! ```
//!
//! burn-nn builds `q` as a `[positions, vocab]` tensor (zeros, scatter, scale, shift),
//! multiplies it in, and masks PAD rows through a mask repeated over the vocabulary: about
//! eight full passes over that size forward and backward, which this form replaces with one
//! gather and one row sum. With translation's 8,000-token vocabulary and 4,000-token batches a
//! pass is 128 MB.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;

/// Mean label-smoothed cross-entropy of `logits` against `targets`; positions whose target is
/// `pad` contribute zero but count in the mean (as burn-nn's does). `smoothing` = 0 is the
/// plain cross-entropy.
///
/// # Shapes
/// - logits: `[positions, vocab]`
/// - targets: `[positions]`
/// - output: `[1]`
pub fn smoothed_cross_entropy<B: Backend>(
    logits: Tensor<B, 2>,
    targets: Tensor<B, 1, Int>,
    smoothing: f32,
    pad: usize,
) -> Tensor<B, 1> {
    let log_probs = log_softmax(logits, 1);
    let per_position = smoothed_per_position(log_probs, targets.clone(), smoothing);
    mean_without_pad(per_position, targets, pad)
}

/// Token-level distillation's loss (Hinton et al. 2015; Sun et al. 2019 for G2P): at each
/// position, `1 - alpha` times the label-smoothed cross-entropy against the reference plus
/// `alpha` times the cross-entropy against the teacher's distribution `teacher_probs`
/// (`-sum_j t_j log p_j`: the KL divergence from the teacher up to the teacher's entropy,
/// which has no gradient). PAD positions as in [`smoothed_cross_entropy`], which this is at
/// `alpha` = 0.
///
/// # Shapes
/// - logits, teacher_probs: `[positions, vocab]`
/// - targets: `[positions]`
/// - output: `[1]`
pub fn distilled_cross_entropy<B: Backend>(
    logits: Tensor<B, 2>,
    targets: Tensor<B, 1, Int>,
    smoothing: f32,
    pad: usize,
    teacher_probs: Tensor<B, 2>,
    alpha: f32,
) -> Tensor<B, 1> {
    let [positions, _vocab] = logits.dims();
    let log_probs = log_softmax(logits, 1);
    let reference = smoothed_per_position(log_probs.clone(), targets.clone(), smoothing);
    let teacher = log_probs
        .mul(teacher_probs)
        .sum_dim(1)
        .reshape([positions])
        .neg();
    let per_position = reference.mul_scalar(1.0 - alpha) + teacher.mul_scalar(alpha);
    mean_without_pad(per_position, targets, pad)
}

/// Each position's label-smoothed cross-entropy.
///
/// # Shapes
/// - log_probs: `[positions, vocab]`, targets: `[positions]`, output: `[positions]`
fn smoothed_per_position<B: Backend>(
    log_probs: Tensor<B, 2>,
    targets: Tensor<B, 1, Int>,
    smoothing: f32,
) -> Tensor<B, 1> {
    let [positions, vocab] = log_probs.dims();
    let target_log_probs = log_probs
        .clone()
        .gather(1, targets.reshape([positions, 1]))
        .reshape([positions]);
    let mut per_position = target_log_probs.mul_scalar(-(1.0 - smoothing));
    if smoothing > 0.0 {
        let summed = log_probs.sum_dim(1).reshape([positions]);
        per_position = per_position - summed.mul_scalar(smoothing / vocab as f32);
    }
    per_position
}

/// The mean over all positions, those whose target is `pad` counting as zero.
fn mean_without_pad<B: Backend>(
    per_position: Tensor<B, 1>,
    targets: Tensor<B, 1, Int>,
    pad: usize,
) -> Tensor<B, 1> {
    // PAD polarity: true where the position is padding (its loss is dropped).
    let is_pad = targets.equal_elem(pad as i64);
    per_position.mask_fill(is_pad, 0.0).mean()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::loss::CrossEntropyLossConfig;
    use burn::tensor::{Distribution, TensorData, Tolerance};

    type AB = burn::backend::Autodiff<crate::backend::Flex>;

    /// Loss and gradient against burn-nn's `CrossEntropyLoss` (the reference this replaces),
    /// on 9 positions (two of them PAD) over an 11-token vocabulary.
    #[test]
    fn equals_burn_nn_cross_entropy_with_smoothing_and_pad_in_value_and_gradient() {
        let device = Default::default();
        let targets = [3, 0, 10, 1, 7, 0, 4, 4, 2];
        for smoothing in [0.0f32, 0.1, 0.3] {
            let logits = Tensor::<AB, 2>::random([9, 11], Distribution::Normal(0.0, 2.0), &device);
            let targets = Tensor::<AB, 1, Int>::from_data(TensorData::from(targets), &device);

            let ours_in = logits.clone().detach().require_grad();
            let ours = smoothed_cross_entropy(ours_in.clone(), targets.clone(), smoothing, 0);
            let theirs_in = logits.detach().require_grad();
            let theirs = CrossEntropyLossConfig::new()
                .with_pad_tokens(Some(vec![0]))
                .with_smoothing((smoothing > 0.0).then_some(smoothing))
                .init(&device)
                .forward(theirs_in.clone(), targets);

            ours.to_data()
                .assert_approx_eq::<f32>(&theirs.to_data(), Tolerance::absolute(1e-5));
            let ours_grad = ours_in.grad(&ours.backward()).unwrap();
            let theirs_grad = theirs_in.grad(&theirs.backward()).unwrap();
            ours_grad
                .to_data()
                .assert_approx_eq::<f32>(&theirs_grad.to_data(), Tolerance::absolute(1e-6));
            // PAD rows get no gradient.
            let pad_row: Vec<f32> = ours_grad.slice([1..2, 0..11]).into_data().to_vec().unwrap();
            assert!(pad_row.iter().all(|g| *g == 0.0), "{pad_row:?}");
        }
    }

    /// The distilled loss's gradient against its closed form: the softmax minus the mixed
    /// target `(1 - alpha) q_ls + alpha t`, over the positions (PAD rows zero); and at
    /// `alpha` = 0 the loss is [`smoothed_cross_entropy`]'s. 7 positions (one PAD) over a
    /// 5-token vocabulary.
    #[test]
    fn distilled_loss_gradient_is_softmax_minus_the_mixed_target() {
        let device = Default::default();
        let targets = [2usize, 0, 4, 1, 3, 3, 1];
        let (positions, vocab, smoothing, alpha) = (7, 5, 0.1f32, 0.4f32);
        let logits =
            Tensor::<AB, 2>::random([positions, vocab], Distribution::Normal(0.0, 2.0), &device);
        let teacher = burn::tensor::activation::softmax(
            Tensor::<AB, 2>::random([positions, vocab], Distribution::Normal(0.0, 2.0), &device),
            1,
        );
        let target_ids =
            Tensor::<AB, 1, Int>::from_data(TensorData::from(targets.map(|t| t as i64)), &device);

        let at_zero = distilled_cross_entropy(
            logits.clone(),
            target_ids.clone(),
            smoothing,
            0,
            teacher.clone(),
            0.0,
        );
        let plain = smoothed_cross_entropy(logits.clone(), target_ids.clone(), smoothing, 0);
        at_zero
            .to_data()
            .assert_approx_eq::<f32>(&plain.to_data(), Tolerance::absolute(1e-6));

        let input = logits.detach().require_grad();
        let loss = distilled_cross_entropy(
            input.clone(),
            target_ids,
            smoothing,
            0,
            teacher.clone(),
            alpha,
        );
        let grad: Vec<f32> = input
            .grad(&loss.backward())
            .unwrap()
            .into_data()
            .to_vec()
            .unwrap();
        let p: Vec<f32> = burn::tensor::activation::softmax(input.detach(), 1)
            .into_data()
            .to_vec()
            .unwrap();
        let t: Vec<f32> = teacher.into_data().to_vec().unwrap();
        for (i, &target) in targets.iter().enumerate() {
            for j in 0..vocab {
                let k = i * vocab + j;
                let expected = if target == 0 {
                    0.0
                } else {
                    let q_ls = (1.0 - smoothing) * f32::from(u8::from(j == target))
                        + smoothing / vocab as f32;
                    (p[k] - ((1.0 - alpha) * q_ls + alpha * t[k])) / positions as f32
                };
                assert!(
                    (grad[k] - expected).abs() < 1e-6,
                    "position {i} token {j}: {} vs {expected}",
                    grad[k]
                );
            }
        }
    }
}
