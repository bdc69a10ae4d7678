//! The import from a Hugging Face transformers Whisper directory (what `openai/whisper-*` on
//! the hub holds, what `WhisperForConditionalGeneration.save_pretrained` writes):
//! `config.json` for the sizes, `generation_config.json` for the decoding tokens,
//! `model.safetensors` (or its shards) for the weights, `tokenizer.json`.
//!
//! transformers keeps Q, K and V as three projections (`q_proj`, `k_proj` without bias,
//! `v_proj`); this crate packs them into one `in_proj` of `[3 d, d]` with the K bias stored as
//! zeros, the layout of PyTorch's `nn.MultiheadAttention`. transformers scales Q by
//! `d_head^-1/2` inside the attention, as this crate does.

use super::{Decoding, Dims, NamedTensor, Sources, Taker, WhisperError};
use crate::model::TransformerConfig;
use crate::speech::ct2::Variable;
use safetensors::{Dtype, SafeTensors};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The model config, this crate's tensors and the decoding tokens of a transformers Whisper.
pub(super) fn convert(
    sources: &Sources,
    files: &[(String, Vec<u8>)],
) -> Result<(TransformerConfig, Vec<NamedTensor>, Decoding), WhisperError> {
    let origin = PathBuf::from(&sources.origin);
    let config_path = origin.join("config.json");
    let cfg = &sources.config;
    let model_type = cfg.get("model_type").and_then(|v| v.as_str());
    if model_type != Some("whisper") {
        return Err(WhisperError::NotWhisper {
            path: config_path,
            reason: format!("its model_type is {model_type:?}, not \"whisper\""),
        });
    }
    let malformed = |reason: String| WhisperError::Malformed {
        path: config_path.clone(),
        reason,
    };
    let size = |key: &str| -> Result<usize, WhisperError> {
        cfg.get(key)
            .and_then(|v| v.as_u64())
            .map(|v| v as usize)
            .ok_or_else(|| malformed(format!("no {key} (a positive integer)")))
    };
    let flag = |key: &str, default: bool| cfg.get(key).and_then(|v| v.as_bool()).unwrap_or(default);
    let activation = cfg
        .get("activation_function")
        .and_then(|v| v.as_str())
        .unwrap_or("gelu");
    if activation != "gelu" {
        return Err(malformed(format!(
            "activation_function {activation:?}: this import decodes only \"gelu\" (exact, erf)"
        )));
    }
    if flag("scale_embedding", false) {
        return Err(malformed(
            "scale_embedding true: Whisper does not scale its embeddings and neither does this import"
                .into(),
        ));
    }
    let heads = size("decoder_attention_heads")?;
    let d_ff = size("decoder_ffn_dim")?;
    if size("encoder_attention_heads")? != heads || size("encoder_ffn_dim")? != d_ff {
        return Err(malformed(
            "the encoder's and decoder's heads or feed-forward sizes differ (this crate's model has one of each)"
                .into(),
        ));
    }
    let dims = Dims {
        vocab: size("vocab_size")?,
        d_model: size("d_model")?,
        heads,
        d_ff,
        encoder_layers: size("encoder_layers")?,
        decoder_layers: size("decoder_layers")?,
        n_mels: size("num_mel_bins")?,
        encoder_positions: size("max_source_positions")?,
        decoder_positions: size("max_target_positions")?,
    };
    let (d, vocab, mels) = (dims.d_model, dims.vocab, dims.n_mels);
    let (n_enc, n_dec, d_ff) = (dims.encoder_layers, dims.decoder_layers, dims.d_ff);
    let (enc_pos, dec_pos) = (dims.encoder_positions, dims.decoder_positions);
    let config = super::whisper_config(dims, &config_path)?;

    let mut variables = BTreeMap::new();
    for (name, bytes) in files {
        read_safetensors(&origin.join(name), bytes, &mut variables)?;
    }
    let weights_path = origin.join(&files[0].0);
    let mut t = Taker {
        variables,
        path: &weights_path,
        out: Vec::new(),
    };
    let (_, embed) = t.take("model.decoder.embed_tokens.weight", Some(&[vocab, d]))?;
    if let Some(proj) = t.variables.remove("proj_out.weight") {
        if proj.shape != [vocab, d] || proj.values != embed {
            return Err(t.error(
                "proj_out.weight",
                "differs from model.decoder.embed_tokens.weight: this crate ties the output layer to the embedding".into(),
            ));
        }
    }
    t.out
        .push(("tgt_embed.weight".into(), vec![vocab, d], embed));
    t.put(
        "pos_embed.weight",
        "model.encoder.embed_positions.weight",
        &[enc_pos, d],
    )?;
    t.put(
        "decoder_pos_embed.weight",
        "model.decoder.embed_positions.weight",
        &[dec_pos, d],
    )?;
    t.put(
        "frontend.conv1.weight",
        "model.encoder.conv1.weight",
        &[d, mels, 3],
    )?;
    t.put("frontend.conv1.bias", "model.encoder.conv1.bias", &[d])?;
    t.put(
        "frontend.conv2.weight",
        "model.encoder.conv2.weight",
        &[d, d, 3],
    )?;
    t.put("frontend.conv2.bias", "model.encoder.conv2.bias", &[d])?;
    for i in 0..n_enc {
        let (o, w) = (
            format!("transformer.encoder.layers.{i}"),
            format!("model.encoder.layers.{i}"),
        );
        attention(
            &mut t,
            &format!("{o}.self_attn"),
            &format!("{w}.self_attn"),
            d,
        )?;
        linear(
            &mut t,
            &format!("{o}.norm1"),
            &format!("{w}.self_attn_layer_norm"),
            &[d],
        )?;
        linear(
            &mut t,
            &format!("{o}.linear1"),
            &format!("{w}.fc1"),
            &[d_ff, d],
        )?;
        linear(
            &mut t,
            &format!("{o}.linear2"),
            &format!("{w}.fc2"),
            &[d, d_ff],
        )?;
        linear(
            &mut t,
            &format!("{o}.norm2"),
            &format!("{w}.final_layer_norm"),
            &[d],
        )?;
    }
    linear(
        &mut t,
        "transformer.encoder.norm",
        "model.encoder.layer_norm",
        &[d],
    )?;
    for i in 0..n_dec {
        let (o, w) = (
            format!("transformer.decoder.layers.{i}"),
            format!("model.decoder.layers.{i}"),
        );
        attention(
            &mut t,
            &format!("{o}.self_attn"),
            &format!("{w}.self_attn"),
            d,
        )?;
        linear(
            &mut t,
            &format!("{o}.norm1"),
            &format!("{w}.self_attn_layer_norm"),
            &[d],
        )?;
        attention(
            &mut t,
            &format!("{o}.multihead_attn"),
            &format!("{w}.encoder_attn"),
            d,
        )?;
        linear(
            &mut t,
            &format!("{o}.norm2"),
            &format!("{w}.encoder_attn_layer_norm"),
            &[d],
        )?;
        linear(
            &mut t,
            &format!("{o}.linear1"),
            &format!("{w}.fc1"),
            &[d_ff, d],
        )?;
        linear(
            &mut t,
            &format!("{o}.linear2"),
            &format!("{w}.fc2"),
            &[d, d_ff],
        )?;
        linear(
            &mut t,
            &format!("{o}.norm3"),
            &format!("{w}.final_layer_norm"),
            &[d],
        )?;
    }
    linear(
        &mut t,
        "transformer.decoder.norm",
        "model.decoder.layer_norm",
        &[d],
    )?;
    t.finish()?;
    let decoding = decoding(sources, vocab)?;
    Ok((config, t.out, decoding))
}

