//! `model.safetensors` of a Marian repository as our state dict.

use super::{MarianError, MarianSettings, PAD_LOGIT_BIAS};
use safetensors::{Dtype, SafeTensors};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A tensor of our state dict: name, shape, values.
pub(super) type NamedTensor = (String, Vec<usize>, Vec<f32>);

/// The tensors of a safetensors file, as f32.
pub(super) struct Tensors {
    path: PathBuf,
    map: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
}

impl Tensors {
    pub(super) fn read(path: &Path) -> Result<Self, MarianError> {
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
pub(super) fn convert_weights(
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

pub(super) fn write_safetensors(path: &Path, tensors: &[NamedTensor]) -> Result<(), MarianError> {
    crate::store::write_named_tensors(path, tensors).map_err(|e| MarianError::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}
