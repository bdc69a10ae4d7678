//! Data: readers for dictionaries, parallel text and synthetic tasks; splits; vocabularies; the
//! batcher that pads and prepares teacher forcing.

pub mod batcher;
pub mod dictionary;
pub mod parallel;
pub mod split;
pub mod spm;
pub mod subword;
pub mod synthetic;
pub mod text_codec;

pub use batcher::{Seq2SeqBatch, Seq2SeqBatcher};
pub use parallel::{TextPair, Tokenization};
pub use split::Split;
pub use synthetic::Synthetic;
pub use text_codec::TextCodec;

use crate::vocab::Vocab;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The vendored CMU Pronouncing Dictionary (`data/cmudict/`, BSD-style licence), compiled into
/// the binary so `seq2seq train` works from any directory.
pub const CMUDICT: &str = include_str!("../../data/cmudict/cmudict.dict");

/// One training example: source tokens and target tokens (without BEGIN/END).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    pub src: Vec<String>,
    pub tgt: Vec<String>,
}

/// An evaluation item: a source and every acceptable target (a word's pronunciations).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub src: Vec<String>,
    pub targets: Vec<Vec<String>>,
}

/// Why data could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("cannot read {path}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid UTF-8 (first bad byte at offset {offset})")]
    NotUtf8 { path: PathBuf, offset: usize },
    #[error("{origin}:{line}: {message}")]
    Malformed {
        origin: String,
        line: usize,
        message: String,
    },
    #[error("{origin} has no data (no usable lines)")]
    Empty { origin: String },
    #[error("the {task} task needs --data FILE")]
    NeedsData { task: &'static str },
    #[error("the {split} split is empty: the data set is too small for the split fractions")]
    EmptySplit { split: &'static str },
    #[error("invalid data config: {0}")]
    Config(String),
    #[error("{} has {src_lines} lines but {} has {tgt_lines}: parallel files need one translation per line", src.display(), tgt.display())]
    LineCount {
        src: PathBuf,
        src_lines: usize,
        tgt: PathBuf,
        tgt_lines: usize,
    },
    #[error(transparent)]
    Subword(#[from] subword::SubwordError),
}

/// Read a whole file as UTF-8, with errors that name it.
pub fn read_text(path: &Path) -> Result<String, DataError> {
    let bytes = std::fs::read(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    String::from_utf8(bytes).map_err(|err| DataError::NotUtf8 {
        path: path.to_path_buf(),
        offset: err.utf8_error().valid_up_to(),
    })
}

/// Which task to train on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum TaskKind {
    /// Grapheme-to-phoneme on a pronouncing dictionary (the vendored CMUdict by default).
    G2p,
    /// Copy a random letter string.
    Copy,
    /// Reverse a random letter string.
    Reverse,
    /// Sort a random letter string.
    Sort,
    /// Parallel text: `source<TAB>target` lines (`--data`), or two files with one sentence a
    /// line (`--src`, `--tgt`).
    Tsv,
}

/// Everything about the data, saved with the model so inference prepares input the same way.
#[derive(burn::config::Config, Debug, PartialEq)]
pub struct DataConfig {
    #[config(default = "TaskKind::G2p")]
    pub task: TaskKind,
    /// Data file (g2p: a dictionary in CMUdict or TAB layout, default the vendored CMUdict;
    /// tsv: parallel text).
    #[config(default = "None")]
    pub path: Option<PathBuf>,
    /// G2P: drop stress digits from phones.
    #[config(default = false)]
    pub strip_stress: bool,
    /// Skip malformed lines (counted and reported) instead of stopping.
    #[config(default = false)]
    pub skip_bad_lines: bool,
    /// Parallel text as two files, line N of one translating line N of the other (instead of
    /// `path`), and optionally a given dev set in the same form (otherwise the seeded split).
    #[config(default = "None")]
    pub src_path: Option<PathBuf>,
    #[config(default = "None")]
    pub tgt_path: Option<PathBuf>,
    #[config(default = "None")]
    pub valid_src_path: Option<PathBuf>,
    #[config(default = "None")]
    pub valid_tgt_path: Option<PathBuf>,
    /// Parallel text: how each side is cut into tokens.
    #[config(default = "Tokenization::Char")]
    pub src_tokens: Tokenization,
    #[config(default = "Tokenization::Char")]
    pub tgt_tokens: Tokenization,
    /// Subword tokenizations: pieces in a learned vocabulary (reserved symbols included).
    #[config(default = 8000)]
    pub vocab_size: usize,
    /// Both sides subword of the same kind: one vocabulary learned from both sides' text (what
    /// shared embeddings and a tied generator need), rather than one per side.
    #[config(default = true)]
    pub joint_vocab: bool,
    /// Unigram vocabularies: SentencePiece's `byte_fallback`. 256 byte pieces (`<0x00>` ..
    /// `<0xFF>`) join the vocabulary (out of `vocab_size`), and a character never seen in
    /// training is spelled as its UTF-8 bytes instead of one `<unk>`; decoding joins bytes
    /// back into characters.
    #[config(default = false)]
    pub byte_fallback: bool,
    /// Append `</s>` to every source sentence, as Marian models were trained (`import-marian`
    /// sets it); off for models trained here, whose sources end without a marker.
    #[config(default = false)]
    pub src_eos: bool,
    /// Fractions of the data held out (by key: the word for G2P, the source otherwise).
    #[config(default = 0.05)]
    pub dev_fraction: f64,
    #[config(default = 0.05)]
    pub test_fraction: f64,
    #[config(default = 1)]
    pub split_seed: u64,
    /// Synthetic tasks: number of examples, alphabet size, lengths.
    #[config(default = 20000)]
    pub synthetic_size: usize,
    #[config(default = 10)]
    pub synthetic_symbols: usize,
    #[config(default = 1)]
    pub synthetic_min_len: usize,
    #[config(default = 12)]
    pub synthetic_max_len: usize,
    /// Drop training pairs whose source or target is longer than this (0 = keep all that fit
    /// the model's `max_len`).
    #[config(default = 0)]
    pub max_tokens: usize,
    /// Train the decoder right to left (Marian's `--right-left`): every target's tokens are
    /// reversed before the model sees them, and decoding reverses its outputs back, so the
    /// model reads and writes text in the usual order. A right-to-left model makes other
    /// errors than a left-to-right one; as a rescorer of its n-best lists
    /// ([`crate::rerank`]) it is the second opinion a left-to-right ensemble lacks.
    #[config(default = false)]
    pub right_left: bool,
}

/// A task with the settings that belong to it: [`DataConfig`] seen per variant, so every
/// place that depends on the task matches all of them (a new variant is a compile error
/// until each place handles it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Task<'a> {
    /// Grapheme-to-phoneme: lowercased characters in, phones out.
    G2p {
        /// `None`: the vendored CMUdict.
        path: Option<&'a Path>,
        strip_stress: bool,
    },
    /// Parallel text, each side cut its own way.
    Parallel {
        path: Option<&'a Path>,
        src_tokens: Tokenization,
        tgt_tokens: Tokenization,
    },
    /// A synthetic mapping of random letter strings.
    Synthetic {
        kind: Synthetic,
        size: usize,
        symbols: usize,
        min_len: usize,
        max_len: usize,
    },
}

/// A data set cut into splits, with its vocabularies.
#[derive(Debug, Clone)]
pub struct Corpus {
    pub train: Vec<Pair>,
    pub dev: Vec<Reference>,
    pub test: Vec<Reference>,
    pub src_vocab: Vocab,
    pub tgt_vocab: Vocab,
    /// Malformed lines skipped (with `skip_bad_lines`).
    pub skipped_lines: usize,
    /// How text becomes these tokens (and the learned tokenizers, for subword vocabularies).
    pub codec: TextCodec,
}

/// Group pairs by source, keeping every distinct target (so evaluation can pick the best match).
pub fn group_references(pairs: Vec<Pair>) -> Vec<Reference> {
    let mut out: Vec<Reference> = Vec::new();
    let mut index: std::collections::HashMap<Vec<String>, usize> = Default::default();
    for pair in pairs {
        match index.get(&pair.src) {
            Some(&i) => {
                if !out[i].targets.contains(&pair.tgt) {
                    out[i].targets.push(pair.tgt)
                }
            }
            None => {
                index.insert(pair.src.clone(), out.len());
                out.push(Reference {
                    src: pair.src,
                    targets: vec![pair.tgt],
                });
            }
        }
    }
    out
}

/// Flatten references back into training pairs.
pub fn pairs(references: &[Reference]) -> Vec<Pair> {
    references
        .iter()
        .flat_map(|r| {
            r.targets.iter().map(|t| Pair {
                src: r.src.clone(),
                tgt: t.clone(),
            })
        })
        .collect()
}

impl DataConfig {
    /// The task and its settings.
    pub fn task(&self) -> Task<'_> {
        let synthetic = |kind| Task::Synthetic {
            kind,
            size: self.synthetic_size,
            symbols: self.synthetic_symbols,
            min_len: self.synthetic_min_len,
            max_len: self.synthetic_max_len,
        };
        match self.task {
            TaskKind::G2p => Task::G2p {
                path: self.path.as_deref(),
                strip_stress: self.strip_stress,
            },
            TaskKind::Tsv => Task::Parallel {
                path: self.path.as_deref(),
                src_tokens: self.src_tokens,
                tgt_tokens: self.tgt_tokens,
            },
            TaskKind::Copy => synthetic(Synthetic::Copy),
            TaskKind::Reverse => synthetic(Synthetic::Reverse),
            TaskKind::Sort => synthetic(Synthetic::Sort),
        }
    }

    pub fn validate(&self) -> Result<(), DataError> {
        let bad = |m: String| Err(DataError::Config(m));
        if !(0.0..1.0).contains(&self.dev_fraction)
            || !(0.0..1.0).contains(&self.test_fraction)
            || self.dev_fraction + self.test_fraction >= 1.0
        {
            return bad(format!(
                "dev_fraction ({}) and test_fraction ({}) must be in [0, 1) and sum below 1",
                self.dev_fraction, self.test_fraction
            ));
        }
        match self.task() {
            Task::Synthetic {
                size,
                symbols,
                min_len,
                max_len,
                ..
            } if !(1..=26).contains(&symbols) || min_len == 0 || min_len > max_len || size == 0 => {
                bad(format!(
                    "synthetic tasks need 1..=26 symbols (got {symbols}), 1 <= min_len ({min_len}) <= max_len ({max_len}) and size > 0 (got {size})"
                ))
            }
            Task::G2p { .. } | Task::Parallel { .. } | Task::Synthetic { .. } => Ok(()),
        }
    }

    /// Load the pairs of the configured task.
    fn load_pairs(&self) -> Result<(Vec<Pair>, usize), DataError> {
        match self.task() {
            Task::G2p { path, strip_stress } => {
                let (text, origin) = match path {
                    Some(path) => (read_text(path)?, path.display().to_string()),
                    None => (CMUDICT.to_string(), "data/cmudict/cmudict.dict".to_string()),
                };
                let options = dictionary::DictOptions {
                    strip_stress,
                    skip_bad_lines: self.skip_bad_lines,
                };
                let dict = dictionary::parse(&text, &origin, options)?;
                let pairs = dict
                    .entries
                    .into_iter()
                    .flat_map(|e| {
                        let src: Vec<String> = e.word.chars().map(String::from).collect();
                        e.pronunciations.into_iter().map(move |tgt| Pair {
                            src: src.clone(),
                            tgt,
                        })
                    })
                    .collect();
                Ok((pairs, dict.skipped_lines))
            }
            Task::Parallel { .. } => unreachable!("parallel text is read by load_parallel"),
            Task::Synthetic {
                kind,
                size,
                symbols,
                min_len,
                max_len,
            } => Ok((
                synthetic::generate(kind, size, symbols, min_len, max_len, self.split_seed),
                0,
            )),
        }
    }

    /// Read, split and build vocabularies (from the training split). Pairs longer than
    /// `max_tokens` (when set) are dropped from training.
    pub fn load(&self) -> Result<Corpus, DataError> {
        self.load_with(None, false)
    }

    /// [`Self::load`], with the text codec of an earlier run or model (resume, `--init`)
    /// instead of learning one; `show_progress` shows the subword trainer's progress.
    pub fn load_with(
        &self,
        codec: Option<TextCodec>,
        show_progress: bool,
    ) -> Result<Corpus, DataError> {
        self.validate()?;
        let (mut train, dev, test, skipped_lines, codec) = match self.task() {
            Task::Parallel { .. } => self.load_parallel(codec, show_progress)?,
            Task::G2p { .. } | Task::Synthetic { .. } => {
                let (pairs, skipped_lines) = self.load_pairs()?;
                let mut sides = [Vec::new(), Vec::new(), Vec::new()];
                for pair in pairs {
                    let key = pair.src.concat();
                    sides[self.side(&key) as usize].push(pair);
                }
                let [train, dev, test] = sides;
                let codec = match codec {
                    Some(codec) => codec,
                    None => TextCodec::plain(self)?,
                };
                (train, dev, test, skipped_lines, codec)
            }
        };
        if self.max_tokens > 0 {
            train.retain(|p| p.src.len() <= self.max_tokens && p.tgt.len() <= self.max_tokens);
        }
        if train.is_empty() {
            return Err(DataError::EmptySplit { split: "train" });
        }
        if dev.is_empty() && (self.dev_fraction > 0.0 || self.valid_src_path.is_some()) {
            return Err(DataError::EmptySplit { split: "dev" });
        }
        // Subword vocabularies are the learned tokenizers'; others are the training tokens.
        let (src, tgt) = codec.subwords();
        let src_vocab = src.map_or_else(
            || build_vocab(train.iter().map(|p| &p.src)),
            |s| s.vocab().clone(),
        );
        let tgt_vocab = tgt.map_or_else(
            || build_vocab(train.iter().map(|p| &p.tgt)),
            |s| s.vocab().clone(),
        );
        Ok(Corpus {
            train,
            dev: group_references(dev),
            test: group_references(test),
            src_vocab,
            tgt_vocab,
            skipped_lines,
            codec,
        })
    }

    /// The split a key (a word, a source sentence) falls in: 0 train, 1 dev, 2 test.
    fn side(&self, key: &str) -> u8 {
        match split::assign(key, self.split_seed, self.dev_fraction, self.test_fraction) {
            Split::Train => 0,
            Split::Dev => 1,
            Split::Test => 2,
        }
    }

    /// Parallel text: read it (TSV or two files), split it (by source sentence, or the given
    /// dev files), learn the subword vocabularies from the training split alone, tokenize.
    #[allow(clippy::type_complexity)]
    fn load_parallel(
        &self,
        codec: Option<TextCodec>,
        show_progress: bool,
    ) -> Result<(Vec<Pair>, Vec<Pair>, Vec<Pair>, usize, TextCodec), DataError> {
        let (pairs, mut skipped) = match (&self.src_path, &self.tgt_path, &self.path) {
            (Some(src), Some(tgt), None) => parallel::read_files(src, tgt, self.skip_bad_lines)?,
            (None, None, Some(path)) => {
                parallel::parse(&read_text(path)?, &path.display().to_string(), self.skip_bad_lines)?
            }
            (None, None, None) => return Err(DataError::NeedsData { task: "tsv" }),
            _ => {
                return Err(DataError::Config(
                    "give parallel text either as one TSV file (--data) or as two files (--src and --tgt)".into(),
                ))
            }
        };
        let mut sides = [Vec::new(), Vec::new(), Vec::new()];
        match (&self.valid_src_path, &self.valid_tgt_path) {
            (Some(src), Some(tgt)) => {
                let (dev, dev_skipped) = parallel::read_files(src, tgt, self.skip_bad_lines)?;
                skipped += dev_skipped;
                sides[0] = pairs;
                sides[1] = dev;
            }
            (None, None) => {
                for pair in pairs {
                    sides[self.side(&pair.src) as usize].push(pair);
                }
            }
            _ => {
                return Err(DataError::Config(
                    "a given dev set needs both --valid-src and --valid-tgt".into(),
                ))
            }
        }
        let codec = match codec {
            Some(codec) => codec,
            None => TextCodec::learn(self, &sides[0], show_progress)?,
        };
        let [train, dev, test] = sides.map(|side| {
            side.iter()
                .map(|p| Pair {
                    src: codec.source_tokens(&p.src),
                    tgt: codec.target_tokens(&p.tgt),
                })
                .collect::<Vec<_>>()
        });
        Ok((train, dev, test, skipped, codec))
    }
}

