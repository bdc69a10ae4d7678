//! The model against PyTorch: fixtures from `scripts/pytorch_reference.py` (torch, float32,
//! dropout 0). Each test loads the PyTorch state dict through `seq2seq::store::load_weights`
//! (the same code as `seq2seq import-pytorch`) and compares every output position, padded ones
//! included, to 1e-5.

use crate::common;

use burn::prelude::*;
use common::{assert_close, fixture_path, Io};
use seq2seq::artifact::read_model_config;
use seq2seq::model::mask::{attention_mask, causal_mask};
use seq2seq::model::{DecoderConfig, EncoderConfig, MultiHeadAttentionConfig};
use seq2seq::store::load_weights;

type B = seq2seq::backend::NdArray;
const TOL: f32 = 1e-5;

fn weights(name: &str) -> std::path::PathBuf {
    fixture_path(&format!("{name}.weights.safetensors"))
}

#[test]
fn multi_head_attention_with_key_padding_matches_pytorch() {
    let device = Default::default();
    let io = Io::load("mha");
    let mha = MultiHeadAttentionConfig::new(16, 2)
        .with_dropout(0.0)
        .init::<B>(&device);
    let mha = load_weights(mha, &weights("mha")).unwrap();

    let mask = attention_mask(Some(io.mask("input.key_padding_mask", &device)), None);
    let out = mha.forward(
        io.float("input.query", &device),
        io.float("input.key", &device),
        io.float("input.value", &device),
        mask,
    );
    assert_close(
        "mha context",
        out.context,
        io.float("output.context", &device),
        TOL,
    );
    assert_close(
        "mha weights",
        out.weights,
        io.float("output.weights", &device),
        TOL,
    );
}

#[test]
fn multi_head_self_attention_with_causal_mask_matches_pytorch() {
    let device = Default::default();
    let io = Io::load("mha");
    let mha = MultiHeadAttentionConfig::new(16, 2)
        .with_dropout(0.0)
        .init::<B>(&device);
    let mha = load_weights(mha, &weights("mha")).unwrap();

    let causal: Tensor<B, 2, Bool> = io.mask("input.causal_mask", &device);
    // The fixture's causal mask is the one our mask module builds.
    assert_eq!(
        causal.clone().into_data(),
        causal_mask::<B>(5, &device).into_data()
    );
    let mask = attention_mask(
        Some(io.mask("input.self_key_padding_mask", &device)),
        Some(causal),
    );
    let out = mha.forward_self(io.float("input.self_x", &device), mask);
    assert_close(
        "self context",
        out.context,
        io.float("output.self_context", &device),
        TOL,
    );
    assert_close(
        "self weights",
        out.weights,
        io.float("output.self_weights", &device),
        TOL,
    );
}

fn encoder_layer(name: &str, norm_first: bool) {
    let device = Default::default();
    let io = Io::load(name);
    let layer = EncoderConfig::new(16, 2, 40)
        .with_dropout(0.0)
        .with_norm_first(norm_first)
        .init_layer::<B>(&device);
    let layer = load_weights(layer, &weights(name)).unwrap();
    let mask = attention_mask(Some(io.mask("input.src_key_padding_mask", &device)), None);
    let (out, _) = layer.forward(io.float("input.src", &device), mask);
    assert_close(name, out, io.float("output.out", &device), TOL);
}

#[test]
fn encoder_layer_post_norm_matches_pytorch() {
    encoder_layer("encoder_layer_post", false);
}

#[test]
fn encoder_layer_pre_norm_matches_pytorch() {
    encoder_layer("encoder_layer_pre", true);
}

fn decoder_layer(name: &str, norm_first: bool) {
    let device = Default::default();
    let io = Io::load(name);
    let layer = DecoderConfig::new(16, 2, 40)
        .with_dropout(0.0)
        .with_norm_first(norm_first)
        .init_layer::<B>(&device);
    let layer = load_weights(layer, &weights(name)).unwrap();
    let self_mask = attention_mask(
        Some(io.mask("input.tgt_key_padding_mask", &device)),
        Some(io.mask("input.tgt_mask", &device)),
    );
    let cross_mask = attention_mask(
        Some(io.mask("input.memory_key_padding_mask", &device)),
        None,
    );
    let memory = io.float("input.memory", &device);
    let (out, _, _) = layer.forward(
        io.float("input.tgt", &device),
        &memory,
        self_mask,
        cross_mask,
        None,
    );
    assert_close(name, out, io.float("output.out", &device), TOL);
}

#[test]
fn decoder_layer_post_norm_matches_pytorch() {
    decoder_layer("decoder_layer_post", false);
}

#[test]
fn decoder_layer_pre_norm_matches_pytorch() {
    decoder_layer("decoder_layer_pre", true);
}

fn seq2seq(name: &str) {
    let device = Default::default();
    let io = Io::load(name);
    let config = read_model_config(&fixture_path(&format!("{name}.json"))).unwrap();
    config.validate().unwrap();
    let model = load_weights(config.init::<B>(&device), &weights(name)).unwrap();

    let src = io.int("input.src", &device);
    let tgt = io.int("input.tgt", &device);
    let src_pad = io.mask("input.src_key_padding_mask", &device);
    let tgt_pad = io.mask("input.tgt_key_padding_mask", &device);
    let memory = model.encode(src.clone(), Some(src_pad.clone())).memory;
    assert_close(
        &format!("{name} memory"),
        memory,
        io.float("output.memory", &device),
        TOL,
    );
    let logits = model.forward(src, Some(src_pad), tgt, Some(tgt_pad));
    assert_eq!(logits.dims(), [3, 5, 13]);
    assert_close(
        &format!("{name} logits"),
        logits,
        io.float("output.logits", &device),
        TOL,
    );
}

#[test]
fn seq2seq_post_norm_matches_pytorch_nn_transformer() {
    seq2seq("seq2seq_post");
}

#[test]
fn seq2seq_pre_norm_matches_pytorch_nn_transformer() {
    seq2seq("seq2seq_pre");
}
