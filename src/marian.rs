//! Hugging Face Marian (opus-mt) translation models as model directories: `seq2seq
//! import-marian`.
//!
//! An opus-mt repository holds `config.json` (a `MarianConfig`), `model.safetensors`,
//! `source.spm` / `target.spm` (SentencePiece unigram models) and `vocab.json` (piece -> model
//! id), and often `generation_config.json`. Its model is this crate's Transformer with a few
//! variants, each a config option of ours rather than a second model:
//!
//! | Marian | here |
//! |---|---|
//! | sinusoids in [sin half, cos half] | `positional: sinusoidal_halves` |
//! | post-norm, no final encoder/decoder LayerNorm | `norm_first: false`, `final_norm: false` |
//! | `swish` / `relu` / `gelu` | `activation: silu / relu / gelu` |
//! | separate `q_proj`, `k_proj`, `v_proj` | stacked into the packed `in_proj` |
//! | `model.shared`, `lm_head` tied to it | `share_embeddings`, `tie_generator` |
//! | `final_logits_bias` | `logits_bias: true` |
//! | `</s>` appended to every source | `data.src_eos: true` |
//!
//! **Ids.** Our vocabularies reserve ids 0-3 for `<pad> <s> </s> <unk>`; Marian has `</s>` at
//! `eos_token_id` (0), `<unk>` where vocab.json says (1), `<pad>` at `pad_token_id` (last), and
//! no `<s>`: its decoder starts from `<pad>` (`decoder_start_token_id = pad_token_id`). The
//! import reorders the embedding rows and the logit bias: our `<s>` (the decoder's start, never
//! generated) is Marian's `<pad>` row; our `</s>` and `<unk>` are Marian's; ids 4.. are
//! Marian's other pieces in their order. Our `<pad>` has no Marian counterpart (Marian's pad is
//! its start token): it gets a zero embedding (read only at padded positions, which attention
//! masks) and a logit bias of -50, so its probability is below e^-40 and the softmax over the
//! rest is Marian's. One row more than Marian's vocabulary, then.
//!
//! **Tokenizers.** Each side's `.spm` becomes a `tokenizer.json` ([`Subword::from_spm`]);
//! vocab.json maps its pieces to the model's ids, a piece vocab.json lacks being `<unk>`, as
//! MarianTokenizer does.
//!
//! Every `config.json` field is checked: a value this import cannot run exactly is refused,
//! naming the field, and so is a field it does not know.

use crate::artifact::{self, ArtifactError, LoadedModel};
use crate::config::{BeamRules, ExperimentConfig, GenerationConfig, Preset};
use crate::data::spm::{SpmError, SpmModel};
use crate::data::subword::{Subword, SubwordError};
use crate::data::{DataConfig, TaskKind, TextCodec, Tokenization};
use crate::decode::hf_beam::EarlyStopping;
use crate::model::{Activation, Positional, TransformerConfig};
use crate::vocab::{Vocab, SPECIALS};
use burn::prelude::*;
use safetensors::{Dtype, SafeTensors};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The logit bias of our `<pad>`, which a Marian model does not have (see the module docs).
pub const PAD_LOGIT_BIAS: f32 = -50.0;

/// Why a Marian repository could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum MarianError {
    #[error("{} has no {file}{}", dir.display(), hint.as_deref().map(|h| format!(": {h}")).unwrap_or_default())]
    Missing {
        dir: PathBuf,
        file: &'static str,
        hint: Option<String>,
    },
    #[error("cannot read {}: {message}", path.display())]
    Read { path: PathBuf, message: String },
    #[error("{}: {field} = {value} is not supported: {why}", path.display())]
    Unsupported {
        path: PathBuf,
        field: String,
        value: String,
        why: String,
    },
    #[error("{}: unknown field {field:?} (not a Marian setting this import knows; refusing rather than load a model that could translate wrongly)", path.display())]
    UnknownField { path: PathBuf, field: String },
    #[error("{}: {why}", path.display())]
    Invalid { path: PathBuf, why: String },
    #[error(transparent)]
    Spm(#[from] SpmError),
    #[error(transparent)]
    Subword(#[from] SubwordError),
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
}

/// What the import takes from `config.json` (and `generation_config.json`).
#[derive(Debug, Clone, PartialEq)]
pub struct MarianSettings {
    pub vocab_size: usize,
    pub d_model: usize,
    pub encoder_layers: usize,
    pub decoder_layers: usize,
    pub heads: usize,
    pub ffn_dim: usize,
    pub max_positions: usize,
    pub activation: Activation,
    pub dropout: f64,
    pub pad_id: usize,
    pub eos_id: usize,
    /// Generation defaults, as transformers reads them (config.json, then
    /// generation_config.json over it).
    pub num_beams: Option<usize>,
    pub max_length: Option<usize>,
    pub length_penalty: f64,
    pub early_stopping: EarlyStopping,
    pub forced_eos: bool,
}

/// transformers' `early_stopping`: true, false or "never".
fn early_stopping(f: &Fields) -> Result<Option<EarlyStopping>, MarianError> {
    match f.map.get("early_stopping") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(true)) => Ok(Some(EarlyStopping::True)),
        Some(Value::Bool(false)) => Ok(Some(EarlyStopping::False)),
        Some(Value::String(s)) if s == "never" => Ok(Some(EarlyStopping::Never)),
        Some(_) => Err(f.unsupported("early_stopping", "expected true, false or \"never\"")),
    }
}

