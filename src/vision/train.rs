//! Training an image classifier with burn-train's learner and our dashboard, like every
//! model here: AdamW, a cosine learning-rate schedule, a checkpoint per epoch (`--resume`
//! continues), then the model directory (`config.json`, `model.mpk`, `report.json`) and its
//! dev accuracy.

use super::classifier::{ClassifierConfig, ImageClassifier};
use super::dataset::{ImageBatcher, ImageDataError, ImageSet, Split};
use super::evaluate::{evaluate, Evaluation};
use crate::train::renderer::PlainRenderer;
use crate::train::{RunDir, TrainError};
use burn::data::dataloader::DataLoaderBuilder;
use burn::data::dataset::InMemDataset;
use burn::grad_clipping::GradientClippingConfig;
use burn::lr_scheduler::cosine::{CosineAnnealingLrScheduler, CosineAnnealingLrSchedulerConfig};
use burn::module::Module;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{AdamW, AdamWConfig};
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder};
use burn::tensor::backend::AutodiffBackend;
use burn::train::metric::{AccuracyMetric, LearningRateMetric, LossMetric};
use burn::train::{
    ExecutionStrategy, Interrupter, Learner, LearningComponentsMarker, SupervisedTraining,
    TrainingStrategy,
};
use serde::{Deserialize, Serialize};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The model file in a model directory (burn's named MessagePack record; the extension is
/// the recorder's).
pub const MODEL_FILE: &str = "model";
pub const CONFIG_FILE: &str = "config.json";
pub const REPORT_FILE: &str = "report.json";

/// Everything a run needs besides where it writes: the model, the data, the schedule.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageTrainConfig {
    pub model: ClassifierConfig,
    /// Each side of the image is divided by this (block means) before the model reads it.
    pub downsample: usize,
    /// Training images (all classes equally); 0 = every one left after the dev split.
    pub train_images: usize,
    /// Images carved from the training half for dev (model choice), never trained on.
    pub dev_images: usize,
    pub epochs: usize,
    pub batch_size: usize,
    /// Peak learning rate (AdamW), annealed to 0 by a cosine over the whole run.
    pub learning_rate: f64,
    pub weight_decay: f32,
    /// Which images are chosen and in what order batches come.
    pub seed: u64,
}

/// The learner's components: the classifier, AdamW, the cosine schedule.
pub type ImageComponents<B> = LearningComponentsMarker<
    B,
    CosineAnnealingLrScheduler,
    ImageClassifier<B>,
    OptimizerAdaptor<AdamW, ImageClassifier<B>, B>,
>;

/// Why an image run could not train.
#[derive(Debug, thiserror::Error)]
pub enum ImageTrainError {
    #[error(transparent)]
    Data(#[from] ImageDataError),
    #[error("invalid config: {0}")]
    Config(String),
    #[error("{dir} holds checkpoints of an earlier run (up to epoch {epoch}): pass --resume to continue it, or choose another --out")]
    RunExists { dir: PathBuf, epoch: usize },
    #[error("--resume: nothing to resume in {0} (no checkpoint found; start without --resume)")]
    NothingToResume(PathBuf),
    #[error("training interrupted during epoch {epoch}: the checkpoints of finished epochs are in {dir}; continue with --resume")]
    Interrupted { epoch: usize, dir: PathBuf },
    #[error(transparent)]
    Run(TrainError),
    #[error("cannot write {path}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read or write the model at {path}")]
    Record {
        path: PathBuf,
        source: burn::record::RecorderError,
    },
}

/// The data of a run: training images and the dev split carved from the same half.
#[derive(Debug, Clone)]
pub struct ImageData {
    pub train: ImageSet,
    pub dev: ImageSet,
}

impl ImageData {
    /// From Fashion-MNIST's training half in `dir` (see [`ImageSet::fashion_mnist`]).
    pub fn fashion_mnist(
        config: &ImageTrainConfig,
        dir: Option<&Path>,
    ) -> Result<Self, ImageDataError> {
        Ok(Self::carve(
            config,
            &ImageSet::fashion_mnist(dir, Split::Train)?,
        ))
    }

