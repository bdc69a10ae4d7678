//! Audio as this crate's Whisper reads it, written out for a reference engine: each file
//! decoded (symphonia), mixed to mono and resampled to 16 kHz exactly as `seq2seq transcribe`
//! does, then saved as raw little-endian float32 samples (`.f32`), which
//! `scripts/whisper_reference.py transcribe --inputs` reads as they are. Both decoders then see
//! the same samples, whatever the file's format (Ogg Vorbis decoders need not agree to the bit).
//!
//! Run: `cargo run --release --example whisper_audio -- OUT_DIR FILE...` (writes
//! `OUT_DIR/<file stem>.f32` per file; stems must differ).

use std::path::PathBuf;

fn main() {
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let Some(out) = args.next() else {
        eprintln!("usage: whisper_audio OUT_DIR FILE...");
        std::process::exit(2);
    };
    if let Err(e) = std::fs::create_dir_all(&out) {
        eprintln!("error: cannot create {}: {e}", out.display());
        std::process::exit(1);
    }
    let mut failed = 0;
    for path in args {
        let result = seq2seq::speech::audio::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|audio| {
                let samples = audio.to_whisper_rate();
                let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
                let stem = path.file_stem().unwrap_or_default().to_string_lossy();
                let target = out.join(format!("{stem}.f32"));
                std::fs::write(&target, bytes).map_err(|e| format!("{}: {e}", target.display()))
            });
        if let Err(e) = result {
            eprintln!("error: {}: {e}", path.display());
            failed += 1;
        }
    }
    if failed > 0 {
        std::process::exit(1);
    }
}
