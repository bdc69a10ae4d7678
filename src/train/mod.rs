//! Training with burn-train's learner: data -> batches -> teacher-forced steps, the paper's
//! optimiser and schedule, checkpoints every epoch, early stopping, the dashboard.
//!
//! A run: check the outputs ([`run_dir`]), load and encode the data, put the learner together
//! ([`learner`]), launch it under a [`strategy`] (one device, several), choose and save the
//! final weights ([`finish`]), score them on dev ([`crate::eval::evaluate`]), report.

pub mod average;
pub mod distill;
pub mod finish;
pub mod guard;
pub mod learner;
pub mod loss;
pub mod renderer;
pub mod run_dir;
pub mod schedule;
pub mod settle;
pub mod step;
pub mod strategy;
pub mod token_distill;

pub use finish::export_checkpoints;
pub use run_dir::RunDir;
pub use schedule::{Cooldown, Schedule};
pub use step::Seq2SeqTrainer;
pub use strategy::{Collective, MultiDevice, NodeConfig, NodeError, SingleDevice, Strategy};

use crate::artifact::{self, ArtifactError, LoadedModel};
use crate::config::ExperimentConfig;
use crate::data::batcher::EncodedPair;
use crate::data::{self, Corpus, DataError, Pair, TextCodec};
use crate::decode::Decoding;
use crate::infer::Predictor;
use crate::model::ConfigError;
use crate::vocab::Vocab;
use burn::tensor::backend::AutodiffBackend;
use burn::train::Interrupter;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Why training could not run.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error("invalid model config")]
    Model(#[from] ConfigError),
    #[error("invalid training config: {0}")]
    Config(String),
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    #[error("cannot read checkpoint {path}: it is damaged, or was written by another model config or another version of seq2seq (continue the run with the version that wrote it, or --restart)")]
    Checkpoint {
        path: PathBuf,
        source: burn::record::RecorderError,
    },
    #[error("training stopped before the first epoch finished; nothing was written to {0}")]
    StoppedEarly(PathBuf),
    #[error("--resume: nothing to resume in {0} (no checkpoint found; start without --resume)")]
    NothingToResume(PathBuf),
    #[error("{dir} holds checkpoints of an earlier run (up to epoch {epoch}): pass --resume to continue it, or --restart to discard it and start over")]
    RunExists { dir: PathBuf, epoch: usize },
    #[error("{0} exists and is not a directory: choose another --out")]
    NotADirectory(PathBuf),
    #[error("distillation failed")]
    Distill(#[from] distill::DistillError),
    #[error("cannot write {path}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The training strategy stopped (a node of several failed, or another did).
    #[error("training failed: {0}")]
    Strategy(String),
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
    /// Checkpoints, logs and the run's config ([`RunDir::for_output`] of `out` by default).
    pub run_dir: PathBuf,
    /// Continue from the last checkpoint in `run_dir`.
    pub resume: bool,
    /// Discard the checkpoints and logs of an earlier run in `run_dir`.
    pub restart: bool,
    /// Plain progress lines even in a terminal.
    pub plain: bool,
    /// Stops training at the next step when triggered (the binary connects Ctrl-C to it).
    pub interrupter: Option<Interrupter>,
    /// Fine-tune: start from this model directory's weights, vocabularies and tokenizers
    /// (with a fresh optimizer and schedule). The config's model must be the directory's
    /// ([`init_config`]).
    pub init: Option<PathBuf>,
    /// Knowledge distillation: the training targets are this teacher's outputs (sequence
    /// level), or its distributions join the loss (token level).
    pub distill: Option<distill::Distillation>,
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
    /// What distillation did to the training targets, if the run had a teacher.
    pub distillation: Option<distill::DistillReport>,
}

/// Encode `pairs` as token ids, dropping (and counting) those longer than `max_len`; with
/// `right_left` (a right-to-left model, `data.right_left`) each target's ids are reversed.
pub(crate) fn encode_pairs(
    pairs: &[Pair],
    src_vocab: &Vocab,
    tgt_vocab: &Vocab,
    max_len: usize,
    right_left: bool,
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
                tgt: {
                    let mut tgt = tgt_vocab
                        .encode(&p.tgt, true)
                        .expect("allow_unk never fails");
                    if right_left {
                        tgt.reverse();
                    }
                    tgt
                },
            })
        })
        .collect();
    (encoded, dropped)
}

