//! Training with burn-train's learner: data -> batches -> teacher-forced steps, the paper's
//! optimiser and schedule, checkpoints every epoch, early stopping, the dashboard.

pub mod average;
pub mod guard;
pub mod renderer;
pub mod step;

pub use step::Seq2SeqTrainer;

use crate::artifact::{self, ArtifactError};
use crate::config::ExperimentConfig;
use crate::data::batcher::{buckets, random_batches, token_buckets, EncodedPair};
use crate::data::{self, Corpus, DataError, Pair, Seq2SeqBatcher};
use crate::decode::greedy;
use crate::model::ConfigError;
use crate::vocab::{Vocab, PAD};
use burn::data::dataloader::DataLoaderBuilder;
use burn::data::dataset::InMemDataset;
use burn::grad_clipping::GradientClippingConfig;
use burn::lr_scheduler::noam::NoamLrSchedulerConfig;
use burn::module::{AutodiffModule, Module};
use burn::optim::AdamConfig;
use burn::prelude::*;
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder};
use burn::tensor::backend::AutodiffBackend;
use burn::train::checkpoint::{
    ComposedCheckpointingStrategy, KeepLastNCheckpoints, MetricCheckpointingStrategy,
};
use burn::train::metric::store::{Aggregate, Direction, Split};
use burn::train::metric::{AccuracyMetric, LearningRateMetric, LossMetric, PerplexityMetric};
use burn::train::{
    ExecutionStrategy, Interrupter, Learner, MetricEarlyStoppingStrategy, MultiDeviceOptim,
    StoppingCondition, SupervisedTraining, TrainingStrategy,
};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Why training could not run.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error("invalid model config: {0}")]
    Model(#[from] ConfigError),
    #[error("invalid training config: {0}")]
    Config(String),
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    #[error("cannot read checkpoint {path}: {reason}")]
    Checkpoint { path: PathBuf, reason: String },
    #[error("training stopped before the first epoch finished; nothing was written to {0}")]
    StoppedEarly(PathBuf),
    #[error("--resume: nothing to resume in {0} (no checkpoint found; start without --resume)")]
    NothingToResume(PathBuf),
    #[error("{dir} holds checkpoints of an earlier run (up to epoch {epoch}): pass --resume to continue it, or --restart to discard it and start over")]
    RunExists { dir: PathBuf, epoch: usize },
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("training stopped: the loss became {value} at epoch {epoch}; the last good checkpoint is kept in {dir}")]
    Diverged {
        value: f64,
        epoch: usize,
        dir: PathBuf,
    },
}

/// Where a run writes and how it shows progress.
#[derive(Clone)]
pub struct TrainOptions {
    /// The final model directory.
    pub out: PathBuf,
    /// Checkpoints, logs and the run's config.
    pub run_dir: PathBuf,
    /// Continue from the last checkpoint in `run_dir`.
    pub resume: bool,
    /// Discard the checkpoints and logs of an earlier run in `run_dir`.
    pub restart: bool,
    /// Plain progress lines even in a terminal.
    pub plain: bool,
    /// Stops training at the next step when triggered (the binary connects Ctrl-C to it).
    pub interrupter: Option<Interrupter>,
}

/// What a finished run measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TrainReport {
    pub epochs: usize,
    pub train_pairs: usize,
    pub dropped_too_long: usize,
    pub seconds: f64,
    /// Target tokens (END included) seen per second of training, all epochs.
    pub target_tokens_per_second: f64,
    /// Greedy exact match on (up to `eval_examples`) dev sources, best over references.
    pub dev_exact_match: Option<f64>,
    pub dev_evaluated: usize,
    /// The epochs whose average is the final model (`average_last`), if averaged.
    pub averaged_epochs: Option<Vec<usize>>,
}

pub(crate) fn encode_pairs(
    pairs: &[Pair],
    src_vocab: &Vocab,
    tgt_vocab: &Vocab,
    max_len: usize,
) -> (Vec<EncodedPair>, usize) {
    let mut dropped = 0;
    let encoded = pairs
        .iter()
        .filter_map(|p| {
            // +1: the decoder reads BEGIN + target and predicts target + END.
            if p.src.len() > max_len || p.tgt.len() + 1 > max_len {
                dropped += 1;
                return None;
            }
            Some(EncodedPair {
                // Dev data may hold symbols unseen in training: UNK for the validation loss.
                src: src_vocab
                    .encode(&p.src, true)
                    .expect("allow_unk never fails"),
                tgt: tgt_vocab
                    .encode(&p.tgt, true)
                    .expect("allow_unk never fails"),
            })
        })
        .collect();
    (encoded, dropped)
}

