//! A model directory: everything inference needs, written atomically.
//!
//! ```text
//! DIR/config.json        the experiment config (model, data, optimizer, training)
//! DIR/model.safetensors  weights in PyTorch layout (see `store`)
//! DIR/src_vocab.json     source symbols, index = id
//! DIR/tgt_vocab.json     target symbols, index = id
//! DIR/tokenizer.json     subword models only: the learned tokenizer (or src_/tgt_tokenizer.json)
//! ```

use crate::config::ExperimentConfig;
use crate::data::TextCodec;
use crate::model::Transformer;
use crate::store::{load_weights, save_weights, StoreError};
use crate::vocab::{Vocab, VocabError};
use burn::prelude::*;
use std::path::{Path, PathBuf};

pub const CONFIG_FILE: &str = "config.json";
pub const WEIGHTS_FILE: &str = "model.safetensors";
pub const SRC_VOCAB_FILE: &str = "src_vocab.json";
pub const TGT_VOCAB_FILE: &str = "tgt_vocab.json";

/// Why a model directory could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("{0} is not a model directory (no {CONFIG_FILE}); train one with `seq2seq train` or import one with `seq2seq import-pytorch`")]
    NotAModel(PathBuf),
    #[error("cannot read config {path}")]
    Config {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The error names the file.
    #[error(transparent)]
    ConfigInvalid(#[from] crate::cli_config::OverlayError),
    #[error("config {path} cannot build a model")]
    InvalidModel {
        path: PathBuf,
        source: crate::model::ConfigError,
    },
    #[error(transparent)]
    Vocab(#[from] VocabError),
    #[error("{which} vocabulary has {found} symbols but the model config expects {expected}")]
    VocabSize {
        which: &'static str,
        found: usize,
        expected: usize,
    },
    #[error(transparent)]
    Weights(#[from] StoreError),
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    #[error("cannot write {path}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A config file laid over `base` (fields it leaves out keep `base`'s values; unknown fields
/// are errors).
fn read_overlay<T: serde::Serialize + serde::de::DeserializeOwned>(
    path: &Path,
    base: &T,
) -> Result<T, ArtifactError> {
    let text = std::fs::read_to_string(path).map_err(|source| ArtifactError::Config {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(crate::cli_config::overlay_on(
        base,
        &text,
        &path.display().to_string(),
    )?)
}

/// A model built from `model` and the weights in `weights`, after checking that the config is
/// valid and that the vocabularies fit it.
fn assemble<B: Backend>(
    model: &crate::model::TransformerConfig,
    config_path: &Path,
    src_vocab: &Vocab,
    tgt_vocab: &Vocab,
    weights: &Path,
    device: &B::Device,
) -> Result<Transformer<B>, ArtifactError> {
    model
        .validate()
        .map_err(|source| ArtifactError::InvalidModel {
            path: config_path.to_path_buf(),
            source,
        })?;
    check_vocab("source", src_vocab, model.src_vocab_size)?;
    check_vocab("target", tgt_vocab, model.tgt_vocab_size)?;
    Ok(load_weights(model.init::<B>(device), weights)?)
}

/// A loaded model directory.
#[derive(Debug)]
pub struct LoadedModel<B: Backend> {
    pub model: Transformer<B>,
    pub config: ExperimentConfig,
    pub src_vocab: Vocab,
    pub tgt_vocab: Vocab,
    /// How text becomes the vocabularies' tokens and back.
    pub codec: TextCodec,
}

/// Read and check an experiment config file (unknown or missing fields, impossible values).
pub fn read_config(path: &Path) -> Result<ExperimentConfig, ArtifactError> {
    // Fields a file leaves out take the base preset's values; unknown fields are errors.
    read_overlay(path, &ExperimentConfig::preset(crate::config::Preset::Base))
}

/// A model config file (`TransformerConfig` alone, as the PyTorch fixtures save it), fields it
/// leaves out taking `TransformerConfig::new()`'s defaults: files written before a field existed
/// still load (Burn's own `Config::load` rejects them as missing).
pub fn read_model_config(path: &Path) -> Result<crate::model::TransformerConfig, ArtifactError> {
    read_overlay(path, &crate::model::TransformerConfig::new())
}

fn check_vocab(which: &'static str, vocab: &Vocab, expected: usize) -> Result<(), ArtifactError> {
    if vocab.len() != expected {
        return Err(ArtifactError::VocabSize {
            which,
            found: vocab.len(),
            expected,
        });
    }
    Ok(())
}

/// Write a model directory (creating it). Each file is replaced atomically.
pub fn save<B: Backend>(
    dir: &Path,
    model: &Transformer<B>,
    config: &ExperimentConfig,
    src_vocab: &Vocab,
    tgt_vocab: &Vocab,
    codec: &TextCodec,
) -> Result<(), ArtifactError> {
    let io = |path: PathBuf| move |source| ArtifactError::Io { path, source };
    std::fs::create_dir_all(dir).map_err(io(dir.to_path_buf()))?;
    save_weights(model, &dir.join(WEIGHTS_FILE))?;
    codec
        .save(dir)
        .map_err(|err| ArtifactError::Data(err.into()))?;
    src_vocab
        .write_json(&dir.join(SRC_VOCAB_FILE))
        .map_err(io(dir.join(SRC_VOCAB_FILE)))?;
    tgt_vocab
        .write_json(&dir.join(TGT_VOCAB_FILE))
        .map_err(io(dir.join(TGT_VOCAB_FILE)))?;
    // The config goes last: a directory with a config.json is complete.
    crate::fsutil::write_atomic(&dir.join(CONFIG_FILE), config.to_string().as_bytes())
        .map_err(io(dir.join(CONFIG_FILE)))?;
    Ok(())
}

/// Load a model directory, checking that config, vocabularies and weights agree.
pub fn load<B: Backend>(dir: &Path, device: &B::Device) -> Result<LoadedModel<B>, ArtifactError> {
    let config_path = dir.join(CONFIG_FILE);
    if !config_path.is_file() {
        return Err(ArtifactError::NotAModel(dir.to_path_buf()));
    }
    let config = read_config(&config_path)?;
    let src_vocab = Vocab::read_json(&dir.join(SRC_VOCAB_FILE))?;
    let tgt_vocab = Vocab::read_json(&dir.join(TGT_VOCAB_FILE))?;
    let model = assemble(
        &config.model,
        &config_path,
        &src_vocab,
        &tgt_vocab,
        &dir.join(WEIGHTS_FILE),
        device,
    )?;
    let codec = TextCodec::load(&config.data, dir)?;
    Ok(LoadedModel {
        model,
        config,
        src_vocab,
        tgt_vocab,
        codec,
    })
}

/// Turn a PyTorch state dict (safetensors, the layout described in [`crate::store`]), a model
/// config (JSON, [`crate::model::TransformerConfig`]) and two plain-text vocabularies (one symbol
/// per line, line number = id, ids 0-3 = `<pad> <s> </s> <unk>`) into a model directory.
pub fn import_pytorch<B: Backend>(
    weights: &Path,
    model_config: &Path,
    src_vocab: &Path,
    tgt_vocab: &Path,
    data: crate::data::DataConfig,
    out: &Path,
    device: &B::Device,
) -> Result<LoadedModel<B>, ArtifactError> {
    let model_cfg = read_overlay(model_config, &crate::model::TransformerConfig::new())?;
    let src_vocab = Vocab::read_text(src_vocab)?;
    let tgt_vocab = Vocab::read_text(tgt_vocab)?;
    let model = assemble(
        &model_cfg,
        model_config,
        &src_vocab,
        &tgt_vocab,
        weights,
        device,
    )?;
    let mut config = crate::config::ExperimentConfig::preset(crate::config::Preset::Base);
    config.model = model_cfg;
    let codec = TextCodec::plain(&data)?;
    config.data = data;
    save(out, &model, &config, &src_vocab, &tgt_vocab, &codec)?;
    Ok(LoadedModel {
        model,
        config,
        src_vocab,
        tgt_vocab,
        codec,
    })
}
