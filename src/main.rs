//! The `seq2seq` command line: a thin layer over the library.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use seq2seq::backend::{version, BackendChoice};
use seq2seq::config::{ExperimentConfig, Preset};
use seq2seq::data::{Reference, TaskKind, Tokenization};
use seq2seq::decode::Decoding;
use seq2seq::infer::Predictor;
use seq2seq::with_backend;
use std::path::PathBuf;
use std::process::ExitCode;

mod commands;
use commands::bench::BenchArgs;
use commands::infer::InferArgs;
use std::time::{Duration, Instant};

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
    /// Decode text with a trained model: one output line per input.
    Infer(InferArgs),
    /// Score a model on held-out data (G2P: word and phoneme error rates).
    Eval(EvalArgs),
    /// Draw the attention weights of one decoded input as a PNG.
    Attention(AttentionArgs),
    /// Benchmark training and decoding against PyTorch (scripts/bench_pytorch.py) in one run.
    Bench(BenchArgs),
    /// Write a model directory from a run's checkpoints: one epoch, or the average of several.
    Average(AverageArgs),
    /// List the backends built in and the devices they can use (GPU adapters for wgpu).
    Devices(DevicesArgs),
    /// Run the global orchestrator that introduces the nodes of a training run across
    /// machines (`train --nodes`) to each other.
    Orchestrator(OrchestratorArgs),
}

#[derive(clap::Args, Debug)]
struct DevicesArgs {
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
struct AverageArgs {
    /// The run directory (`<parent of --out>/runs/<name>` of `train`, e.g. artifacts/runs/g2p).
    #[arg(long)]
    run: PathBuf,
    /// Epochs to average, e.g. `36,37,38,39,40` (one epoch exports it alone).
    #[arg(
        long,
        value_delimiter = ',',
        conflicts_with = "last",
        required_unless_present = "last"
    )]
    epochs: Vec<usize>,
    /// Average the last N checkpoints of the run.
    #[arg(long)]
    last: Option<usize>,
    /// The model directory to write.
    #[arg(long)]
    out: PathBuf,
}

