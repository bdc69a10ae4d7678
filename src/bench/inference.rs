//! The inference section of `bench`: our decoding against a reference engine on the same
//! weights (`crate::bench::reference`): CTranslate2 on a converted copy of a model directory,
//! or transformers' `generate()` on the Marian repository a model was imported from.
//!
//! The same inputs are decoded by [`Predictor::predict_many`] in this process and by the
//! engine's script in a Python one, greedy and beam at each batch size. Both sides time the
//! decoding only (model load excluded), both cut batches from the inputs sorted by length, and
//! both use the same settings: against CTranslate2 no length penalty, END may come first, at
//! most `max_len - 1` tokens; against transformers the model's saved generation settings
//! (`config.generation`, which `import-marian` copied from the repository) with the row's beam
//! size. The outputs are compared item by item: where they differ, the item is a tie if the
//! two hypotheses' scores are within [`TIE`], else a disagreement. Throughput is counted in
//! source words (whitespace-separated; a G2P input is one word).

use crate::bench::reference::{Output, Reference};
use crate::config::GenerationConfig;
use crate::data::{DataConfig, DataError, Task};
use crate::decode::Decoding;
use crate::infer::Predictor;
use burn::prelude::*;
use std::time::Instant;

/// Log-probabilities closer than this are a tie: which one wins is float rounding.
pub const TIE: f64 = 1e-3;

/// What to compare.
#[derive(Debug, Clone)]
pub struct InferenceOptions {
    /// Inputs as `infer` takes them (one word each for G2P, a sentence for translation).
    pub words: Vec<String>,
    /// Batch sizes (a size at least the number of inputs means one batch of all).
    pub batches: Vec<usize>,
    /// Beam sizes (1 = greedy).
    pub beams: Vec<usize>,
    /// How ours decodes: `None`, raw log-probabilities with no length penalty (as CTranslate2
    /// is run); `Some`, these generation settings with the row's beam size (as transformers
    /// is run: pass the model's `config.generation`).
    pub generation: Option<GenerationConfig>,
    /// How to measure ours' peak memory per row (`None`: not measured).
    pub peak_probe: Option<PeakProbe>,
}

/// Ours' peak memory for a row, measured by decoding that row again in a child process
/// (`seq2seq infer --stats`, the same inputs, beam, batch and threads), so that the figure is
/// the row's alone: inside the bench process a row's peak would carry what earlier rows left
/// in the allocator's arenas (G2P beam 5 batch 1: 151 MiB there, 46 MiB for its own process).
/// The reference engine's scripts report theirs the same way, one process per row.
#[derive(Debug, Clone)]
pub struct PeakProbe {
    /// The `seq2seq` binary.
    pub program: std::path::PathBuf,
    /// Arguments up to and including the model flags (`--backend B infer --model M ...`);
    /// the row's decoding flags are appended.
    pub args: Vec<std::ffi::OsString>,
    /// Decoding threads, as ours runs in this process.
    pub threads: usize,
}

impl PeakProbe {
    /// Decode `words` (one per line on the child's standard input) and return the child's
    /// peak resident memory in MiB, or why there is none.
    pub fn measure(
        &self,
        words: &[String],
        beam: usize,
        batch: usize,
        raw_scores: bool,
    ) -> Result<f64, String> {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let mut command = Command::new(&self.program);
        command.args(&self.args).args([
            "--beam",
            &beam.to_string(),
            "--batch-size",
            &batch.to_string(),
            "--threads",
            &self.threads.to_string(),
            "--no-lexicon",
            "--stats",
        ]);
        if raw_scores {
            command.args(["--lenpen", "0"]);
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|err| format!("cannot run {}: {err}", self.program.display()))?;
        let mut stdin = child.stdin.take().expect("piped");
        let input = words.join("\n") + "\n";
        // Written from another thread: a child whose stderr fills up while this one still
        // writes its stdin would wait forever.
        let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
        let out = child
            .wait_with_output()
            .map_err(|err| format!("child infer: {err}"))?;
        let _ = writer.join();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            let last = stderr.lines().last().unwrap_or("").to_string();
            return Err(format!("child infer failed: {last}"));
        }
        stderr
            .lines()
            .find_map(parse_peak)
            .ok_or_else(|| format!("child infer reported no peak memory: {stderr}"))
    }
}

/// The peak from `infer --stats`'s summary line (see [`stats_line`]).
fn parse_peak(line: &str) -> Option<f64> {
    let rest = line.split_once("peak memory ")?.1;
    rest.split_whitespace().next()?.parse().ok()
}

