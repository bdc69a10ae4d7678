//! The speech row of `bench`: Whisper transcription, ours against CTranslate2's (what
//! faster-whisper runs) on the same files, threads, batch and beam.
//!
//! Each side runs as its own process per measurement, so that its peak memory is its own:
//! ours `seq2seq transcribe --json --stats` on an imported model, CTranslate2's
//! `scripts/bench_whisper_ctranslate2.py` on the faster-whisper directory it was imported
//! from. Both clocks start after the model is loaded and cover reading the audio, the log-mel
//! features and decoding. The two sides alternate (ours, theirs, ours, theirs, ...) and the
//! medians are reported, with the number of files whose output tokens are identical.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Command;

/// What to run.
#[derive(Debug, Clone)]
pub struct SpeechBench {
    /// `seq2seq` and its arguments up to the subcommand (`[--backend B]`).
    pub program: PathBuf,
    pub program_args: Vec<OsString>,
    /// The imported model (`seq2seq import-whisper`).
    pub model: PathBuf,
    /// The faster-whisper directory it was imported from (`None`: ours alone).
    pub reference: Option<PathBuf>,
    /// Python with ctranslate2 and numpy.
    pub python: String,
    pub files: Vec<PathBuf>,
    pub beams: Vec<usize>,
    pub batch: usize,
    pub threads: usize,
    /// Measurements per side and beam.
    pub rounds: usize,
}

/// One beam size on both sides.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SpeechRow {
    pub beam: usize,
    pub files: usize,
    pub audio_seconds: f64,
    pub seq2seq_seconds: f64,
    pub seq2seq_peak_mib: f64,
    pub reference: Option<String>,
    pub reference_seconds: Option<f64>,
    pub reference_peak_mib: Option<f64>,
    /// Files whose output tokens are identical on both sides.
    pub identical: Option<usize>,
    /// The files that differ.
    pub differ: Vec<PathBuf>,
}

impl SpeechRow {
    /// Ours' speed over the reference's (> 1: ours is faster).
    pub fn ratio(&self) -> Option<f64> {
        self.reference_seconds.map(|t| t / self.seq2seq_seconds)
    }
}

/// `transcribe --stats`'s summary line.
pub fn stats_line(files: usize, audio_seconds: f64, seconds: f64, peak_mib: f64) -> String {
    format!(
        "transcribe: {files} files, {audio_seconds:.1} s of audio in {seconds:.3} s ({:.2} files/s, real-time factor {:.4}), peak memory {peak_mib:.1} MiB",
        files as f64 / seconds.max(1e-9),
        seconds / audio_seconds.max(1e-9)
    )
}

/// Seconds and peak memory from a [`stats_line`].
fn parse_stats(line: &str) -> Option<(f64, f64)> {
    let seconds = line.split_once(" s of audio in ")?.1;
    let seconds = seconds.split_whitespace().next()?.parse().ok()?;
    let peak = line.split_once("peak memory ")?.1;
    let peak = peak.split_whitespace().next()?.parse().ok()?;
    Some((seconds, peak))
}

struct Run {
    seconds: f64,
    peak_mib: f64,
    audio_seconds: f64,
    /// Per file: every window's tokens joined.
    outputs: Vec<Vec<usize>>,
    engine: String,
}

fn run(command: &mut Command, what: &str) -> Result<String, String> {
    let out = command
        .output()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "{what} failed: {}",
            stderr.lines().last().unwrap_or("(no message)")
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
}

impl SpeechBench {
    fn ours(&self, beam: usize) -> Result<Run, String> {
        let mut command = Command::new(&self.program);
        command
            .args(&self.program_args)
            .arg("transcribe")
            .arg("--model")
            .arg(&self.model)
            .args(["--beam", &beam.to_string()])
            .args(["--batch", &self.batch.to_string()])
            .args(["--json", "--stats"])
            .args(&self.files)
            .env("RAYON_NUM_THREADS", self.threads.to_string());
        let text = run(&mut command, "seq2seq transcribe")?;
        let (seconds, peak_mib) = text
            .lines()
            .find_map(parse_stats)
            .ok_or("seq2seq transcribe printed no stats line")?;
        let mut outputs = Vec::new();
        let mut audio_seconds = 0.0;
        for line in text.lines().filter(|l| l.starts_with('{')) {
            let v: serde_json::Value =
                serde_json::from_str(line).map_err(|e| format!("transcribe --json: {e}"))?;
            audio_seconds += v["seconds"].as_f64().unwrap_or(0.0);
            let tokens: Vec<Vec<usize>> = serde_json::from_value(v["tokens"].clone())
                .map_err(|e| format!("transcribe --json tokens: {e}"))?;
            outputs.push(tokens.concat());
        }
        Ok(Run {
            seconds,
            peak_mib,
            audio_seconds,
            outputs,
            engine: "seq2seq".into(),
        })
    }