/// `config.json` fields read as they are, whatever their value: bookkeeping, training-only
/// settings, or generation settings checked in [`check_generation`].
const IGNORED: &[&str] = &[
    "_name_or_path",
    "transformers_version",
    "dtype",
    "torch_dtype",
    "use_cache",
    "init_std",
    "encoder_layerdrop",
    "decoder_layerdrop",
    "classifier_dropout",
    "classif_dropout",
    "gradient_checkpointing",
    "id2label",
    "label2id",
    "num_labels",
    "_num_labels",
    "num_hidden_layers",
    "extra_pos_embeddings",
    "output_past",
    "return_dict",
    "output_attentions",
    "output_hidden_states",
    "torchscript",
    "pruned_heads",
    "bos_token_id",
    "sep_token_id",
    "tokenizer_class",
    "prefix",
    "task_specific_params",
    "problem_type",
    "finetuning_task",
    "use_bfloat16",
    "tf_legacy_loss",
    "chunk_size_feed_forward",
    "tie_encoder_decoder",
    "add_cross_attention",
    "cross_attention_hidden_size",
    "forced_eos_token_id",
    "architectures",
    "model_type",
    // Dropout inside attention and the FFN: our model has one rate (`dropout`) for all of
    // them, which matters only when fine-tuning (opus-mt sets both to 0).
    "attention_dropout",
    "activation_dropout",
];

/// Generation settings that may sit in `config.json` (older repositories) or
/// `generation_config.json`.
const GENERATION: &[&str] = &[
    "num_beams",
    "max_length",
    "bad_words_ids",
    "early_stopping",
    "length_penalty",
    "min_length",
    "no_repeat_ngram_size",
    "repetition_penalty",
    "do_sample",
    "num_return_sequences",
    "decoder_start_token_id",
    "eos_token_id",
    "pad_token_id",
    "forced_eos_token_id",
    "bos_token_id",
    "transformers_version",
    "_from_model_config",
    "renormalize_logits",
    "temperature",
    "top_k",
    "top_p",
    "max_new_tokens",
    "diversity_penalty",
    "num_beam_groups",
];

fn read_json(path: &Path) -> Result<Map<String, Value>, MarianError> {
    let text = std::fs::read_to_string(path).map_err(|e| MarianError::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    match serde_json::from_str(&text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(MarianError::Invalid {
            path: path.to_path_buf(),
            why: "not a JSON object".into(),
        }),
        Err(e) => Err(MarianError::Read {
            path: path.to_path_buf(),
            message: format!("not valid JSON: {e}"),
        }),
    }
}

/// Reads fields of one JSON file, with transformers' defaults for those it leaves out.
struct Fields<'a> {
    path: &'a Path,
    map: &'a Map<String, Value>,
}