/// `infer --stats`'s summary line: inputs, seconds, rate and the process's peak memory.
pub fn stats_line(lines: usize, seconds: f64, peak_mib: f64) -> String {
    format!(
        "infer: {lines} lines in {seconds:.2} s ({:.1} lines/s), peak memory {peak_mib:.1} MiB",
        lines as f64 / seconds.max(1e-9)
    )
}

/// One decoding setting on both sides.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InferenceRow {
    pub beam: usize,
    pub batch: usize,
    /// Inputs decoded.
    pub inputs: usize,
    /// Their source words (whitespace-separated), the unit of the throughputs.
    pub words: usize,
    pub seq2seq_seconds: f64,
    pub seq2seq_words_per_s: f64,
    /// The reference engine (`CTranslate2` or `transformers`), when one ran.
    pub reference: Option<&'static str>,
    pub reference_seconds: Option<f64>,
    pub reference_words_per_s: Option<f64>,
    /// Items with the same output on both sides.
    pub same: usize,
    /// Items whose outputs differ but whose log-probabilities are tied.
    pub tied: usize,
    /// Items whose outputs differ with untied log-probabilities: `(input, ours, theirs)`.
    pub differ: Vec<(String, String, String)>,
    /// The largest difference between the two sides' scores of the same output (float
    /// rounding: the two engines compute the same function).
    pub score_gap: f64,
    /// Peak resident memory (MiB) of a process decoding this row alone: ours
    /// ([`PeakProbe`]), the reference engine's script.
    pub seq2seq_peak_mib: Option<f64>,
    pub reference_peak_mib: Option<f64>,
}

impl InferenceRow {
    /// Ours over the reference in words per second (> 1: ours is faster).
    pub fn ratio(&self) -> Option<f64> {
        self.reference_words_per_s
            .map(|theirs| self.seq2seq_words_per_s / theirs)
    }
}

/// Up to `n` inputs to decode: the sources of the model's dev split (its data split again as
/// training split it), then of its training pairs if the dev split is smaller. A G2P model
/// whose data file is not on this machine falls back to the vendored CMUdict.
pub fn sample_words(data: &DataConfig, n: usize) -> Result<Vec<String>, DataError> {
    let mut data = data.clone();
    let missing = data.path.as_ref().is_some_and(|p| !p.exists());
    if missing && matches!(data.task(), Task::G2p { .. }) {
        eprintln!(
            "note: {} is not here; sampling words from the vendored CMUdict",
            data.path.as_ref().expect("checked").display()
        );
        data.path = None;
    }
    let corpus = data.load()?;
    let codec = &corpus.codec;
    let dev = corpus.dev.iter().map(|r| codec.join_source(&r.src));
    let train = corpus.train.iter().map(|p| codec.join_source(&p.src));
    Ok(dev.chain(train).take(n).collect())
}

