//! `seq2seq image train` and `seq2seq image eval`: self-attention over pixels or patches, or
//! the CNN baseline, on Fashion-MNIST.

use anyhow::{Context, Result};
use seq2seq::backend::BackendChoice;
use seq2seq::vision::cnn::CnnConfig;
use seq2seq::vision::dataset::{ImageSet, Split};
use seq2seq::vision::image_transformer::{ImagePositions, ImageTransformerConfig, Pooling};
use seq2seq::vision::{evaluate, ClassifierConfig, ImageData, ImageTrainConfig, FASHION_CLASSES};
use seq2seq::with_backend;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct ImageArgs {
    #[command(subcommand)]
    command: ImageCommand,
}

#[derive(clap::Subcommand, Debug)]
enum ImageCommand {
    /// Train an image classifier on Fashion-MNIST's training half (a dev split carved from it).
    Train(ImageTrainArgs),
    /// Score an image model: accuracy and the confusion matrix.
    Eval(ImageEvalArgs),
    /// Draw what one pixel (or the class token) of an image attends to, per layer and head.
    Attention(ImageAttentionArgs),
}

/// Which model `image train` builds.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum ModelKind {
    /// Self-attention over pixels (--patch 1) or patches, from the encoder's layers.
    Transformer,
    /// The convolutional baseline.
    Cnn,
}

#[derive(clap::Args, Debug)]
struct ImageTrainArgs {
    #[arg(long, value_enum, default_value_t = ModelKind::Transformer)]
    model: ModelKind,
    /// Side of the square patch one token covers (1 = every pixel a token, the tutorial's
    /// version; 4 or 7 = ViT's patches).
    #[arg(long, default_value_t = 4)]
    patch: usize,
    /// Divide each image side by this (block means) first: 2 makes 28x28 into 14x14, so
    /// pixels as tokens (196) fit a CPU.
    #[arg(long, default_value_t = 1)]
    downsample: usize,
    #[arg(long, default_value_t = 64)]
    d_model: usize,
    #[arg(long, default_value_t = 4)]
    heads: usize,
    #[arg(long, default_value_t = 128)]
    d_ff: usize,
    #[arg(long, default_value_t = 2)]
    layers: usize,
    #[arg(long, default_value_t = 0.1)]
    dropout: f64,
    #[arg(long, value_enum, default_value_t = PositionsArg::Sinusoidal)]
    positions: PositionsArg,
    #[arg(long, value_enum, default_value_t = PoolingArg::Class)]
    pooling: PoolingArg,
    /// The CNN's channels per convolution block, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "32,64")]
    channels: Vec<usize>,
    /// Training images, every class equally (0 = all 55,000 left after the dev split).
    #[arg(long, default_value_t = 0)]
    train_images: usize,
    /// Images of the training half kept apart for dev.
    #[arg(long, default_value_t = 5000)]
    dev_images: usize,
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    #[arg(long, default_value_t = 128)]
    batch_size: usize,
    /// Peak learning rate (AdamW, cosine schedule to 0).
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    #[arg(long, default_value_t = 0.05)]
    weight_decay: f32,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Directory with Fashion-MNIST's four IDX files (default: where Debian's
    /// dataset-fashion-mnist installs them).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Model directory (default: artifacts/fashion-<model>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue an interrupted run from its last checkpoint.
    #[arg(long)]
    resume: bool,
    /// Plain progress lines instead of the dashboard.
    #[arg(long)]
    plain: bool,
    /// Compute threads of this process (default: one per core).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    threads: Option<u32>,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy)]
enum PositionsArg {
    Sinusoidal,
    Learned,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy)]
enum PoolingArg {
    Class,
    Mean,
}

