//! Ensemble decoding: several models' per-step log-probabilities averaged (with weights), each
//! member with its own KV cache.

use crate::common;

use burn::prelude::*;
use common::{batch, model};
use seq2seq::decode::{Decoding, Stepper};
use seq2seq::infer::{EnsembleError, Predictor};
use seq2seq::model::Transformer;
use seq2seq::vocab::{BEGIN, PAD};
use std::path::PathBuf;

type B = seq2seq::backend::NdArray;

fn rows(t: Tensor<B, 2>) -> Vec<Vec<f32>> {
    let [_, vocab] = t.dims();
    let flat: Vec<f32> = t.into_data().to_vec().unwrap();
    flat.chunks(vocab).map(<[f32]>::to_vec).collect()
}

/// One model's next-token log-probabilities after BEGIN, from the full (uncached) forward.
fn first_step_log_probs(model: &Transformer<B>) -> Vec<Vec<f32>> {
    let (src, pad) = batch();
    let [n, _] = src.dims();
    let memory = model.encode(src, Some(pad.clone())).memory;
    let tgt = Tensor::<B, 2, Int>::full([n, 1], BEGIN as i64, &memory.device());
    let logits = model.generate(model.decode(tgt, &memory, Some(pad), None, None).hidden);
    let [_, _, vocab] = logits.dims();
    rows(burn::tensor::activation::log_softmax(logits, 2).reshape([n, vocab]))
}

#[test]
fn an_ensemble_of_one_equals_the_model_alone() {
    let m = model(3);
    for decoding in [
        Decoding::greedy(),
        Decoding::new(3, 3, 0.0).unwrap(),
        Decoding::new(4, 2, 1.0).unwrap(),
    ] {
        let (src, pad) = batch();
        let alone = decoding.run(&m, src.clone(), pad.clone());
        // Any single weight normalises to 1.
        let ensemble = decoding.run_ensemble(&[(&m, 0.3)], src, pad);
        assert_eq!(alone, ensemble, "{decoding:?}");
    }
}

#[test]
fn two_members_first_step_is_the_weighted_average_of_their_log_probabilities() {
    let (a, b) = (model(1), model(2));
    let (lp_a, lp_b) = (first_step_log_probs(&a), first_step_log_probs(&b));
    let (src, pad) = batch();
    let [n, _] = src.dims();
    let device = src.device();
    // Weights 1 and 3: 0.25 and 0.75 after normalisation.
    let mut stepper = Stepper::ensemble(&[(&a, 1.0), (&b, 3.0)], src, pad);
    let got = rows(stepper.next_log_probs(Tensor::full([n, 1], BEGIN as i64, &device)));
    assert_eq!(got.len(), 3);
    let mut differs = false;
    for ((g, x), y) in got.iter().zip(&lp_a).zip(&lp_b) {
        assert_eq!(g.len(), 9);
        for t in 0..9 {
            if t == PAD || t == BEGIN {
                assert_eq!(g[t], f32::NEG_INFINITY, "PAD and BEGIN stay forbidden");
                continue;
            }
            let want = 0.25 * x[t] + 0.75 * y[t];
            assert!((g[t] - want).abs() < 1e-5, "token {t}: {} vs {want}", g[t]);
            differs |= (x[t] - y[t]).abs() > 1e-3;
        }
    }
    assert!(
        differs,
        "the two members must disagree for the test to mean anything"
    );
}

#[test]
fn an_ensemble_of_a_model_with_itself_decodes_as_the_model_and_two_models_differ() {
    let (a, b) = (model(1), model(2));
    let decoding = Decoding::new(3, 1, 0.0).unwrap();
    let (src, pad) = batch();
    let alone = decoding.run(&a, src.clone(), pad.clone());
    // 0.5 x + 0.5 x == x exactly in floating point.
    let twice = decoding.run_ensemble(&[(&a, 1.0), (&a, 1.0)], src.clone(), pad.clone());
    assert_eq!(alone, twice);
    // Greedy over the average is not either member's greedy in general: at least the
    // scores differ from both.
    let greedy = Decoding::greedy();
    let mixed = greedy.run_ensemble(&[(&a, 1.0), (&b, 1.0)], src.clone(), pad.clone());
    let only_a = greedy.run(&a, src.clone(), pad.clone());
    let only_b = greedy.run(&b, src, pad);
    assert_ne!(mixed, only_a);
    assert_ne!(mixed, only_b);
}

fn fixture(f: &str) -> PathBuf {
    common::fixture_path(f)
}

/// The PyTorch fixture imported as a model directory, with `tgt_vocab` as its target
/// vocabulary file.
fn model_dir(dir: &std::path::Path, tgt_vocab: &std::path::Path) {
    seq2seq::artifact::import_pytorch::<B>(
        &fixture("seq2seq_post.weights.safetensors"),
        &fixture("seq2seq_post.json"),
        &fixture("seq2seq_post.src_vocab.txt"),
        tgt_vocab,
        seq2seq::data::DataConfig::new().with_task(seq2seq::data::TaskKind::Tsv),
        dir,
        &Default::default(),
    )
    .unwrap();
}

#[test]
fn members_must_share_vocabularies_and_weights_must_fit() {
    let root = common::TempDir::new("ensemble", "dirs");
    let (a, b, c) = (root.join("a"), root.join("b"), root.join("c"));
    model_dir(&a, &fixture("seq2seq_post.tgt_vocab.txt"));
    model_dir(&b, &fixture("seq2seq_post.tgt_vocab.txt"));
    // The same symbols with two of them swapped: same size, other ids.
    let text = std::fs::read_to_string(fixture("seq2seq_post.tgt_vocab.txt")).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.swap(5, 6);
    let swapped = root.join("swapped.txt");
    std::fs::write(&swapped, lines.join("\n") + "\n").unwrap();
    model_dir(&c, &swapped);

    let load = |dirs: &[&PathBuf], weights: Option<&[f32]>| {
        let dirs: Vec<PathBuf> = dirs.iter().map(|d| (*d).clone()).collect();
        Predictor::<B>::load_ensemble(&dirs, weights, Default::default())
    };
    let ok = load(&[&a, &b], Some(&[1.0, 3.0])).unwrap();
    assert_eq!(ok.weights, vec![0.25, 0.75]);
    assert_eq!(ok.others.len(), 1);
    match load(&[&a, &c], None) {
        Err(EnsembleError::Mismatch { what, other, .. }) => {
            assert_eq!(what, "target vocabularies");
            assert_eq!(other, c);
        }
        other => panic!("expected a vocabulary mismatch, got {:?}", other.err()),
    }
    assert!(matches!(
        load(&[&a, &b], Some(&[1.0])),
        Err(EnsembleError::WeightCount {
            weights: 1,
            models: 2
        })
    ));
    assert!(matches!(
        load(&[&a, &b], Some(&[1.0, -1.0])),
        Err(EnsembleError::BadWeights(_))
    ));
    assert!(matches!(load(&[], None), Err(EnsembleError::NoModels)));

    // Through the predictor: the fixture with itself answers as the fixture alone.
    let alone = Predictor::<B>::load(&a, Default::default()).unwrap();
    let words = ["gfedcba", "a", "abc", "cafe", "fedcb"];
    let inputs: Vec<Vec<usize>> = words
        .iter()
        .map(|w| alone.encode(w, false).unwrap())
        .collect();
    let decoding = Decoding::new(3, 1, 0.0).unwrap();
    assert_eq!(
        alone.predict_many(&inputs, &decoding, 2, &mut |_, _| {}),
        ok.predict_many(&inputs, &decoding, 2, &mut |_, _| {})
    );
}
