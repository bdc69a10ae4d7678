//! The subcommands, one file each: their arguments and how they call the library.

pub mod attention;
pub mod average;
pub mod bench;
pub mod devices;
pub mod eval;
pub mod import;
pub mod infer;
pub mod train;

use anyhow::{Context, Result};
use seq2seq::decode::Decoding;

/// Decoding options shared by `infer` and `eval`.
#[derive(clap::Args, Debug)]
pub struct DecodeArgs {
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
    pub fn decoding(&self) -> Result<Decoding> {
        anyhow::ensure!(self.batch_size >= 1, "--batch-size must be at least 1");
        anyhow::ensure!(self.threads != Some(0), "--threads must be at least 1");
        Decoding::new(self.beam, self.nbest, self.lenpen).context("invalid decoding options")
    }
}