/// The highest epoch with a saved model checkpoint in `run_dir`, if any.
pub fn last_checkpoint(run_dir: &Path) -> Option<usize> {
    checkpoints(run_dir).last().copied()
}

/// Whether the model, optimizer and scheduler files of `epoch` are all complete msgpack
/// documents. burn-train writes checkpoints in place, so a process killed mid-save leaves a
/// truncated (or missing) file behind.
pub fn checkpoint_is_complete(run_dir: &Path, epoch: usize) -> bool {
    ["model", "optim", "scheduler"].iter().all(|kind| {
        let path = run_dir
            .join("checkpoint")
            .join(format!("{kind}-{epoch}.mpk"));
        std::fs::read(&path).is_ok_and(|bytes| {
            let mut reader = bytes.as_slice();
            rmp_serde::from_read::<_, serde::de::IgnoredAny>(&mut reader).is_ok()
                && reader.is_empty()
        })
    })
}

/// The newest checkpoint that is complete, moving aside newer, damaged ones (renamed to
/// `*.damaged`, never deleted) so burn-train's bookkeeping does not trip over them.
fn resumable_checkpoint(run_dir: &Path) -> Result<Option<usize>, TrainError> {
    for epoch in checkpoints(run_dir).into_iter().rev() {
        if checkpoint_is_complete(run_dir, epoch) {
            return Ok(Some(epoch));
        }
        eprintln!("warning: the checkpoint of epoch {epoch} is incomplete (interrupted save?); falling back to an earlier one");
        for kind in ["model", "optim", "scheduler"] {
            let path = run_dir
                .join("checkpoint")
                .join(format!("{kind}-{epoch}.mpk"));
            if path.exists() {
                let damaged = path.with_extension("mpk.damaged");
                std::fs::rename(&path, &damaged)
                    .map_err(|source| TrainError::Io { path, source })?;
            }
        }
    }
    Ok(None)
}

/// Every epoch with a saved model checkpoint in `run_dir`, ascending.
pub fn checkpoints(run_dir: &Path) -> Vec<usize> {
    let mut epochs: Vec<usize> = std::fs::read_dir(run_dir.join("checkpoint"))
        .map(|dir| {
            dir.filter_map(|entry| {
                let name = entry.ok()?.file_name().into_string().ok()?;
                name.strip_prefix("model-")?
                    .strip_suffix(".mpk")?
                    .parse()
                    .ok()
            })
            .collect()
        })
        .unwrap_or_default();
    epochs.sort_unstable();
    epochs
}

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

/// `template` with the weights of `epoch`'s checkpoint in `run_dir`.
fn load_checkpoint<B: Backend>(
    template: &Seq2SeqTrainer<B>,
    run_dir: &Path,
    epoch: usize,
    device: &B::Device,
) -> Result<Seq2SeqTrainer<B>, TrainError> {
    let path = run_dir
        .join("checkpoint")
        .join(format!("model-{epoch}.mpk"));
    template
        .clone()
        .load_file(
            path.clone(),
            &NamedMpkFileRecorder::<FullPrecisionSettings>::new(),
            device,
        )
        .map_err(|err| TrainError::Checkpoint {
            path,
            reason: err.to_string(),
        })
}

/// A trainer and, when one was chosen, the epoch and validation loss of its checkpoint.
type BestCheckpoint<B> = (Seq2SeqTrainer<B>, Option<(usize, f64)>);

