//! `seq2seq import-pytorch`: a PyTorch state dict into a model directory, optionally checked
//! against PyTorch's logits.

use anyhow::{Context, Result};
use clap::ValueEnum;
use seq2seq::backend::BackendChoice;
use seq2seq::data::{TaskKind, Tokenization};
use seq2seq::with_backend;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct ImportArgs {
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
pub enum TokensArg {
    Char,
    Whitespace,
}

pub fn import(backend: BackendChoice, args: ImportArgs) -> Result<()> {
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
