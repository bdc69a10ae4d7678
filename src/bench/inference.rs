//! The inference section of `bench`: our decoding against CTranslate2 on the same weights.
//!
//! The model directory is converted with `scripts/ctranslate2_convert.py`; the same words are
//! decoded by [`Predictor::predict_many`] in this process and by
//! `scripts/bench_ctranslate2.py` in a Python one, greedy and beam at each batch size. Both
//! sides time the decoding only (model load excluded), both cut batches from the inputs sorted
//! by length, and both use the same settings (no length penalty, END may come first, at most
//! `max_len - 1` tokens). The outputs are compared item by item: where they differ, the item
//! is a tie if the two hypotheses' log-probabilities (both summed over the tokens, END
//! included) are within [`TIE`], else a disagreement.

use crate::data::{DataConfig, DataError, Task};
use crate::decode::Decoding;
use crate::infer::Predictor;
use burn::prelude::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Log-probabilities closer than this are a tie: which one wins is float rounding.
pub const TIE: f64 = 1e-3;

/// Why the CTranslate2 side gave no figures.
#[derive(Debug, thiserror::Error)]
pub enum Ct2Error {
    #[error("cannot run {python}")]
    Spawn {
        python: String,
        source: std::io::Error,
    },
    #[error("CTranslate2 is not installed for {python} (pip install ctranslate2)")]
    Missing { python: String },
    #[error("{script} failed: {last_line}")]
    Failed { script: String, last_line: String },
    #[error("unexpected output from {script}: {detail}")]
    Output { script: String, detail: String },
    #[error("cannot use the scratch directory {path}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What to compare.
#[derive(Debug, Clone)]
pub struct InferenceOptions {
    /// The model directory (ours); converted for CTranslate2 into a scratch directory.
    pub model: PathBuf,
    /// Inputs as `infer` takes them (one word each for G2P).
    pub words: Vec<String>,
    /// Batch sizes (a size at least the number of words means one batch of all).
    pub batches: Vec<usize>,
    /// Beam sizes (1 = greedy).
    pub beams: Vec<usize>,
    /// Interpreter with `ctranslate2`, `numpy` and `safetensors`; `None` skips CTranslate2.
    pub python: Option<String>,
    /// CTranslate2's `intra_threads` (ours uses the backend's own thread pool).
    pub threads: usize,
}

/// One decoding setting on both sides.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InferenceRow {
    pub beam: usize,
    pub batch: usize,
    pub words: usize,
    pub seq2seq_seconds: f64,
    pub seq2seq_words_per_s: f64,
    pub ctranslate2_seconds: Option<f64>,
    pub ctranslate2_words_per_s: Option<f64>,
    /// Items with the same output on both sides.
    pub same: usize,
    /// Items whose outputs differ but whose log-probabilities are tied.
    pub tied: usize,
    /// Items whose outputs differ with untied log-probabilities: `(input, ours, theirs)`.
    pub differ: Vec<(String, String, String)>,
    /// The largest difference between the two sides' log-probabilities of the same output
    /// (float rounding: the two engines compute the same function).
    pub score_gap: f64,
}

impl InferenceRow {
    /// Ours over CTranslate2 in words per second (> 1: ours is faster).
    pub fn ratio(&self) -> Option<f64> {
        self.ctranslate2_words_per_s
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

/// A decoded output as text and its log-probability.
type Output = (String, f64);

fn scripts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts")
}

fn run_python(python: &str, args: &[&std::ffi::OsStr]) -> Result<String, Ct2Error> {
    let script = args
        .first()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let out = Command::new(python)
        .args(args)
        .output()
        .map_err(|source| Ct2Error::Spawn {
            python: python.into(),
            source,
        })?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        if stderr.contains("No module named 'ctranslate2'") {
            return Err(Ct2Error::Missing {
                python: python.into(),
            });
        }
        return Err(Ct2Error::Failed {
            script,
            last_line: stderr.lines().last().unwrap_or("").to_string(),
        });
    }
    Ok(stderr)
}

/// The CTranslate2 side: a converted model in a scratch directory, and the words file.
pub struct Ct2Side {
    python: String,
    threads: usize,
    scratch: PathBuf,
    model: PathBuf,
    words: PathBuf,
    count: usize,
}

impl Ct2Side {
    /// Convert `model` and write `words` into a fresh scratch directory.
    pub fn prepare(
        python: &str,
        threads: usize,
        model: &Path,
        words: &[String],
    ) -> Result<Self, Ct2Error> {
        let scratch = std::env::temp_dir().join(format!("seq2seq-ct2-{}", std::process::id()));
        let io = |source| Ct2Error::Io {
            path: scratch.clone(),
            source,
        };
        std::fs::create_dir_all(&scratch).map_err(io)?;
        let converted = scratch.join("model");
        let convert = scripts().join("ctranslate2_convert.py");
        run_python(
            python,
            &[
                convert.as_os_str(),
                model.as_os_str(),
                converted.as_os_str(),
                "--force".as_ref(),
            ],
        )?;
        let words_file = scratch.join("words.txt");
        std::fs::write(&words_file, words.join("\n") + "\n").map_err(io)?;
        Ok(Self {
            python: python.into(),
            threads,
            scratch,
            model: converted,
            words: words_file,
            count: words.len(),
        })
    }