#[derive(clap::Args, Debug)]
struct AttentionArgs {
    /// Model directory.
    #[arg(long)]
    model: PathBuf,
    /// The input to decode.
    text: String,
    /// The PNG to write.
    #[arg(long)]
    out: PathBuf,
    /// Which attention to draw.
    #[arg(long, value_enum, default_value_t = AttentionKind::All)]
    kind: AttentionKind,
    /// Map unknown symbols to <unk>.
    #[arg(long)]
    unk: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum AttentionKind {
    /// Decoder queries over encoder keys.
    Cross,
    /// Encoder self-attention.
    Encoder,
    /// Masked decoder self-attention.
    Decoder,
    /// All three, one section each.
    All,
}

#[derive(clap::Args, Debug)]
struct DecodeArgs {
    /// Beam size (1 = greedy).
    #[arg(long, default_value_t = 1)]
    beam: usize,
    /// Hypotheses to print per input (at most --beam).
    #[arg(long, default_value_t = 1)]
    nbest: usize,
    /// Length penalty exponent alpha: hypotheses ranked by log P / ((5 + len) / 6)^alpha.
    #[arg(long, default_value_t = 0.0)]
    lenpen: f64,
    /// Inputs decoded together.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Batches decoded at once, one thread each (default: the machine's cores).
    #[arg(long)]
    threads: Option<usize>,
}

impl DecodeArgs {
    fn decoding(&self) -> Result<Decoding> {
        anyhow::ensure!(self.batch_size >= 1, "--batch-size must be at least 1");
        anyhow::ensure!(self.threads != Some(0), "--threads must be at least 1");
        Decoding::new(self.beam, self.nbest, self.lenpen).context("invalid decoding options")
    }
}

#[derive(clap::Args, Debug)]
struct EvalArgs {
    /// Model directory.
    #[arg(long)]
    model: PathBuf,
    /// Data file in the model's task format (dictionary for G2P, TSV for translation).
    #[arg(long, conflicts_with = "split")]
    data: Option<PathBuf>,
    /// Held-out split of the model's own training data (re-created from its config).
    #[arg(long, value_enum, default_value_t = SplitArg::Test)]
    split: SplitArg,
    /// Evaluate at most this many items.
    #[arg(long)]
    limit: Option<usize>,
    #[command(flatten)]
    decode: DecodeArgs,
    /// Also write the scores as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SplitArg {
    Dev,
    Test,
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
    #[arg(long, value_enum, default_value_t = Preset::Compact)]
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
    /// Data-parallel training on this many devices (wgpu: the first N discrete GPUs; on a CPU
    /// backend, N workers share the CPU).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    devices: u16,
    #[command(flatten)]
    node: NodeArgs,
}

/// Training as one node of several machines (see the README's "Training on several
/// machines"); without these, training runs on this machine alone.
#[derive(clap::Args, Debug)]
struct NodeArgs {
    /// How many machines (nodes) train together; each runs `train` with the same data,
    /// config and --nodes, and its own --rank.
    #[arg(long, requires_all = ["rank", "orchestrator", "node_address"], conflicts_with = "devices",
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    nodes: Option<u32>,
    /// This node's rank, 0 to nodes-1. Rank 0 writes the checkpoints and the model and shows
    /// the dashboard; the others print plain progress.
    #[arg(long, requires = "nodes")]
    rank: Option<u32>,
    /// The global orchestrator (`seq2seq orchestrator --port PORT`), as ws://HOST:PORT.
    #[arg(long, requires = "nodes")]
    orchestrator: Option<String>,
    /// Where the other nodes reach this one, ws://HOST:PORT (this node listens on PORT).
    #[arg(long, requires = "nodes")]
    node_address: Option<String>,
    /// Seconds a node waits for the others (to join, and at each all-reduce) before it gives
    /// up with an error.
    #[arg(long, default_value_t = 600, requires = "nodes")]
    node_timeout: u64,
}

#[derive(clap::Args, Debug)]
struct OrchestratorArgs {
    /// The port to listen on (all interfaces); nodes connect to ws://THIS_HOST:PORT.
    #[arg(long)]
    port: u16,
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
    /// Then check the imported model against PyTorch's outputs: a `NAME.io.safetensors` of
    /// scripts/pytorch_reference.py (inputs and logits); fails if a logit differs by more than
    /// --tolerance.
    #[arg(long)]
    check: Option<PathBuf>,
    /// Largest allowed |ours - PyTorch| per logit for --check (CPU sums agree to 1e-5; GPUs
    /// sum in other orders).
    #[arg(long, default_value_t = 1e-4)]
    tolerance: f32,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum TokensArg {
    Char,
    Whitespace,
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

/// An interrupter that Ctrl-C (SIGINT) triggers: training stops at the next step, keeps the
/// checkpoints of finished epochs and still writes the best model. A second Ctrl-C exits at once.
fn ctrl_c_interrupter() -> burn::train::Interrupter {
    let interrupter = burn::train::Interrupter::new();
    let handle = interrupter.clone();
    let result = ctrlc::set_handler(move || {
        if handle.should_stop() {
            eprintln!("\ninterrupted twice: exiting now");
            std::process::exit(130);
        }
        eprintln!("\ninterrupted: stopping after this step (Ctrl-C again to exit at once)");
        handle.stop(Some("interrupted by Ctrl-C"));
    });
    if let Err(err) = result {
        eprintln!("warning: Ctrl-C will end training without a final save: {err}");
    }
    interrupter
}

fn train(backend: BackendChoice, args: TrainArgs) -> Result<()> {
    let task_name = format!("{:?}", args.task).to_lowercase();
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("artifacts").join(&task_name));
    let run_dir = seq2seq::train::RunDir::for_output(&out)
        .path()
        .to_path_buf();
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
        interrupter: Some(ctrl_c_interrupter()),
    };
    let node = args.node.nodes.map(|nodes| seq2seq::train::NodeConfig {
        nodes,
        rank: args.node.rank.unwrap_or(0),
        orchestrator: args.node.orchestrator.clone().unwrap_or_default(),
        address: args.node.node_address.clone().unwrap_or_default(),
        timeout: std::time::Duration::from_secs(args.node.node_timeout),
    });
    with_backend!(backend, |B, device| {
        use seq2seq::backend::DeviceSet;
        type AB = burn::backend::Autodiff<B>;
        let report = match &node {
            Some(node) => {
                let strategy = seq2seq::train::Collective::<AB>::new(device, node.clone())?;
                seq2seq::train::run_with::<AB>(config, &options, &strategy)?
            }
            None => {
                let devices = DeviceSet::device_set(&device, usize::from(args.devices));
                seq2seq::train::run_on_devices::<AB>(config, &options, devices)?
            }
        };
        println!(
            "trained {} epochs in {:.0}s ({:.0} target tokens/s)",
            report.epochs, report.seconds, report.target_tokens_per_second
        );
    });
    Ok(())
}

/// Runs burn-collective's global orchestrator until Ctrl-C.
fn orchestrator(args: OrchestratorArgs) -> Result<()> {
    // A port in use would otherwise only be logged by the server task.
    std::net::TcpListener::bind(("0.0.0.0", args.port))
        .with_context(|| format!("cannot listen on port {}", args.port))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the orchestrator's runtime")?;
    println!(
        "orchestrator listening on ws://0.0.0.0:{} (nodes: train --nodes N --rank R --orchestrator ws://THIS_HOST:{} --node-address ws://NODE_HOST:NODE_PORT); Ctrl-C stops it",
        args.port, args.port
    );
    runtime.block_on(burn_collective::start_global_orchestrator(args.port));
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
        if let Some(io) = &args.check {
            let report = seq2seq::parity::check_logits(&loaded.model, io, args.tolerance, &device)
                .with_context(|| format!("check against {} failed", io.display()))?;
            println!(
                "check: logits {:?} match PyTorch's ({}) to {:.1e} (tolerance {:.0e})",
                report.shape,
                io.display(),
                report.max_abs_diff,
                report.tolerance
            );
        }
    });
    Ok(())
}

