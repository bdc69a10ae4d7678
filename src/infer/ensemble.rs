//! Several model directories decoding as one: the members' weights and the checks that they
//! read and write the same token ids.

use super::Predictor;
use crate::artifact::{self, ArtifactError, LoadedModel};
use burn::prelude::*;
use std::path::Path;

/// Why several model directories cannot decode as one ensemble.
#[derive(Debug, thiserror::Error)]
pub enum EnsembleError {
    #[error(transparent)]
    Load(#[from] ArtifactError),
    #[error("an ensemble needs at least one model")]
    NoModels,
    #[error("{weights} weights for {models} models (give one weight per --model)")]
    WeightCount { weights: usize, models: usize },
    #[error("ensemble weights must be finite, non-negative and not all zero, got {0:?}")]
    BadWeights(Vec<f32>),
    #[error("{} and {} cannot decode as an ensemble: their {what} differ (members must be trained on the same data with the same tokenization)", first.display(), other.display())]
    Mismatch {
        first: std::path::PathBuf,
        other: std::path::PathBuf,
        what: &'static str,
    },
}

/// The weights of an ensemble of `models` members, normalised to sum 1: `weights` (one per
/// member, finite, non-negative, not all zero), or uniform when `None`.
pub fn ensemble_weights(weights: Option<&[f32]>, models: usize) -> Result<Vec<f32>, EnsembleError> {
    let weights = match weights {
        None => vec![1.0; models],
        Some(w) if w.len() != models => {
            return Err(EnsembleError::WeightCount {
                weights: w.len(),
                models,
            })
        }
        Some(w) => w.to_vec(),
    };
    let total: f32 = weights.iter().sum();
    if weights.iter().any(|w| !w.is_finite() || *w < 0.0) || total <= 0.0 {
        return Err(EnsembleError::BadWeights(weights));
    }
    Ok(weights.iter().map(|w| w / total).collect())
}

/// Whether the model in `dir` (`other`) reads and writes what the one in `first_dir`
/// (`first`) does: the same vocabularies, decoder kind, task, tokenization and tokenizer
/// files, so that one's token ids are the other's.
pub fn check_compatible<B: Backend>(
    first_dir: &Path,
    first: &LoadedModel<B>,
    dir: &Path,
    other: &LoadedModel<B>,
) -> Result<(), EnsembleError> {
    let mismatch = |what| EnsembleError::Mismatch {
        first: first_dir.to_path_buf(),
        other: dir.to_path_buf(),
        what,
    };
    let (a, b) = (first, other);
    if a.src_vocab != b.src_vocab {
        return Err(mismatch("source vocabularies"));
    }
    if a.tgt_vocab != b.tgt_vocab {
        return Err(mismatch("target vocabularies"));
    }
    if a.model.ctc_upsample() != b.model.ctc_upsample() {
        return Err(mismatch(
            "decoders (autoregressive, or CTC with its upsampling)",
        ));
    }
    let (da, db) = (&a.config.data, &b.config.data);
    if (da.task, da.src_tokens, da.tgt_tokens, da.src_eos)
        != (db.task, db.src_tokens, db.tgt_tokens, db.src_eos)
    {
        return Err(mismatch("tasks or tokenizations"));
    }
    for file in [
        crate::data::text_codec::JOINT_TOKENIZER_FILE,
        crate::data::text_codec::SRC_TOKENIZER_FILE,
        crate::data::text_codec::TGT_TOKENIZER_FILE,
    ] {
        if std::fs::read(first_dir.join(file)).ok() != std::fs::read(dir.join(file)).ok() {
            return Err(mismatch("tokenizers"));
        }
    }
    Ok(())
}

impl<B: Backend> Predictor<B> {
    /// Load one model directory, or several as an ensemble whose members' per-step
    /// log-probabilities are averaged with `weights` (uniform when `None`). The members must
    /// share their vocabularies, tokenization and tokenizer files.
    pub fn load_ensemble(
        dirs: &[std::path::PathBuf],
        weights: Option<&[f32]>,
        device: B::Device,
    ) -> Result<Self, EnsembleError> {
        let (first_dir, rest) = dirs.split_first().ok_or(EnsembleError::NoModels)?;
        let weights = ensemble_weights(weights, dirs.len())?;
        let mut predictor = Self::load(first_dir, device)?;
        for dir in rest {
            let other = artifact::load(dir, &predictor.device)?;
            check_compatible(first_dir, &predictor.loaded, dir, &other)?;
            if predictor.loaded.config.data.right_left != other.config.data.right_left {
                return Err(EnsembleError::Mismatch {
                    first: first_dir.clone(),
                    other: dir.clone(),
                    what: "target directions (one was trained with --right-left; rescore with it instead: --rescore)",
                });
            }
            predictor.others.push(other.model);
        }
        predictor.weights = weights;
        Ok(predictor)
    }
}