/// The highest epoch with a saved model checkpoint in `run_dir`, if any.
pub fn last_checkpoint(run_dir: &Path) -> Option<usize> {
    RunDir::new(run_dir).last_checkpoint()
}

/// Whether every file of `epoch`'s checkpoint in `run_dir` is complete ([`RunDir::is_complete`]).
pub fn checkpoint_is_complete(run_dir: &Path, epoch: usize) -> bool {
    RunDir::new(run_dir).is_complete(epoch)
}

/// Every epoch with a saved model checkpoint in `run_dir`, ascending.
pub fn checkpoints(run_dir: &Path) -> Vec<usize> {
    RunDir::new(run_dir).checkpoints()
}

/// Settings that cannot train, found before any data is read.
fn check_training_config(config: &ExperimentConfig) -> Result<(), TrainError> {
    let training = &config.training;
    if training.batch_tokens == Some(0) {
        return Err(TrainError::Config(
            "batch_tokens must be positive (or null for batches of batch_size pairs)".into(),
        ));
    }
    if training.batch_size == 0 || training.epochs == 0 {
        return Err(TrainError::Config(format!(
            "batch_size ({}) and epochs ({}) must be positive",
            training.batch_size, training.epochs
        )));
    }
    if config.optimizer.warmup_steps == 0 {
        return Err(TrainError::Config("warmup_steps must be positive".into()));
    }
    if config.optimizer.cooldown_epochs > training.epochs {
        return Err(TrainError::Config(format!(
            "cooldown_epochs ({}) is more than the run's epochs ({})",
            config.optimizer.cooldown_epochs, training.epochs
        )));
    }
    Ok(())
}

/// The corpus, with the vocabularies and tokenizers of a run being resumed or of the model
/// being fine-tuned (so ids keep their meaning); otherwise learned from the training split.
fn load_corpus(
    config: &ExperimentConfig,
    run: &RunDir,
    options: &TrainOptions,
    leader: bool,
) -> Result<Corpus, TrainError> {
    let saved = if options.resume {
        Some((run.codec(&config.data)?, run.vocabs()?))
    } else if let Some(dir) = &options.init {
        let codec = TextCodec::load(&config.data, dir)?;
        let vocabs = (
            Vocab::read_json(&dir.join(artifact::SRC_VOCAB_FILE)).map_err(ArtifactError::from)?,
            Vocab::read_json(&dir.join(artifact::TGT_VOCAB_FILE)).map_err(ArtifactError::from)?,
        );
        Some((codec, vocabs))
    } else {
        None
    };
    let show_progress = leader && !options.plain && std::io::stderr().is_terminal();
    match saved {
        Some((codec, (src_vocab, tgt_vocab))) => {
            let mut corpus = config.data.load_with(Some(codec), false)?;
            (corpus.src_vocab, corpus.tgt_vocab) = (src_vocab, tgt_vocab);
            Ok(corpus)
        }
        None => {
            let subword = config.data.src_tokens.subword().is_some()
                || config.data.tgt_tokens.subword().is_some();
            if subword && config.data.task == data::TaskKind::Tsv {
                println!(
                    "learning {} subword vocabulary of {} pieces from the training split ...",
                    if config.data.joint_vocab {
                        "a joint"
                    } else {
                        "the"
                    },
                    config.data.vocab_size
                );
            }
            let started = Instant::now();
            let corpus = config.data.load_with(None, show_progress)?;
            if subword && config.data.task == data::TaskKind::Tsv {
                println!(
                    "subword vocabulary learned in {:.1}s: {} source / {} target pieces",
                    started.elapsed().as_secs_f64(),
                    corpus.src_vocab.len(),
                    corpus.tgt_vocab.len()
                );
            }
            Ok(corpus)
        }
    }
}