    /// Decode all words; the outputs in input order and the decoding seconds.
    pub fn decode(&self, beam: usize, batch: usize) -> Result<(Vec<Output>, f64), Ct2Error> {
        let script = scripts().join("bench_ctranslate2.py");
        let out = self.scratch.join(format!("out-b{beam}-n{batch}.txt"));
        let (beam_s, batch_s, threads) = (
            beam.to_string(),
            batch.min(self.count).to_string(),
            self.threads.to_string(),
        );
        let stderr = run_python(
            &self.python,
            &[
                script.as_os_str(),
                "--model".as_ref(),
                self.model.as_os_str(),
                "--words".as_ref(),
                self.words.as_os_str(),
                "--beam".as_ref(),
                beam_s.as_ref(),
                "--batch".as_ref(),
                batch_s.as_ref(),
                "--threads".as_ref(),
                threads.as_ref(),
                "--scores".as_ref(),
                "--json".as_ref(),
                "--out".as_ref(),
                out.as_os_str(),
            ],
        )?;
        let bad = |detail: String| Ct2Error::Output {
            script: script.display().to_string(),
            detail,
        };
        let line = stderr.lines().last().unwrap_or("");
        let summary: serde_json::Value =
            serde_json::from_str(line).map_err(|_| bad(format!("no JSON summary: {line}")))?;
        let seconds = summary["decode_s"]
            .as_f64()
            .ok_or_else(|| bad(format!("no decode_s in {line}")))?;
        let text = std::fs::read_to_string(&out).map_err(|source| Ct2Error::Io {
            path: out.clone(),
            source,
        })?;
        let outputs = text
            .lines()
            .map(|l| {
                let (hyp, score) = l.rsplit_once('\t').unwrap_or((l, ""));
                let score = score
                    .parse::<f64>()
                    .map_err(|_| bad(format!("no score on {l:?}")))?;
                Ok((hyp.to_string(), score))
            })
            .collect::<Result<Vec<_>, Ct2Error>>()?;
        if outputs.len() != self.count {
            return Err(bad(format!(
                "{} outputs for {} words",
                outputs.len(),
                self.count
            )));
        }
        Ok((outputs, seconds))
    }
}

impl Drop for Ct2Side {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

/// Decode all of `ids` with ours; the outputs in input order and the decoding seconds.
fn ours<B: Backend>(
    predictor: &Predictor<B>,
    ids: &[Vec<usize>],
    beam: usize,
    batch: usize,
) -> (Vec<Output>, f64) {
    let decoding = Decoding::new(beam, 1, 0.0).expect("beam >= 1, nbest 1, lenpen 0");
    let started = Instant::now();
    let predictions = predictor.predict_many(ids, &decoding, batch, &mut |_, _| {});
    let seconds = started.elapsed().as_secs_f64();
    let outputs = predictions
        .into_iter()
        .map(|p| (p[0].text.clone(), p[0].score))
        .collect();
    (outputs, seconds)
}

/// Run every (beam, batch) setting on both sides. `ct2` is `None` when CTranslate2 is skipped
/// or unavailable (the rows then carry ours only). `progress` gets each finished row.
pub fn compare<B: Backend>(
    predictor: &Predictor<B>,
    options: &InferenceOptions,
    ct2: Option<&Ct2Side>,
    progress: &mut dyn FnMut(&InferenceRow),
) -> Result<Vec<InferenceRow>, crate::infer::InputError> {
    let ids = options
        .words
        .iter()
        .map(|w| predictor.encode(w, false))
        .collect::<Result<Vec<_>, _>>()?;
    let mut rows = Vec::new();
    for &beam in &options.beams {
        for &batch in &options.batches {
            let batch = batch.clamp(1, ids.len().max(1));
            let (mine, seconds) = ours(predictor, &ids, beam, batch);
            let theirs = match ct2.map(|side| side.decode(beam, batch)) {
                Some(Ok(result)) => Some(result),
                Some(Err(err)) => {
                    eprintln!(
                        "warning: no CTranslate2 figures for beam {beam}, batch {batch}: {err}"
                    );
                    None
                }
                None => None,
            };
            let mut row = InferenceRow {
                beam,
                batch,
                words: ids.len(),
                seq2seq_seconds: seconds,
                seq2seq_words_per_s: ids.len() as f64 / seconds.max(1e-9),
                ctranslate2_seconds: theirs.as_ref().map(|(_, s)| *s),
                ctranslate2_words_per_s: theirs
                    .as_ref()
                    .map(|(_, s)| ids.len() as f64 / s.max(1e-9)),
                same: 0,
                tied: 0,
                differ: Vec::new(),
                score_gap: 0.0,
            };
            if let Some((outputs, _)) = &theirs {
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
    let mut out = format!(
        "{:<28} {:>12} {:>12} {:>9}  {}\n",
        "decoding words/s", "seq2seq", "CTranslate2", "ours/CT2", "same outputs"
    );
    for row in rows {
        let search = match row.beam {
            1 => "greedy".to_string(),
            k => format!("beam {k}"),
        };
        let batch = if row.batch >= row.words {
            format!("batch {} (all)", row.batch)
        } else {
            format!("batch {}", row.batch)
        };
        let (theirs, ratio, agree) = match (row.ctranslate2_words_per_s, row.ratio()) {
            (Some(t), Some(r)) => (
                format!("{t:12.1}"),
                format!("{r:8.2}x"),
                format!(
                    "{}/{}{}{}",
                    row.same,
                    row.words,
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
        out += &format!(
            "{:<28} {:12.1} {theirs} {ratio}  {agree}\n",
            format!("{search}, {batch}"),
            row.seq2seq_words_per_s
        );
    }
    out
}
