//! Sequence-level knowledge distillation: `train --teacher` replaces the training targets by
//! the teacher's beam outputs, keeps the dev references, and caches the outputs.

use crate::common;

use common::TempDir;
use seq2seq::data::{Pair, TaskKind};
use seq2seq::decode::Decoding;
use seq2seq::infer::Predictor;
use seq2seq::train::distill::{distill, DistillLevel, Distillation, DISTILLED_FILE};
use std::path::{Path, PathBuf};

type B = seq2seq::backend::NdArray;

/// The teacher and student's data: the tiny copy task.
pub(crate) fn copy_config() -> seq2seq::config::ExperimentConfig {
    let mut config = common::tiny_copy_run(300);
    config.training.epochs = 2;
    config
}

/// A teacher trained here, briefly, on [`copy_config`]'s data: its model directory.
pub(crate) fn teacher(root: &Path) -> PathBuf {
    let dir = root.join("teacher");
    let mut config = copy_config();
    // Long enough to end most outputs with END (a usable target).
    config.training.epochs = 20;
    seq2seq::train::run::<burn::backend::Autodiff<B>>(
        config,
        &common::plain_options(&dir, false),
        Default::default(),
    )
    .unwrap();
    dir.join("model")
}

#[test]
fn training_targets_become_the_teachers_beam_outputs_and_are_cached() {
    let root = TempDir::new("distill", "targets");
    let dir = teacher(&root);
    let predictor = Predictor::<B>::load(&dir, Default::default()).unwrap();
    let corpus = copy_config().data.load().unwrap();
    let (codec, tgt_vocab) = (corpus.codec.clone(), corpus.tgt_vocab.clone());
    let mut pairs: Vec<Pair> = corpus.train.clone();
    // One source too long for the teacher keeps its reference.
    let long = vec![pairs[0].src[0].clone(); predictor.loaded.model.max_len() + 5];
    pairs.push(Pair {
        src: long,
        tgt: pairs[0].tgt.clone(),
    });
    let original = pairs.clone();
    let n = pairs.len();
    // distill() over these pairs' codec and vocabulary, cached in `root` when `cache`.
    let run = |pairs: &mut Vec<Pair>, task: TaskKind, teach: &Distillation, cache: bool| {
        let dir: &Path = &root;
        distill::<B>(
            pairs,
            &codec,
            task,
            &tgt_vocab,
            teach,
            cache.then_some(dir),
            Default::default(),
        )
    };
    let teach = Distillation {
        teachers: vec![dir.clone()],
        weights: None,
        beam: 3,
        level: DistillLevel::Sequence,
    };
    let report = run(&mut pairs, TaskKind::Copy, &teach, true).unwrap();

    // What the teacher says for each source, decoded here on its own.
    let decoding = Decoding::new(3, 1, 0.0).unwrap();
    let (mut replaced, mut changed) = (0, 0);
    for (pair, before) in pairs.iter().zip(&original).take(n - 1) {
        let text = codec.join_source(&before.src);
        let ids = predictor.encode(&text, false).unwrap();
        let best = &predictor.predict(&[ids], &decoding)[0][0];
        if best.finished && !best.tokens.is_empty() {
            assert_eq!(pair.tgt, best.tokens, "{text}");
            replaced += 1;
            changed += usize::from(best.tokens != before.tgt);
        } else {
            assert_eq!(
                pair.tgt, before.tgt,
                "{text}: no usable output, reference kept"
            );
        }
    }
    assert!(
        replaced * 2 >= n,
        "only {replaced} of {n} teacher outputs usable"
    );
    assert_eq!(pairs.last(), original.last(), "too long for the teacher");
    assert_eq!(report.pairs, n);
    assert_eq!(report.changed, changed);
    assert_eq!(report.kept, n - replaced);
    assert!(!report.cached);
    // Sources are never touched.
    assert!(pairs.iter().zip(&original).all(|(a, b)| a.src == b.src));

    // The cache: a header and one line per pair; a second run reads it.
    let text = std::fs::read_to_string(root.join(DISTILLED_FILE)).unwrap();
    assert_eq!(text.lines().count(), n + 1);
    assert!(text.starts_with("# seq2seq distilled targets: teachers "));
    let mut again = original.clone();
    let second = run(&mut again, TaskKind::Copy, &teach, true).unwrap();
    assert!(second.cached);
    assert_eq!(again, pairs);
    assert_eq!(second.changed, report.changed);

    // Another teacher setting does not take the cache.
    let mut other = original.clone();
    let wider = Distillation { beam: 4, ..teach };
    let third = run(&mut other, TaskKind::Copy, &wider, true).unwrap();
    assert!(!third.cached);

    // A teacher of another task is refused.
    let mut g2p = original.clone();
    let err = run(&mut g2p, TaskKind::G2p, &wider, false).unwrap_err();
    assert!(err.to_string().contains("task"), "{err}");
}

/// `train --teacher` end to end (in process): the run's report says what distillation did, the
/// cache is in the run directory, and the student trains.
#[test]
fn a_run_with_a_teacher_trains_on_its_outputs() {
    let root = TempDir::new("distill", "run");
    let dir = teacher(&root);
    let student = root.join("student");
    let mut options = common::plain_options(&student, false);
    options.distill = Some(Distillation {
        teachers: vec![dir],
        weights: None,
        beam: 2,
        level: DistillLevel::Sequence,
    });
    let report = seq2seq::train::run::<burn::backend::Autodiff<B>>(
        copy_config(),
        &options,
        Default::default(),
    )
    .unwrap();
    let distilled = report.distillation.expect("the run had a teacher");
    assert_eq!(
        distilled.pairs,
        copy_config().data.load().unwrap().train.len()
    );
    assert!(distilled.kept < distilled.pairs, "{distilled:?}");
    assert!(student.join("runs/model").join(DISTILLED_FILE).is_file());
    assert!(student.join("model/config.json").is_file());
}