    /// `config.dev_images` of `all` for dev, then `config.train_images` of the rest for
    /// training (both class-balanced, chosen by the seed), both downsampled.
    pub fn carve(config: &ImageTrainConfig, all: &ImageSet) -> Self {
        // The dev split depends on the data alone (seed 0), not on the run's seed: every run
        // is scored on the same images.
        let (rest, dev) = all.split_dev(config.dev_images, 0);
        let train = if config.train_images == 0 {
            rest
        } else {
            rest.subset(config.train_images, config.seed)
        };
        Self {
            train: train.downsample(config.downsample),
            dev: dev.downsample(config.downsample),
        }
    }
}

/// Where a run writes and how it shows progress.
#[derive(Clone)]
pub struct ImageTrainOptions {
    /// The model directory.
    pub out: PathBuf,
    /// Continue from the last checkpoint of the run directory.
    pub resume: bool,
    /// Plain progress lines even in a terminal.
    pub plain: bool,
    /// Stops training at the next step when triggered (the binary connects Ctrl-C to it).
    pub interrupter: Option<Interrupter>,
}

/// What a finished run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageReport {
    pub model: String,
    pub parameters: usize,
    pub train_images: usize,
    pub dev_images: usize,
    pub epochs: usize,
    pub seconds: f64,
    pub dev: Evaluation,
}

/// Check the config against the data it will read.
pub fn check(config: &ImageTrainConfig, data: &ImageData) -> Result<(), ImageTrainError> {
    config.model.validate().map_err(ImageTrainError::Config)?;
    let bad = |msg: String| Err(ImageTrainError::Config(msg));
    if config.epochs == 0 || config.batch_size == 0 || config.downsample == 0 {
        return bad("epochs, batch_size and downsample must be at least 1".into());
    }
    if !(config.learning_rate > 0.0 && config.learning_rate <= 1.0) {
        return bad(format!(
            "learning_rate {} is not in (0, 1]",
            config.learning_rate
        ));
    }
    if data.train.is_empty() || data.dev.is_empty() {
        return bad(format!(
            "{} training and {} dev images: both must be at least 1",
            data.train.len(),
            data.dev.len()
        ));
    }
    let size = (data.train.height, data.train.width);
    if config.model.image_size() != size {
        return bad(format!(
            "the model reads {}x{} images, the data (downsampled by {}) has {}x{}",
            config.model.image_size().0,
            config.model.image_size().1,
            config.downsample,
            size.0,
            size.1
        ));
    }
    if config.model.classes() != data.train.classes {
        return bad(format!(
            "the model has {} classes, the data {}",
            config.model.classes(),
            data.train.classes
        ));
    }
    Ok(())
}

