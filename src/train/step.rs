//! The training and validation steps burn-train's learner calls.

use super::token_distill::TeacherHandle;
use crate::data::batcher::padded;
use crate::data::Seq2SeqBatch;
use crate::model::ctc::{collapse, ctc_nll, ctc_targets};
use crate::model::Transformer;
use crate::vocab::PAD;
use burn::module::Module;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn::train::{InferenceStep, SequenceOutput, TrainOutput, TrainStep};

/// The model plus what its loss needs: the unit burn-train trains and checkpoints.
#[derive(Module, Debug)]
pub struct Seq2SeqTrainer<B: Backend> {
    pub model: Transformer<B>,
    /// Label smoothing epsilon (0 = plain cross-entropy); the paper uses 0.1.
    #[module(skip)]
    pub label_smoothing: f32,
    /// Token-level distillation's teacher (on the inner backend), consulted by training
    /// steps only: validation scores the references alone.
    #[module(skip)]
    pub teacher: Option<TeacherHandle>,
}

impl<B: Backend> Seq2SeqTrainer<B> {
    /// `model` trained with label smoothing `label_smoothing`, without a teacher.
    pub fn new(model: Transformer<B>, label_smoothing: f32) -> Self {
        Self {
            model,
            label_smoothing,
            teacher: None,
        }
    }
}

impl<B: Backend> Seq2SeqTrainer<B> {
    /// Teacher-forced forward and the cross-entropy against the labels, PAD positions ignored;
    /// for a CTC model, [`Self::ctc_loss`].
    ///
    /// # Shapes
    /// - logits: `[batch, tgt_len, tgt_vocab]`, labels `[batch, tgt_len]`
    pub fn forward_loss(&self, batch: Seq2SeqBatch<B>) -> SequenceOutput<B> {
        if self.model.is_ctc() {
            return self.ctc_loss(batch);
        }
        self.teacher_forced_loss(batch, None)
    }

    /// The teacher-forced forward and its loss: the label-smoothed cross-entropy against the
    /// labels, mixed with a teacher's distributions when `teacher` gives them and their share
    /// ([`super::loss::distilled_cross_entropy`]).
    ///
    /// # Shapes
    /// - logits and the teacher's probabilities: `[batch, tgt_len, tgt_vocab]`
    fn teacher_forced_loss(
        &self,
        batch: Seq2SeqBatch<B>,
        teacher: Option<(Tensor<B, 3>, f32)>,
    ) -> SequenceOutput<B> {
        let logits = self.model.forward(
            batch.src,
            Some(batch.src_padding),
            batch.tgt_in,
            Some(batch.tgt_padding),
        );
        let [batch_size, tgt_len, vocab] = logits.dims();
        let positions = batch_size * tgt_len;
        let flat_logits = logits.clone().reshape([positions, vocab]);
        let labels = batch.tgt_out.clone().reshape([positions]);
        let loss = match teacher {
            None => {
                super::loss::smoothed_cross_entropy(flat_logits, labels, self.label_smoothing, PAD)
            }
            Some((probs, alpha)) => super::loss::distilled_cross_entropy(
                flat_logits,
                labels,
                self.label_smoothing,
                PAD,
                probs.reshape([positions, vocab]),
                alpha,
            ),
        };
        SequenceOutput::new(loss, logits, None, batch.tgt_out)
    }
}

impl<B: AutodiffBackend> TrainStep for Seq2SeqTrainer<B> {
    type Input = Seq2SeqBatch<B>;
    type Output = SequenceOutput<B>;

    fn step(&self, batch: Seq2SeqBatch<B>) -> TrainOutput<SequenceOutput<B>> {
        let output = match &self.teacher {
            Some(teacher) => self.forward_distilled(batch, teacher),
            None => self.forward_loss(batch),
        };
        TrainOutput::new(self, output.loss.backward(), output)
    }
}

