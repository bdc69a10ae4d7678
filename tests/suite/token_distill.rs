//! Token-level knowledge distillation: `train --teacher DIR --distill token` adds the teacher's
//! per-position distributions to the loss (share `--distill-alpha`), the references staying
//! the targets.

use crate::common;

use burn::module::AutodiffModule;
use burn::prelude::*;
use burn::tensor::activation::softmax;
use common::TempDir;
use seq2seq::data::batcher::{EncodedPair, Seq2SeqBatcher};
use seq2seq::data::TaskKind;
use seq2seq::train::distill::{DistillError, DistillLevel, Distillation};
use seq2seq::train::token_distill::{TeacherHandle, TokenTeacher};
use seq2seq::train::Seq2SeqTrainer;

type B = seq2seq::backend::NdArray;
type AB = burn::backend::Autodiff<B>;

/// Four pairs for [`common::model_config`] (source ids < 12, target ids < 9), of distinct
/// lengths, so the batch pads both sides: `[4, 5]` sources, `[4, 4]` decoder positions.
fn pairs() -> Vec<EncodedPair> {
    vec![
        EncodedPair {
            src: vec![4, 5, 6, 7, 8],
            tgt: vec![5, 6, 7],
        },
        EncodedPair {
            src: vec![9, 10],
            tgt: vec![4],
        },
        EncodedPair {
            src: vec![4, 11, 5],
            tgt: vec![8, 8],
        },
        EncodedPair {
            src: vec![6],
            tgt: vec![],
        },
    ]
}

/// A two-member teacher's distribution is the weighted mean of the members' softmaxes, at
/// every position, padded ones included.
#[test]
fn an_ensemble_teachers_distribution_is_its_members_weighted_mean() {
    let device = Default::default();
    let (a, b) = (common::model(1), common::model(2));
    let batch = Seq2SeqBatcher.batch_pairs::<B>(&pairs(), &device);
    let forward = |m: &seq2seq::model::Transformer<B>| {
        softmax(
            m.forward(
                batch.src.clone(),
                Some(batch.src_padding.clone()),
                batch.tgt_in.clone(),
                Some(batch.tgt_padding.clone()),
            ),
            2,
        )
    };
    let (pa, pb) = (forward(&a), forward(&b));
    let teacher = TokenTeacher::new(vec![a, b], Some(&[3.0, 1.0]), 0.5, device).unwrap();
    let probs = teacher.probs(
        batch.src.clone(),
        batch.src_padding.clone(),
        batch.tgt_in.clone(),
        batch.tgt_padding.clone(),
    );
    assert_eq!(probs.dims(), [4, 4, 9]);
    let expected: Vec<f32> = (pa.clone() * 0.75 + pb.clone() * 0.25)
        .into_data()
        .to_vec()
        .unwrap();
    let got: Vec<f32> = probs.clone().into_data().to_vec().unwrap();
    assert!(common::max_diff(&got, &expected) < 1e-6);
    // Neither member alone.
    let alone: Vec<f32> = pa.into_data().to_vec().unwrap();
    assert!(common::max_diff(&got, &alone) > 1e-3);
    let sums: Vec<f32> = probs.sum_dim(2).into_data().to_vec().unwrap();
    assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-5), "{sums:?}");
}

