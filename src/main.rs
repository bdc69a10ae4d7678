//! The `seq2seq` command line: a thin layer over the library.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use seq2seq::config::{ExperimentConfig, Preset};
use seq2seq::data::{TaskKind, Tokenization};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(name = "seq2seq", version = version(), about = "The Transformer encoder-decoder on Burn: train, import, decode.")]
struct Cli {
    /// Compute backend (the choices are the cargo features this binary was built with).
    #[arg(long, global = true, value_enum, default_value_t = BackendChoice::default())]
    backend: BackendChoice,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train a model (default: grapheme-to-phoneme on the vendored CMU Pronouncing Dictionary).
    Train(TrainArgs),
    /// Turn a PyTorch state dict (safetensors) into a model directory.
    ImportPytorch(ImportArgs),
}

#[derive(clap::Args, Debug)]
struct TrainArgs {
    /// The task to learn.
    #[arg(long, value_enum, default_value_t = TaskKind::G2p)]
    task: TaskKind,
    /// Data file: a pronouncing dictionary for g2p (CMUdict `word PH PH` or `WORD<TAB>PH PH`
    /// layout; default the vendored CMUdict), `source<TAB>target` lines for tsv.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Starting configuration.
    #[arg(long, value_enum, default_value_t = Preset::Small)]
    preset: Preset,
    /// JSON file laid over the preset (any subset of model/data/optimizer/training fields).
    #[arg(long)]
    config: Option<PathBuf>,
    #[arg(long)]
    epochs: Option<usize>,
    #[arg(long)]
    batch_size: Option<usize>,
    /// Seed for initialisation, dropout, shuffling.
    #[arg(long)]
    seed: Option<u64>,
    /// G2P: drop stress digits from the phones (AH0 -> AH).
    #[arg(long)]
    strip_stress: bool,
    /// Skip malformed data lines (they are counted) instead of stopping at the first.
    #[arg(long)]
    skip_bad_lines: bool,
    /// Where the final model goes (default artifacts/<task>); checkpoints go to
    /// <parent>/runs/<name>.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue the run from its last checkpoint.
    #[arg(long, conflicts_with = "restart")]
    resume: bool,
    /// Discard the checkpoints of an earlier run with the same output and start over.
    #[arg(long)]
    restart: bool,
    /// Plain progress lines instead of the dashboard, even in a terminal.
    #[arg(long)]
    plain: bool,
}

#[derive(clap::Args, Debug)]
struct ImportArgs {
    /// PyTorch state dict saved with safetensors (keys: src_embed.weight, tgt_embed.weight,
    /// transformer.*, generator.*).
    #[arg(long)]
    weights: PathBuf,
    /// Model config JSON (d_model, n_heads, layers, vocabulary sizes, ...).
    #[arg(long)]
    config: PathBuf,
    /// Source vocabulary: one symbol per line, line number = id; ids 0-3 are <pad> <s> </s> <unk>.
    #[arg(long)]
    src_vocab: PathBuf,
    /// Target vocabulary, same layout.
    #[arg(long)]
    tgt_vocab: PathBuf,
    /// How input text is cut into source tokens, and output tokens joined.
    #[arg(long, value_enum, default_value_t = TokensArg::Char)]
    tokens: TokensArg,
    /// The model directory to write.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum TokensArg {
    Char,
    Whitespace,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum BackendChoice {
    #[cfg(feature = "ndarray")]
    /// CPU (ndarray).
    Ndarray,
    #[cfg(feature = "wgpu")]
    /// GPU through WebGPU (Vulkan, Metal, DX12).
    Wgpu,
}

impl Default for BackendChoice {
    fn default() -> Self {
        #[cfg(feature = "wgpu")]
        return BackendChoice::Wgpu;
        #[cfg(all(feature = "ndarray", not(feature = "wgpu")))]
        return BackendChoice::Ndarray;
    }
}

fn version() -> &'static str {
    let mut backends = Vec::new();
    if cfg!(feature = "ndarray") {
        backends.push("ndarray");
    }
    if cfg!(feature = "wgpu") {
        backends.push("wgpu");
    }
    Box::leak(
        format!(
            "{} (burn 0.21.0; backends: {})",
            env!("CARGO_PKG_VERSION"),
            backends.join(", ")
        )
        .into_boxed_str(),
    )
}