/// Of the checkpoints burn-train kept (the best by its validation loss and the last two), the
/// one with the lowest validation loss, measured again here: burn-train's metric logs restart
/// their epoch numbering on resume, so they cannot be trusted to name the epoch.
fn best_checkpoint<B: Backend>(
    trainer: Seq2SeqTrainer<B>,
    run_dir: &Path,
    valid: &[Vec<EncodedPair>],
    device: &B::Device,
) -> Result<BestCheckpoint<B>, TrainError> {
    if valid.is_empty() {
        return Ok((trainer, None));
    }
    let mut best: Option<(Seq2SeqTrainer<B>, usize, f64)> = None;
    for epoch in checkpoints(run_dir) {
        let candidate = load_checkpoint(&trainer, run_dir, epoch, device)?;
        let loss = validation_loss(&candidate, valid, device);
        if loss.is_finite() && best.as_ref().is_none_or(|b| loss < b.2) {
            best = Some((candidate, epoch, loss));
        }
    }
    Ok(match best {
        Some((model, epoch, loss)) => (model, Some((epoch, loss))),
        None => (trainer, None),
    })
}

/// An averaged trainer, the epochs it averages and its validation loss.
type Averaged<B> = (Seq2SeqTrainer<B>, Vec<usize>, f64);

/// The element-wise average of the last `count` epoch checkpoints in `run_dir` and its
/// validation loss, or `None` when fewer than two checkpoints are there.
fn averaged_checkpoints<B: Backend>(
    trainer: &Seq2SeqTrainer<B>,
    run_dir: &Path,
    count: usize,
    valid: &[Vec<EncodedPair>],
    device: &B::Device,
) -> Result<Option<Averaged<B>>, TrainError> {
    let epochs = checkpoints(run_dir);
    let epochs: Vec<usize> = epochs[epochs.len().saturating_sub(count)..].to_vec();
    if epochs.len() < 2 {
        return Ok(None);
    }
    let mut models = Vec::with_capacity(epochs.len());
    for &epoch in &epochs {
        let model = load_checkpoint(trainer, run_dir, epoch, device)?;
        models.push(model);
    }
    let averaged = average::average(models).expect("at least two models");
    let loss = if valid.is_empty() {
        f64::NAN
    } else {
        validation_loss(&averaged, valid, device)
    };
    Ok(Some((averaged, epochs, loss)))
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
    if epochs.is_empty() {
        return Err(TrainError::Config("no epoch to export".into()));
    }
    let available = checkpoints(run_dir);
    if let Some(missing) = epochs.iter().find(|e| !available.contains(e)) {
        return Err(TrainError::Config(format!(
            "{} has no checkpoint of epoch {missing} (available: {available:?})",
            run_dir.join("checkpoint").display()
        )));
    }
    let config = artifact::read_config(&run_dir.join(artifact::CONFIG_FILE))?;
    let src_vocab =
        Vocab::read_json(&run_dir.join(artifact::SRC_VOCAB_FILE)).map_err(ArtifactError::from)?;
    let tgt_vocab =
        Vocab::read_json(&run_dir.join(artifact::TGT_VOCAB_FILE)).map_err(ArtifactError::from)?;
    config.model.validate()?;
    let template = Seq2SeqTrainer {
        model: config.model.init::<B>(device),
        label_smoothing: config.optimizer.label_smoothing,
    };
    let mut models = Vec::with_capacity(epochs.len());
    for &epoch in epochs {
        let model = load_checkpoint(&template, run_dir, epoch, device)?;
        models.push(model);
    }
    let trainer = average::average(models).expect("at least one model");
    artifact::save(out, &trainer.model, &config, &src_vocab, &tgt_vocab)?;
    Ok(())
}

/// The corpus with the vocabularies of a run being resumed (so ids keep their meaning).
fn load_corpus(config: &ExperimentConfig, options: &TrainOptions) -> Result<Corpus, TrainError> {
    let mut corpus = config.data.load()?;
    if options.resume {
        corpus.src_vocab = Vocab::read_json(&options.run_dir.join(artifact::SRC_VOCAB_FILE))
            .map_err(ArtifactError::from)?;
        corpus.tgt_vocab = Vocab::read_json(&options.run_dir.join(artifact::TGT_VOCAB_FILE))
            .map_err(ArtifactError::from)?;
    }
    Ok(corpus)
}

/// Train a model as `config` says and write it to `options.out`.
pub fn run<B: AutodiffBackend>(
    config: ExperimentConfig,
    options: &TrainOptions,
    device: B::Device,
) -> Result<TrainReport, TrainError> {
    run_on_devices::<B>(config, options, vec![device])
}

