//! The other side of `bench`'s inference section: a Python engine decoding the same inputs.
//!
//! Two engines, each a script under `scripts/` run once per (beam, batch) setting, which
//! decodes a words file, writes one `text<TAB>score` line per input (input order) and prints a
//! JSON summary with the decoding seconds (`decode_s`, model load excluded) on stderr:
//! - **CTranslate2** (`bench_ctranslate2.py`) on our model directory converted by
//!   `scripts/ctranslate2_convert.py` into a scratch directory, reading our tokenizer's source
//!   tokens (`--tokens`: characters for G2P, sentencepiece pieces for translation) and writing
//!   target tokens, so the two sides are compared token for token;
//! - **transformers** (`bench_transformers.py`): `generate()` on the Hugging Face Marian
//!   repository that `import-marian` read, so the two sides run the same weights.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A decoded output as text and its score (see [`Engine`] for which score).
pub type Output = (String, f64);

/// One (beam, batch) setting decoded by the engine.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// The outputs in input order.
    pub outputs: Vec<Output>,
    /// Decoding seconds (model load excluded).
    pub seconds: f64,
    /// The script's peak resident memory (MiB, Linux `VmHWM`): a process per setting, so this
    /// is the setting's own, the interpreter and model included.
    pub peak_mib: Option<f64>,
}

/// Which engine decodes on the other side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Engine {
    /// Scores are log-probabilities summed over the tokens, END included (decoded with no
    /// length penalty, as ours is for this comparison).
    #[serde(rename = "CTranslate2")]
    Ctranslate2,
    /// Scores are transformers': greedy, the summed log-probability; beam, that sum over the
    /// generated length to the power `length_penalty` (as ours reports with its rules).
    #[serde(rename = "transformers")]
    Transformers,
}

impl Engine {
    pub fn name(self) -> &'static str {
        match self {
            Engine::Ctranslate2 => "CTranslate2",
            Engine::Transformers => "transformers",
        }
    }

    /// Whether the engine's outputs are target tokens separated by spaces (compared with ours
    /// as tokens) rather than detokenized text.
    pub fn writes_tokens(self) -> bool {
        matches!(self, Engine::Ctranslate2)
    }

    fn module(self) -> &'static str {
        match self {
            Engine::Ctranslate2 => "ctranslate2",
            Engine::Transformers => "transformers",
        }
    }

    fn script(self) -> &'static str {
        match self {
            Engine::Ctranslate2 => "bench_ctranslate2.py",
            Engine::Transformers => "bench_transformers.py",
        }
    }
}

/// Why the reference side gave no figures.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot run {python}")]
    Spawn {
        python: String,
        source: std::io::Error,
    },
    #[error("{module} is not installed for {python} (pip install {module})")]
    Missing { python: String, module: String },
    #[error("{script} failed: {last_line}")]
    Failed { script: String, last_line: String },
    #[error("unexpected output from {script}: {detail}")]
    Output { script: String, detail: String },
    #[error(
        "the source token {token:?} contains whitespace: the engine's input file cannot carry it"
    )]
    Token { token: String },
    #[error("cannot use the scratch directory {path}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn scripts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts")
}

/// Run a Python script; its stderr when it succeeds.
fn run_python(python: &str, args: &[&std::ffi::OsStr]) -> Result<String, EngineError> {
    let script = args
        .first()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let out = Command::new(python)
        .args(args)
        .output()
        .map_err(|source| EngineError::Spawn {
            python: python.into(),
            source,
        })?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        for module in ["ctranslate2", "transformers", "torch", "sentencepiece"] {
            if stderr.contains(&format!("No module named '{module}'")) {
                return Err(EngineError::Missing {
                    python: python.into(),
                    module: module.into(),
                });
            }
        }
        return Err(EngineError::Failed {
            script,
            last_line: stderr.lines().last().unwrap_or("").to_string(),
        });
    }
    Ok(stderr)
}

/// A reference engine ready to decode: its model and the inputs file in a scratch directory.
pub struct Reference {
    pub engine: Engine,
    python: String,
    threads: usize,
    scratch: PathBuf,
    model: PathBuf,
    words: PathBuf,
    count: usize,
    /// Whether the inputs file holds tokens (`--tokens`) rather than text.
    tokens: bool,
}

