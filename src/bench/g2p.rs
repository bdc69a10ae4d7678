//! The training workloads of `seq2seq bench` (the G2P recipe and the Multi30k translation
//! recipe): training steps of a recipe on real length-bucketed batches of its training data,
//! timed on our side and, through a JSON file, by `scripts/bench_pytorch.py --g2p` on exactly
//! the same batches and model sizes (shared embeddings and a tied generator included).

use crate::config::ExperimentConfig;
use crate::data::batcher::{buckets, token_buckets, EncodedPair};
use crate::data::{DataError, Seq2SeqBatcher};
use crate::train::Seq2SeqTrainer;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{GradientsParams, Optimizer};
use burn::tensor::backend::AutodiffBackend;
use std::time::Instant;

/// A recipe's model and a stratified sample of its training batches.
#[derive(Debug, Clone)]
pub struct G2pWorkload {
    pub config: ExperimentConfig,
    /// Batches spread evenly over the length-sorted buckets, short to long.
    pub batches: Vec<Vec<EncodedPair>>,
    /// Batches in a whole epoch.
    pub epoch_batches: usize,
    /// Target tokens (END included) in a whole epoch.
    pub epoch_tokens: usize,
}

/// Target positions a batch trains on: each target plus END.
fn target_tokens(batch: &[EncodedPair]) -> usize {
    batch.iter().map(|p| p.tgt.len() + 1).sum()
}

impl G2pWorkload {
    /// Load `config`'s data and cut it into batches as `train` does (token budget or pair
    /// count), keeping `count` of them.
    pub fn load(mut config: ExperimentConfig, count: usize) -> Result<Self, DataError> {
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
        let all = match config.training.batch_tokens {
            Some(tokens) => token_buckets(train, tokens),
            None => buckets(train, config.training.batch_size),
        };
        let epoch_tokens = all.iter().map(|b| target_tokens(b)).sum();
        let count = count.clamp(1, all.len());
        let batches = (0..count)
            .map(|i| all[(2 * i + 1) * all.len() / (2 * count)].clone())
            .collect();
        Ok(Self {
            config,
            batches,
            epoch_batches: all.len(),
            epoch_tokens,
        })
    }

    /// The file `scripts/bench_pytorch.py --g2p` reads: model sizes and the batches' ids.
    pub fn to_json(&self) -> serde_json::Value {
        let m = &self.config.model;
        serde_json::json!({
            "model": {
                "src_vocab": m.src_vocab_size,
                "tgt_vocab": m.tgt_vocab_size,
                "d_model": m.d_model,
                "n_heads": m.n_heads,
                "encoder_layers": m.n_encoder_layers,
                "decoder_layers": m.n_decoder_layers,
                "d_ff": m.d_ff,
                "dropout": m.dropout,
                "max_len": m.max_len,
                "label_smoothing": self.config.optimizer.label_smoothing,
                "share_embeddings": m.share_embeddings,
                "tie_generator": m.tie_generator,
            },
            "batches": self.batches.iter().map(|b| serde_json::json!({
                "src": b.iter().map(|p| &p.src).collect::<Vec<_>>(),
                "tgt": b.iter().map(|p| &p.tgt).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })
    }

    /// Target tokens per second of Adam steps over the sampled batches, `passes` times, after
    /// two warm-up steps on the largest batches (as the PyTorch side does).
    pub fn train_tokens_per_s<B: AutodiffBackend>(&self, passes: usize, device: &B::Device) -> f64 {
        B::seed(device, 0);
        crate::model::dropout::seed(0);
        let mut trainer = Seq2SeqTrainer::new(
            self.config.model.init::<B>(device),
            self.config.optimizer.label_smoothing,
        );
        let opt = &self.config.optimizer;
        let mut optimizer: OptimizerAdaptor<_, Seq2SeqTrainer<B>, B> = opt.adam().init();
        let mut step = |trainer: Seq2SeqTrainer<B>, pairs: &[EncodedPair]| {
            let batch = Seq2SeqBatcher.batch_pairs::<B>(pairs, device);
            let grads =
                GradientsParams::from_grads(trainer.forward_loss(batch).loss.backward(), &trainer);
            optimizer.step(1e-4, trainer, grads)
        };
        let mut largest: Vec<&Vec<EncodedPair>> = self.batches.iter().collect();
        largest.sort_by_key(|b| {
            let width = b
                .iter()
                .map(|p| p.src.len().max(p.tgt.len() + 1))
                .max()
                .unwrap_or(0);
            std::cmp::Reverse(b.len() * width)
        });
        for batch in largest.into_iter().take(2) {
            trainer = step(trainer, batch);
        }
        let _ = B::sync(device);
        let (mut tokens, mut seconds) = (0usize, 0.0);
        for _ in 0..passes.max(1) {
            for batch in &self.batches {
                let started = Instant::now();
                trainer = step(trainer, batch);
                let _ = B::sync(device);
                seconds += started.elapsed().as_secs_f64();
                tokens += target_tokens(batch);
            }
        }
        tokens as f64 / seconds
    }
}