/// The training step's loss is `(1 - alpha)` times the reference loss (the step without a
/// teacher) plus `alpha` times the cross-entropy against the teacher. With the student as its
/// own teacher (same weights, no dropout) the latter is the student's mean entropy, computed
/// here by hand in f64 (PAD positions counting zero in the mean).
#[test]
fn the_distilled_loss_mixes_the_reference_loss_and_the_teachers() {
    let device = Default::default();
    AB::seed(&device, 7);
    let student = common::model_config().init::<AB>(&device);
    let batch = Seq2SeqBatcher.batch_pairs::<AB>(&pairs(), &device);
    let (smoothing, alpha) = (0.1, 0.3);
    let plain = Seq2SeqTrainer::new(student, smoothing);
    // First: the parameters are initialised lazily, so copies taken before a forward pass
    // would each draw their own.
    let reference = plain.forward_loss(batch.clone()).loss.into_scalar() as f64;
    let teacher = TokenTeacher::new(vec![plain.model.valid()], None, alpha, device).unwrap();
    let distilled = Seq2SeqTrainer {
        teacher: Some(TeacherHandle::new(teacher)),
        ..plain.clone()
    };
    let output =
        distilled.forward_distilled(batch.clone(), distilled.teacher.as_ref().expect("set"));
    let mixed = output.loss.into_scalar() as f64;

    let [batch_size, tgt_len, vocab] = output.logits.dims();
    assert_eq!([batch_size, tgt_len, vocab], [4, 4, 9]);
    let logits: Vec<f32> = output.logits.into_data().to_vec().unwrap();
    let labels: Vec<i64> = batch.tgt_out.into_data().to_vec().unwrap();
    let mut entropy = 0.0f64;
    for (position, label) in labels.iter().enumerate() {
        if *label == seq2seq::vocab::PAD as i64 {
            continue;
        }
        let row = &logits[position * vocab..(position + 1) * vocab];
        let max = row.iter().fold(f32::MIN, |m, &x| m.max(x)) as f64;
        let z: f64 = row.iter().map(|&x| (x as f64 - max).exp()).sum();
        for &x in row {
            let log_p = x as f64 - max - z.ln();
            entropy -= log_p.exp() * log_p;
        }
    }
    let teacher_term = entropy / (batch_size * tgt_len) as f64;
    let expected = (1.0 - alpha as f64) * reference + alpha as f64 * teacher_term;
    assert!(
        (mixed - expected).abs() < 1e-5,
        "{mixed} vs {expected} (reference {reference}, teacher {teacher_term})"
    );
    assert!((reference - teacher_term).abs() > 1e-2, "the terms differ");
}

/// What cannot teach at token level is refused with a clear error.
#[test]
fn a_teacher_that_cannot_teach_at_token_level_is_refused() {
    let device: burn::tensor::Device<B> = Default::default();
    for alpha in [0.0, -0.5, 1.5, f32::NAN] {
        let err = TokenTeacher::new(vec![common::model(1)], None, alpha, device)
            .err()
            .expect("refused");
        assert!(matches!(err, DistillError::Alpha(_)), "{alpha}: {err}");
    }
    let err = TokenTeacher::new(vec![common::model(1)], Some(&[1.0, 1.0]), 0.5, device)
        .err()
        .expect("two weights, one member");
    let message = common::chain(&err);
    assert!(message.contains("2 weights for 1 models"), "{message}");
}

/// `train --teacher DIR --distill token` end to end (in process): a student on the teacher's
/// data trains; one whose vocabularies differ, or of another task, is refused before training.
#[test]
fn a_run_with_a_token_level_teacher_trains_and_a_mismatched_one_is_refused() {
    let root = TempDir::new("token-distill", "run");
    let dir = super::distill::teacher(&root);
    let token = |teachers| Distillation {
        teachers,
        weights: None,
        beam: 1,
        level: DistillLevel::Token { alpha: 0.5 },
    };
    let student = root.join("student");
    let mut options = common::plain_options(&student, false);
    options.distill = Some(token(vec![dir.clone()]));
    let mut config = super::distill::copy_config();
    config.training.eval_examples = 50;
    let report = seq2seq::train::run::<AB>(config.clone(), &options, Default::default()).unwrap();
    assert_eq!(report.epochs, 2);
    assert!(report.distillation.is_none(), "no sequence-level targets");
    assert!(student.join("model/config.json").is_file());

    // A student config the teacher cannot teach: refused, the error naming `why`.
    let refused = |student: seq2seq::config::ExperimentConfig, name: &str, why: &str| {
        let mut options = common::plain_options(&root.join(name), false);
        options.distill = Some(token(vec![dir.clone()]));
        let err = seq2seq::train::run::<AB>(student, &options, Default::default()).unwrap_err();
        assert!(common::chain(&err).contains(why), "{}", common::chain(&err));
    };

    // Another alphabet: other vocabularies.
    let mut other = config.clone();
    other.data.synthetic_symbols = 5;
    refused(other, "other", "vocabularies");
    assert!(!root.join("other/model").exists());

    // The same data read right to left: the teacher would be teacher-forced backwards.
    let mut backward = config.clone();
    backward.data.right_left = true;
    refused(backward, "backward", "direction");
    assert!(!root.join("backward/model").exists());

    let mut reverse = config;
    reverse.data.task = TaskKind::Reverse;
    refused(reverse, "reverse", "task");
}
