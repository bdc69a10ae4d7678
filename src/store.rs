//! Model weights on disk: safetensors in PyTorch's layout.
//!
//! The file a model is saved to is exactly the `state_dict()` of the reference PyTorch module
//! (`scripts/pytorch_reference.py`, class `Seq2Seq`): `src_embed.weight`, `tgt_embed.weight`,
//! `transformer.{encoder,decoder}.layers.N.*` as `nn.Transformer` names them (packed
//! `in_proj_weight`/`in_proj_bias`, `multihead_attn`, `linear1`/`linear2`, `norm1..3`),
//! `transformer.{encoder,decoder}.norm.*` and `generator.weight`/`generator.bias`. Linear weights
//! are `[out, in]` as in PyTorch (Burn keeps `[in, out]`; burn-store's adapters transpose).
//! So the same reader ([`load_weights`]) imports PyTorch models and loads our own, and our files load in PyTorch.
//!
//! Options without a PyTorch counterpart use names of our own: `pos_embed.weight` (learned
//! positions; `decoder_pos_embed.weight` for a decoder's own, as Whisper has), `frontend.conv1.*`
//! and `frontend.conv2.*` (a speech model's audio front end, `model::frontend`), `upsampler.linear.*` (the CTC decoder's upsampling, `model::ctc`). Shared embeddings have no `tgt_embed.weight`; a tied generator has no
//! `generator.*`.

use burn::prelude::*;
use burn_store::{
    BurnToPyTorchAdapter, KeyRemapper, ModuleSnapshot, PyTorchToBurnAdapter, SafetensorsStore,
};
use std::path::{Path, PathBuf};

/// Why weights could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot read weights from {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("cannot write weights to {path}: {message}")]
    Write { path: PathBuf, message: String },
    #[error(
        "weights in {path} do not match the model config: {}",
        describe_mismatch(missing, unused, errors)
    )]
    Mismatch {
        path: PathBuf,
        missing: Vec<String>,
        unused: Vec<String>,
        errors: Vec<String>,
    },
}

fn describe_mismatch(missing: &[String], unused: &[String], errors: &[String]) -> String {
    let mut parts = Vec::new();
    let list = |names: &[String]| {
        let shown: Vec<&str> = names.iter().take(5).map(String::as_str).collect();
        let more = names.len().saturating_sub(5);
        if more > 0 {
            format!("{} and {more} more", shown.join(", "))
        } else {
            shown.join(", ")
        }
    };
    if !errors.is_empty() {
        parts.push(format!(
            "{} tensor(s) with wrong shape or type: {}",
            errors.len(),
            list(errors)
        ));
    }
    if !missing.is_empty() {
        parts.push(format!(
            "{} tensor(s) missing: {}",
            missing.len(),
            list(missing)
        ));
    }
    if !unused.is_empty() {
        parts.push(format!(
            "{} unexpected tensor(s): {}",
            unused.len(),
            list(unused)
        ));
    }
    parts.join("; ")
}

/// Burn module path -> PyTorch state-dict key (for saving). Applied in order.
/// Patterns also match at the root, so single layers load from their own state dicts.
const TO_PYTORCH: &[(&str, &str)] = &[
    (r"^(encoder|decoder)\.", "transformer.$1."),
    (r"(^|\.)in_proj\.(weight|bias)$", "${1}in_proj_$2"),
    (r"(^|\.)cross_attn\.", "${1}multihead_attn."),
    (r"(^|\.)ffn\.(linear[12])\.", "${1}$2."),
    (r"^positions\.table\.Learned\.", "pos_embed."),
    (
        r"^decoder_positions\.table\.Learned\.",
        "decoder_pos_embed.",
    ),
];

/// PyTorch state-dict key -> Burn module path (for loading). Applied in order.
const FROM_PYTORCH: &[(&str, &str)] = &[
    (r"^transformer\.(encoder|decoder)\.", "$1."),
    (r"(^|\.)in_proj_(weight|bias)$", "${1}in_proj.$2"),
    (r"(^|\.)multihead_attn\.", "${1}cross_attn."),
    (r"(^|\.)(linear[12])\.", "${1}ffn.$2."),
    (r"^pos_embed\.", "positions.table.Learned."),
    (r"^decoder_pos_embed\.", "decoder_positions.table.Learned."),
];

fn remapper(patterns: &[(&str, &str)]) -> KeyRemapper {
    KeyRemapper::from_patterns(patterns.to_vec()).expect("the remapping patterns are valid regexes")
}

