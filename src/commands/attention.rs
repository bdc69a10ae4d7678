//! `seq2seq attention`: the attention weights of one decoded input drawn as a PNG.

use anyhow::{Context, Result};
use clap::ValueEnum;
use seq2seq::backend::BackendChoice;
use seq2seq::infer::Predictor;
use seq2seq::with_backend;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct AttentionArgs {
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
pub enum AttentionKind {
    /// Decoder queries over encoder keys.
    Cross,
    /// Encoder self-attention.
    Encoder,
    /// Masked decoder self-attention.
    Decoder,
    /// All three, one section each.
    All,
}

pub fn attention(backend: BackendChoice, args: AttentionArgs) -> Result<()> {
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
        // The maps run in the decoder's order; the heading reads the output in reading order.
        let mut output = maps.output[..maps.output.len() - 1].to_vec();
        let direction = if predictor.right_left() {
            output.reverse();
            " (decoded right to left: the maps run from the last token)"
        } else {
            ""
        };
        let heading = format!(
            "{} -> {}{direction}",
            args.text,
            predictor.loaded.codec.join_target(&output)
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