impl Fields<'_> {
    fn unsupported(&self, field: &str, why: &str) -> MarianError {
        MarianError::Unsupported {
            path: self.path.to_path_buf(),
            field: field.to_string(),
            value: self
                .map
                .get(field)
                .map_or("(absent)".into(), Value::to_string),
            why: why.to_string(),
        }
    }

    fn usize(&self, field: &str, default: usize) -> Result<usize, MarianError> {
        match self.map.get(field) {
            None => Ok(default),
            Some(v) => v
                .as_u64()
                .map(|x| x as usize)
                .ok_or_else(|| self.unsupported(field, "expected a non-negative integer")),
        }
    }

    fn optional_usize(&self, field: &str) -> Result<Option<usize>, MarianError> {
        match self.map.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .map(|x| Some(x as usize))
                .ok_or_else(|| self.unsupported(field, "expected a non-negative integer")),
        }
    }

    fn f64(&self, field: &str, default: f64) -> Result<f64, MarianError> {
        match self.map.get(field) {
            None => Ok(default),
            Some(v) => v
                .as_f64()
                .ok_or_else(|| self.unsupported(field, "expected a number")),
        }
    }

    /// A boolean field that must have the value `wanted` (transformers' default `default`).
    fn require_bool(
        &self,
        field: &str,
        default: bool,
        wanted: bool,
        why: &str,
    ) -> Result<(), MarianError> {
        let value = match self.map.get(field) {
            None | Some(Value::Null) => default,
            Some(v) => v
                .as_bool()
                .ok_or_else(|| self.unsupported(field, "expected true or false"))?,
        };
        if value == wanted {
            Ok(())
        } else {
            Err(self.unsupported(field, why))
        }
    }
}

/// Generation settings this crate's greedy and beam search can follow; anything else (sampling,
/// repetition penalties, a minimum length, banned words other than `<pad>`) is refused.
fn check_generation(f: &Fields, pad: usize) -> Result<(), MarianError> {
    if let Some(v) = f.map.get("bad_words_ids") {
        if !v.is_null() && *v != serde_json::json!([[pad]]) {
            return Err(f.unsupported(
                "bad_words_ids",
                "only [[pad_token_id]] (pad never generated)",
            ));
        }
    }
    for (field, neutral) in [
        ("no_repeat_ngram_size", 0.0),
        ("min_length", 0.0),
        ("repetition_penalty", 1.0),
        ("num_beam_groups", 1.0),
        ("diversity_penalty", 0.0),
        ("num_return_sequences", 1.0),
    ] {
        if f.f64(field, neutral)? != neutral {
            return Err(f.unsupported(field, "not implemented in this crate's decoding"));
        }
    }
    f.require_bool("do_sample", false, false, "sampling is not implemented")?;
    Ok(())
}