/// `config` for fine-tuning the model directory `init`: its model, vocabulary and tokenizer
/// settings replace the config's (the weights only fit them); `model_overrides` (the model
/// fields a config file set) must agree with the directory's, or it is an error naming the
/// first field that differs.
pub fn init_config(
    mut config: ExperimentConfig,
    init: &Path,
    model_overrides: Option<&serde_json::Value>,
) -> Result<ExperimentConfig, TrainError> {
    let path = init.join(artifact::CONFIG_FILE);
    if !path.is_file() {
        return Err(ArtifactError::NotAModel(init.to_path_buf()).into());
    }
    let saved = artifact::read_config(&path)?;
    if let Some(serde_json::Value::Object(fields)) = model_overrides {
        let theirs = serde_json::to_value(&saved.model).expect("configs serialize");
        for (key, value) in fields {
            if theirs.get(key) != Some(value) {
                return Err(TrainError::Config(format!(
                    "the config sets model.{key} = {value}, but the model in {} to start from has {}: --init keeps the model's architecture",
                    init.display(),
                    theirs.get(key).map_or("no such field".to_string(), |v| v.to_string())
                )));
            }
        }
    }
    config.model = saved.model;
    let (from, to) = (&saved.data, &mut config.data);
    if from.task != to.task {
        return Err(TrainError::Config(format!(
            "the model in {} was trained on the {:?} task, not {:?}",
            init.display(),
            from.task,
            to.task
        )));
    }
    to.src_tokens = from.src_tokens;
    to.tgt_tokens = from.tgt_tokens;
    to.vocab_size = from.vocab_size;
    to.joint_vocab = from.joint_vocab;
    to.strip_stress = from.strip_stress;
    to.src_eos = from.src_eos;
    // A right-to-left model stays one; a left-to-right one may start a right-to-left run
    // (`--right-left`: its encoder carries over, its decoder learns the other direction).
    to.right_left |= from.right_left;
    // How the model decodes (an imported model's transformers rules) goes with it.
    config.generation = saved.generation;
    Ok(config)
}

/// Train a model as `config` says on one device and write it to `options.out`.
pub fn run<B: AutodiffBackend>(
    config: ExperimentConfig,
    options: &TrainOptions,
    device: B::Device,
) -> Result<TrainReport, TrainError> {
    run_with::<B>(config, options, &SingleDevice::<B>(device))
}

/// [`run`] with data-parallel training over several devices of this machine ([`MultiDevice`]);
/// one device is plain single-device training.
pub fn run_on_devices<B: AutodiffBackend>(
    config: ExperimentConfig,
    options: &TrainOptions,
    devices: Vec<B::Device>,
) -> Result<TrainReport, TrainError> {
    match devices.len() {
        0 => Err(TrainError::Config("no device to train on".into())),
        1 => run::<B>(config, options, devices[0].clone()),
        _ => run_with::<B>(
            config,
            options,
            &MultiDevice::<B>::new(devices).expect("devices"),
        ),
    }
}

