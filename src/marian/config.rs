//! `config.json` and `generation_config.json` of a Marian repository: every field read or
//! refused.

use super::MarianError;
use crate::decode::hf_beam::EarlyStopping;
use crate::model::Activation;
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::path::Path;

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
    /// `repetition_penalty` (1 = none) and `no_repeat_ngram_size` (0 = none), decoded with
    /// transformers' semantics ([`crate::decode::Repetition`]).
    pub repetition_penalty: f64,
    pub no_repeat_ngram_size: usize,
}

/// `repetition_penalty` (default 1): a number above 0.
fn repetition_penalty(f: &Fields) -> Result<f64, MarianError> {
    let p = f.f64("repetition_penalty", 1.0)?;
    if !(p.is_finite() && p > 0.0) {
        return Err(f.unsupported("repetition_penalty", "expected a number above 0"));
    }
    Ok(p)
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

/// transformers' `GenerationConfig` fields, sorted from transformers 5.25.0's source
/// (`generation/configuration_utils.py`, `generation/utils.py`; the sorting and its citations:
/// docs/translation.md, "Generation settings"). These change which tokens `generate()` picks:
/// read, or refused unless neutral ([`check_generation`]).
const GENERATION: &[&str] = &[
    "num_beams",
    "max_length",
    "max_new_tokens",
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
    "renormalize_logits",
    "diversity_penalty",
    "num_beam_groups",
];

/// Token-changing fields this crate does not implement, with the values at which they change
/// nothing (`null` always counts): accepted at those, refused otherwise.
const NEUTRAL_ONLY: &[(&str, &[&str])] = &[
    ("min_new_tokens", &["0"]),
    ("max_time", &[]),
    ("stop_strings", &["[]"]),
    ("use_mtp", &["false"]),
    ("encoder_repetition_penalty", &["1", "1.0"]),
    ("encoder_no_repeat_ngram_size", &["0"]),
    ("forced_bos_token_id", &[]),
    ("exponential_decay_length_penalty", &[]),
    ("suppress_tokens", &["[]"]),
    ("begin_suppress_tokens", &["[]"]),
    ("sequence_bias", &[]),
    ("token_healing", &["false"]),
    ("guidance_scale", &["1", "1.0"]),
    ("watermarking_config", &[]),
    ("is_assistant", &["false"]),
    ("prompt_lookup_num_tokens", &[]),
    ("assistant_early_exit", &[]),
    ("penalty_alpha", &["0", "0.0"]),
    ("dola_layers", &[]),
    ("constraints", &[]),
    ("force_words_ids", &[]),
    ("prefill_chunk_size", &[]),
    ("low_memory", &["false"]),
    ("remove_invalid_values", &["false"]),
    // Storage of the KV cache only, except "quantized" (lossy) and "paged" (another engine).
    (
        "cache_implementation",
        &[
            "\"dynamic\"",
            "\"static\"",
            "\"offloaded\"",
            "\"hybrid\"",
            "\"sliding_window\"",
        ],
    ),
];

/// Fields that change only what `generate()` returns, how it caches or compiles, or record
/// where the file came from; and sampling's settings, inert while `do_sample` is false (which
/// [`check_generation`] requires). Accepted and ignored: transformers 5.25's `save_pretrained`
/// writes `output_attentions`, `output_hidden_states` and `use_cache` into every Marian
/// repository's `generation_config.json`.
const BOOKKEEPING: &[&str] = &[
    "output_attentions",
    "output_hidden_states",
    "output_scores",
    "output_logits",
    "return_dict_in_generate",
    "use_cache",
    "cache_config",
    "max_cache_len",
    "compile_config",
    "disable_compile",
    "continuous_batching_config",
    "transformers_version",
    "_from_model_config",
    "_commit_hash",
    "temperature",
    "top_k",
    "top_p",
    "min_p",
    "top_h",
    "typical_p",
    "epsilon_cutoff",
    "eta_cutoff",
    "num_assistant_tokens",
    "num_assistant_tokens_schedule",
    "assistant_confidence_threshold",
    "assistant_lookbehind",
    "target_lookbehind",
    "max_matching_ngram_size",
    "assistant_ensemble_weight",
    "speculation_type",
];

/// Whether `field` of `generation_config.json` is one this import knows.
fn known_generation_field(field: &str) -> bool {
    GENERATION.contains(&field)
        || BOOKKEEPING.contains(&field)
        || NEUTRAL_ONLY.iter().any(|(f, _)| *f == field)
}

pub(super) fn read_json(path: &Path) -> Result<Map<String, Value>, MarianError> {
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
/// a minimum length, banned words other than `<pad>`, diverse beams) is refused.
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
        ("min_length", 0.0),
        ("num_beam_groups", 1.0),
        ("diversity_penalty", 0.0),
        ("num_return_sequences", 1.0),
    ] {
        if f.f64(field, neutral)? != neutral {
            return Err(f.unsupported(field, "not implemented in this crate's decoding"));
        }
    }
    f.require_bool("do_sample", false, false, "sampling is not implemented")?;
    // After bad_words_ids masks <pad>, renormalising shifts each beam's score by
    // -log(1 - p(pad)) in transformers' beam search: exact only without bad words.
    let renormalize = f
        .map
        .get("renormalize_logits")
        .is_some_and(|v| *v == Value::Bool(true));
    if renormalize && f.map.get("bad_words_ids").is_some_and(|v| !v.is_null()) {
        return Err(f.unsupported(
            "renormalize_logits",
            "with bad_words_ids, transformers renormalises the masked scores (not implemented)",
        ));
    }
    for (field, neutral) in NEUTRAL_ONLY {
        match f.map.get(*field) {
            None | Some(Value::Null) => {}
            Some(v) if neutral.contains(&v.to_string().as_str()) => {}
            Some(_) => {
                return Err(f.unsupported(
                    field,
                    "changes generated tokens; not implemented in this crate's decoding",
                ))
            }
        }
    }
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
        repetition_penalty: repetition_penalty(&f)?,
        no_repeat_ngram_size: f.usize("no_repeat_ngram_size", 0)?,
    };
    if let Some(path) = generation_path {
        let gen = read_json(path)?;
        let g = Fields { path, map: &gen };
        if let Some(field) = gen.keys().find(|k| !known_generation_field(k)) {
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
        // max_new_tokens wins over max_length: the decoder start token and that many.
        if let Some(new) = g.optional_usize("max_new_tokens")? {
            settings.max_length = Some(new + 1);
        }
        settings.length_penalty = g.f64("length_penalty", 1.0)?;
        settings.early_stopping = early_stopping(&g)?.unwrap_or(EarlyStopping::False);
        settings.forced_eos = g.optional_usize("forced_eos_token_id")?.is_some();
        settings.repetition_penalty = repetition_penalty(&g)?;
        settings.no_repeat_ngram_size = g.usize("no_repeat_ngram_size", 0)?;
    }
    Ok(settings)
}