/// Read and check `config.json` (and `generation_config.json` when `generation` is given).
pub fn read_settings(
    config_path: &Path,
    generation_path: Option<&Path>,
) -> Result<MarianSettings, MarianError> {
    let map = read_json(config_path)?;
    let f = Fields {
        path: config_path,
        map: &map,
    };
    let known: BTreeSet<&str> = [
        "vocab_size",
        "decoder_vocab_size",
        "d_model",
        "encoder_layers",
        "decoder_layers",
        "encoder_attention_heads",
        "decoder_attention_heads",
        "encoder_ffn_dim",
        "decoder_ffn_dim",
        "max_position_embeddings",
        "activation_function",
        "dropout",
        "scale_embedding",
        "share_encoder_decoder_embeddings",
        "tie_word_embeddings",
        "normalize_before",
        "normalize_embedding",
        "add_final_layer_norm",
        "layernorm_embedding",
        "add_bias_logits",
        "static_position_embeddings",
        "is_encoder_decoder",
        "is_decoder",
    ]
    .into_iter()
    .chain(IGNORED.iter().copied())
    .chain(GENERATION.iter().copied())
    .collect();
    if let Some(field) = map.keys().find(|k| !known.contains(k.as_str())) {
        return Err(MarianError::UnknownField {
            path: config_path.to_path_buf(),
            field: field.clone(),
        });
    }
    match map.get("model_type").and_then(Value::as_str) {
        Some("marian") => {}
        _ => return Err(f.unsupported("model_type", "only \"marian\" models are imported")),
    }
    if let Some(archs) = map.get("architectures").and_then(Value::as_array) {
        if archs.iter().any(|a| a.as_str() != Some("MarianMTModel")) {
            return Err(f.unsupported("architectures", "only MarianMTModel (an encoder-decoder)"));
        }
    }
    // transformers' MarianConfig defaults for fields a file leaves out.
    let vocab_size = f.usize("vocab_size", 58101)?;
    if let Some(dv) = f.optional_usize("decoder_vocab_size")? {
        if dv != vocab_size {
            return Err(f.unsupported(
                "decoder_vocab_size",
                "separate source and target vocabularies are not supported (one shared embedding)",
            ));
        }
    }
    let heads = f.usize("encoder_attention_heads", 16)?;
    if f.usize("decoder_attention_heads", 16)? != heads {
        return Err(f.unsupported(
            "decoder_attention_heads",
            "the encoder and decoder must have the same number of heads",
        ));
    }
    let ffn_dim = f.usize("encoder_ffn_dim", 4096)?;
    if f.usize("decoder_ffn_dim", 4096)? != ffn_dim {
        return Err(f.unsupported(
            "decoder_ffn_dim",
            "the encoder and decoder must have the same FFN width",
        ));
    }
    let activation = match map.get("activation_function").and_then(Value::as_str) {
        Some("swish" | "silu") => Activation::Silu,
        Some("relu") => Activation::Relu,
        Some("gelu") | None => Activation::Gelu,
        Some(_) => {
            return Err(f.unsupported(
                "activation_function",
                "only swish/silu, relu and gelu are implemented",
            ))
        }
    };
    f.require_bool(
        "scale_embedding",
        false,
        true,
        "embeddings must be scaled by sqrt(d_model)",
    )?;
    f.require_bool(
        "share_encoder_decoder_embeddings",
        true,
        true,
        "separate source and target embeddings are not supported",
    )?;
    f.require_bool(
        "tie_word_embeddings",
        true,
        true,
        "an untied lm_head is not supported",
    )?;
    f.require_bool(
        "normalize_before",
        false,
        false,
        "pre-norm Marian models are not supported",
    )?;
    f.require_bool(
        "normalize_embedding",
        false,
        false,
        "an embedding LayerNorm is not supported",
    )?;
    f.require_bool(
        "layernorm_embedding",
        false,
        false,
        "an embedding LayerNorm is not supported",
    )?;
    f.require_bool(
        "add_final_layer_norm",
        false,
        false,
        "a final LayerNorm is not supported",
    )?;
    f.require_bool(
        "add_bias_logits",
        false,
        false,
        "a logits bias layer is not supported",
    )?;
    f.require_bool(
        "static_position_embeddings",
        true,
        true,
        "learned positions are not supported",
    )?;
    f.require_bool(
        "is_encoder_decoder",
        true,
        true,
        "an encoder-decoder is needed",
    )?;
    f.require_bool(
        "is_decoder",
        false,
        false,
        "a decoder-only model is not a translation model",
    )?;
    let pad_id = f.usize("pad_token_id", 58100)?;
    let eos_id = match map.get("eos_token_id") {
        None => 0,
        Some(v) => v.as_u64().map(|x| x as usize).ok_or_else(|| {
            f.unsupported(
                "eos_token_id",
                "expected one integer (several are not supported)",
            )
        })?,
    };
    if f.usize("decoder_start_token_id", 58100)? != pad_id {
        return Err(f.unsupported(
            "decoder_start_token_id",
            "the decoder must start from pad_token_id, as Marian models do",
        ));
    }
    let forced = f.optional_usize("forced_eos_token_id")?;
    if forced.is_some_and(|id| id != eos_id) {
        return Err(f.unsupported("forced_eos_token_id", "must be eos_token_id"));
    }
    check_generation(&f, pad_id)?;
    let mut settings = MarianSettings {
        vocab_size,
        d_model: f.usize("d_model", 1024)?,
        encoder_layers: f.usize("encoder_layers", 12)?,
        decoder_layers: f.usize("decoder_layers", 12)?,
        heads,
        ffn_dim,
        max_positions: f.usize("max_position_embeddings", 1024)?,
        activation,
        dropout: f.f64("dropout", 0.1)?,
        pad_id,
        eos_id,
        num_beams: f.optional_usize("num_beams")?,
        max_length: f.optional_usize("max_length")?,
        length_penalty: f.f64("length_penalty", 1.0)?,
        early_stopping: early_stopping(&f)?.unwrap_or(EarlyStopping::False),
        forced_eos: forced.is_some(),
    };
    if let Some(path) = generation_path {
        let gen = read_json(path)?;
        let g = Fields { path, map: &gen };
        if let Some(field) = gen.keys().find(|k| !GENERATION.contains(&k.as_str())) {
            return Err(MarianError::UnknownField {
                path: path.to_path_buf(),
                field: field.clone(),
            });
        }
        check_generation(&g, pad_id)?;
        for (field, value) in [
            ("decoder_start_token_id", pad_id),
            ("pad_token_id", pad_id),
            ("eos_token_id", eos_id),
            ("forced_eos_token_id", eos_id),
        ] {
            if let Some(v) = g.optional_usize(field)? {
                if v != value {
                    return Err(g.unsupported(field, "differs from config.json"));
                }
            }
        }
        // transformers then reads generation settings from this file alone, with its defaults
        // for what the file leaves out.
        settings.num_beams = g.optional_usize("num_beams")?;
        settings.max_length = g.optional_usize("max_length")?;
        settings.length_penalty = g.f64("length_penalty", 1.0)?;
        settings.early_stopping = early_stopping(&g)?.unwrap_or(EarlyStopping::False);
        settings.forced_eos = g.optional_usize("forced_eos_token_id")?.is_some();
    }
    Ok(settings)
}