/// A layer with `weight` of `shape` and `bias` of `shape[0]` (a linear layer or a LayerNorm):
/// the same names on both sides.
fn linear(t: &mut Taker, ours: &str, theirs: &str, shape: &[usize]) -> Result<(), WhisperError> {
    t.put(
        &format!("{ours}.weight"),
        &format!("{theirs}.weight"),
        shape,
    )?;
    t.put(
        &format!("{ours}.bias"),
        &format!("{theirs}.bias"),
        &shape[..1],
    )
}

/// `q_proj`, `k_proj` (no bias: zeros), `v_proj` packed into `in_proj`; `out_proj` as it is.
fn attention(t: &mut Taker, ours: &str, theirs: &str, d: usize) -> Result<(), WhisperError> {
    let mut weight = Vec::with_capacity(3 * d * d);
    let mut bias = Vec::with_capacity(3 * d);
    for proj in ["q_proj", "k_proj", "v_proj"] {
        let (_, w) = t.take(&format!("{theirs}.{proj}.weight"), Some(&[d, d]))?;
        weight.extend(w);
        let name = format!("{theirs}.{proj}.bias");
        if proj == "k_proj" && !t.variables.contains_key(&name) {
            bias.extend(std::iter::repeat_n(0.0, d));
        } else {
            bias.extend(t.take(&name, Some(&[d]))?.1);
        }
    }
    t.out
        .push((format!("{ours}.in_proj_weight"), vec![3 * d, d], weight));
    t.out
        .push((format!("{ours}.in_proj_bias"), vec![3 * d], bias));
    linear(
        t,
        &format!("{ours}.out_proj"),
        &format!("{theirs}.out_proj"),
        &[d, d],
    )
}