impl<B: AutodiffBackend> Seq2SeqTrainer<B> {
    /// [`Self::forward_loss`] with token-level distillation's loss
    /// ([`super::loss::distilled_cross_entropy`]): the teacher reads the same batch on the
    /// inner backend, untracked.
    ///
    /// # Shapes
    /// - logits and the teacher's probabilities: `[batch, tgt_len, tgt_vocab]`
    pub fn forward_distilled(
        &self,
        batch: Seq2SeqBatch<B>,
        teacher: &TeacherHandle,
    ) -> SequenceOutput<B> {
        let teacher = teacher
            .get::<B::InnerBackend>()
            .expect("the teacher is built for the training backend's inner backend");
        let device = batch.src.device();
        let probs = teacher.probs(
            batch.src.clone().inner(),
            batch.src_padding.clone().inner(),
            batch.tgt_in.clone().inner(),
            batch.tgt_padding.clone().inner(),
        );
        let probs = Tensor::<B, 3>::from_inner(probs).to_device(&device);
        self.teacher_forced_loss(batch, Some((probs, teacher.alpha)))
    }
}

impl<B: Backend> InferenceStep for Seq2SeqTrainer<B> {
    type Input = Seq2SeqBatch<B>;
    type Output = SequenceOutput<B>;

    fn step(&self, batch: Seq2SeqBatch<B>) -> SequenceOutput<B> {
        self.forward_loss(batch)
    }
}

impl<B: Backend> Seq2SeqTrainer<B> {
    /// The CTC model's loss: the negative log-likelihood of each target summed over the batch
    /// and divided by its target tokens (per token, as the cross-entropy above; no label
    /// smoothing). For the metrics, each input's greedy output (collapsed) goes beside its
    /// target (`predictions` and `targets`, PAD-filled to the longer of the two): the
    /// learner's error rate is then the edit distance per target token (PER for G2P).
    ///
    /// # Shapes
    /// - logits: `[batch, src_len * k, tgt_vocab]`; predictions and targets `[batch, width]`
    pub fn ctc_loss(&self, batch: Seq2SeqBatch<B>) -> SequenceOutput<B> {
        let (logits, time_padding) = self.model.forward_ctc(batch.src, Some(batch.src_padding));
        let (targets, target_lengths) = ctc_targets(batch.tgt_out);
        let tokens = target_lengths.clone().sum().float();
        let nll = ctc_nll(
            logits.clone(),
            time_padding.clone(),
            targets.clone(),
            target_lengths,
        );
        let loss = nll.sum().div(tokens.clamp_min(1.0));
        let outputs = greedy_outputs(&logits, &time_padding);
        let [batch_size, tgt_len] = targets.dims();
        let width = outputs.iter().map(Vec::len).max().unwrap_or(0).max(tgt_len);
        let device = logits.device();
        let targets = if width > tgt_len {
            Tensor::cat(
                vec![
                    targets,
                    Tensor::<B, 2, Int>::zeros([batch_size, width - tgt_len], &device)
                        .add_scalar(PAD as i64),
                ],
                1,
            )
        } else {
            targets
        };
        let predictions = padded::<B>(&outputs, width, &device);
        SequenceOutput::new(loss, logits, Some(predictions), targets)
    }
}

/// Each row's best path over its unpadded positions, collapsed.
///
/// # Shapes
/// - `logits`: `[batch, time, vocab]`, `time_padding`: `[batch, time]`
/// - output: `batch` token lists
fn greedy_outputs<B: Backend>(
    logits: &Tensor<B, 3>,
    time_padding: &Tensor<B, 2, Bool>,
) -> Vec<Vec<usize>> {
    let [batch, time, _] = logits.dims();
    let best = logits
        .clone()
        .detach()
        .argmax(2)
        .into_data()
        .convert::<i64>()
        .to_vec::<i64>()
        .expect("argmax gives integers");
    let padding = time_padding
        .clone()
        .into_data()
        .to_vec::<bool>()
        .expect("a bool mask");
    (0..batch)
        .map(|b| {
            let path: Vec<usize> = (0..time)
                .filter(|&t| !padding[b * time + t])
                .map(|t| best[b * time + t] as usize)
                .collect();
            collapse(&path)
        })
        .collect()
}
