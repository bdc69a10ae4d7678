//! The benchmark of `seq2seq bench`: training throughput, greedy decoding latency and peak
//! memory on the reference configuration, measured the same way as `scripts/bench_pytorch.py`.

pub mod builtin;
pub mod g2p;
pub mod inference;
pub mod pytorch;
pub mod reference;
pub mod speech;

use crate::data::batcher::EncodedPair;
use crate::data::{Seq2SeqBatch, Seq2SeqBatcher};
use crate::model::{Transformer, TransformerConfig};
use crate::train::Seq2SeqTrainer;
use crate::vocab::BEGIN;
use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use std::time::Instant;

/// Shapes and repetitions.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct BenchConfig {
    pub vocab: usize,
    pub d_model: usize,
    pub n_heads: usize,
    pub layers: usize,
    pub d_ff: usize,
    pub batch: usize,
    pub len: usize,
    /// Timed windows of training (the median is reported).
    pub windows: usize,
    /// Training steps per window.
    pub steps: usize,
    /// Also time Burn's built-in transformer (the anchor).
    pub builtin: bool,
}

impl BenchConfig {
    /// vocab 64, d_model 256, 4 heads, 3+3 layers, FFN 1024, batch 64, lengths 24.
    pub fn reference() -> Self {
        Self {
            vocab: 64,
            d_model: 256,
            n_heads: 4,
            layers: 3,
            d_ff: 1024,
            batch: 64,
            len: 24,
            windows: 5,
            steps: 3,
            builtin: true,
        }
    }

    /// A tiny configuration for smoke tests.
    pub fn quick() -> Self {
        Self {
            vocab: 64,
            d_model: 32,
            n_heads: 2,
            layers: 1,
            d_ff: 64,
            batch: 8,
            len: 8,
            windows: 2,
            steps: 2,
            builtin: true,
        }
    }

    fn model(&self) -> TransformerConfig {
        TransformerConfig::new()
            .with_src_vocab_size(self.vocab)
            .with_tgt_vocab_size(self.vocab)
            .with_d_model(self.d_model)
            .with_n_heads(self.n_heads)
            .with_d_ff(self.d_ff)
            .with_n_encoder_layers(self.layers)
            .with_n_decoder_layers(self.layers)
            .with_dropout(0.1)
            .with_max_len(64)
    }
}

