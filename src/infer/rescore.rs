//! The models that rescore a [`Predictor`]'s outputs ([`crate::rerank`] does the reranking).

use super::{check_compatible, EnsembleError, Predictor};
use crate::artifact::{self, LoadedModel};
use crate::model::Transformer;
use burn::prelude::*;
use std::path::{Path, PathBuf};

/// A model that rescores a [`Predictor`]'s outputs (and adds its own beam's outputs to the
/// candidates).
#[derive(Debug, Clone)]
pub struct Rescorer<B: Backend> {
    pub model: Transformer<B>,
    /// Whether it reads targets right to left (its `data.right_left`).
    pub right_left: bool,
    pub dir: PathBuf,
}

/// Why a model cannot rescore a predictor's outputs.
#[derive(Debug, thiserror::Error)]
pub enum RescoreError {
    #[error(transparent)]
    Ensemble(#[from] EnsembleError),
    #[error("{} has a CTC decoder: rescoring needs autoregressive models (a CTC model has no left-to-right probability of an output)", .0.display())]
    Ctc(PathBuf),
    #[error("--rescore-weight must be in [0, 1], got {0}")]
    Weight(f64),
}

impl<B: Backend> Predictor<B> {
    /// Add the model in `dir` as a rescorer. It must share the predictor's vocabularies,
    /// tokenization and tokenizers (it may read targets in the other direction), and both
    /// must be autoregressive.
    pub fn add_rescorer(&mut self, dir: &Path, first_dir: &Path) -> Result<(), RescoreError> {
        let other: LoadedModel<B> =
            artifact::load(dir, self.device()).map_err(EnsembleError::from)?;
        for (model, path) in [(&self.loaded.model, first_dir), (&other.model, dir)] {
            if model.is_ctc() {
                return Err(RescoreError::Ctc(path.to_path_buf()));
            }
        }
        check_compatible(first_dir, &self.loaded, dir, &other)?;
        self.rescorers.push(Rescorer {
            right_left: other.config.data.right_left,
            model: other.model,
            dir: dir.to_path_buf(),
        });
        Ok(())
    }

    /// Set the rescorers' share of the combined score, split evenly among them (the
    /// predictor's own model or ensemble has the rest).
    pub fn set_rescore_weight(&mut self, weight: f64) -> Result<(), RescoreError> {
        if !(0.0..=1.0).contains(&weight) {
            return Err(RescoreError::Weight(weight));
        }
        self.rescore_weight = weight;
        Ok(())
    }
}