/// Run `$body` with `B` bound to the chosen backend and `device` to its default device.
macro_rules! with_backend {
    ($choice:expr, |$B:ident, $device:ident| $body:expr) => {
        match $choice {
            #[cfg(feature = "ndarray")]
            BackendChoice::Ndarray => {
                type $B = seq2seq::backend::NdArray;
                let $device = Default::default();
                eprintln!("backend: ndarray (CPU)");
                $body
            }
            #[cfg(feature = "wgpu")]
            BackendChoice::Wgpu => {
                type $B = seq2seq::backend::Wgpu;
                let $device = burn::backend::wgpu::WgpuDevice::default();
                eprintln!("backend: wgpu ({:?})", $device);
                $body
            }
        }
    };
}

fn experiment_config(args: &TrainArgs) -> Result<ExperimentConfig> {
    let mut config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read config {}", path.display()))?;
            seq2seq::cli_config::overlay(args.preset, &text, &path.display().to_string())?
        }
        None => ExperimentConfig::preset(args.preset),
    };
    config.data.task = args.task;
    if args.data.is_some() {
        config.data.path = args.data.clone();
    }
    config.data.strip_stress |= args.strip_stress;
    config.data.skip_bad_lines |= args.skip_bad_lines;
    if let Some(epochs) = args.epochs {
        config.training.epochs = epochs;
    }
    if let Some(batch_size) = args.batch_size {
        config.training.batch_size = batch_size;
    }
    if let Some(seed) = args.seed {
        config.training.seed = seed;
    }
    Ok(config)
}

fn train(backend: BackendChoice, args: TrainArgs) -> Result<()> {
    let task_name = format!("{:?}", args.task).to_lowercase();
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("artifacts").join(&task_name));
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or(task_name);
    let run_dir = out
        .parent()
        .unwrap_or(std::path::Path::new("."))
        .join("runs")
        .join(name);
    let mut config = experiment_config(&args)?;
    if args.resume {
        // A resumed run keeps its own config; only the number of epochs may grow.
        let saved = run_dir.join(seq2seq::artifact::CONFIG_FILE);
        if saved.is_file() {
            let epochs = args.epochs;
            config = seq2seq::artifact::read_config(&saved)?;
            if let Some(epochs) = epochs {
                config.training.epochs = epochs;
            }
        }
    }
    let options = seq2seq::train::TrainOptions {
        out,
        run_dir,
        resume: args.resume,
        restart: args.restart,
        plain: args.plain,
    };
    with_backend!(backend, |B, device| {
        let report = seq2seq::train::run::<burn::backend::Autodiff<B>>(config, &options, device)?;
        println!(
            "trained {} epochs in {:.0}s ({:.0} target tokens/s)",
            report.epochs, report.seconds, report.target_tokens_per_second
        );
    });
    Ok(())
}

fn import(backend: BackendChoice, args: ImportArgs) -> Result<()> {
    let tokens = match args.tokens {
        TokensArg::Char => Tokenization::Char,
        TokensArg::Whitespace => Tokenization::Whitespace,
    };
    let data = seq2seq::data::DataConfig::new()
        .with_task(TaskKind::Tsv)
        .with_src_tokens(tokens)
        .with_tgt_tokens(tokens);
    with_backend!(backend, |B, device| {
        let loaded = seq2seq::artifact::import_pytorch::<B>(
            &args.weights,
            &args.config,
            &args.src_vocab,
            &args.tgt_vocab,
            data,
            &args.out,
            &device,
        )?;
        println!(
            "imported {} ({} -> {} symbols, d_model {}, {}+{} layers) into {}",
            args.weights.display(),
            loaded.src_vocab.len(),
            loaded.tgt_vocab.len(),
            loaded.config.model.d_model,
            loaded.config.model.n_encoder_layers,
            loaded.config.model.n_decoder_layers,
            args.out.display()
        );
    });
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(args) => train(cli.backend, args),
        Command::ImportPytorch(args) => import(cli.backend, args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
