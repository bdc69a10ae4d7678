//! `seq2seq train` and `seq2seq orchestrator`: the run's options, its config (preset, file,
//! flags, or the resumed run's own), Ctrl-C, and the strategy (this machine or one node of several).

use anyhow::{Context, Result};
use seq2seq::backend::BackendChoice;
use seq2seq::config::{ExperimentConfig, Preset};
use seq2seq::data::{TaskKind, Tokenization};
use seq2seq::with_backend;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// The task to learn (default: g2p; tsv with --src/--tgt; else the --config file's).
    #[arg(long, value_enum)]
    task: Option<TaskKind>,
    /// Data file: a pronouncing dictionary for g2p (CMUdict `word PH PH` or `WORD<TAB>PH PH`
    /// layout; default the vendored CMUdict), `source<TAB>target` lines for tsv.
    #[arg(long, conflicts_with = "src")]
    data: Option<PathBuf>,
    /// Translation from parallel files: source sentences, one a line (with --tgt).
    #[arg(long, requires = "tgt")]
    src: Option<PathBuf>,
    /// Target sentences, line N translating line N of --src.
    #[arg(long, requires = "src")]
    tgt: Option<PathBuf>,
    /// A given dev set (parallel files) instead of the seeded split of the training data.
    #[arg(long, requires = "valid_tgt")]
    valid_src: Option<PathBuf>,
    #[arg(long, requires = "valid_src")]
    valid_tgt: Option<PathBuf>,
    /// Translation: how both sides are cut into tokens (unigram and bpe learn a subword
    /// vocabulary from the training split).
    #[arg(long, value_enum)]
    tokens: Option<Tokenization>,
    /// Subword vocabulary size (reserved symbols included).
    #[arg(long)]
    vocab_size: Option<usize>,
    /// Unigram vocabularies: byte fallback (SentencePiece's), 256 byte pieces out of the
    /// vocabulary size; an unseen character becomes its UTF-8 bytes instead of `<unk>`.
    #[arg(long)]
    byte_fallback: bool,
    /// Sequence-level knowledge distillation: train on this model's beam outputs for the
    /// training sources instead of their references (the dev split keeps its references).
    /// Repeat it for an ensemble teacher. Its outputs are cached in the run directory.
    #[arg(long)]
    teacher: Vec<PathBuf>,
    /// Ensemble weights of the teachers, one per --teacher (default: uniform).
    #[arg(long, value_delimiter = ',', requires = "teacher")]
    teacher_weights: Option<Vec<f32>>,
    /// The teacher's beam size (sequence level).
    #[arg(long, default_value_t = 5, requires = "teacher")]
    teacher_beam: usize,
    /// What the student learns from the --teacher: its beam outputs as targets (sequence),
    /// or its per-position distributions beside the references (token; the teacher must
    /// share the student's vocabularies, e.g. a student trained with --init from it). Pass the
    /// same teacher flags again with --resume.
    #[arg(long, value_enum, default_value_t = DistillArg::Sequence, requires = "teacher")]
    distill: DistillArg,
    /// Token level: the teacher's share of the loss, the reference's being 1 - this.
    #[arg(long, default_value_t = 0.5, requires = "teacher")]
    distill_alpha: f32,
    /// Compute threads of this process (the CPU backends' thread pool; default: one per
    /// core). `--threads 1` lets k members of an ensemble train side by side, one a core,
    /// which beats one k-core process on small models (docs/g2p.md).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    threads: Option<u32>,
    /// Fine-tune: start from this model directory's weights, vocabularies and tokenizer, with a
    /// fresh optimizer and schedule. The model's architecture is the directory's.
    #[arg(long, conflicts_with = "resume")]
    init: Option<PathBuf>,
    /// Starting configuration.
    #[arg(long, value_enum, default_value_t = Preset::Standard)]
    preset: Preset,
    /// JSON file laid over the preset (any subset of model/data/optimizer/training fields).
    #[arg(long)]
    config: Option<PathBuf>,
    #[arg(long)]
    epochs: Option<usize>,
    /// Cool the learning rate down linearly over the last N epochs (0: Noam to the end).
    /// A resumed run may take a cooldown it was not started with: `--resume --epochs 40
    /// --cooldown-epochs 8` continues the same schedule, then cools it.
    #[arg(long)]
    cooldown_epochs: Option<usize>,
    /// Batches of this many pairs (instead of the preset's token budget, if it has one).
    #[arg(long, conflicts_with = "batch_tokens")]
    batch_size: Option<usize>,
    /// Batches of at most this many padded tokens, in length buckets.
    #[arg(long)]
    batch_tokens: Option<usize>,
    /// Seed for initialisation, dropout, shuffling.
    #[arg(long)]
    seed: Option<u64>,
    /// G2P: drop stress digits from the phones (AH0 -> AH).
    #[arg(long)]
    strip_stress: bool,
    /// Skip malformed data lines (they are counted) instead of stopping at the first.
    #[arg(long)]
    skip_bad_lines: bool,
    /// Train the decoder right to left (Marian's --right-left; `data.right_left`): targets
    /// reversed for training, outputs reversed back when decoding. A model started with
    /// --init from a right-to-left model stays one.
    #[arg(long)]
    right_left: bool,
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