/// Vocabulary of every token in `sequences`, sorted (so it does not depend on data order).
fn build_vocab<'a>(sequences: impl Iterator<Item = &'a Vec<String>>) -> Vocab {
    let mut symbols: Vec<&String> = sequences.flatten().collect();
    symbols.sort();
    symbols.dedup();
    Vocab::new(symbols.into_iter().cloned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendored_cmudict_loads_and_splits_by_word() {
        let config = DataConfig::new();
        let corpus = config.load().unwrap();
        let words = corpus.train.len() + pairs(&corpus.dev).len() + pairs(&corpus.test).len();
        assert!(words > 130_000, "{words} pronunciations");
        assert!(corpus.dev.len() > 5_000 && corpus.test.len() > 5_000);
        // All pronunciations of a word are on one side: no dev word is a train word.
        let train_words: std::collections::HashSet<&Vec<String>> =
            corpus.train.iter().map(|p| &p.src).collect();
        assert!(corpus.dev.iter().all(|r| !train_words.contains(&r.src)));
        // Stress marks are kept by default: 39 phones x stress variants + specials.
        assert!(corpus.tgt_vocab.id("AH0").is_some() && corpus.tgt_vocab.id("AH").is_none());
        assert!(corpus.src_vocab.id("a").is_some() && corpus.src_vocab.id("'").is_some());
    }

    #[test]
    fn tsv_task_needs_a_file() {
        let err = DataConfig::new()
            .with_task(TaskKind::Tsv)
            .load()
            .unwrap_err();
        assert!(err.to_string().contains("--data"), "{err}");
    }

    #[test]
    fn missing_and_non_utf8_files_are_named() {
        let config = DataConfig::new().with_path(Some("/nonexistent/dict.txt".into()));
        let err = config.load().unwrap_err().to_string();
        assert!(err.contains("/nonexistent/dict.txt"), "{err}");
        let path = std::env::temp_dir().join(format!("bad-utf8-{}.dict", std::process::id()));
        std::fs::write(&path, b"abc AH0\n\xff\xfe B\n").unwrap();
        let err = DataConfig::new()
            .with_path(Some(path.clone()))
            .load()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("not valid UTF-8") && err.contains("offset 8"),
            "{err}"
        );
        std::fs::remove_file(path).unwrap();
    }
}
