//! What several test files share: the PyTorch fixtures written by `scripts/pytorch_reference.py`,
//! temporary directories that clean up after themselves, and the tiny training run.
#![allow(dead_code)]

use burn::prelude::*;
use safetensors::{Dtype, SafeTensors};
use std::path::PathBuf;

pub fn fixture_path(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(file)
}

/// The inputs and outputs of one fixture (`NAME.io.safetensors`).
pub struct Io {
    bytes: Vec<u8>,
    name: String,
}

impl Io {
    pub fn load(name: &str) -> Self {
        let path = fixture_path(&format!("{name}.io.safetensors"));
        let bytes =
            std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        Io {
            bytes,
            name: name.to_string(),
        }
    }

    fn raw(&self, key: &str) -> (Vec<usize>, Dtype, Vec<u8>) {
        let st = SafeTensors::deserialize(&self.bytes).expect("valid safetensors");
        let view = st
            .tensor(key)
            .unwrap_or_else(|_| panic!("fixture {} has no tensor {key}", self.name));
        (view.shape().to_vec(), view.dtype(), view.data().to_vec())
    }

    pub fn float<B: Backend, const D: usize>(&self, key: &str, device: &B::Device) -> Tensor<B, D> {
        let (shape, dtype, data) = self.raw(key);
        assert_eq!(dtype, Dtype::F32, "{key} is not f32");
        let values: Vec<f32> = data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        Tensor::from_data(TensorData::new(values, shape), device)
    }

    fn i64s(&self, key: &str) -> (Vec<usize>, Vec<i64>) {
        let (shape, dtype, data) = self.raw(key);
        assert_eq!(dtype, Dtype::I64, "{key} is not i64");
        let values = data
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
            .collect();
        (shape, values)
    }

    pub fn int<B: Backend, const D: usize>(
        &self,
        key: &str,
        device: &B::Device,
    ) -> Tensor<B, D, Int> {
        let (shape, values) = self.i64s(key);
        Tensor::from_data(TensorData::new(values, shape), device)
    }

    /// A 0/1 mask (1 = blocked) as a Bool tensor (`true` = blocked).
    pub fn mask<B: Backend, const D: usize>(
        &self,
        key: &str,
        device: &B::Device,
    ) -> Tensor<B, D, Bool> {
        let (shape, values) = self.i64s(key);
        let values: Vec<bool> = values.iter().map(|&v| v != 0).collect();
        Tensor::from_data(TensorData::new(values, shape), device)
    }
}

/// Largest absolute difference; panics with both values if shapes differ or it exceeds `tol`.
pub fn assert_close<B: Backend, const D: usize>(
    what: &str,
    actual: Tensor<B, D>,
    expected: Tensor<B, D>,
    tol: f32,
) -> f32 {
    assert_eq!(actual.dims(), expected.dims(), "{what}: shape");
    let a = actual.into_data().to_vec::<f32>().unwrap();
    let e = expected.into_data().to_vec::<f32>().unwrap();
    let max = a
        .iter()
        .zip(&e)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert!(
        max.is_finite() && max <= tol,
        "{what}: max abs error {max} > {tol}"
    );
    eprintln!("{what}: max abs error {max:.3e}");
    max
}

/// A fresh temporary directory, removed when the guard is dropped (also when a test fails).
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(prefix: &str, name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("seq2seq-{prefix}-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl std::ops::Deref for TempDir {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl AsRef<std::path::Path> for TempDir {
    fn as_ref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Standard error of a finished process, as text.
pub fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The process failed and its standard error says `needle`.
pub fn assert_fails_with(out: &std::process::Output, needle: &str) {
    assert!(!out.status.success(), "expected a failure: {}", stderr(out));
    assert!(stderr(out).contains(needle), "{}", stderr(out));
}

/// An error and its causes, as the binary prints them (`a: b: c`).
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The tiny run most training tests start from: the `tiny` preset on the copy task over 6
/// symbols, strings of at most 6, `size` pairs, 2 epochs, no early stopping.
pub fn tiny_copy_run(size: usize) -> seq2seq::config::ExperimentConfig {
    let mut config = seq2seq::config::ExperimentConfig::preset(seq2seq::config::Preset::Tiny);
    config.data.task = seq2seq::data::TaskKind::Copy;
    config.data.synthetic_symbols = 6;
    config.data.synthetic_max_len = 6;
    config.data.synthetic_size = size;
    config.training.epochs = 2;
    config.training.patience = 0;
    config
}

/// Options of a run writing `dir/model` with checkpoints in `dir/runs/model`, plain progress.
pub fn plain_options(dir: &std::path::Path, resume: bool) -> seq2seq::train::TrainOptions {
    seq2seq::train::TrainOptions {
        out: dir.join("model"),
        run_dir: dir.join("runs/model"),
        resume,
        restart: false,
        plain: true,
        interrupter: None,
        init: None,
        distill: None,
    }
}

type NdArray = seq2seq::backend::NdArray;

/// The configuration of [`model`]: source vocabulary 12, target 9 (distinct sizes).
pub fn model_config() -> seq2seq::model::TransformerConfig {
    seq2seq::model::TransformerConfig::new()
        .with_src_vocab_size(12)
        .with_tgt_vocab_size(9)
        .with_d_model(16)
        .with_n_heads(4)
        .with_d_ff(32)
        .with_n_encoder_layers(2)
        .with_n_decoder_layers(2)
        .with_dropout(0.0)
        .with_max_len(20)
}

/// A small random model for decoding tests ([`model_config`]).
pub fn model(seed: u64) -> seq2seq::model::Transformer<NdArray> {
    let device = Default::default();
    NdArray::seed(&device, seed);
    model_config().init::<NdArray>(&device)
}

/// Three sources of lengths 5, 3 and 2 for [`model`], padded to 5, and their padding mask.
pub fn batch() -> (Tensor<NdArray, 2, Int>, Tensor<NdArray, 2, Bool>) {
    let device = Default::default();
    let src = Tensor::<NdArray, 2, Int>::from_data(
        [[4i64, 5, 6, 7, 8], [9, 10, 11, 0, 0], [4, 4, 0, 0, 0]],
        &device,
    );
    (
        src,
        seq2seq::model::mask::padding_mask_from_lengths::<NdArray>(&[5, 3, 2], 5, &device),
    )
}

/// The largest absolute difference between two equally long lists of values.
pub fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}