/// Load weights in PyTorch layout from a safetensors file into `model` (whose config decides
/// which tensors are expected). Every expected tensor must be present with the right shape and
/// no tensor may be left over. Works for the whole [`crate::model::Transformer`] and for any of its parts
/// (a layer, an attention module) given that part's own state dict.
pub fn load_weights<B: Backend, M: Module<B>>(mut model: M, path: &Path) -> Result<M, StoreError> {
    if !path.is_file() {
        return Err(StoreError::Read {
            path: path.to_path_buf(),
            message: "no such file".into(),
        });
    }
    let mut store = SafetensorsStore::from_file(path)
        .with_from_adapter(PyTorchToBurnAdapter)
        .remap(remapper(FROM_PYTORCH))
        .allow_partial(true)
        .validate(false);
    let result = model
        .load_from(&mut store)
        .map_err(|err| StoreError::Read {
            path: path.to_path_buf(),
            message: err.to_string(),
        })?;
    // burn-store 0.21 reports tensors it found under an alternative name (PyTorch's LayerNorm
    // `weight`/`bias` for Burn's `gamma`/`beta`) as unused although it applied them.
    let applied: std::collections::HashSet<&str> =
        result.applied.iter().map(String::as_str).collect();
    let unused: Vec<String> = result
        .unused
        .iter()
        .filter(|name| {
            let burn_name = name
                .strip_suffix(".weight")
                .map(|p| format!("{p}.gamma"))
                .or_else(|| name.strip_suffix(".bias").map(|p| format!("{p}.beta")));
            !burn_name.is_some_and(|n| applied.contains(n.as_str()))
        })
        .cloned()
        .collect();
    if !result.missing.is_empty() || !unused.is_empty() || !result.errors.is_empty() {
        return Err(StoreError::Mismatch {
            path: path.to_path_buf(),
            missing: result
                .missing
                .iter()
                .map(|(name, _)| to_pytorch_name(name))
                .collect(),
            unused,
            errors: result.errors.iter().map(|e| format!("{e:?}")).collect(),
        });
    }
    Ok(model)
}

/// The PyTorch key of a Burn module path (used in error messages).
fn to_pytorch_name(path: &str) -> String {
    remapper(TO_PYTORCH)
        .to_regex_pairs()
        .iter()
        .fold(path.to_string(), |name, (re, to)| {
            re.replace(&name, to.as_str()).into_owned()
        })
}

/// Save weights in PyTorch layout. Written to a temporary file first and renamed into place, so
/// a crash during the save leaves any previous file intact.
pub fn save_weights<B: Backend, M: Module<B>>(model: &M, path: &Path) -> Result<(), StoreError> {
    let write_err = |message: String| StoreError::Write {
        path: path.to_path_buf(),
        message,
    };
    let tmp = crate::fsutil::temp_path(path);
    let mut store = SafetensorsStore::from_file(&tmp)
        .with_to_adapter(BurnToPyTorchAdapter)
        .remap(remapper(TO_PYTORCH))
        .overwrite(true);
    model
        .save_into(&mut store)
        .map_err(|err| write_err(err.to_string()))?;
    crate::fsutil::commit(&tmp, path).map_err(|err| write_err(err.to_string()))
}

/// Write float32 tensors `(name, shape, values)` to a safetensors file as given (names in
/// this module's PyTorch layout): what the importers stage before [`load_weights`] checks them.
pub fn write_named_tensors(
    path: &Path,
    tensors: &[(String, Vec<usize>, Vec<f32>)],
) -> Result<(), StoreError> {
    let failed = |message: String| StoreError::Write {
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
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), data)
                .map(|view| (name.clone(), view))
                .map_err(|e| failed(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    safetensors::serialize_to_file(views, None, path).map_err(|e| failed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Positional, TransformerConfig};

    type B = crate::backend::NdArray;

    fn config(positional: Positional) -> TransformerConfig {
        TransformerConfig::new()
            .with_src_vocab_size(11)
            .with_tgt_vocab_size(13)
            .with_d_model(8)
            .with_n_heads(2)
            .with_d_ff(16)
            .with_n_encoder_layers(1)
            .with_n_decoder_layers(1)
            .with_max_len(10)
            .with_dropout(0.0)
            .with_positional(positional)
    }

    /// Learned positions are saved under our own PyTorch-style name and load back exactly;
    /// sinusoids are a constant and are not saved at all.
    #[test]
    fn learned_positions_save_as_pos_embed_and_load_back() {
        let device = Default::default();
        let dir = std::env::temp_dir().join(format!("seq2seq-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (positional, saved) in [(Positional::Learned, true), (Positional::Sinusoidal, false)] {
            B::seed(&device, 3);
            let model = config(positional).init::<B>(&device);
            let path = dir.join(format!("{positional:?}.safetensors"));
            save_weights(&model, &path).unwrap();
            // The safetensors header is JSON naming every tensor.
            let header = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
            assert_eq!(
                header.contains("\"pos_embed.weight\""),
                saved,
                "{positional:?}"
            );
            assert!(!header.contains("positions."), "{positional:?}");

            B::seed(&device, 4);
            let fresh = config(positional).init::<B>(&device);
            let loaded = load_weights(fresh, &path).unwrap();
            let src = Tensor::<B, 2, Int>::from_ints([[4, 5, 6, 7]], &device);
            let tgt = Tensor::<B, 2, Int>::from_ints([[1, 8, 9]], &device);
            let logits = |m: &crate::model::Transformer<B>| {
                let memory = m.encode(src.clone(), None).memory;
                m.generate(m.decode(tgt.clone(), &memory, None, None, None).hidden)
                    .into_data()
                    .to_vec::<f32>()
                    .unwrap()
            };
            assert_eq!(logits(&model), logits(&loaded), "{positional:?}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
