//! Putting burn-train's learner together: data loaders, metrics, checkpointing, early
//! stopping, progress display, the optimizer and the schedule.

use super::guard::DivergenceGuard;
use super::renderer::PlainRenderer;
use super::run_dir::RunDir;
use super::schedule::{Cooldown, Schedule};
use super::settle::{Settled, ValidEpochs};
use super::strategy::{Components, Strategy};
use super::token_distill::TeacherHandle;
use super::{Seq2SeqTrainer, TrainError};
use crate::config::ExperimentConfig;
use crate::data::batcher::{buckets, random_batches, token_buckets, EncodedPair};
use crate::data::Seq2SeqBatcher;
use crate::model::DecoderKind;
use crate::vocab::PAD;
use burn::data::dataloader::DataLoaderBuilder;
use burn::data::dataset::InMemDataset;
use burn::grad_clipping::GradientClippingConfig;
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder, Recorder};
use burn::tensor::backend::AutodiffBackend;
use burn::train::checkpoint::{
    ComposedCheckpointingStrategy, KeepLastNCheckpoints, MetricCheckpointingStrategy,
};
use burn::train::metric::store::{Aggregate, Direction, EventStoreClient, Split};
use burn::train::metric::{
    AccuracyMetric, CharErrorRate, LearningRateMetric, LossMetric, PerplexityMetric,
};
use burn::train::{
    EarlyStoppingStrategy, Interrupter, Learner, LearnerModelRecord, LearnerOptimizerRecord,
    LearnerSchedulerRecord, MetricEarlyStoppingStrategy, StoppingCondition, SupervisedTraining,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The training batches of `train` as the config says: token-budget buckets, length buckets of
/// `batch_size` pairs, or random batches.
pub fn train_batches(config: &ExperimentConfig, train: Vec<EncodedPair>) -> Vec<Vec<EncodedPair>> {
    let training = &config.training;
    match training.batch_tokens {
        Some(tokens) => token_buckets(train, tokens),
        None if training.bucket_by_length => buckets(train, training.batch_size),
        None => random_batches(train, training.batch_size, training.seed),
    }
}

/// The validation batches (length-sorted, so padding is small).
pub fn valid_batches(config: &ExperimentConfig, valid: Vec<EncodedPair>) -> Vec<Vec<EncodedPair>> {
    match config.training.batch_tokens {
        Some(tokens) => token_buckets(valid, tokens),
        None => buckets(valid, config.training.batch_size),
    }
}

/// What the learner needs besides the config.
pub struct Setup<'a, B: AutodiffBackend> {
    pub run: &'a RunDir,
    pub train_batches: Vec<Vec<EncodedPair>>,
    pub valid_batches: Vec<Vec<EncodedPair>>,
    pub interrupter: Interrupter,
    pub guard: DivergenceGuard,
    /// Set when early stopping ends training.
    pub stopped_early: Arc<AtomicBool>,
    pub strategy: &'a dyn Strategy<B>,
    pub resume_from: Option<usize>,
    pub plain: bool,
}

/// burn-train's early stopping on the validation loss, remembering whether it fired (so the
/// end of training can say why it ended).
#[derive(Clone)]
struct EarlyStop {
    inner: MetricEarlyStoppingStrategy,
    fired: Arc<AtomicBool>,
}

impl EarlyStoppingStrategy for EarlyStop {
    fn should_stop(&mut self, epoch: usize, store: &EventStoreClient) -> bool {
        let stop = self.inner.should_stop(epoch, store);
        if stop {
            self.fired.store(true, Ordering::SeqCst);
        }
        stop
    }
}