/// Why the inference section could not run.
#[derive(Debug, thiserror::Error)]
pub enum InferenceError {
    #[error("an input cannot be decoded by the model")]
    Input(#[from] crate::infer::InputError),
    #[error("the model's generation settings cannot decode")]
    Decoding(#[from] crate::decode::DecodingError),
}

/// Decode all of `ids` with ours; the outputs in input order (as target tokens separated by
/// spaces when `tokens`, else as text) and the decoding seconds.
fn ours<B: Backend>(
    predictor: &Predictor<B>,
    ids: &[Vec<usize>],
    decoding: &Decoding,
    batch: usize,
    tokens: bool,
) -> (Vec<Output>, f64) {
    let started = Instant::now();
    let predictions = predictor.predict_many(ids, decoding, batch, &mut |_, _| {});
    let seconds = started.elapsed().as_secs_f64();
    let outputs = predictions
        .into_iter()
        .map(|p| {
            let best = &p[0];
            let text = if tokens {
                best.tokens.join(" ")
            } else {
                best.text.clone()
            };
            (text, best.score)
        })
        .collect();
    (outputs, seconds)
}

/// Run every (beam, batch) setting on both sides. `reference` is `None` when the other side is
/// skipped or unavailable (the rows then carry ours only). `progress` gets each finished row.
pub fn compare<B: Backend>(
    predictor: &Predictor<B>,
    options: &InferenceOptions,
    reference: Option<&Reference>,
    progress: &mut dyn FnMut(&InferenceRow),
) -> Result<Vec<InferenceRow>, InferenceError> {
    let ids = options
        .words
        .iter()
        .map(|w| predictor.encode(w, false))
        .collect::<Result<Vec<_>, _>>()?;
    let words: usize = options
        .words
        .iter()
        .map(|w| w.split_whitespace().count())
        .sum();
    let tokens = reference.is_some_and(|side| side.engine.writes_tokens());
    let mut rows = Vec::new();
    for &beam in &options.beams {
        let decoding = match &options.generation {
            None => Decoding::new(beam, 1, 0.0)?,
            Some(generation) => Decoding::from_generation(generation, Some(beam), 1, None)?,
        };
        for &batch in &options.batches {
            let batch = batch.clamp(1, ids.len().max(1));
            let (mine, seconds) = ours(predictor, &ids, &decoding, batch, tokens);
            let seq2seq_peak_mib = options.peak_probe.as_ref().and_then(|probe| {
                probe
                    .measure(&options.words, beam, batch, options.generation.is_none())
                    .map_err(|err| {
                        eprintln!("warning: no peak memory for beam {beam}, batch {batch}: {err}")
                    })
                    .ok()
            });
            let theirs = match reference.map(|side| side.decode(beam, batch)) {
                Some(Ok(result)) => Some(result),
                Some(Err(err)) => {
                    eprintln!(
                        "warning: no {} figures for beam {beam}, batch {batch}: {err}",
                        reference.map_or("", |r| r.engine.name())
                    );
                    None
                }
                None => None,
            };
            let per_s = |s: f64| words as f64 / s.max(1e-9);
            let mut row = InferenceRow {
                beam,
                batch,
                inputs: ids.len(),
                words,
                seq2seq_seconds: seconds,
                seq2seq_words_per_s: per_s(seconds),
                reference: theirs.as_ref().and(reference.map(|r| r.engine.name())),
                reference_seconds: theirs.as_ref().map(|d| d.seconds),
                reference_words_per_s: theirs.as_ref().map(|d| per_s(d.seconds)),
                same: 0,
                tied: 0,
                differ: Vec::new(),
                score_gap: 0.0,
                seq2seq_peak_mib,
                reference_peak_mib: theirs.as_ref().and_then(|d| d.peak_mib),
            };
            if let Some(decoded) = &theirs {
                let outputs = &decoded.outputs;
                for ((word, (a, a_lp)), (b, b_lp)) in options.words.iter().zip(&mine).zip(outputs) {
                    if a == b {
                        row.same += 1;
                        row.score_gap = row.score_gap.max((a_lp - b_lp).abs());
                    } else if (a_lp - b_lp).abs() < TIE {
                        row.tied += 1;
                    } else {
                        row.differ.push((word.clone(), a.clone(), b.clone()));
                    }
                }
            }
            progress(&row);
            rows.push(row);
        }
    }
    Ok(rows)
}

/// The rows as the table `bench` prints.
pub fn table(rows: &[InferenceRow]) -> String {
    let engine = rows.iter().find_map(|r| r.reference).unwrap_or("reference");
    let mut out = format!(
        "{:<28} {:>12} {:>12} {:>9} {:>15}  {}\n",
        "decoding words/s", "seq2seq", engine, "ours/ref", "peak MiB o/r", "same outputs"
    );
    for row in rows {
        let search = match row.beam {
            1 => "greedy".to_string(),
            k => format!("beam {k}"),
        };
        let batch = if row.batch >= row.inputs {
            format!("batch {} (all)", row.batch)
        } else {
            format!("batch {}", row.batch)
        };
        let (theirs, ratio, agree) = match (row.reference_words_per_s, row.ratio()) {
            (Some(t), Some(r)) => (
                format!("{t:12.1}"),
                format!("{r:8.2}x"),
                format!(
                    "{}/{}{}{}",
                    row.same,
                    row.inputs,
                    if row.tied > 0 {
                        format!(", {} tied", row.tied)
                    } else {
                        String::new()
                    },
                    if row.differ.is_empty() {
                        String::new()
                    } else {
                        format!(", {} DIFFER", row.differ.len())
                    }
                ),
            ),
            _ => ("           -".into(), "       -".into(), String::new()),
        };
        let mib = |m: Option<f64>| m.map_or("-".to_string(), |m| format!("{m:.0}"));
        let peaks = format!(
            "{}/{}",
            mib(row.seq2seq_peak_mib),
            mib(row.reference_peak_mib)
        );
        out += &format!(
            "{:<28} {:12.1} {theirs} {ratio} {peaks:>15}  {agree}\n",
            format!("{search}, {batch}"),
            row.seq2seq_words_per_s
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stats_line_carries_the_peak_that_bench_reads_back() {
        let line = stats_line(1200, 2.5, 163.31);
        assert_eq!(
            line,
            "infer: 1200 lines in 2.50 s (480.0 lines/s), peak memory 163.3 MiB"
        );
        assert_eq!(parse_peak(&line), Some(163.3));
        assert_eq!(parse_peak("infer: 8192 lines [10s, 819 lines/s]"), None);
        assert_eq!(
            parse_peak("peak memory NaN MiB").map(f64::is_nan),
            Some(true)
        );
    }
}