/// The model's vocabulary in our id order, and for each of our ids the Marian id whose row it
/// takes (our `<pad>`, which has none, maps to Marian's pad and is overwritten after).
pub fn reorder_vocab(
    path: &Path,
    settings: &MarianSettings,
) -> Result<(Vec<String>, Vec<usize>), MarianError> {
    let map = read_json(path)?;
    let invalid = |why: String| MarianError::Invalid {
        path: path.to_path_buf(),
        why,
    };
    let mut pieces: Vec<Option<String>> = vec![None; settings.vocab_size];
    for (piece, id) in &map {
        let id = id
            .as_u64()
            .map(|x| x as usize)
            .ok_or_else(|| invalid(format!("{piece:?} has no integer id")))?;
        let slot = pieces.get_mut(id).ok_or_else(|| {
            invalid(format!(
                "{piece:?} has id {id}, past the model's vocab_size {}",
                settings.vocab_size
            ))
        })?;
        if let Some(other) = slot {
            return Err(invalid(format!("{piece:?} and {other:?} share id {id}")));
        }
        *slot = Some(piece.clone());
    }
    let missing = pieces.iter().filter(|p| p.is_none()).count();
    if missing > 0 {
        return Err(invalid(format!(
            "{missing} of the model's {} ids have no piece",
            settings.vocab_size
        )));
    }
    let pieces: Vec<String> = pieces.into_iter().map(Option::unwrap).collect();
    let unk = map
        .get("<unk>")
        .and_then(Value::as_u64)
        .map(|x| x as usize)
        .ok_or_else(|| invalid("no \"<unk>\" piece".into()))?;
    for (name, id) in [
        ("pad_token_id", settings.pad_id),
        ("eos_token_id", settings.eos_id),
    ] {
        if id >= settings.vocab_size {
            return Err(invalid(format!("{name} {id} is past the vocabulary")));
        }
    }
    let (pad, eos) = (settings.pad_id, settings.eos_id);
    if unk == pad || unk == eos || pad == eos {
        return Err(invalid(format!(
            "pad ({pad}), eos ({eos}) and <unk> ({unk}) must be three different ids"
        )));
    }
    // Our <pad>, <s> (Marian's start token, its pad), </s>, <unk>; then the rest in order.
    let mut marian_of = vec![pad, pad, eos, unk];
    let mut symbols: Vec<String> = SPECIALS.iter().map(|s| s.to_string()).collect();
    for (id, piece) in pieces.iter().enumerate() {
        if id == pad || id == eos || id == unk {
            continue;
        }
        if SPECIALS.contains(&piece.as_str()) {
            return Err(invalid(format!(
                "the piece {piece:?} (id {id}) is one of the reserved symbols but not the model's {}",
                if piece == "<pad>" { "pad_token_id" } else { "eos/unk id" }
            )));
        }
        marian_of.push(id);
        symbols.push(piece.clone());
    }
    Ok((symbols, marian_of))
}

/// A tensor of our state dict: name, shape, values.
type NamedTensor = (String, Vec<usize>, Vec<f32>);

/// The tensors of a safetensors file, as f32.
struct Tensors {
    path: PathBuf,
    map: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
}