/// burn-train's supervised training, configured.
pub fn training<B: AutodiffBackend>(
    config: &ExperimentConfig,
    setup: Setup<'_, B>,
) -> SupervisedTraining<Components<B>> {
    let device = setup.strategy.main_device();
    let seed = config.training.seed;
    // Checkpoint choice and early stopping wait for each epoch's validation metrics.
    let valid_epochs = ValidEpochs::new(setup.resume_from.unwrap_or(0));
    let train_loader = DataLoaderBuilder::new(Seq2SeqBatcher)
        .batch_size(1) // each item is already a batch
        .shuffle(seed)
        .set_device(device.clone())
        .build(InMemDataset::new(setup.train_batches));
    let valid_loader = DataLoaderBuilder::new(Seq2SeqBatcher)
        .batch_size(1)
        .set_device(device)
        .build(InMemDataset::new(setup.valid_batches));
    let leader = setup.strategy.is_leader();
    let mut training = SupervisedTraining::new(
        setup.strategy.log_dir(setup.run.path()),
        train_loader,
        valid_loader,
    )
    .with_interrupter(setup.interrupter)
    .metric_train(setup.guard);
    // Accuracy and perplexity compare the logits with the targets position by position: a
    // CTC model's positions are not the target's. Its metric is the error rate of its greedy
    // outputs (edit distance per target token: PER for G2P; see `Seq2SeqTrainer::ctc_loss`).
    training = if config.model.decoder_kind == DecoderKind::Ctc {
        training.metrics((CharErrorRate::new().with_pad_token(PAD), LossMetric::new()))
    } else {
        training
            .metrics((AccuracyMetric::new().with_pad_token(PAD), LossMetric::new()))
            .metric_valid_numeric(PerplexityMetric::new().with_pad_token(PAD))
    };
    training = training
        .metric_train_numeric(LearningRateMetric::new())
        .metric_valid(valid_epochs.clone())
        .num_epochs(config.training.epochs)
        .with_training_strategy(setup.strategy.training_strategy())
        .summary();
    // Only the leader writes checkpoints (one process of several; see `Strategy::is_leader`).
    if leader {
        training = training
            .with_file_checkpointer(NamedMpkFileRecorder::<FullPrecisionSettings>::new())
            // burn-train's default (the last two and the best by validation loss), with as
            // many last ones as the final average needs.
            .with_checkpointing_strategy(Settled::new(
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
                valid_epochs,
            ));
    }
    if config.training.patience > 0 {
        training = training.early_stopping(EarlyStop {
            inner: MetricEarlyStoppingStrategy::new(
                &LossMetric::<B>::new(),
                Aggregate::Mean,
                Direction::Lowest,
                Split::Valid,
                StoppingCondition::NoImprovementSince {
                    n_epochs: config.training.patience,
                },
            ),
            fired: setup.stopped_early,
        });
    }
    if let Some(epoch) = setup.resume_from {
        training = training.checkpoint(epoch);
    }
    // In a terminal, burn-train's own dashboard: its default there (`setup.plain` is set
    // whenever stdout is not a terminal). Its drawing thread is patched not to spin
    // (vendor/burn-train, the fix of tracel-ai/burn#5021).
    if setup.plain {
        training = training.renderer(PlainRenderer::new(Duration::from_secs(10)));
    }
    training
}

/// A fresh model (or the weights of the model directory `init`, for fine-tuning) with the
/// paper's optimizer (Adam, gradient clipping) and Noam schedule (with `cooldown`, see
/// [`Schedule`]), both starting afresh; `teacher`: token-level distillation's.
pub fn learner<B: AutodiffBackend>(
    config: &ExperimentConfig,
    init: Option<&std::path::Path>,
    cooldown: Option<Cooldown>,
    teacher: Option<TeacherHandle>,
    device: &B::Device,
) -> Result<Learner<Components<B>>, TrainError> {
    let model = config.model.init::<B>(device);
    let model = match init {
        Some(dir) => crate::store::load_weights(model, &dir.join(crate::artifact::WEIGHTS_FILE))
            .map_err(crate::artifact::ArtifactError::from)?,
        None => model,
    };
    let trainer = Seq2SeqTrainer {
        teacher,
        ..Seq2SeqTrainer::new(model, config.optimizer.label_smoothing)
    };
    let opt = &config.optimizer;
    let optimizer = opt
        .adam()
        .with_grad_clipping(opt.grad_clip_norm.map(GradientClippingConfig::Norm))
        .init();
    let scheduler = Schedule::new(
        opt.noam_factor,
        opt.warmup_steps,
        config.model.d_model,
        cooldown,
    )
    .map_err(TrainError::Config)?;
    Ok(Learner::new(trainer, optimizer, scheduler))
}

/// `learner` with the optimizer state and schedule of `epoch`'s checkpoint in `run`: how a
/// process that has no checkpointer of its own (a node other than the leader) resumes (the
/// leader then sends its weights, which are the same).
pub fn load_training_state<B: AutodiffBackend>(
    mut learner: Learner<Components<B>>,
    run: &RunDir,
    epoch: usize,
    device: &B::Device,
) -> Result<Learner<Components<B>>, TrainError> {
    let recorder = NamedMpkFileRecorder::<FullPrecisionSettings>::new();
    let read = |kind: &str| {
        let path = run.checkpoint_file(kind, epoch);
        (path.clone(), recorder.clone())
    };
    // The model record too: Adam's state is keyed by the parameters' ids, which the
    // checkpoint's model record carries (a fresh model has ids of its own).
    let (path, rec) = read("model");
    let model: LearnerModelRecord<Components<B>> = Recorder::<B>::load(&rec, path.clone(), device)
        .map_err(|source| TrainError::Checkpoint { path, source })?;
    learner.load_model(model);
    let (path, rec) = read("optim");
    let optim: LearnerOptimizerRecord<Components<B>> =
        Recorder::<B>::load(&rec, path.clone(), device)
            .map_err(|source| TrainError::Checkpoint { path, source })?;
    learner.load_optim(optim);
    let (path, rec) = read("scheduler");
    let scheduler: LearnerSchedulerRecord<Components<B>> =
        Recorder::<B>::load(&rec, path.clone(), device)
            .map_err(|source| TrainError::Checkpoint { path, source })?;
    learner.load_scheduler(scheduler);
    Ok(learner)
}