/// [`run`] with data-parallel training over several devices (burn-train's multi-device
/// strategy: each device computes the gradients of its own batches, and the optimizer step is
/// taken on the first device). One device is plain single-device training.
pub fn run_on_devices<B: AutodiffBackend>(
    mut config: ExperimentConfig,
    options: &TrainOptions,
    devices: Vec<B::Device>,
) -> Result<TrainReport, TrainError> {
    let Some(device) = devices.first().cloned() else {
        return Err(TrainError::Config("no device to train on".into()));
    };
    let resumable = if options.resume {
        resumable_checkpoint(&options.run_dir)?
    } else {
        last_checkpoint(&options.run_dir)
    };
    let resume_from = match (options.resume, resumable) {
        (true, None) => return Err(TrainError::NothingToResume(options.run_dir.clone())),
        (true, Some(epoch)) => Some(epoch),
        (false, Some(epoch)) if !options.restart => {
            return Err(TrainError::RunExists {
                dir: options.run_dir.clone(),
                epoch,
            })
        }
        (false, _) => {
            // Checkpoints, metric logs and the early-stopping history of an earlier run would
            // otherwise mix with this one.
            for sub in ["checkpoint", "train", "valid"] {
                let path = options.run_dir.join(sub);
                if path.exists() {
                    std::fs::remove_dir_all(&path)
                        .map_err(|source| TrainError::Io { path, source })?;
                }
            }
            None
        }
    };
    if config.training.batch_tokens == Some(0) {
        return Err(TrainError::Config(
            "batch_tokens must be positive (or null for batches of batch_size pairs)".into(),
        ));
    }
    if config.training.batch_size == 0 || config.training.epochs == 0 {
        return Err(TrainError::Config(format!(
            "batch_size ({}) and epochs ({}) must be positive",
            config.training.batch_size, config.training.epochs
        )));
    }
    if config.optimizer.warmup_steps == 0 {
        return Err(TrainError::Config("warmup_steps must be positive".into()));
    }

    let corpus = load_corpus(&config, options)?;
    config.model.src_vocab_size = corpus.src_vocab.len();
    config.model.tgt_vocab_size = corpus.tgt_vocab.len();
    config.model.validate()?;
    let max_len = config.model.max_len;
    let (train, dropped) =
        encode_pairs(&corpus.train, &corpus.src_vocab, &corpus.tgt_vocab, max_len);
    let (valid, _) = encode_pairs(
        &data::pairs(&corpus.dev),
        &corpus.src_vocab,
        &corpus.tgt_vocab,
        max_len,
    );
    if train.is_empty() {
        return Err(DataError::EmptySplit { split: "train" }.into());
    }
    let train_tokens: usize = train.iter().map(|p| p.tgt.len() + 1).sum();
    println!(
        "data: {:?} task, {} training pairs ({} dropped as longer than max_len {}), {} dev items, {} test items, vocab {} -> {}{}",
        config.data.task,
        train.len(),
        dropped,
        max_len,
        corpus.dev.len(),
        corpus.test.len(),
        corpus.src_vocab.len(),
        corpus.tgt_vocab.len(),
        if corpus.skipped_lines > 0 {
            format!(", {} malformed lines skipped", corpus.skipped_lines)
        } else {
            String::new()
        }
    );

    // The run directory keeps what a resume needs: config and vocabularies.
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TrainError::Io { path, source }
    };
    std::fs::create_dir_all(&options.run_dir).map_err(io(&options.run_dir))?;
    let run_config = options.run_dir.join(artifact::CONFIG_FILE);
    crate::fsutil::write_atomic(&run_config, config.to_string().as_bytes())
        .map_err(io(&run_config))?;
    for (vocab, file) in [
        (&corpus.src_vocab, artifact::SRC_VOCAB_FILE),
        (&corpus.tgt_vocab, artifact::TGT_VOCAB_FILE),
    ] {
        let path = options.run_dir.join(file);
        vocab.write_json(&path).map_err(io(&path))?;
    }

    let batch_size = config.training.batch_size;
    let seed = config.training.seed;
    B::seed(&device, seed);
    crate::model::dropout::seed(seed);
    let train_loader = DataLoaderBuilder::new(Seq2SeqBatcher)
        .batch_size(1) // each item is already a length-bucketed batch
        .shuffle(seed)
        .set_device(device.clone())
        .build(InMemDataset::new(match config.training.batch_tokens {
            Some(tokens) => token_buckets(train, tokens),
            None if config.training.bucket_by_length => buckets(train, batch_size),
            None => random_batches(train, batch_size, seed),
        }));
    let valid_batches = match config.training.batch_tokens {
        Some(tokens) => token_buckets(valid, tokens),
        None => buckets(valid, batch_size),
    };
    let valid_loader = DataLoaderBuilder::new(Seq2SeqBatcher)
        .batch_size(1)
        .set_device(device.clone())
        .build(InMemDataset::new(valid_batches.clone()));

    let trainer = Seq2SeqTrainer {
        model: config.model.init::<B>(&device),
        label_smoothing: config.optimizer.label_smoothing,
    };
    let opt = &config.optimizer;
    let optimizer = AdamConfig::new()
        .with_beta_1(opt.beta_1)
        .with_beta_2(opt.beta_2)
        .with_epsilon(opt.epsilon)
        .with_grad_clipping(opt.grad_clip_norm.map(GradientClippingConfig::Norm))
        .init();
    let scheduler = NoamLrSchedulerConfig::new(opt.noam_factor)
        .with_warmup_steps(opt.warmup_steps)
        .with_model_size(config.model.d_model)
        .init()
        .map_err(TrainError::Config)?;

    let interrupter = options.interrupter.clone().unwrap_or_default();
    let guard = guard::DivergenceGuard::new(interrupter.clone());
    let mut training = SupervisedTraining::new(&options.run_dir, train_loader, valid_loader)
        .with_interrupter(interrupter.clone())
        .metric_train(guard.clone())
        .metrics((AccuracyMetric::new().with_pad_token(PAD), LossMetric::new()))
        .metric_valid_numeric(PerplexityMetric::new().with_pad_token(PAD))
        .metric_train_numeric(LearningRateMetric::new())
        .with_file_checkpointer(NamedMpkFileRecorder::<FullPrecisionSettings>::new())
        // burn-train's default (the last two and the best by validation loss), with as many
        // last ones as the final average needs.
        .with_checkpointing_strategy(
            ComposedCheckpointingStrategy::builder()
                .add(KeepLastNCheckpoints::new(
                    config.training.average_last.max(2),
                ))
                .add(MetricCheckpointingStrategy::new(
                    &LossMetric::<B>::new(),
                    Aggregate::Mean,
                    Direction::Lowest,
                    Split::Valid,
                ))
                .build(),
        )
        .num_epochs(config.training.epochs)
        .summary();
    if config.training.patience > 0 {
        training = training.early_stopping(MetricEarlyStoppingStrategy::new(
            &LossMetric::<B>::new(),
            Aggregate::Mean,
            Direction::Lowest,
            Split::Valid,
            StoppingCondition::NoImprovementSince {
                n_epochs: config.training.patience,
            },
        ));
    }
    if let Some(epoch) = resume_from {
        println!(
            "resuming from the checkpoint of epoch {epoch} in {}",
            options.run_dir.display()
        );
        training = training.checkpoint(epoch);
    }
    if devices.len() > 1 {
        println!("data-parallel training on {} devices", devices.len());
        training = training.with_training_strategy(TrainingStrategy::Default(
            ExecutionStrategy::MultiDevice(devices, MultiDeviceOptim::OptimMainDevice),
        ));
    }
    if options.plain || !std::io::stdout().is_terminal() {
        training = training.renderer(renderer::PlainRenderer::new(Duration::from_secs(10)));
    }

    let started = Instant::now();
    let result = training.launch(Learner::new(trainer, optimizer, scheduler));
    let seconds = started.elapsed().as_secs_f64();
    // Dropping the renderer prints the summary (and leaves the dashboard).
    drop(result.renderer);
    if let Some(value) = guard.tripped() {
        return Err(TrainError::Diverged {
            value,
            epoch: last_checkpoint(&options.run_dir).unwrap_or(0) + 1,
            dir: options.run_dir.join("checkpoint"),
        });
    }
    if interrupter.should_stop() {
        println!(
            "training interrupted during epoch {}; the checkpoints of finished epochs are kept (continue with --resume)",
            last_checkpoint(&options.run_dir).unwrap_or(0) + 1
        );
    }
    // The final model is the kept checkpoint with the lowest validation loss.
    let (mut trainer, best) =
        best_checkpoint(result.model, &options.run_dir, &valid_batches, &device)?;
    if let Some((epoch, loss)) = best {
        println!("best single checkpoint: epoch {epoch}, validation loss {loss:.4}");
    }
    let mut averaged_epochs = None;
    if config.training.average_last > 1 {
        if let Some((averaged, epochs, loss)) = averaged_checkpoints(
            &trainer,
            &options.run_dir,
            config.training.average_last,
            &valid_batches,
            &device,
        )? {
            println!("using the average of epochs {epochs:?}: validation loss {loss:.4}");
            trainer = averaged;
            averaged_epochs = Some(epochs);
        }
    }
    let model = trainer.model;

    let epochs_done = checkpoints(&options.run_dir).last().copied().unwrap_or(0);
    if epochs_done == 0 {
        // Stopped before the first epoch ended: a part-trained model must not replace
        // whatever model is already in the output directory.
        return Err(TrainError::StoppedEarly(options.out.clone()));
    }
    artifact::save(
        &options.out,
        &model,
        &config,
        &corpus.src_vocab,
        &corpus.tgt_vocab,
    )?;
    println!("model written to {}", options.out.display());

    let eval: Vec<_> = corpus
        .dev
        .iter()
        .take(config.training.eval_examples)
        .collect();
    let dev_exact_match = (!eval.is_empty()).then(|| {
        let started = Instant::now();
        let correct = exact_matches(
            &model,
            &eval,
            &corpus.src_vocab,
            &corpus.tgt_vocab,
            max_len,
            &device,
        );
        let rate = correct as f64 / eval.len() as f64;
        println!(
            "dev exact match (greedy, {} items): {:.2}% [{:.1}s]",
            eval.len(),
            100.0 * rate,
            started.elapsed().as_secs_f64()
        );
        rate
    });
    let epochs_run = epochs_done.saturating_sub(resume_from.unwrap_or(0)).max(1);
    let report = TrainReport {
        epochs: epochs_done,
        train_pairs: corpus.train.len() - dropped,
        dropped_too_long: dropped,
        seconds,
        target_tokens_per_second: (train_tokens * epochs_run) as f64 / seconds,
        dev_exact_match,
        dev_evaluated: eval.len(),
        averaged_epochs,
    };
    let report_path = options.out.join("train_report.json");
    crate::fsutil::write_atomic(
        &report_path,
        serde_json::to_string_pretty(&report)
            .expect("report serializes")
            .as_bytes(),
    )
    .map_err(io(&report_path))?;
    Ok(report)
}