/// Train under any [`Strategy`]: check the outputs, load the data, launch the learner, choose
/// and save the final weights, evaluate them on dev, write the report.
pub fn run_with<B: AutodiffBackend>(
    mut config: ExperimentConfig,
    options: &TrainOptions,
    strategy: &dyn Strategy<B>,
) -> Result<TrainReport, TrainError> {
    let device = strategy.main_device();
    let run = RunDir::new(&options.run_dir);
    // Every output location is checked before the data is read.
    let leader = strategy.is_leader();
    check_training_config(&config)?;
    let resume_from = if leader {
        run_dir::check_output_dir(&options.out)?;
        run_dir::check_output_dir(run.path())?;
        run.prepare(options.resume, options.restart)?
    } else if options.resume {
        // A node other than the leader writes nothing and resumes from the leader's run
        // directory (shared, or copied to this machine).
        Some(
            run.resumable()?
                .ok_or_else(|| TrainError::NothingToResume(run.path().to_path_buf()))?,
        )
    } else {
        None
    };

    let mut corpus = load_corpus(&config, &run, options, leader)?;
    let sequence_level = options
        .distill
        .as_ref()
        .filter(|d| d.level == distill::DistillLevel::Sequence);
    let distillation = match sequence_level {
        Some(teacher) => Some(distill::distill::<B::InnerBackend>(
            &mut corpus.train,
            &corpus.codec,
            config.data.task,
            &corpus.tgt_vocab,
            teacher,
            leader.then_some(run.path()),
            device.clone(),
        )?),
        None => None,
    };
    config.model.src_vocab_size = corpus.src_vocab.len();
    config.model.tgt_vocab_size = corpus.tgt_vocab.len();
    config.model.validate()?;
    let max_len = config.model.max_source_len();
    let right_left = config.data.right_left;
    let (train, dropped) = encode_pairs(
        &corpus.train,
        &corpus.src_vocab,
        &corpus.tgt_vocab,
        max_len,
        right_left,
    );
    let (valid, _) = encode_pairs(
        &data::pairs(&corpus.dev),
        &corpus.src_vocab,
        &corpus.tgt_vocab,
        max_len,
        right_left,
    );
    if train.is_empty() {
        return Err(DataError::EmptySplit { split: "train" }.into());
    }
    let train_tokens: usize = train.iter().map(|p| p.tgt.len() + 1).sum();
    let longest = train
        .iter()
        .map(|p| p.src.len().max(p.tgt.len() + 1))
        .max()
        .unwrap_or(0);
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
    if leader {
        run.save_setup(&config, &corpus.src_vocab, &corpus.tgt_vocab, &corpus.codec)?;
    }

    let seed = config.training.seed;
    B::seed(&device, seed);
    crate::model::dropout::seed(seed);
    let valid_batches = learner::valid_batches(&config, valid);
    let interrupter = options.interrupter.clone().unwrap_or_default();
    let guard = guard::DivergenceGuard::new(interrupter.clone());
    let stopped_early = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    if let Some(epoch) = resume_from {
        println!(
            "resuming from the checkpoint of epoch {epoch} in {}",
            run.path().display()
        );
    }
    if let Some(line) = strategy.describe() {
        println!("{line}");
    }
    let train_batches = strategy.shard(learner::train_batches(&config, train));
    let steps_per_epoch = strategy.steps_per_epoch(train_batches.len());
    let cooldown = Cooldown::last_epochs(
        config.training.epochs,
        config.optimizer.cooldown_epochs,
        steps_per_epoch,
    );
    if let Some(cooldown) = cooldown {
        println!(
            "schedule: Noam, cooled down linearly over epochs {}-{} (steps {}-{})",
            config.training.epochs - config.optimizer.cooldown_epochs + 1,
            config.training.epochs,
            cooldown.start + 1,
            cooldown.end
        );
    }
    let training = learner::training(
        &config,
        learner::Setup {
            run: &run,
            train_batches,
            valid_batches: valid_batches.clone(),
            interrupter: interrupter.clone(),
            guard: guard.clone(),
            stopped_early: stopped_early.clone(),
            strategy,
            resume_from,
            plain: options.plain || !leader || !std::io::stdout().is_terminal(),
        },
    );

    let started = Instant::now();
    // A resumed run's weights come from its checkpoint, not from --init.
    let init = options.init.as_deref().filter(|_| resume_from.is_none());
    if let Some(dir) = init {
        println!("starting from the weights of {}", dir.display());
    }
    let teacher = match &options.distill {
        Some(
            d @ distill::Distillation {
                level: distill::DistillLevel::Token { alpha },
                ..
            },
        ) => {
            let teacher = token_distill::TokenTeacher::<B::InnerBackend>::load(
                d,
                *alpha,
                &config.data,
                config.model.decoder_kind == crate::model::DecoderKind::Ctc,
                &corpus.src_vocab,
                &corpus.tgt_vocab,
                longest,
                device.clone(),
            )?;
            println!(
                "distillation: token level, teacher {} (share {alpha} of the loss)",
                d.teacher_names()
            );
            Some(token_distill::TeacherHandle::new(teacher))
        }
        _ => None,
    };
    let mut fresh = learner::learner::<B>(&config, init, cooldown, teacher, &device)?;
    if let Some(epoch) = resume_from {
        // A node other than the leader resumes from this state. The leader's learner loads
        // the same checkpoint again in `launch`, where burn-train panics on one it cannot
        // read: loading it here first makes a damaged or mismatched checkpoint an error.
        fresh = learner::load_training_state(fresh, &run, epoch, &device)?;
    }
    let result = training.launch(fresh);
    let seconds = started.elapsed().as_secs_f64();
    // Dropping the renderer prints the summary (and leaves the dashboard).
    drop(result.renderer);
    if let Some(value) = guard.tripped() {
        return Err(TrainError::Diverged {
            value,
            epoch: run.last_checkpoint().unwrap_or(0) + 1,
            dir: run.checkpoint_dir(),
        });
    }
    if let Some(reason) = strategy.failure() {
        return Err(TrainError::Strategy(reason));
    }
    let epochs_done = strategy
        .epochs_done()
        .unwrap_or_else(|| run.last_checkpoint().unwrap_or(0));
    // Training ends early by early stopping, divergence (above) or the user. The interrupter
    // cannot tell the last: burn-train's dashboard resets it when training ends.
    if stopped_early.load(std::sync::atomic::Ordering::SeqCst) {
        println!(
            "early stopping after epoch {epochs_done}: the validation loss has not improved for {} epochs (training.patience)",
            config.training.patience
        );
    } else if epochs_done < config.training.epochs {
        println!(
            "training interrupted during epoch {}; the checkpoints of finished epochs are kept (continue with --resume)",
            epochs_done + 1
        );
    }
    if epochs_done == 0 {
        // Stopped before the first epoch ended: a part-trained model must not replace
        // whatever model is already in the output directory.
        return Err(TrainError::StoppedEarly(options.out.clone()));
    }
    let epochs_run = epochs_done.saturating_sub(resume_from.unwrap_or(0)).max(1);
    // All the training data per epoch: with several processes, the group's rate.
    let target_tokens_per_second = (train_tokens * epochs_run) as f64 / seconds;
    if !strategy.is_leader() {
        return Ok(TrainReport {
            epochs: epochs_done,
            train_pairs: corpus.train.len() - dropped,
            dropped_too_long: dropped,
            seconds,
            target_tokens_per_second,
            dev_exact_match: None,
            dev_evaluated: 0,
            averaged_epochs: None,
            distillation,
        });
    }

    let chosen = finish::choose(
        result.model,
        &run,
        config.training.average_last,
        &valid_batches,
        &device,
    )?;
    if let Some((epoch, loss)) = chosen.best {
        println!("best single checkpoint: epoch {epoch}, validation loss {loss:.4}");
    }
    if let Some((epochs, loss)) = &chosen.averaged {
        println!("using the average of epochs {epochs:?}: validation loss {loss:.4}");
    }
    let predictor = Predictor::new(
        LoadedModel {
            model: chosen.trainer.model,
            config: config.clone(),
            src_vocab: corpus.src_vocab.clone(),
            tgt_vocab: corpus.tgt_vocab.clone(),
            codec: corpus.codec.clone(),
        },
        device.clone(),
    );
    let loaded = &predictor.loaded;
    artifact::save(
        &options.out,
        &loaded.model,
        &config,
        &loaded.src_vocab,
        &loaded.tgt_vocab,
        &loaded.codec,
    )?;
    println!("model written to {}", options.out.display());

    let eval: Vec<_> = corpus
        .dev
        .iter()
        .take(config.training.eval_examples)
        .cloned()
        .collect();
    let dev = (!eval.is_empty()).then(|| {
        let report = crate::eval::evaluate(
            &predictor,
            &eval,
            &Decoding::greedy(),
            128,
            &mut |_, _, _| {},
        );
        println!(
            "dev exact match (greedy, {} items): {:.2}% [{:.1}s]",
            report.items,
            100.0 * report.exact_match,
            report.seconds
        );
        report
    });
    let report = TrainReport {
        epochs: epochs_done,
        train_pairs: corpus.train.len() - dropped,
        dropped_too_long: dropped,
        seconds,
        target_tokens_per_second,
        dev_exact_match: dev.as_ref().map(|r| r.exact_match),
        dev_evaluated: dev.as_ref().map_or(0, |r| r.items),
        averaged_epochs: chosen.averaged.map(|(epochs, _)| epochs),
        distillation,
    };
    let report_path = options.out.join("train_report.json");
    crate::fsutil::write_atomic(
        &report_path,
        serde_json::to_string_pretty(&report)
            .expect("report serializes")
            .as_bytes(),
    )
    .map_err(|source| TrainError::Io {
        path: report_path,
        source,
    })?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::encode_pairs;
    use crate::data::Pair;
    use crate::vocab::Vocab;

    /// A right-to-left run reverses each target's ids and leaves sources (and the length
    /// limit) as they are.
    #[test]
    fn right_to_left_reverses_targets_only() {
        let words = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        let src_vocab = Vocab::new(["a", "b", "c"]);
        let tgt_vocab = Vocab::new(["x", "y", "z"]);
        let pairs = vec![
            Pair {
                src: words("a b c"),
                tgt: words("x y z y"),
            },
            Pair {
                src: words("c"),
                tgt: words("a b c d e f"),
            },
        ];
        let (forward, dropped) = encode_pairs(&pairs, &src_vocab, &tgt_vocab, 6, false);
        assert_eq!(dropped, 1, "6 tokens + END do not fit 6 positions");
        let (backward, dropped_too) = encode_pairs(&pairs, &src_vocab, &tgt_vocab, 6, true);
        assert_eq!(dropped_too, 1);
        assert_eq!(backward[0].src, forward[0].src);
        let mut reversed = forward[0].tgt.clone();
        reversed.reverse();
        assert_eq!(backward[0].tgt, reversed);
        assert_ne!(backward[0].tgt, forward[0].tgt);
    }
}
