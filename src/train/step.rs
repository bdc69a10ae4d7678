//! The training and validation steps burn-train's learner calls.

use crate::data::Seq2SeqBatch;
use crate::model::Transformer;
use crate::vocab::PAD;
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
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
}

impl<B: Backend> Seq2SeqTrainer<B> {
    /// Teacher-forced forward and the cross-entropy against the labels, PAD positions ignored.
    ///
    /// # Shapes
    /// - logits: `[batch, tgt_len, tgt_vocab]`, labels `[batch, tgt_len]`
    pub fn forward_loss(&self, batch: Seq2SeqBatch<B>) -> SequenceOutput<B> {
        let logits = self.model.forward(
            batch.src,
            Some(batch.src_padding),
            batch.tgt_in,
            Some(batch.tgt_padding),
        );
        let [batch_size, tgt_len, vocab] = logits.dims();
        let smoothing = (self.label_smoothing > 0.0).then_some(self.label_smoothing);
        let loss = CrossEntropyLossConfig::new()
            .with_pad_tokens(Some(vec![PAD]))
            .with_smoothing(smoothing)
            .init(&logits.device())
            .forward(
                logits.clone().reshape([batch_size * tgt_len, vocab]),
                batch.tgt_out.clone().reshape([batch_size * tgt_len]),
            );
        SequenceOutput::new(loss, logits, None, batch.tgt_out)
    }
}

impl<B: AutodiffBackend> TrainStep for Seq2SeqTrainer<B> {
    type Input = Seq2SeqBatch<B>;
    type Output = SequenceOutput<B>;

    fn step(&self, batch: Seq2SeqBatch<B>) -> TrainOutput<SequenceOutput<B>> {
        let output = self.forward_loss(batch);
        TrainOutput::new(self, output.loss.backward(), output)
    }
}

impl<B: Backend> InferenceStep for Seq2SeqTrainer<B> {
    type Input = Seq2SeqBatch<B>;
    type Output = SequenceOutput<B>;

    fn step(&self, batch: Seq2SeqBatch<B>) -> SequenceOutput<B> {
        self.forward_loss(batch)
    }
}