/// Every tensor of a safetensors file, widened to f32 (float32, float16, bfloat16).
fn read_safetensors(
    path: &std::path::Path,
    bytes: &[u8],
    into: &mut BTreeMap<String, Variable>,
) -> Result<(), WhisperError> {
    let st = SafeTensors::deserialize(bytes).map_err(|e| WhisperError::Malformed {
        path: path.to_path_buf(),
        reason: format!("not a safetensors file: {e}"),
    })?;
    for (name, view) in st.tensors() {
        let data = view.data();
        let (dtype, values): (&'static str, Vec<f32>) = match view.dtype() {
            Dtype::F32 => (
                "float32",
                data.chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect(),
            ),
            Dtype::F16 => (
                "float16",
                data.chunks_exact(2)
                    .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                    .collect(),
            ),
            Dtype::BF16 => (
                "bfloat16",
                data.chunks_exact(2)
                    .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
                    .collect(),
            ),
            other => {
                return Err(WhisperError::Tensor {
                    path: path.to_path_buf(),
                    name,
                    reason: format!("dtype {other:?}: this import reads F32, F16 and BF16"),
                })
            }
        };
        into.insert(
            name,
            Variable {
                shape: view.shape().to_vec(),
                dtype,
                values,
            },
        );
    }
    Ok(())
}

/// The decoding tokens from `generation_config.json`, or from `config.json` where older
/// exports kept them (`generation_config.json` wins: transformers writes Whisper's defaults,
/// English-only ones among them, into `config.json`).
fn decoding(sources: &Sources, vocab: usize) -> Result<Decoding, WhisperError> {
    let origin = PathBuf::from(&sources.origin);
    let (config, config_path) = match &sources.generation {
        Some(g) => (g, origin.join("generation_config.json")),
        None => (&sources.config, origin.join("config.json")),
    };
    let get = |key: &str| {
        config
            .get(key)
            .filter(|v| !v.is_null())
            .or_else(|| sources.config.get(key).filter(|v| !v.is_null()))
    };
    let malformed = |reason: String| WhisperError::Malformed {
        path: config_path.clone(),
        reason,
    };
    let ids = |key: &str| -> Result<Vec<usize>, WhisperError> {
        match get(key) {
            None => Ok(Vec::new()),
            Some(v) => serde_json::from_value::<Vec<usize>>(v.clone())
                .map_err(|e| malformed(format!("{key}: {e}"))),
        }
    };
    let multilingual = match get("is_multilingual") {
        Some(v) => v
            .as_bool()
            .ok_or_else(|| malformed(format!("is_multilingual: {v}, not true or false")))?,
        None => vocab >= 51_865,
    };
    let id_map = |key: &str| -> Result<Vec<(String, usize)>, WhisperError> {
        match get(key) {
            None => Ok(Vec::new()),
            Some(v) => serde_json::from_value::<BTreeMap<String, usize>>(v.clone())
                .map(|m| m.into_iter().collect())
                .map_err(|e| malformed(format!("{key}: {e}"))),
        }
    };
    let mut lang_ids: Vec<usize> = id_map("lang_to_id")?
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    lang_ids.sort_unstable();
    if multilingual && lang_ids.is_empty() {
        return Err(malformed(
            "a multilingual model without lang_to_id (its language tokens)".into(),
        ));
    }
    let mut specials = Vec::new();
    for (key, content) in [
        ("decoder_start_token_id", "<|startoftranscript|>"),
        ("no_timestamps_token_id", "<|notimestamps|>"),
        ("eos_token_id", "<|endoftext|>"),
    ] {
        if let Some(id) = get(key).and_then(|v| v.as_u64()) {
            specials.push((content, id as usize));
        }
    }
    for (task, id) in id_map("task_to_id")? {
        match task.as_str() {
            "transcribe" => specials.push(("<|transcribe|>", id)),
            "translate" => specials.push(("<|translate|>", id)),
            other => return Err(malformed(format!("task_to_id: unknown task {other:?}"))),
        }
    }
    Ok(Decoding {
        suppress_ids: ids("suppress_tokens")?,
        suppress_ids_begin: ids("begin_suppress_tokens")?,
        lang_ids,
        alignment_heads: super::pairs(get("alignment_heads"), "alignment_heads", &config_path)?,
        multilingual,
        specials,
        config_path,
    })
}
