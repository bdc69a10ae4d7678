//! The non-autoregressive (CTC) decoder: its loss against PyTorch's, padding invariance, a tiny
//! model learning the copy task, and the decoding entry points taking it like any model.

use crate::common;

use burn::backend::Autodiff;
use burn::prelude::*;
use common::{assert_close, plain_options, tiny_copy_run, Io, TempDir};
use seq2seq::decode::Decoding;
use seq2seq::model::ctc::ctc_nll;
use seq2seq::model::DecoderKind;

type B = seq2seq::backend::NdArray;
type AD = Autodiff<B>;

/// `scripts/ctc_reference.py`: PyTorch's `F.ctc_loss` (blank 0, `zero_infinity`) over
/// `log_softmax(logits)`, per row, and the gradient of their sum with respect to the logits.
/// The rows hold repeated symbols, a padded input, a target filling its time and one no
/// alignment can reach (loss 0, gradient 0).
///
/// The tolerances are what float32 can promise for the forward-backward recursion, whatever
/// order the kernels sum in (AVX2 and AVX-512 machines differ: `scripts/test_avx2.sh`), not
/// what one machine happens to meet. With `time` steps and log-probabilities of magnitude at
/// most `m`, every log-alpha (log-beta) is a sum of at most `time` of them, so at most
/// `time * m` in magnitude, and each of its `time` log-sum-exp steps rounds it by float32's
/// epsilon relative to that: an absolute error of at most `time * (time * m) * eps` in the
/// loss (-log of the last alphas). The gradient, softmax minus the posterior
/// `exp(log_alpha + log_beta + loss)`, is in [-1, 1] and carries the exponent's absolute error
/// (three such terms) as a relative one: at most `3 * time^2 * m * eps`.
#[test]
fn ctc_loss_and_its_gradient_match_pytorch() {
    let device = Default::default();
    let io = Io::load("ctc");
    let logits: Tensor<AD, 3> = io.float::<AD, 3>("input.logits", &device).require_grad();
    let [_, time, _] = logits.dims();
    let m = burn::tensor::activation::log_softmax(logits.clone().inner(), 2)
        .abs()
        .max()
        .into_scalar();
    let loss_bound = (time * time) as f32 * m * f32::EPSILON;
    let grad_bound = 3.0 * loss_bound;
    eprintln!("time {time}, max |log p| {m:.2}: bounds {loss_bound:.2e} (loss), {grad_bound:.2e} (gradient)");
    let loss = ctc_nll(
        logits.clone(),
        io.mask("input.time_padding", &device),
        io.int("input.targets", &device),
        io.int("input.target_lengths", &device),
    );
    let expected = io.float::<B, 1>("output.loss", &device);
    assert_close(
        "ctc loss",
        loss.clone().inner(),
        expected.clone(),
        loss_bound,
    );
    // The unreachable row is 0, the others are real losses.
    let values = expected.into_data().to_vec::<f32>().unwrap();
    assert_eq!(values[3], 0.0);
    assert!(values[..3].iter().all(|&v| v > 1.0), "{values:?}");
    let grads = loss.sum().backward();
    let grad = logits.grad(&grads).expect("the logits have a gradient");
    assert_close(
        "ctc gradient",
        grad,
        io.float::<B, 3>("output.grad", &device),
        grad_bound,
    );
}

fn ctc_config() -> seq2seq::model::TransformerConfig {
    common::model_config()
        .with_decoder_kind(DecoderKind::Ctc)
        .with_ctc_upsample(2)
}

/// Each row decoded alone and inside a padded batch gives the same logits at its positions:
/// the upsampled padding is masked in the decoder's self-attention and the encoder's.
#[test]
fn padding_does_not_change_a_ctc_models_outputs() {
    let device = Default::default();
    B::seed(&device, 3);
    let model = ctc_config().init::<B>(&device);
    let (src, padding) = common::batch(); // lengths 5, 3, 2, padded to 5
    let (logits, time_padding) = model.forward_ctc(src.clone(), Some(padding));
    let [batch, time, vocab] = logits.dims();
    assert_eq!([batch, time, vocab], [3, 10, 9]);
    assert_eq!(time_padding.dims(), [3, 10]);
    for (row, len) in [5usize, 3, 2].into_iter().enumerate() {
        let alone = src.clone().slice([row..row + 1, 0..len]);
        let (own, own_padding) = model.forward_ctc(alone, None);
        assert_eq!(own.dims(), [1, 2 * len, vocab]);
        assert!(!own_padding.any().into_scalar());
        let in_batch = logits.clone().slice([row..row + 1, 0..2 * len, 0..vocab]);
        assert_close(&format!("row {row}"), in_batch, own, 1e-5);
    }
    // The padded positions are flagged.
    let flags = time_padding.into_data().to_vec::<bool>().unwrap();
    assert_eq!(flags[10..20].iter().filter(|&&f| f).count(), 4);
    assert_eq!(flags[20..30].iter().filter(|&&f| f).count(), 6);
}