impl Reference {
    fn scratch(
        engine: Engine,
        python: &str,
        threads: usize,
        model: PathBuf,
        words: &[String],
    ) -> Result<Self, EngineError> {
        // One directory per reference, even several in one process (tests run in threads).
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let scratch = std::env::temp_dir().join(format!(
            "seq2seq-{}-{}-{}",
            engine.module(),
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let io = |source| EngineError::Io {
            path: scratch.clone(),
            source,
        };
        std::fs::create_dir_all(&scratch).map_err(io)?;
        let words_file = scratch.join("words.txt");
        std::fs::write(&words_file, words.join("\n") + "\n").map_err(io)?;
        Ok(Self {
            engine,
            python: python.into(),
            threads,
            scratch,
            model,
            words: words_file,
            count: words.len(),
            tokens: false,
        })
    }

    /// CTranslate2 on `model` (ours), converted into a fresh scratch directory, decoding
    /// `sources`: each input as our tokenizer's source tokens.
    pub fn ctranslate2(
        python: &str,
        threads: usize,
        model: &Path,
        sources: &[Vec<String>],
    ) -> Result<Self, EngineError> {
        if let Some(token) = sources
            .iter()
            .flatten()
            .find(|t| t.is_empty() || t.contains(char::is_whitespace))
        {
            return Err(EngineError::Token {
                token: token.clone(),
            });
        }
        let lines: Vec<String> = sources.iter().map(|tokens| tokens.join(" ")).collect();
        let mut side = Self::scratch(Engine::Ctranslate2, python, threads, PathBuf::new(), &lines)?;
        side.tokens = true;
        let converted = side.scratch.join("model");
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
        side.model = converted;
        Ok(side)
    }

    /// transformers' `generate()` on the Hugging Face Marian repository `hf_dir`.
    pub fn transformers(
        python: &str,
        threads: usize,
        hf_dir: &Path,
        words: &[String],
    ) -> Result<Self, EngineError> {
        Self::scratch(
            Engine::Transformers,
            python,
            threads,
            hf_dir.to_path_buf(),
            words,
        )
    }

    /// Decode all inputs: the outputs in input order, the decoding seconds, the peak memory.
    pub fn decode(&self, beam: usize, batch: usize) -> Result<Decoded, EngineError> {
        let script = scripts().join(self.engine.script());
        let out = self.scratch.join(format!("out-b{beam}-n{batch}.txt"));
        // The same parallel layout as ours (`Predictor::predict_many`): `threads` batches
        // decoded at once, one thread each, so CTranslate2 gets `threads` replicas of one
        // thread (inter_threads), and a batch larger than a thread's share of the inputs is
        // cut to that share, as ours cuts it. Its other layout, one batch at a time on
        // intra_threads = 2, collapsed on a 2-core VM (beam 5 batch 1 ten times slower than
        // one thread, the time in the kernel): docs/decoding-speed.md, 2026-12-02.
        let share = self.count.div_ceil(self.threads.max(1)).max(1);
        let (beam_s, batch_s, threads) = (
            beam.to_string(),
            batch.min(self.count).min(share).to_string(),
            self.threads.to_string(),
        );
        let model_flag = match self.engine {
            Engine::Ctranslate2 => "--model",
            Engine::Transformers => "--hf-dir",
        };
        let mut args: Vec<&std::ffi::OsStr> = vec![
            script.as_os_str(),
            model_flag.as_ref(),
            self.model.as_os_str(),
            "--words".as_ref(),
            self.words.as_os_str(),
            "--beam".as_ref(),
            beam_s.as_ref(),
            "--batch".as_ref(),
            batch_s.as_ref(),
            "--scores".as_ref(),
            "--json".as_ref(),
            "--out".as_ref(),
            out.as_os_str(),
        ];
        let thread_flags: &[&str] = match self.engine {
            Engine::Ctranslate2 => &["--threads", "1", "--inter-threads", &threads],
            Engine::Transformers => &["--threads", &threads],
        };
        args.extend(thread_flags.iter().map(std::ffi::OsStr::new));
        if self.tokens {
            args.push("--tokens".as_ref());
        }
        let stderr = run_python(&self.python, &args)?;
        let bad = |detail: String| EngineError::Output {
            script: script.display().to_string(),
            detail,
        };
        let line = stderr.lines().last().unwrap_or("");
        let summary: serde_json::Value =
            serde_json::from_str(line).map_err(|_| bad(format!("no JSON summary: {line}")))?;
        let seconds = summary["decode_s"]
            .as_f64()
            .ok_or_else(|| bad(format!("no decode_s in {line}")))?;
        let text = std::fs::read_to_string(&out).map_err(|source| EngineError::Io {
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
            .collect::<Result<Vec<_>, EngineError>>()?;
        if outputs.len() != self.count {
            return Err(bad(format!(
                "{} outputs for {} inputs",
                outputs.len(),
                self.count
            )));
        }
        Ok(Decoded {
            outputs,
            seconds,
            peak_mib: summary["peak_rss_mib"].as_f64(),
        })
    }
}

impl Drop for Reference {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}