/// `--distill`: the level of knowledge distillation.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq)]
enum DistillArg {
    /// Sequence level (Kim & Rush 2016): the teacher's beam outputs replace the targets.
    Sequence,
    /// Token level (Sun et al. 2019): the teacher's distributions join the loss.
    Token,
}

/// Training as one node of several machines (see the README's "Training on several
/// machines"); without these, training runs on this machine alone.
#[derive(clap::Args, Debug)]
pub struct NodeArgs {
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
pub struct OrchestratorArgs {
    /// The port to listen on (all interfaces); nodes connect to ws://THIS_HOST:PORT.
    #[arg(long)]
    port: u16,
}

/// The task `args` asks for: `--task`, else tsv for parallel files, else `base`'s.
pub fn task_of(args: &TrainArgs, base: TaskKind) -> TaskKind {
    match (args.task, &args.src) {
        (Some(task), _) => task,
        (None, Some(_)) => TaskKind::Tsv,
        (None, None) => base,
    }
}

pub fn experiment_config(args: &TrainArgs) -> Result<ExperimentConfig> {
    let mut model_overrides = None;
    let mut config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read config {}", path.display()))?;
            let config =
                seq2seq::cli_config::overlay(args.preset, &text, &path.display().to_string())?;
            model_overrides = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v.get("model").cloned());
            config
        }
        None => ExperimentConfig::preset(args.preset),
    };
    config.data.task = task_of(args, config.data.task);
    if args.data.is_some() {
        config.data.path = args.data.clone();
    }
    if args.src.is_some() {
        (config.data.src_path, config.data.tgt_path) = (args.src.clone(), args.tgt.clone());
        config.data.path = None;
    }
    if args.valid_src.is_some() {
        config.data.valid_src_path = args.valid_src.clone();
        config.data.valid_tgt_path = args.valid_tgt.clone();
    }
    if let Some(tokens) = args.tokens {
        (config.data.src_tokens, config.data.tgt_tokens) = (tokens, tokens);
    }
    if let Some(size) = args.vocab_size {
        config.data.vocab_size = size;
    }
    if args.byte_fallback {
        config.data.byte_fallback = true;
    }
    if let Some(dir) = &args.init {
        config = seq2seq::train::init_config(config, dir, model_overrides.as_ref())
            .with_context(|| format!("cannot fine-tune {}", dir.display()))?;
    }
    config.data.strip_stress |= args.strip_stress;
    config.data.skip_bad_lines |= args.skip_bad_lines;
    config.data.right_left |= args.right_left;
    if let Some(epochs) = args.epochs {
        config.training.epochs = epochs;
    }
    if let Some(cooldown) = args.cooldown_epochs {
        config.optimizer.cooldown_epochs = cooldown;
    }
    if let Some(batch_size) = args.batch_size {
        config.training.batch_size = batch_size;
        config.training.batch_tokens = None;
    }
    if let Some(batch_tokens) = args.batch_tokens {
        config.training.batch_tokens = Some(batch_tokens);
    }
    if let Some(seed) = args.seed {
        config.training.seed = seed;
    }
    Ok(config)
}

/// An interrupter that Ctrl-C (SIGINT) triggers: training stops at the next step, keeps the
/// checkpoints of finished epochs and still writes the best model. A second Ctrl-C exits at once.
pub fn ctrl_c_interrupter() -> burn::train::Interrupter {
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

pub fn train(backend: BackendChoice, args: TrainArgs) -> Result<()> {
    if let Some(threads) = args.threads {
        // Before any tensor work: the pool is built once, on first use.
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads as usize)
            .build_global()
            .context("cannot set the number of compute threads (--threads)")?;
    }
    let task_name = format!("{:?}", task_of(&args, TaskKind::G2p)).to_lowercase();
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("artifacts").join(&task_name));
    let run_dir = seq2seq::train::RunDir::for_output(&out)
        .path()
        .to_path_buf();
    let mut config = experiment_config(&args)?;
    if args.resume {
        // A resumed run keeps its own config; only the number of epochs and the cooldown
        // may change.
        let saved = run_dir.join(seq2seq::artifact::CONFIG_FILE);
        if saved.is_file() {
            config = seq2seq::artifact::read_config(&saved)?;
            if let Some(epochs) = args.epochs {
                config.training.epochs = epochs;
            }
            if let Some(cooldown) = args.cooldown_epochs {
                config.optimizer.cooldown_epochs = cooldown;
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
        init: args.init.clone(),
        distill: (!args.teacher.is_empty()).then(|| seq2seq::train::distill::Distillation {
            teachers: args.teacher.clone(),
            weights: args.teacher_weights.clone(),
            beam: args.teacher_beam,
            level: match args.distill {
                DistillArg::Sequence => seq2seq::train::distill::DistillLevel::Sequence,
                DistillArg::Token => seq2seq::train::distill::DistillLevel::Token {
                    alpha: args.distill_alpha,
                },
            },
        }),
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
pub fn orchestrator(args: OrchestratorArgs) -> Result<()> {
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
