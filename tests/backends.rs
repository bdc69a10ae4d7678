//! The same graph on another backend: with `--features flex`, the PyTorch fixtures pass on
//! Burn's flex CPU backend too, and a few training steps give the losses ndarray gives.
//! (`.ci/run` runs this file with the feature on.)
#![cfg(feature = "flex")]

mod common;

use burn::backend::Autodiff;
use burn::module::AutodiffModule;
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use common::{assert_close, fixture_path, Io};
use seq2seq::data::batcher::EncodedPair;
use seq2seq::data::Seq2SeqBatcher;
use seq2seq::model::TransformerConfig;
use seq2seq::store::load_weights;
use seq2seq::train::Seq2SeqTrainer;

type Flex = seq2seq::backend::Flex;
type NdArray = seq2seq::backend::NdArray;

fn fixture_logits<B: Backend>(name: &str) {
    let device = Default::default();
    let io = Io::load(name);
    let config = TransformerConfig::load(fixture_path(&format!("{name}.json"))).unwrap();
    let model = load_weights(
        config.init::<B>(&device),
        &fixture_path(&format!("{name}.weights.safetensors")),
    )
    .unwrap();
    let logits = model.forward(
        io.int("input.src", &device),
        Some(io.mask("input.src_key_padding_mask", &device)),
        io.int("input.tgt", &device),
        Some(io.mask("input.tgt_key_padding_mask", &device)),
    );
    assert_close(
        &format!("flex {name}"),
        logits,
        io.float("output.logits", &device),
        1e-5,
    );
}

#[test]
fn pytorch_fixtures_pass_on_flex() {
    fixture_logits::<Flex>("seq2seq_post");
    fixture_logits::<Flex>("seq2seq_pre");
}

/// Losses of five Adam steps on one fixed batch, starting from the fixture's weights (so both
/// backends start identical without sharing an RNG), dropout off.
fn losses<B: burn::tensor::backend::AutodiffBackend>() -> Vec<f32> {
    let device = Default::default();
    let config = TransformerConfig::load(fixture_path("seq2seq_post.json")).unwrap();
    let model = load_weights(
        config.init::<B>(&device),
        &fixture_path("seq2seq_post.weights.safetensors"),
    )
    .unwrap();
    let mut trainer = Seq2SeqTrainer {
        model,
        label_smoothing: 0.1,
    };
    let mut optimizer = AdamConfig::new()
        .with_beta_2(0.98)
        .with_epsilon(1e-9)
        .init::<B, Seq2SeqTrainer<B>>();
    let pairs = vec![
        EncodedPair {
            src: vec![4, 5, 6, 7, 8],
            tgt: vec![4, 5, 6, 7],
        },
        EncodedPair {
            src: vec![9, 10, 4],
            tgt: vec![8, 9, 10, 11, 12],
        },
    ];
    let batch = Seq2SeqBatcher.batch_pairs::<B>(&pairs, &device);
    let mut losses = Vec::new();
    for _ in 0..5 {
        let output = trainer.forward_loss(batch.clone());
        losses.push(output.loss.clone().into_scalar().elem::<f32>());
        let grads = GradientsParams::from_grads(output.loss.backward(), &trainer);
        trainer = optimizer.step(1e-3, trainer, grads);
    }
    let _ = trainer.valid();
    losses
}

#[test]
fn training_steps_match_ndarray() {
    let flex = losses::<Autodiff<Flex>>();
    let ndarray = losses::<Autodiff<NdArray>>();
    assert!(flex[4] < flex[0] - 0.05, "the steps train: {flex:?}");
    for (f, n) in flex.iter().zip(&ndarray) {
        assert!((f - n).abs() < 1e-4, "flex {flex:?} vs ndarray {ndarray:?}");
    }
}