impl Tensors {
    fn read(path: &Path) -> Result<Self, MarianError> {
        let bytes = std::fs::read(path).map_err(|e| MarianError::Read {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let file = SafeTensors::deserialize(&bytes).map_err(|e| MarianError::Read {
            path: path.to_path_buf(),
            message: format!("not a complete safetensors file ({e})"),
        })?;
        let mut map = BTreeMap::new();
        for (name, view) in file.tensors() {
            if view.dtype() != Dtype::F32 {
                return Err(MarianError::Invalid {
                    path: path.to_path_buf(),
                    why: format!(
                        "tensor {name} is {:?}; only float32 checkpoints are imported (save it with model.float())",
                        view.dtype()
                    ),
                });
            }
            let values = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            map.insert(name, (view.shape().to_vec(), values));
        }
        Ok(Self {
            path: path.to_path_buf(),
            map,
        })
    }

    /// Take tensor `name`, checking its shape.
    fn take(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>, MarianError> {
        let (found, values) = self.map.remove(name).ok_or_else(|| MarianError::Invalid {
            path: self.path.clone(),
            why: format!("tensor {name} is missing"),
        })?;
        if found != shape {
            return Err(MarianError::Invalid {
                path: self.path.clone(),
                why: format!("tensor {name} has shape {found:?}, the config says {shape:?}"),
            });
        }
        Ok(values)
    }
}

/// The weights in this crate's layout (`crate::store`'s PyTorch names), built from the Marian
/// state dict: rows reordered to our ids, q/k/v stacked into `in_proj`.
fn convert_weights(
    tensors: &mut Tensors,
    s: &MarianSettings,
    marian_of: &[usize],
) -> Result<Vec<NamedTensor>, MarianError> {
    let (d, v) = (s.d_model, s.vocab_size);
    let rows = marian_of.len();
    let mut out = Vec::new();
    let shared = tensors.take("model.shared.weight", &[v, d])?;
    let mut embed = Vec::with_capacity(rows * d);
    for (ours, &theirs) in marian_of.iter().enumerate() {
        if ours == crate::vocab::PAD {
            embed.extend(std::iter::repeat_n(0.0, d));
        } else {
            embed.extend_from_slice(&shared[theirs * d..(theirs + 1) * d]);
        }
    }
    out.push(("src_embed.weight".to_string(), vec![rows, d], embed));
    let bias = tensors.take("final_logits_bias", &[1, v])?;
    let mut ours_bias: Vec<f32> = marian_of.iter().map(|&m| bias[m]).collect();
    ours_bias[crate::vocab::PAD] = PAD_LOGIT_BIAS;
    out.push(("final_logits_bias".to_string(), vec![1, rows], ours_bias));
    // Copies of the shared matrix that some repositories also store, and the sinusoids of
    // older ones: checked, not used.
    for name in [
        "model.encoder.embed_tokens.weight",
        "model.decoder.embed_tokens.weight",
        "lm_head.weight",
    ] {
        if let Some((shape, values)) = tensors.map.remove(name) {
            if shape != [v, d] || values != shared {
                return Err(MarianError::Unsupported {
                    path: tensors.path.clone(),
                    field: name.to_string(),
                    value: "a matrix other than model.shared.weight".into(),
                    why: "untied embeddings are not supported".into(),
                });
            }
        }
    }
    let table = crate::model::positional::sinusoid_halves_table(s.max_positions, d);
    for name in [
        "model.encoder.embed_positions.weight",
        "model.decoder.embed_positions.weight",
    ] {
        if let Some((shape, values)) = tensors.map.remove(name) {
            let close = shape == [s.max_positions, d]
                && values.iter().zip(&table).all(|(a, b)| (a - b).abs() < 1e-4);
            if !close {
                return Err(MarianError::Unsupported {
                    path: tensors.path.clone(),
                    field: name.to_string(),
                    value: format!("a {shape:?} table"),
                    why: "only the sinusoidal positions of MarianSinusoidalPositionalEmbedding"
                        .into(),
                });
            }
        }
    }
    let mut attention = |tensors: &mut Tensors, from: &str, to: &str| -> Result<(), MarianError> {
        let mut weight = Vec::with_capacity(3 * d * d);
        let mut bias = Vec::with_capacity(3 * d);
        for part in ["q_proj", "k_proj", "v_proj"] {
            weight.extend(tensors.take(&format!("{from}.{part}.weight"), &[d, d])?);
            bias.extend(tensors.take(&format!("{from}.{part}.bias"), &[d])?);
        }
        out.push((format!("{to}.in_proj_weight"), vec![3 * d, d], weight));
        out.push((format!("{to}.in_proj_bias"), vec![3 * d], bias));
        for p in ["weight", "bias"] {
            let shape = if p == "weight" { vec![d, d] } else { vec![d] };
            let values = tensors.take(&format!("{from}.out_proj.{p}"), &shape)?;
            out.push((format!("{to}.out_proj.{p}"), shape, values));
        }
        Ok(())
    };
    let mut plain: Vec<(String, String, Vec<usize>)> = Vec::new();
    for side in ["encoder", "decoder"] {
        let layers = if side == "encoder" {
            s.encoder_layers
        } else {
            s.decoder_layers
        };
        for i in 0..layers {
            let from = format!("model.{side}.layers.{i}");
            let to = format!("transformer.{side}.layers.{i}");
            attention(
                tensors,
                &format!("{from}.self_attn"),
                &format!("{to}.self_attn"),
            )?;
            let norms: &[(&str, &str)] = if side == "encoder" {
                &[
                    ("self_attn_layer_norm", "norm1"),
                    ("final_layer_norm", "norm2"),
                ]
            } else {
                attention(
                    tensors,
                    &format!("{from}.encoder_attn"),
                    &format!("{to}.multihead_attn"),
                )?;
                &[
                    ("self_attn_layer_norm", "norm1"),
                    ("encoder_attn_layer_norm", "norm2"),
                    ("final_layer_norm", "norm3"),
                ]
            };
            for (theirs, ours) in norms {
                for p in ["weight", "bias"] {
                    plain.push((
                        format!("{from}.{theirs}.{p}"),
                        format!("{to}.{ours}.{p}"),
                        vec![d],
                    ));
                }
            }
            for (theirs, ours, shape_w, shape_b) in [
                ("fc1", "linear1", vec![s.ffn_dim, d], vec![s.ffn_dim]),
                ("fc2", "linear2", vec![d, s.ffn_dim], vec![d]),
            ] {
                plain.push((
                    format!("{from}.{theirs}.weight"),
                    format!("{to}.{ours}.weight"),
                    shape_w,
                ));
                plain.push((
                    format!("{from}.{theirs}.bias"),
                    format!("{to}.{ours}.bias"),
                    shape_b,
                ));
            }
        }
    }
    for (from, to, shape) in plain {
        let values = tensors.take(&from, &shape)?;
        out.push((to, shape, values));
    }
    if let Some(extra) = tensors.map.keys().next() {
        return Err(MarianError::Invalid {
            path: tensors.path.clone(),
            why: format!(
                "{} tensor(s) this import does not know, e.g. {extra}",
                tensors.map.len()
            ),
        });
    }
    Ok(out)
}

fn write_safetensors(path: &Path, tensors: &[NamedTensor]) -> Result<(), MarianError> {
    let failed = |message: String| MarianError::Read {
        path: path.to_path_buf(),
        message,
    };
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(name, shape, values)| {
            let data = values.iter().flat_map(|x| x.to_le_bytes()).collect();
            (name.clone(), shape.clone(), data)
        })
        .collect();
    let views = bytes
        .iter()
        .map(|(name, shape, data)| {
            safetensors::tensor::TensorView::new(Dtype::F32, shape.clone(), data)
                .map(|view| (name.clone(), view))
                .map_err(|e| failed(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    safetensors::serialize_to_file(views, None, path).map_err(|e| failed(e.to_string()))
}

/// The files of an opus-mt repository this import reads.
fn required(dir: &Path, file: &'static str) -> Result<PathBuf, MarianError> {
    let path = dir.join(file);
    if path.is_file() {
        return Ok(path);
    }
    let hint = match file {
        "model.safetensors" if dir.join("pytorch_model.bin").is_file() => Some(
            "this repository has only pytorch_model.bin (a pickle, which this crate does not read); \
             convert it once with transformers: python3 -c \"from transformers import MarianMTModel; \
             MarianMTModel.from_pretrained('DIR').save_pretrained('DIR', safe_serialization=True)\""
                .to_string(),
        ),
        "config.json" => Some("is it a Hugging Face model directory?".into()),
        _ => None,
    };
    Err(MarianError::Missing {
        dir: dir.to_path_buf(),
        file,
        hint,
    })
}

/// Import the opus-mt repository `hf_dir` into the model directory `out` and return it loaded.
pub fn import<B: Backend>(
    hf_dir: &Path,
    out: &Path,
    device: &B::Device,
) -> Result<LoadedModel<B>, MarianError> {
    let config_path = required(hf_dir, "config.json")?;
    if hf_dir.join("target_vocab.json").is_file() {
        return Err(MarianError::Unsupported {
            path: hf_dir.join("target_vocab.json"),
            field: "target_vocab.json".into(),
            value: "present".into(),
            why: "separate source and target vocabularies are not supported".into(),
        });
    }
    let generation = hf_dir.join("generation_config.json");
    let settings = read_settings(
        &config_path,
        generation.is_file().then_some(generation.as_path()),
    )?;
    let weights_path = required(hf_dir, "model.safetensors")?;
    let (symbols, marian_of) = reorder_vocab(&required(hf_dir, "vocab.json")?, &settings)?;
    let source = SpmModel::read(&required(hf_dir, "source.spm")?)?;
    let target = SpmModel::read(&required(hf_dir, "target.spm")?)?;
    let mut tensors = Tensors::read(&weights_path)?;
    let state = convert_weights(&mut tensors, &settings, &marian_of)?;

    let rows = symbols.len();
    let model_config = TransformerConfig::new()
        .with_src_vocab_size(rows)
        .with_tgt_vocab_size(rows)
        .with_d_model(settings.d_model)
        .with_n_heads(settings.heads)
        .with_d_ff(settings.ffn_dim)
        .with_n_encoder_layers(settings.encoder_layers)
        .with_n_decoder_layers(settings.decoder_layers)
        .with_dropout(settings.dropout)
        .with_activation(settings.activation)
        .with_norm_first(false)
        .with_final_norm(false)
        .with_max_len(settings.max_positions)
        .with_positional(Positional::SinusoidalHalves)
        .with_scale_embeddings(true)
        .with_share_embeddings(true)
        .with_tie_generator(true)
        .with_layer_norm_eps(1e-5)
        .with_logits_bias(true);
    model_config.validate().map_err(|e| MarianError::Invalid {
        path: config_path.clone(),
        why: e.to_string(),
    })?;
    let data = DataConfig::new()
        .with_task(TaskKind::Tsv)
        .with_src_tokens(Tokenization::Unigram)
        .with_tgt_tokens(Tokenization::Unigram)
        .with_joint_vocab(false)
        .with_src_eos(true);
    let src_origin = hf_dir.join("source.spm").display().to_string();
    let tgt_origin = hf_dir.join("target.spm").display().to_string();
    let codec = TextCodec::with_subwords(
        &data,
        Subword::from_spm(&source, &src_origin)?,
        Subword::from_spm(&target, &tgt_origin)?,
    );
    let vocab = Vocab::from_symbols(symbols, &hf_dir.join("vocab.json").display().to_string())
        .map_err(ArtifactError::from)?;

    std::fs::create_dir_all(out).map_err(|e| MarianError::Read {
        path: out.to_path_buf(),
        message: format!("cannot create it: {e}"),
    })?;
    let staged = out.join(".import-marian.safetensors");
    write_safetensors(&staged, &state)?;
    let loaded = crate::store::load_weights(model_config.init::<B>(device), &staged);
    let _ = std::fs::remove_file(&staged);
    let model = loaded.map_err(ArtifactError::from)?;
    let mut config = ExperimentConfig::preset(Preset::Base);
    config.model = model_config;
    config.data = data;
    config.generation = GenerationConfig::new()
        .with_rules(BeamRules::Transformers)
        .with_num_beams(settings.num_beams.unwrap_or(1).max(1))
        .with_length_penalty(settings.length_penalty)
        .with_early_stopping(settings.early_stopping)
        // transformers' default max_length is 20 (start token included).
        .with_max_length(Some(settings.max_length.unwrap_or(20)))
        .with_forced_eos(settings.forced_eos);
    artifact::save(out, &model, &config, &vocab, &vocab, &codec)?;
    Ok(LoadedModel {
        model,
        config,
        src_vocab: vocab.clone(),
        tgt_vocab: vocab,
        codec,
    })
}
