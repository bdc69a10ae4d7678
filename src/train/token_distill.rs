//! Token-level knowledge distillation (Hinton et al. 2015; Sun et al. 2019 for G2P): the
//! student learns each target position's distribution from its teacher, not only the
//! reference's one-hot.
//!
//! `train --teacher DIR [--teacher DIR ...] --distill token --distill-alpha A`: each training
//! batch also goes through the teacher (an ensemble when the flag repeats: the members'
//! probabilities averaged with the `--teacher-weights`), teacher-forced on the same reference
//! prefix as the student, and the loss at each position is
//! `(1 - A) * CE(reference, label-smoothed) + A * CE(teacher's distribution)`
//! ([`super::loss::distilled_cross_entropy`]). The references stay the targets (unlike
//! sequence-level distillation, [`super::distill`]); the dev split is scored on them alone,
//! so validation losses stay comparable with a run without a teacher.
//!
//! The teacher runs on the inner (non-autodiff) backend: no graph is recorded for it and no
//! dropout is applied. It must read the student's token ids: same task, same vocabularies, an
//! autoregressive decoder, positions for the student's longest sequences. It costs one forward
//! pass per member per batch (about a third of a training step each on the same
//! architecture).

use super::distill::{DistillError, Distillation};
use crate::data::DataConfig;
use crate::infer::Predictor;
use crate::model::Transformer;
use crate::vocab::Vocab;
use burn::prelude::*;
use burn::tensor::activation::softmax;
use std::any::Any;
use std::sync::Arc;

/// The teacher of token-level distillation: its members, their weights, and how much of the
/// loss is theirs.
pub struct TokenTeacher<B: Backend> {
    members: Vec<Transformer<B>>,
    /// One per member, summing to 1.
    weights: Vec<f32>,
    /// The teacher's share of the loss, in (0, 1].
    pub alpha: f32,
    device: B::Device,
}

impl<B: Backend> TokenTeacher<B> {
    /// A teacher of `members` (one or more, autoregressive) with `weights` (normalised here;
    /// uniform when `None`) and loss share `alpha`.
    pub fn new(
        members: Vec<Transformer<B>>,
        weights: Option<&[f32]>,
        alpha: f32,
        device: B::Device,
    ) -> Result<Self, DistillError> {
        check_alpha(alpha)?;
        if members.is_empty() {
            return Err(crate::infer::EnsembleError::NoModels.into());
        }
        if members.iter().any(Transformer::is_ctc) {
            return Err(DistillError::CtcTeacher);
        }
        let weights = crate::infer::ensemble_weights(weights, members.len())?;
        Ok(Self {
            members,
            weights,
            alpha,
            device,
        })
    }

    /// The teacher of `distillation` (its model directories and weights), checked against the
    /// student's data (its task and target direction), decoder (`student_ctc`), vocabularies
    /// and longest training sequence `max_len` (source, or BEGIN + target).
    #[allow(clippy::too_many_arguments)]
    pub fn load(
        distillation: &Distillation,
        alpha: f32,
        data: &DataConfig,
        student_ctc: bool,
        src_vocab: &Vocab,
        tgt_vocab: &Vocab,
        max_len: usize,
        device: B::Device,
    ) -> Result<Self, DistillError> {
        check_alpha(alpha)?;
        if student_ctc {
            return Err(DistillError::CtcTeacher);
        }
        let loaded = Predictor::<B>::load_ensemble(
            &distillation.teachers,
            distillation.weights.as_deref(),
            device.clone(),
        )?;
        let first = &loaded.loaded;
        if first.config.data.task != data.task {
            return Err(DistillError::Task {
                teacher: first.config.data.task,
                student: data.task,
            });
        }
        // Teacher-forced on the student's token order: both read targets the same way round.
        if first.config.data.right_left != data.right_left {
            return Err(DistillError::Direction);
        }
        // Load_ensemble checked the members against each other; the first against the student.
        if first.src_vocab != *src_vocab || first.tgt_vocab != *tgt_vocab {
            return Err(DistillError::Vocab);
        }
        if first.model.max_len() < max_len {
            return Err(DistillError::TooShort {
                teacher: first.model.max_len(),
                student: max_len,
            });
        }
        let weights = loaded.weights.clone();
        let mut members = vec![loaded.loaded.model];
        members.extend(loaded.others);
        Self::new(members, Some(&weights), alpha, device)
    }

    /// The members' weighted mean next-token distribution at every target position,
    /// teacher-forced on `tgt_in` (padding masks: true at PAD).
    ///
    /// # Shapes
    /// - src, src_padding: `[batch, src_len]`
    /// - tgt_in, tgt_padding: `[batch, tgt_len]`
    /// - output: `[batch, tgt_len, tgt_vocab]`, each row summing to 1
    pub fn probs(
        &self,
        src: Tensor<B, 2, Int>,
        src_padding: Tensor<B, 2, Bool>,
        tgt_in: Tensor<B, 2, Int>,
        tgt_padding: Tensor<B, 2, Bool>,
    ) -> Tensor<B, 3> {
        let src = src.to_device(&self.device);
        let src_padding = src_padding.to_device(&self.device);
        let tgt_in = tgt_in.to_device(&self.device);
        let tgt_padding = tgt_padding.to_device(&self.device);
        let mut mean: Option<Tensor<B, 3>> = None;
        for (member, &weight) in self.members.iter().zip(&self.weights) {
            let logits = member.forward(
                src.clone(),
                Some(src_padding.clone()),
                tgt_in.clone(),
                Some(tgt_padding.clone()),
            );
            let probs = softmax(logits, 2).mul_scalar(weight);
            mean = Some(match mean {
                Some(sum) => sum + probs,
                None => probs,
            });
        }
        mean.expect("at least one member")
    }
}

/// The teacher's share of the loss must be in (0, 1].
fn check_alpha(alpha: f32) -> Result<(), DistillError> {
    if alpha > 0.0 && alpha <= 1.0 {
        Ok(())
    } else {
        Err(DistillError::Alpha(alpha))
    }
}

/// A [`TokenTeacher`] of any backend, as the trainer carries it: a module field that is not a
/// parameter must have one type for the autodiff backend and its inner one, so the backend is
/// erased here and recovered in the training step ([`Self::get`]).
#[derive(Clone)]
pub struct TeacherHandle(Arc<dyn Any + Send + Sync>);

impl TeacherHandle {
    pub fn new<B: Backend>(teacher: TokenTeacher<B>) -> Self {
        Self(Arc::new(teacher))
    }

    /// The teacher, if it was made for backend `B`.
    pub fn get<B: Backend>(&self) -> Option<&TokenTeacher<B>> {
        self.0.downcast_ref::<TokenTeacher<B>>()
    }
}

impl std::fmt::Debug for TeacherHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TeacherHandle")
    }
}
