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
    /// The input to decode: text, or for a speech model (`seq2seq import-whisper`) an audio
    /// file (its first 30 seconds).
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
    /// Speech models: the language spoken (multilingual models; default English).
    #[arg(long)]
    language: Option<String>,
    /// Speech models: translate into English.
    #[arg(long)]
    translate: bool,
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
    if args
        .model
        .join(seq2seq::speech::whisper::SETTINGS_FILE)
        .is_file()
    {
        return speech_attention(backend, args);
    }
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

/// A speech model: the cross attention over the audio, under its spectrogram.
fn speech_attention(backend: BackendChoice, args: AttentionArgs) -> Result<()> {
    use seq2seq::speech::attention_plot::{render_speech_attention, SpeechPanels};
    let which = match args.kind {
        AttentionKind::Cross => SpeechPanels::Alignment,
        AttentionKind::All => SpeechPanels::All,
        other => anyhow::bail!(
            "a speech model's attention picture shows cross attention (--kind cross or all), not {other:?}"
        ),
    };
    let path = PathBuf::from(&args.text);
    let audio = seq2seq::speech::audio::read(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let options = seq2seq::speech::TranscribeOptions {
        language: args.language.clone(),
        translate: args.translate,
        ..Default::default()
    };
    with_backend!(backend, |B, device| {
        let model = seq2seq::speech::WhisperModel::<B>::load(&args.model, &device)
            .with_context(|| format!("cannot load speech model {}", args.model.display()))?;
        let att = seq2seq::speech::attention::speech_attention(
            &model,
            &audio.to_whisper_rate(),
            &options,
            &device,
        )
        .with_context(|| format!("cannot decode {}", path.display()))?;
        render_speech_attention(&att, which)
            .save(&args.out)
            .with_context(|| format!("cannot write {}", args.out.display()))?;
        println!(
            "{}\nwrote {} ({} tokens over {:.1} s of audio)",
            att.text,
            args.out.display(),
            att.tokens.len(),
            att.seconds
        );
    });
    Ok(())
}