/// Count references whose greedy decoding equals one of their targets.
fn exact_matches<B: Backend>(
    model: &crate::model::Transformer<B>,
    items: &[&data::Reference],
    src_vocab: &Vocab,
    tgt_vocab: &Vocab,
    max_len: usize,
    device: &B::Device,
) -> usize {
    let mut correct = 0;
    for chunk in items.chunks(128) {
        let pairs: Vec<EncodedPair> = chunk
            .iter()
            .map(|r| EncodedPair {
                src: src_vocab
                    .encode(&r.src, true)
                    .expect("allow_unk never fails"),
                tgt: Vec::new(),
            })
            .collect();
        let batch = Seq2SeqBatcher.batch_pairs::<B>(&pairs, device);
        let hyps = greedy(model, batch.src, batch.src_padding, max_len);
        for (hyp, reference) in hyps.iter().zip(chunk) {
            let decoded: Vec<String> = tgt_vocab
                .decode(&hyp.tokens)
                .into_iter()
                .map(String::from)
                .collect();
            if reference.targets.contains(&decoded) {
                correct += 1;
            }
        }
    }
    correct
}

/// The inference model type of a trainer (for callers that name it).
pub type InferenceTrainer<B> = <Seq2SeqTrainer<B> as AutodiffModule<B>>::InnerModule;