    fn reference(&self, dir: &std::path::Path, beam: usize) -> Result<Run, String> {
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/bench_whisper_ctranslate2.py");
        let mut command = Command::new(&self.python);
        command
            .arg(&script)
            .arg("--model")
            .arg(dir)
            .args(["--beam", &beam.to_string()])
            .args(["--batch", &self.batch.to_string()])
            .args(["--threads", &self.threads.to_string()])
            .args(&self.files)
            .env("OMP_WAIT_POLICY", "PASSIVE");
        let text = run(&mut command, "scripts/bench_whisper_ctranslate2.py")?;
        let line = text
            .lines()
            .find(|l| l.starts_with('{'))
            .ok_or("bench_whisper_ctranslate2.py printed no result")?;
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("bench_whisper_ctranslate2.py: {e}"))?;
        let outputs = v["outputs"]
            .as_array()
            .ok_or("bench_whisper_ctranslate2.py: no outputs")?
            .iter()
            .map(|o| serde_json::from_value(o["ids"].clone()).unwrap_or_default())
            .collect();
        Ok(Run {
            seconds: v["seconds"].as_f64().unwrap_or(f64::NAN),
            peak_mib: v["peak_mib"].as_f64().unwrap_or(f64::NAN),
            audio_seconds: v["audio_seconds"].as_f64().unwrap_or(0.0),
            outputs,
            engine: v["engine"].as_str().unwrap_or("CTranslate2").into(),
        })
    }

    /// Every beam size, alternating the two sides `rounds` times; progress on stderr.
    pub fn run(&self) -> Result<Vec<SpeechRow>, String> {
        let mut rows = Vec::new();
        for &beam in &self.beams {
            let (mut ours, mut theirs) = (Vec::new(), Vec::new());
            for round in 0..self.rounds.max(1) {
                let o = self.ours(beam)?;
                eprintln!(
                    "speech beam {beam} round {}: seq2seq {:.3} s",
                    round + 1,
                    o.seconds
                );
                ours.push(o);
                if let Some(dir) = &self.reference {
                    let t = self.reference(dir, beam)?;
                    eprintln!(
                        "speech beam {beam} round {}: {} {:.3} s",
                        round + 1,
                        t.engine,
                        t.seconds
                    );
                    theirs.push(t);
                }
            }
            let first = &ours[0];
            let (identical, differ) = match theirs.first() {
                Some(t) if t.outputs.len() == first.outputs.len() => {
                    let differ: Vec<PathBuf> = first
                        .outputs
                        .iter()
                        .zip(&t.outputs)
                        .zip(&self.files)
                        .filter(|((a, b), _)| a != b)
                        .map(|(_, f)| f.clone())
                        .collect();
                    (Some(self.files.len() - differ.len()), differ)
                }
                Some(t) => {
                    return Err(format!(
                        "{} files transcribed by seq2seq, {} by the reference",
                        first.outputs.len(),
                        t.outputs.len()
                    ))
                }
                None => (None, Vec::new()),
            };
            let med =
                |runs: &[Run], f: fn(&Run) -> f64| super::median(runs.iter().map(f).collect());
            rows.push(SpeechRow {
                beam,
                files: self.files.len(),
                audio_seconds: first.audio_seconds,
                seq2seq_seconds: med(&ours, |r| r.seconds),
                seq2seq_peak_mib: med(&ours, |r| r.peak_mib),
                reference: theirs.first().map(|t| t.engine.clone()),
                reference_seconds: (!theirs.is_empty()).then(|| med(&theirs, |r| r.seconds)),
                reference_peak_mib: (!theirs.is_empty()).then(|| med(&theirs, |r| r.peak_mib)),
                identical,
                differ,
            });
        }
        Ok(rows)
    }
}

/// The rows as a table: time, files per second, real-time factor, peak memory, identical.
pub fn table(rows: &[SpeechRow]) -> String {
    let mut out = format!(
        "{:<22} {:>9} {:>9} {:>8} {:>9} {:>9} {:>9} {:>10}\n",
        "speech (Whisper)",
        "seq2seq s",
        "ref s",
        "speed",
        "files/s",
        "RTF",
        "peak MiB",
        "identical"
    );
    for r in rows {
        let files_per_s = r.files as f64 / r.seq2seq_seconds;
        let rtf = r.seq2seq_seconds / r.audio_seconds.max(1e-9);
        out += &format!(
            "{:<22} {:>9.3} {:>9} {:>8} {:>9.2} {:>9.4} {:>9} {:>10}\n",
            format!("beam {}, {} files", r.beam, r.files),
            r.seq2seq_seconds,
            r.reference_seconds
                .map_or("-".into(), |t| format!("{t:.3}")),
            r.ratio().map_or("-".into(), |x| format!("{x:.2}x")),
            files_per_s,
            rtf,
            match r.reference_peak_mib {
                Some(t) => format!("{:.0}/{t:.0}", r.seq2seq_peak_mib),
                None => format!("{:.0}", r.seq2seq_peak_mib),
            },
            r.identical
                .map_or("-".into(), |n| format!("{n}/{}", r.files)),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stats_line_reads_back() {
        let line = stats_line(6, 35.7, 4.5, 509.5);
        assert!(line.contains("1.33 files/s"), "{line}");
        assert_eq!(parse_stats(&line), Some((4.5, 509.5)));
        assert_eq!(parse_stats("transcribe: nothing"), None);
    }
}
