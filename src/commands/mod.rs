//! The subcommands, one file each: their arguments and how they call the library.

pub mod attention;
pub mod average;
pub mod bench;
pub mod devices;
pub mod eval;
pub mod image;
pub mod import;
pub mod import_marian;
pub mod infer;
pub mod serve;
pub mod speech;
pub mod train;

use anyhow::{Context, Result};
use seq2seq::decode::Decoding;
use std::path::PathBuf;

/// The model (or ensemble) that `infer` and `eval` decode with.
#[derive(clap::Args, Debug)]
pub struct ModelArgs {
    /// Model directory (from `train`, `average`, `import-pytorch` or `import-marian`). Repeat
    /// it for an ensemble (`--model A --model B`): the members' per-step log-probabilities are
    /// averaged; they must share vocabularies and tokenizers (members trained with different
    /// seeds on the same data do).
    #[arg(long = "model", required = true)]
    pub models: Vec<PathBuf>,
    /// Ensemble weights, one per --model, comma-separated (default: uniform); normalised to
    /// sum 1.
    #[arg(long, value_delimiter = ',')]
    pub weights: Option<Vec<f32>>,
    /// A model that reranks the outputs (repeatable): typically one trained with
    /// `train --right-left`. Every model's beam outputs become candidates, every model scores
    /// every candidate, and the weighted sum of their log-probabilities ranks them. It must
    /// share the --model's vocabularies and tokenizers.
    #[arg(long = "rescore")]
    pub rescorers: Vec<PathBuf>,
    /// The rescorers' share of the combined score (split evenly among them; the --model, or
    /// the ensemble, has the rest).
    #[arg(long, default_value_t = 0.5, requires = "rescorers")]
    pub rescore_weight: f64,
}

impl ModelArgs {
    /// The model directories as one line for messages.
    pub fn describe(&self) -> String {
        describe(&self.models)
    }

    /// Load the model, or the ensemble.
    pub fn load<B: burn::prelude::Backend>(
        &self,
        device: B::Device,
    ) -> Result<seq2seq::infer::Predictor<B>> {
        let mut predictor = seq2seq::infer::Predictor::<B>::load_ensemble(
            &self.models,
            self.weights.as_deref(),
            device,
        )
        .with_context(|| format!("cannot load model {}", self.describe()))?;
        predictor.set_rescore_weight(self.rescore_weight)?;
        for dir in &self.rescorers {
            predictor
                .add_rescorer(dir, &self.models[0])
                .with_context(|| format!("cannot rescore with {}", dir.display()))?;
        }
        Ok(predictor)
    }
}

/// Model directories (an ensemble's members) as one line for messages.
pub fn describe(models: &[PathBuf]) -> String {
    models
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(" + ")
}

/// Decoding options shared by `infer` and `eval`.
#[derive(clap::Args, Debug)]
pub struct DecodeArgs {
    /// Beam size (1 = greedy; default: the model's, 1 unless it was imported with another).
    #[arg(long)]
    beam: Option<usize>,
    /// Hypotheses to print per input (at most --beam).
    #[arg(long, default_value_t = 1)]
    nbest: usize,
    /// Length penalty: GNMT's alpha, hypotheses ranked by log P / ((5 + len) / 6)^alpha
    /// (default 0, raw log-probability); for models imported from transformers, its
    /// length_penalty, log P / len^alpha (default the model's generation config).
    #[arg(long)]
    lenpen: Option<f64>,
    /// Length limit relative to the source (fairseq's --max-len-a, Marian's
    /// --max-length-factor): at most A * n + B output tokens for a source of n tokens
    /// (default: the model's generation config; the shipped translation model has 1.5 n + 10).
    /// A translation that runs past it is a repetition loop. For models trained here; the
    /// model's positions (config max_len) cap every output in any case.
    #[arg(long, value_name = "A")]
    max_len_a: Option<f64>,
    /// The constant B of the length limit (see --max-len-a).
    #[arg(long, value_name = "B")]
    max_len_b: Option<usize>,
    /// Repetition penalty (transformers' and CTranslate2's repetition_penalty): scores of
    /// tokens already in the output are multiplied by P where negative, divided where
    /// positive; 1 = none (default: the model's generation config).
    #[arg(long, value_name = "P")]
    repetition_penalty: Option<f64>,
    /// Never repeat an N-gram of the output (transformers' no_repeat_ngram_size; 0 = allowed;
    /// default: the model's generation config).
    #[arg(long, value_name = "N")]
    no_repeat_ngram: Option<usize>,
    /// Inputs decoded together.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Batches decoded at once, one thread each (default: the machine's cores).
    #[arg(long)]
    threads: Option<usize>,
}

impl DecodeArgs {
    /// The decoding these flags ask for over the model's saved defaults.
    pub fn decoding(&self, generation: &seq2seq::config::GenerationConfig) -> Result<Decoding> {
        anyhow::ensure!(self.batch_size >= 1, "--batch-size must be at least 1");
        anyhow::ensure!(self.threads != Some(0), "--threads must be at least 1");
        let mut generation = generation.clone();
        if self.max_len_a.is_some() || self.max_len_b.is_some() {
            generation.max_len_a = self.max_len_a.or(generation.max_len_a);
            generation.max_len_b = self.max_len_b.or(generation.max_len_b);
        }
        if let Some(p) = self.repetition_penalty {
            generation.repetition_penalty = p;
        }
        if let Some(n) = self.no_repeat_ngram {
            generation.no_repeat_ngram_size = n;
        }
        Decoding::from_generation(&generation, self.beam, self.nbest, self.lenpen)
            .context("invalid decoding options")
    }
}