/// Decoding's one entry takes a CTC model: greedy is the collapsed best path; a wide prefix
/// beam's best output is at least as probable as greedy's path; one input alone and in a
/// padded batch decode the same.
#[test]
fn ctc_models_decode_through_the_common_entry() {
    let device = Default::default();
    B::seed(&device, 5);
    let model = ctc_config().init::<B>(&device);
    let (src, padding) = common::batch();
    let greedy = Decoding::greedy().run(&model, src.clone(), padding.clone());
    let beam = Decoding::new(8, 3, 0.0)
        .unwrap()
        .run(&model, src.clone(), padding.clone());
    for (row, len) in [5usize, 3, 2].into_iter().enumerate() {
        let g = &greedy[row][0];
        assert!(g.finished);
        assert!(g.tokens.len() <= 2 * len);
        assert!(!g.tokens.contains(&seq2seq::vocab::PAD));
        assert_eq!(beam[row].len(), 3);
        assert!(beam[row][0].log_prob >= g.log_prob - 1e-6);
        assert!(beam[row][0].log_prob >= beam[row][1].log_prob);
        let alone = src.clone().slice([row..row + 1, 0..len]);
        let no_padding = Tensor::<B, 2, Int>::zeros([1, len], &device).equal_elem(1);
        let own = Decoding::greedy().run(&model, alone, no_padding);
        assert_eq!(own[0][0].tokens, g.tokens);
        assert!((own[0][0].log_prob - g.log_prob).abs() < 1e-4);
    }
}

/// A tiny CTC model learns to copy strings of up to 6 symbols (upsampling 2), through the same
/// learner, checkpoints and model directory as the autoregressive one; the saved model decodes
/// the same through `Predictor`, and it cannot join an autoregressive ensemble.
#[test]
fn a_tiny_ctc_model_learns_the_copy_task() {
    let dir = TempDir::new("test", "ctc-copy");
    let mut config = tiny_copy_run(3000);
    config.model.decoder_kind = DecoderKind::Ctc;
    config.model.ctc_upsample = 2;
    config.training.epochs = 12;
    let report =
        seq2seq::train::run::<AD>(config, &plain_options(&dir, false), Default::default()).unwrap();
    let exact = report.dev_exact_match.unwrap();
    println!(
        "CTC copy: {:.2}% exact match on {} dev strings",
        100.0 * exact,
        report.dev_evaluated
    );
    assert!(exact >= 0.95, "exact match {exact}");

    let model_dir = dir.join("model");
    let predictor = seq2seq::infer::Predictor::<B>::load(&model_dir, Default::default()).unwrap();
    assert!(predictor.loaded.model.is_ctc());
    let symbols: Vec<String> = ["c", "a", "f", "b", "b"].map(String::from).to_vec();
    let text = predictor.loaded.codec.join_source(&symbols);
    let ids = predictor.encode(&text, false).unwrap();
    let out = predictor.predict(std::slice::from_ref(&ids), &Decoding::greedy());
    let beam = predictor.predict(&[ids], &Decoding::new(4, 1, 0.0).unwrap());
    assert_eq!(out[0][0].tokens, symbols, "{text}");
    assert_eq!(beam[0][0].tokens, symbols, "{text}");
    assert!(predictor.attention(&text, false).is_err());

    // An autoregressive member beside it is refused, naming the decoders.
    let ar_dir = TempDir::new("test", "ctc-copy-ar");
    let mut ar = tiny_copy_run(200);
    ar.training.epochs = 1;
    seq2seq::train::run::<AD>(ar, &plain_options(&ar_dir, false), Default::default()).unwrap();
    let err = seq2seq::infer::Predictor::<B>::load_ensemble(
        &[model_dir, ar_dir.join("model")],
        None,
        Default::default(),
    )
    .err()
    .expect("a mixed ensemble is refused");
    assert!(err.to_string().contains("decoders"), "{err}");
}