fn eval_references(predictor_config: &ExperimentConfig, args: &EvalArgs) -> Result<Vec<Reference>> {
    let mut data = predictor_config.data.clone();
    let references = match &args.data {
        Some(path) => {
            // The whole file is the evaluation set.
            data.path = Some(path.clone());
            data.dev_fraction = 0.0;
            data.test_fraction = 0.0;
            let corpus = data.load()?;
            seq2seq::data::group_references(corpus.train)
        }
        None => {
            let corpus = data
                .load()
                .context("cannot re-create the model's data split")?;
            match args.split {
                SplitArg::Dev => corpus.dev,
                SplitArg::Test => corpus.test,
            }
        }
    };
    Ok(match args.limit {
        Some(limit) => references.into_iter().take(limit).collect(),
        None => references,
    })
}

fn eval(backend: BackendChoice, args: EvalArgs) -> Result<()> {
    let decoding = args.decode.decoding()?;
    with_backend!(backend, |B, device| {
        let mut predictor = Predictor::<B>::load(&args.model, device)
            .with_context(|| format!("cannot load model {}", args.model.display()))?;
        if let Some(threads) = args.decode.threads {
            predictor.threads = threads;
        }
        let references = eval_references(&predictor.loaded.config, &args)?;
        anyhow::ensure!(
            !references.is_empty(),
            "nothing to evaluate: {}",
            match (&args.data, args.split) {
                (Some(path), _) => format!("{} has no items", path.display()),
                (None, SplitArg::Test) => "the model's data has no test split (its test_fraction is 0); try --split dev, or --data FILE".to_string(),
                (None, SplitArg::Dev) => "the model's data has no dev split (its dev_fraction is 0); try --data FILE".to_string(),
            }
        );
        let started = Instant::now();
        let mut last = Instant::now();
        let mut progress = |done: usize, total: usize, rates: &seq2seq::eval::ErrorRates| {
            if last.elapsed() > Duration::from_secs(5) {
                last = Instant::now();
                eprintln!(
                    "eval: {done}/{total} ({:.1}%), WER so far {:.2}% [{:.0}s]",
                    100.0 * done as f64 / total as f64,
                    100.0 * rates.wer(),
                    started.elapsed().as_secs_f64()
                );
            }
        };
        let report = seq2seq::eval::evaluate(
            &predictor,
            &references,
            &decoding,
            args.decode.batch_size,
            &mut progress,
        );
        for skipped in &report.skipped {
            eprintln!("skipped {:?}: {}", skipped.source, skipped.reason);
        }
        println!(
            "{} items: WER {:.2}%  PER {:.2}%  exact match {:.2}%  (beam {}, {:.1} items/s{})",
            report.items,
            100.0 * report.wer,
            100.0 * report.per,
            100.0 * report.exact_match,
            decoding.beam_size(),
            report.items_per_second,
            if report.skipped.is_empty() {
                String::new()
            } else {
                format!(", {} skipped", report.skipped.len())
            }
        );
        if let (Some(bleu), Some(chrf)) = (report.bleu, report.chrf) {
            println!(
                "BLEU {bleu:.2}  chrF {chrf:.2}  (sacreBLEU defaults: 13a, exp smoothing; chrF6, beta 2)"
            );
        }
        if let Some(path) = &args.json {
            let mut json = serde_json::to_value(&report)?;
            json["model"] = serde_json::json!(args.model);
            seq2seq::fsutil::write_atomic(path, serde_json::to_string_pretty(&json)?.as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    });
    Ok(())
}

fn attention(backend: BackendChoice, args: AttentionArgs) -> Result<()> {
    use seq2seq::attention_plot::{panels, render, Section};
    with_backend!(backend, |B, device| {
        let predictor = Predictor::<B>::load(&args.model, device)
            .with_context(|| format!("cannot load model {}", args.model.display()))?;
        let maps = predictor
            .attention(&args.text, args.unk)
            .with_context(|| format!("cannot decode {:?}", args.text))?;
        let which = match args.kind {
            AttentionKind::Cross => Some(Section::Cross),
            AttentionKind::Encoder => Some(Section::Encoder),
            AttentionKind::Decoder => Some(Section::Decoder),
            AttentionKind::All => None,
        };
        let (panels, heads) = panels(&maps, which);
        let heading = format!(
            "{} -> {}",
            args.text,
            predictor
                .loaded
                .config
                .data
                .join_target(&maps.output[..maps.output.len() - 1])
        );
        let image = render(&heading, &panels, heads);
        image
            .save(&args.out)
            .with_context(|| format!("cannot write {}", args.out.display()))?;
        println!(
            "{heading}\nwrote {} ({} panels)",
            args.out.display(),
            panels.len()
        );
    });
    Ok(())
}

fn devices(backend: BackendChoice, args: DevicesArgs) -> Result<()> {
    let cores = seq2seq::infer::default_threads();
    #[cfg(feature = "wgpu")]
    let adapters = Some(seq2seq::backend::wgpu_adapters());
    #[cfg(not(feature = "wgpu"))]
    let adapters: Option<Vec<seq2seq::backend::Adapter>> = None;
    // The adapter the wgpu backend picks by default (it prints its own line).
    #[cfg(feature = "wgpu")]
    let chosen = seq2seq::backend::wgpu_device("wgpu").map_err(|err| err.to_string());
    #[cfg(not(feature = "wgpu"))]
    let chosen: std::result::Result<(), String> = Err("wgpu is not built in".into());
    if args.json {
        let report = serde_json::json!({
            "version": version(),
            "backend": format!("{backend:?}").to_lowercase(),
            "cpu_cores": cores,
            "wgpu_adapters": adapters,
            "wgpu_default_adapter_ok": chosen.is_ok(),
            "wgpu_error": chosen.as_ref().err(),
        });
        println!("{report}");
        return Ok(());
    }
    println!("seq2seq {}", version());
    println!("default backend: {backend:?}; CPU: {cores} cores");
    match &adapters {
        None => println!("wgpu: not built in (cargo build --release --features wgpu)"),
        Some(list) if list.is_empty() => println!("wgpu: no adapter found"),
        Some(list) => {
            println!("wgpu adapters:");
            for (i, a) in list.iter().enumerate() {
                println!(
                    "  {i}: {} ({}, {}; driver {} {})",
                    a.name, a.api, a.device_type, a.driver, a.driver_info
                );
            }
        }
    }
    if let (Some(_), Err(err)) = (&adapters, &chosen) {
        println!("wgpu default device: {err}");
    }
    Ok(())
}

fn average(backend: BackendChoice, args: AverageArgs) -> Result<()> {
    let epochs = match args.last {
        Some(0) => anyhow::bail!("--last must be at least 1"),
        Some(n) => {
            let all = seq2seq::train::checkpoints(&args.run);
            anyhow::ensure!(
                !all.is_empty(),
                "{} holds no checkpoint",
                args.run.join("checkpoint").display()
            );
            all[all.len().saturating_sub(n)..].to_vec()
        }
        None => args.epochs.clone(),
    };
    with_backend!(backend, |B, device| {
        seq2seq::train::export_checkpoints::<B>(&args.run, &epochs, &args.out, &device)
    })?;
    println!(
        "model of epoch{} {epochs:?} written to {}",
        if epochs.len() > 1 { "s" } else { "" },
        args.out.display()
    );
    Ok(())
}

fn main() -> ExitCode {
    let tuned = seq2seq::allocator::keep_freed_memory();
    if std::env::var_os("SEQ2SEQ_DEBUG_ALLOC").is_some() {
        eprintln!("allocator thresholds set: {tuned}");
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(args) => train(cli.backend, args),
        Command::ImportPytorch(args) => import(cli.backend, args),
        Command::Infer(args) => commands::infer::infer(cli.backend, args),
        Command::Eval(args) => eval(cli.backend, args),
        Command::Attention(args) => attention(cli.backend, args),
        Command::Bench(args) => commands::bench::bench(cli.backend, args),
        Command::Average(args) => average(cli.backend, args),
        Command::Devices(args) => devices(cli.backend, args),
        Command::Orchestrator(args) => orchestrator(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
