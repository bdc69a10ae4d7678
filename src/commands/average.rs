//! `seq2seq average`: a model directory from one checkpoint or the average of several.

use anyhow::Result;
use seq2seq::backend::BackendChoice;
use seq2seq::with_backend;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct AverageArgs {
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

pub fn average(backend: BackendChoice, args: AverageArgs) -> Result<()> {
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
