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
//!
//! The parts: `config` reads and checks `config.json` and `generation_config.json`, `vocab`
//! reorders `vocab.json` into our ids, `weights` converts `model.safetensors` into our state dict.

mod config;
mod vocab;
mod weights;

pub use config::{read_settings, MarianSettings};
pub use vocab::reorder_vocab;
use weights::{convert_weights, write_safetensors, Tensors};

use crate::artifact::{self, ArtifactError, LoadedModel};
use crate::config::{BeamRules, ExperimentConfig, GenerationConfig, Preset};
use crate::data::spm::{SpmError, SpmModel};
use crate::data::subword::{Subword, SubwordError};
use crate::data::{DataConfig, TaskKind, TextCodec, Tokenization};
use crate::model::{Positional, TransformerConfig};
use crate::vocab::Vocab;
use burn::prelude::*;
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
/// transformers' default `max_length` (`GenerationConfig`), which 5.3 and later count after the
/// decoder's start token when the repository sets none.
pub const DEFAULT_MAX_NEW_TOKENS: usize = 20;

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
        // transformers 5.3-5.25's length rule when the repository sets none
        // (`generation/utils.py`, `_prepare_generated_length`): its default max_length of 20
        // counts the tokens after the decoder start, 21 ids in all, capped by the positions.
        .with_max_length(Some(
            settings
                .max_length
                .unwrap_or((DEFAULT_MAX_NEW_TOKENS + 1).min(settings.max_positions)),
        ))
        .with_forced_eos(settings.forced_eos)
        .with_repetition_penalty(settings.repetition_penalty)
        .with_no_repeat_ngram_size(settings.no_repeat_ngram_size);
    artifact::save(out, &model, &config, &vocab, &vocab, &codec)?;
    Ok(LoadedModel {
        model,
        config,
        src_vocab: vocab.clone(),
        tgt_vocab: vocab,
        codec,
    })
}