/// Train, save the model directory and score it on dev.
pub fn train<B: AutodiffBackend>(
    config: &ImageTrainConfig,
    data: &ImageData,
    options: &ImageTrainOptions,
    device: B::Device,
) -> Result<ImageReport, ImageTrainError> {
    check(config, data)?;
    let run = RunDir::for_output(&options.out);
    // The text model's policy (src/train/run_dir.rs): resume from the newest complete
    // checkpoint (a truncated one, from a process killed while saving, is moved aside), and
    // never overwrite an earlier run. Image runs have no --restart.
    let resume_from = run.prepare(options.resume, false).map_err(|e| match e {
        TrainError::RunExists { dir, epoch } => ImageTrainError::RunExists { dir, epoch },
        TrainError::NothingToResume(dir) => ImageTrainError::NothingToResume(dir),
        TrainError::Io { path, source } => ImageTrainError::Io { path, source },
        other => ImageTrainError::Run(other),
    })?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ImageTrainError::Io { path, source }
    };
    std::fs::create_dir_all(run.path()).map_err(io(run.path()))?;

    let train_batches = data.train.shuffled_batches(config.batch_size, config.seed);
    let steps = train_batches.len() * config.epochs;
    let train_loader = DataLoaderBuilder::new(ImageBatcher)
        .batch_size(1) // each item is already a batch
        .shuffle(config.seed)
        .set_device(device.clone())
        .build(InMemDataset::new(train_batches));
    let valid_loader = DataLoaderBuilder::new(ImageBatcher)
        .batch_size(1)
        .set_device(device.clone())
        .build(InMemDataset::new(
            data.dev.batches(config.batch_size.max(256)),
        ));

    let interrupter = options.interrupter.clone().unwrap_or_default();
    let mut training =
        SupervisedTraining::<ImageComponents<B>>::new(run.path(), train_loader, valid_loader)
            .with_interrupter(interrupter.clone())
            .metrics((AccuracyMetric::new(), LossMetric::new()))
            .metric_train_numeric(LearningRateMetric::new())
            .num_epochs(config.epochs)
            .with_training_strategy(TrainingStrategy::Default(ExecutionStrategy::SingleDevice(
                device.clone(),
            )))
            .with_file_checkpointer(NamedMpkFileRecorder::<FullPrecisionSettings>::new())
            .summary();
    if let Some(epoch) = resume_from {
        training = training.checkpoint(epoch);
    }
    // In a terminal, burn-train's own dashboard (its default there; vendor/burn-train).
    if options.plain || !std::io::stdout().is_terminal() {
        training = training.renderer(PlainRenderer::new(Duration::from_secs(10)));
    }

    let model: ImageClassifier<B> = config.model.init(&device);
    let parameters = model.num_params();
    let optimizer = AdamWConfig::new()
        .with_weight_decay(config.weight_decay)
        .with_grad_clipping(Some(GradientClippingConfig::Norm(1.0)))
        .init();
    let scheduler = CosineAnnealingLrSchedulerConfig::new(config.learning_rate, steps.max(1))
        .init()
        .map_err(ImageTrainError::Config)?;
    let started = Instant::now();
    let result = training.launch(Learner::new(model, optimizer, scheduler));
    let seconds = started.elapsed().as_secs_f64();
    drop(result.renderer);
    let done = run.last_checkpoint().unwrap_or(0);
    if interrupter.should_stop() || done < config.epochs {
        return Err(ImageTrainError::Interrupted {
            epoch: done + 1,
            dir: run.checkpoint_dir(),
        });
    }
    let model = result.model;
    let dev = evaluate(&model, &data.dev, 256);
    let report = ImageReport {
        model: config.model.describe(),
        parameters,
        train_images: data.train.len(),
        dev_images: data.dev.len(),
        epochs: config.epochs,
        seconds,
        dev,
    };
    save(&options.out, config, &report, model)?;
    Ok(report)
}

/// Write a model directory.
pub fn save<B: burn::prelude::Backend>(
    out: &Path,
    config: &ImageTrainConfig,
    report: &ImageReport,
    model: ImageClassifier<B>,
) -> Result<(), ImageTrainError> {
    std::fs::create_dir_all(out).map_err(|source| ImageTrainError::Io {
        path: out.to_path_buf(),
        source,
    })?;
    write_json(&out.join(CONFIG_FILE), config)?;
    write_json(&out.join(REPORT_FILE), report)?;
    let path = out.join(MODEL_FILE);
    model
        .save_file(&path, &NamedMpkFileRecorder::<FullPrecisionSettings>::new())
        .map_err(|source| ImageTrainError::Record { path, source })
}

/// A model directory written by [`train`]: its config and the model.
pub fn load<B: burn::prelude::Backend>(
    dir: &Path,
    device: &B::Device,
) -> Result<(ImageTrainConfig, ImageClassifier<B>), ImageTrainError> {
    let path = dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path).map_err(|source| ImageTrainError::Read {
        path: path.clone(),
        source,
    })?;
    let config: ImageTrainConfig = serde_json::from_str(&text)
        .map_err(|e| ImageTrainError::Config(format!("{}: {e}", path.display())))?;
    config.model.validate().map_err(ImageTrainError::Config)?;
    let path = dir.join(MODEL_FILE);
    let model = config
        .model
        .init::<B>(device)
        .load_file(
            &path,
            &NamedMpkFileRecorder::<FullPrecisionSettings>::new(),
            device,
        )
        .map_err(|source| ImageTrainError::Record { path, source })?;
    Ok((config, model))
}

/// Write `value` as pretty JSON.
fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), ImageTrainError> {
    let text = serde_json::to_string_pretty(value).expect("plain data serializes") + "\n";
    std::fs::write(path, text).map_err(|source| ImageTrainError::Io {
        path: path.to_path_buf(),
        source,
    })
}
