//! `seq2seq import-marian`: a Hugging Face Marian (opus-mt) repository into a model directory.

use anyhow::{Context, Result};
use seq2seq::backend::BackendChoice;
use seq2seq::with_backend;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct ImportMarianArgs {
    /// The downloaded repository: config.json, model.safetensors, source.spm, target.spm,
    /// vocab.json (generation_config.json when present).
    hf_dir: PathBuf,
    /// The model directory to write.
    #[arg(long)]
    out: PathBuf,
}

pub fn import_marian(backend: BackendChoice, args: ImportMarianArgs) -> Result<()> {
    with_backend!(backend, |B, device| {
        let loaded = seq2seq::marian::import::<B>(&args.hf_dir, &args.out, &device)
            .with_context(|| format!("cannot import {}", args.hf_dir.display()))?;
        let m = &loaded.config.model;
        println!(
            "imported {} (Marian, {} pieces, d_model {}, {}+{} layers, {:?}) into {}",
            args.hf_dir.display(),
            loaded.src_vocab.len() - 1,
            m.d_model,
            m.n_encoder_layers,
            m.n_decoder_layers,
            m.activation,
            args.out.display()
        );
    });
    Ok(())
}