/// What one side of the benchmark measured.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct BenchResult {
    pub train_tokens_per_s: f64,
    /// Burn's own `burn::nn::transformer` at the same sizes (the anchor); absent for PyTorch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builtin_train_tokens_per_s: Option<f64>,
    pub greedy_ms_b1: f64,
    pub greedy_ms_b64: f64,
    pub peak_rss_mb: f64,
    /// Best GFLOP/s of a 1024 x 1024 x 1024 f32 matmul: the hardware anchor.
    #[serde(default)]
    pub sgemm_gflops: f64,
    /// Best GFLOP/s of the FFN's first matmul in the reference step, `[batch * len, d_model]`
    /// x `[d_model, d_ff]`: what the step's largest matmuls get.
    #[serde(default)]
    pub ffn_matmul_gflops: f64,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Peak resident set size of this process (Linux `VmHWM`), in MiB.
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Greedy decoding of exactly `steps` tokens (END does not stop it, so every run does the same
/// work), with the KV cache.
pub fn decode_steps<B: Backend>(
    model: &Transformer<B>,
    src: Tensor<B, 2, Int>,
    steps: usize,
) -> Tensor<B, 2, Int> {
    let [batch, src_len] = src.dims();
    let device = src.device();
    let no_padding = Tensor::<B, 2, Int>::zeros([batch, src_len], &device).equal_elem(1);
    let mut stepper = crate::decode::Stepper::new(model, src, no_padding);
    let mut input = Tensor::<B, 2, Int>::full([batch, 1], BEGIN as i64, &device);
    let mut out = Vec::with_capacity(steps);
    for _ in 0..steps {
        input = stepper.next_log_probs(input).argmax(1); // [batch, 1]
        out.push(input.clone());
    }
    Tensor::cat(out, 1)
}

/// Median target tokens/s of Adam steps (lr 1e-4) on one fixed batch: two warm-up steps, then
/// `config.windows` timed windows of `config.steps` steps. Returns the trained module too.
fn training_rate<B: AutodiffBackend, M: AutodiffModule<B>>(
    config: &BenchConfig,
    mut module: M,
    batch: &Seq2SeqBatch<B>,
    device: &B::Device,
    loss: impl Fn(&M, Seq2SeqBatch<B>) -> Tensor<B, 1>,
) -> (f64, M) {
    let mut optimizer: OptimizerAdaptor<_, M, B> = AdamConfig::new()
        .with_beta_2(0.98)
        .with_epsilon(1e-9)
        .init::<B, M>();
    let mut step = |module: M| {
        let grads = GradientsParams::from_grads(loss(&module, batch.clone()).backward(), &module);
        optimizer.step(1e-4, module, grads)
    };
    for _ in 0..2 {
        module = step(module);
    }
    let _ = B::sync(device);
    let mut rates = Vec::new();
    for _ in 0..config.windows {
        let started = Instant::now();
        for _ in 0..config.steps {
            module = step(module);
        }
        // Wait for the device before reading the clock.
        let _ = B::sync(device);
        let seconds = started.elapsed().as_secs_f64();
        rates.push((config.batch * config.len * config.steps) as f64 / seconds);
    }
    (median(rates), module)
}

/// Best GFLOP/s over `runs` products of an `[m, k]` by a `[k, n]` matrix on `B`.
pub fn matmul_gflops<B: Backend>(
    m: usize,
    k: usize,
    n: usize,
    runs: usize,
    device: &B::Device,
) -> f64 {
    use burn::tensor::Distribution;
    let a = Tensor::<B, 2>::random([m, k], Distribution::Default, device);
    let b = Tensor::<B, 2>::random([k, n], Distribution::Default, device);
    let _ = a.clone().matmul(b.clone()).into_data();
    (0..runs)
        .map(|_| {
            let started = Instant::now();
            let _ = B::sync(device);
            let c = a.clone().matmul(b.clone());
            let _ = B::sync(device);
            drop(c);
            2.0 * (m * k * n) as f64 / started.elapsed().as_secs_f64() / 1e9
        })
        .fold(0.0, f64::max)
}

/// Run the benchmark on backend `B`.
pub fn run<B: AutodiffBackend>(config: &BenchConfig, device: &B::Device) -> BenchResult {
    B::seed(device, 0);
    let trainer = Seq2SeqTrainer::new(config.model().init::<B>(device), 0.1);
    let mut rng = crate::rng::SplitMix64(0);
    let pairs: Vec<EncodedPair> = (0..config.batch)
        .map(|_| EncodedPair {
            src: (0..config.len)
                .map(|_| 4 + rng.below(config.vocab - 4))
                .collect(),
            tgt: (0..config.len - 1)
                .map(|_| 4 + rng.below(config.vocab - 4))
                .collect(),
        })
        .collect();
    // The decoder reads BEGIN + 23 target tokens and predicts 23 + END: 24 target positions.
    let batch = Seq2SeqBatcher.batch_pairs::<B>(&pairs, device);
    let (train_tokens_per_s, trainer) = training_rate(config, trainer, &batch, device, |t, b| {
        t.forward_loss(b).loss
    });
    let builtin_train_tokens_per_s = config.builtin.then(|| {
        let builtin = builtin::BuiltinSizes {
            vocab: config.vocab,
            d_model: config.d_model,
            n_heads: config.n_heads,
            layers: config.layers,
            d_ff: config.d_ff,
            max_len: 64,
        }
        .init::<B>(device);
        training_rate(config, builtin, &batch, device, |m, b| m.forward_loss(b)).0
    });

    let model = trainer.valid().model;
    let src = Seq2SeqBatcher
        .batch_pairs::<B::InnerBackend>(&pairs, device)
        .src;
    let latency = |rows: usize, runs: usize| {
        let src = src.clone().slice([0..rows, 0..config.len]);
        let _ = decode_steps(&model, src.clone(), config.len).into_data();
        median(
            (0..runs)
                .map(|_| {
                    let started = Instant::now();
                    let _ = decode_steps(&model, src.clone(), config.len).into_data();
                    1000.0 * started.elapsed().as_secs_f64()
                })
                .collect(),
        )
    };
    let greedy_ms_b1 = latency(1, 5);
    let greedy_ms_b64 = latency(config.batch, 3);
    let peak_rss_mb = peak_rss_mb();
    BenchResult {
        train_tokens_per_s,
        builtin_train_tokens_per_s,
        greedy_ms_b1,
        greedy_ms_b64,
        peak_rss_mb,
        sgemm_gflops: matmul_gflops::<B::InnerBackend>(1024, 1024, 1024, 5, device),
        ffn_matmul_gflops: matmul_gflops::<B::InnerBackend>(
            config.batch * config.len,
            config.d_model,
            config.d_ff,
            10,
            device,
        ),
    }
}

/// The estimated training epoch time of a preset on the vendored CMUdict (the default task).
#[derive(Debug, Clone, serde::Serialize)]
pub struct EpochEstimate {
    pub preset: crate::config::Preset,
    pub train_pairs: usize,
    /// Batches per epoch (length buckets of `batch_size`, as `train` cuts them).
    pub batches: usize,
    /// Batches timed: spread evenly over the length-sorted buckets, short to long.
    pub timed_batches: usize,
    pub mean_step_s: f64,
    /// `batches * mean_step_s`: the optimiser steps of one epoch, without the validation pass.
    pub epoch_s: f64,
}

/// Time `timed` training steps of `preset` on batches spread over the length buckets of the
/// vendored CMUdict's training split (after one warm-up step on the longest bucket), and
/// extrapolate to the epoch. The sample is stratified by length, so the mean step time is an
/// unbiased estimate of the epoch's.
pub fn g2p_epoch<B: AutodiffBackend>(
    preset: crate::config::Preset,
    timed: usize,
    device: &B::Device,
) -> Result<EpochEstimate, crate::data::DataError> {
    let mut config = crate::config::ExperimentConfig::preset(preset);
    let corpus = config.data.load()?;
    config.model.src_vocab_size = corpus.src_vocab.len();
    config.model.tgt_vocab_size = corpus.tgt_vocab.len();
    let (train, _) = crate::train::encode_pairs(
        &corpus.train,
        &corpus.src_vocab,
        &corpus.tgt_vocab,
        config.model.max_len,
        config.data.right_left,
    );
    let train_pairs = train.len();
    let buckets = crate::data::batcher::buckets(train, config.training.batch_size);
    let timed = timed.clamp(1, buckets.len());
    B::seed(device, 0);
    let mut trainer = Seq2SeqTrainer::new(
        config.model.init::<B>(device),
        config.optimizer.label_smoothing,
    );
    let mut optimizer: OptimizerAdaptor<_, Seq2SeqTrainer<B>, B> = config.optimizer.adam().init();
    let mut step = |trainer: Seq2SeqTrainer<B>, pairs: &[EncodedPair]| {
        let batch = Seq2SeqBatcher.batch_pairs::<B>(pairs, device);
        let grads =
            GradientsParams::from_grads(trainer.forward_loss(batch).loss.backward(), &trainer);
        optimizer.step(1e-4, trainer, grads)
    };
    trainer = step(trainer, &buckets[buckets.len() - 1]);
    let _ = B::sync(device);
    let started = Instant::now();
    for i in 0..timed {
        // Bucket centres of `timed` equal slices of the length-sorted buckets.
        trainer = step(trainer, &buckets[(2 * i + 1) * buckets.len() / (2 * timed)]);
    }
    let _ = B::sync(device);
    let mean_step_s = started.elapsed().as_secs_f64() / timed as f64;
    Ok(EpochEstimate {
        preset,
        train_pairs,
        batches: buckets.len(),
        timed_batches: timed,
        mean_step_s,
        epoch_s: mean_step_s * buckets.len() as f64,
    })
}