#[derive(clap::Args, Debug)]
struct ImageEvalArgs {
    /// Model directory from `image train`.
    #[arg(long)]
    model: PathBuf,
    /// dev (carved from the training half, as in training) or test (Fashion-MNIST's 10,000
    /// held-out images).
    #[arg(long, value_enum, default_value_t = SplitArg::Dev)]
    split: SplitArg,
    #[arg(long)]
    data: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
struct ImageAttentionArgs {
    /// Model directory from `image train` (self-attention).
    #[arg(long)]
    model: PathBuf,
    /// Which image of the split (0-based).
    #[arg(long, default_value_t = 0)]
    index: usize,
    #[arg(long, value_enum, default_value_t = SplitArg::Test)]
    split: SplitArg,
    /// The query pixel as ROW,COL of the image the model reads (after downsampling);
    /// default the class token, or the centre pixel for a model without one.
    #[arg(long, value_delimiter = ',')]
    pixel: Option<Vec<usize>>,
    /// The PNG to write.
    #[arg(long)]
    out: PathBuf,
    #[arg(long)]
    data: Option<PathBuf>,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum SplitArg {
    Dev,
    Test,
}

pub fn image(backend: BackendChoice, args: ImageArgs) -> Result<()> {
    match args.command {
        ImageCommand::Train(args) => train(backend, args),
        ImageCommand::Eval(args) => eval(backend, args),
        ImageCommand::Attention(args) => attention(backend, args),
    }
}

fn config_of(args: &ImageTrainArgs) -> Result<ImageTrainConfig> {
    anyhow::ensure!(
        args.downsample >= 1 && 28 % args.downsample == 0,
        "--downsample {} does not divide Fashion-MNIST's 28x28 images",
        args.downsample
    );
    let side = 28 / args.downsample;
    let classes = FASHION_CLASSES.len();
    let model = match args.model {
        ModelKind::Transformer => ClassifierConfig::Transformer(
            ImageTransformerConfig::new(side, side, classes)
                .with_patch(args.patch)
                .with_d_model(args.d_model)
                .with_n_heads(args.heads)
                .with_d_ff(args.d_ff)
                .with_n_layers(args.layers)
                .with_dropout(args.dropout)
                .with_positions(match args.positions {
                    PositionsArg::Sinusoidal => ImagePositions::Sinusoidal,
                    PositionsArg::Learned => ImagePositions::Learned,
                })
                .with_pooling(match args.pooling {
                    PoolingArg::Class => Pooling::Class,
                    PoolingArg::Mean => Pooling::Mean,
                }),
        ),
        ModelKind::Cnn => ClassifierConfig::Cnn(
            CnnConfig::new(side, side, classes)
                .with_channels(args.channels.clone())
                .with_dropout(args.dropout),
        ),
    };
    model.validate().map_err(anyhow::Error::msg)?;
    Ok(ImageTrainConfig {
        model,
        downsample: args.downsample,
        train_images: args.train_images,
        dev_images: args.dev_images,
        epochs: args.epochs,
        batch_size: args.batch_size,
        learning_rate: args.lr,
        weight_decay: args.weight_decay,
        seed: args.seed,
    })
}

fn train(backend: BackendChoice, args: ImageTrainArgs) -> Result<()> {
    if let Some(threads) = args.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads as usize)
            .build_global()
            .context("cannot set the number of compute threads (--threads)")?;
    }
    let config = config_of(&args)?;
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from("artifacts").join(match args.model {
            ModelKind::Transformer => "fashion-transformer",
            ModelKind::Cnn => "fashion-cnn",
        })
    });
    let data = ImageData::fashion_mnist(&config, args.data.as_deref())
        .context("cannot read the images")?;
    println!(
        "data: Fashion-MNIST, {} training and {} dev images of {}x{}; model: {}",
        data.train.len(),
        data.dev.len(),
        data.train.height,
        data.train.width,
        config.model.describe()
    );
    let options = seq2seq::vision::ImageTrainOptions {
        out: out.clone(),
        resume: args.resume,
        plain: args.plain,
        interrupter: Some(super::train::ctrl_c_interrupter()),
    };
    with_backend!(backend, |B, device| {
        type AB = burn::backend::Autodiff<B>;
        let report = seq2seq::vision::train::train::<AB>(&config, &data, &options, device)?;
        println!(
            "trained {} epochs in {:.0}s: {} parameters, dev accuracy {:.2}% ({} images); model in {}",
            report.epochs,
            report.seconds,
            report.parameters,
            report.dev.accuracy(),
            report.dev.items,
            out.display()
        );
        print!("{}", report.dev.table(&FASHION_CLASSES));
    });
    Ok(())
}

fn eval(backend: BackendChoice, args: ImageEvalArgs) -> Result<()> {
    with_backend!(backend, |B, device| {
        let (config, model) = seq2seq::vision::train::load::<B>(&args.model, &device)
            .with_context(|| format!("cannot load {}", args.model.display()))?;
        let set = split_of(&config, args.split, args.data.as_deref())?;
        let eval = evaluate(&model, &set, 256);
        println!(
            "{} images ({:?}): accuracy {:.2}%",
            eval.items,
            args.split,
            eval.accuracy()
        );
        print!("{}", eval.table(&FASHION_CLASSES));
    });
    Ok(())
}

/// The images of `split` as the model reads them.
fn split_of(
    config: &ImageTrainConfig,
    split: SplitArg,
    data: Option<&std::path::Path>,
) -> Result<ImageSet> {
    Ok(match split {
        SplitArg::Dev => ImageData::fashion_mnist(config, data)?.dev,
        SplitArg::Test => ImageSet::fashion_mnist(data, Split::Test)?.downsample(config.downsample),
    })
}

fn attention(backend: BackendChoice, args: ImageAttentionArgs) -> Result<()> {
    use seq2seq::vision::attention_map::{attention_maps, render, Query};
    use seq2seq::vision::ImageClassifier;
    with_backend!(backend, |B, device| {
        let (config, model) = seq2seq::vision::train::load::<B>(&args.model, &device)
            .with_context(|| format!("cannot load {}", args.model.display()))?;
        let ImageClassifier::Transformer(model) = model else {
            anyhow::bail!(
                "{} is a CNN: it has no attention to draw (its receptive field is its kernels')",
                args.model.display()
            );
        };
        let set = split_of(&config, args.split, args.data.as_deref())?;
        anyhow::ensure!(
            args.index < set.len(),
            "--index {}: the {:?} split has {} images",
            args.index,
            args.split,
            set.len()
        );
        let query = match &args.pixel {
            Some(p) => match p[..] {
                [row, col] => Query::Pixel(row, col),
                _ => anyhow::bail!("--pixel takes ROW,COL, not {p:?}"),
            },
            None if model.class_token.is_some() => Query::Class,
            None => Query::Pixel(set.height / 2, set.width / 2),
        };
        let pixels = set.image(args.index);
        let maps = attention_maps(&model, pixels, set.height, set.width, query, &device)?;
        let predicted = seq2seq::vision::evaluate::predict(
            &ImageClassifier::Transformer(model),
            &set.pick(&[args.index]),
            1,
            &device,
        )[0];
        let truth = set.labels[args.index] as usize;
        let heading = format!(
            "{:?} image {} ({}; the model says {}): attention of {}",
            args.split,
            args.index,
            FASHION_CLASSES[truth],
            FASHION_CLASSES[predicted],
            match query {
                Query::Class => "the class token".to_string(),
                Query::Pixel(r, c) => format!("pixel ({r}, {c}), outlined"),
            }
        );
        render(&heading, pixels, set.height, set.width, &maps)
            .save(&args.out)
            .with_context(|| format!("cannot write {}", args.out.display()))?;
        println!("wrote {}", args.out.display());
    });
    Ok(())
}
