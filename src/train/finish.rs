//! The end of a run: choose the final weights (the kept checkpoint with the lowest validation
//! loss, or the average of the last ones), and write model directories from checkpoints.

use super::run_dir::RunDir;
use super::{average, Seq2SeqTrainer, TrainError};
use crate::artifact;
use crate::data::batcher::EncodedPair;
use crate::data::Seq2SeqBatcher;
use burn::prelude::*;
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder};
use std::path::Path;

/// Mean per-token validation loss (label smoothing included, PAD ignored) of `trainer`.
fn validation_loss<B: Backend>(
    trainer: &Seq2SeqTrainer<B>,
    batches: &[Vec<EncodedPair>],
    device: &B::Device,
) -> f64 {
    let (mut total, mut tokens) = (0.0, 0usize);
    for batch in batches {
        let n: usize = batch.iter().map(|p| p.tgt.len() + 1).sum();
        let output = trainer.forward_loss(Seq2SeqBatcher.batch_pairs::<B>(batch, device));
        total += output.loss.into_scalar().elem::<f64>() * n as f64;
        tokens += n;
    }
    total / tokens.max(1) as f64
}

/// `template` with the weights of `epoch`'s checkpoint in `run`.
fn load_checkpoint<B: Backend>(
    template: &Seq2SeqTrainer<B>,
    run: &RunDir,
    epoch: usize,
    device: &B::Device,
) -> Result<Seq2SeqTrainer<B>, TrainError> {
    let path = run.checkpoint_file("model", epoch);
    template
        .clone()
        .load_file(
            path.clone(),
            &NamedMpkFileRecorder::<FullPrecisionSettings>::new(),
            device,
        )
        .map_err(|source| TrainError::Checkpoint { path, source })
}

/// The final weights of a run and how they were chosen.
pub struct Chosen<B: Backend> {
    pub trainer: Seq2SeqTrainer<B>,
    /// The single checkpoint with the lowest validation loss: epoch and loss.
    pub best: Option<(usize, f64)>,
    /// The epochs averaged into `trainer` and the average's validation loss.
    pub averaged: Option<(Vec<usize>, f64)>,
}

/// Of the checkpoints burn-train kept (the best by its validation loss and the last
/// `average_last.max(2)`), the one with the lowest validation loss, measured again here
/// (burn-train's metric logs restart their epoch numbering on resume, so they cannot be trusted
/// to name the epoch); then, with `average_last > 1`, the element-wise average of the last
/// `average_last` checkpoints instead.
pub fn choose<B: Backend>(
    trainer: Seq2SeqTrainer<B>,
    run: &RunDir,
    average_last: usize,
    valid: &[Vec<EncodedPair>],
    device: &B::Device,
) -> Result<Chosen<B>, TrainError> {
    let mut chosen = Chosen {
        trainer,
        best: None,
        averaged: None,
    };
    // Each kept checkpoint is read once, for both the best-loss choice and the average.
    let mut loaded = Vec::new();
    for epoch in run.checkpoints() {
        loaded.push((epoch, load_checkpoint(&chosen.trainer, run, epoch, device)?));
    }
    if !valid.is_empty() {
        for (epoch, candidate) in &loaded {
            let loss = validation_loss(candidate, valid, device);
            if loss.is_finite() && chosen.best.is_none_or(|(_, best)| loss < best) {
                chosen.best = Some((*epoch, loss));
                chosen.trainer = candidate.clone();
            }
        }
    }
    let last = loaded.split_off(loaded.len().saturating_sub(average_last));
    if average_last > 1 && last.len() >= 2 {
        let (epochs, models): (Vec<usize>, Vec<_>) = last.into_iter().unzip();
        chosen.trainer = average::average(models).expect("at least two models");
        let loss = if valid.is_empty() {
            f64::NAN
        } else {
            validation_loss(&chosen.trainer, valid, device)
        };
        chosen.averaged = Some((epochs, loss));
    }
    Ok(chosen)
}

/// Write a model directory from the checkpoints of `epochs` in `run_dir`: one epoch's weights,
/// or the element-wise average of several. The run directory's config and vocabularies go with
/// them, so the result loads like a trained model.
pub fn export_checkpoints<B: Backend>(
    run_dir: &Path,
    epochs: &[usize],
    out: &Path,
    device: &B::Device,
) -> Result<(), TrainError> {
    let run = RunDir::new(run_dir);
    if epochs.is_empty() {
        return Err(TrainError::Config("no epoch to export".into()));
    }
    let available = run.checkpoints();
    if let Some(missing) = epochs.iter().find(|e| !available.contains(e)) {
        return Err(TrainError::Config(format!(
            "{} has no checkpoint of epoch {missing} (available: {available:?})",
            run.checkpoint_dir().display()
        )));
    }
    let config = run.config()?;
    let (src_vocab, tgt_vocab) = run.vocabs()?;
    let codec = run.codec(&config.data)?;
    config.model.validate()?;
    let template = Seq2SeqTrainer::new(
        config.model.init::<B>(device),
        config.optimizer.label_smoothing,
    );
    let mut models = Vec::with_capacity(epochs.len());
    for &epoch in epochs {
        models.push(load_checkpoint(&template, &run, epoch, device)?);
    }
    let trainer = average::average(models).expect("at least one model");
    artifact::save(out, &trainer.model, &config, &src_vocab, &tgt_vocab, &codec)?;
    Ok(())
}
