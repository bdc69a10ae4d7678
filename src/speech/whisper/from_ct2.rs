//! The import from CTranslate2's `model.bin` (what faster-whisper loads): its variables taken
//! by name into this crate's layout, its `config.json` read for the decoding tokens.

use super::{Decoding, NamedTensor, Sources, Taker, WhisperError};
use crate::model::TransformerConfig;
use crate::speech::ct2::{Ct2Error, Ct2Model};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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

/// The model config and tensors of a CTranslate2 Whisper `model.bin` (`sources.model_bin`).
pub(super) fn convert_model(
    sources: &Sources,
    model_bin: &[u8],
) -> Result<(TransformerConfig, Vec<NamedTensor>), WhisperError> {
    let bin_path = PathBuf::from(&sources.origin).join("model.bin");
    let mut ct2 = Ct2Model::from_bytes(model_bin, &bin_path).map_err(|e| match e {
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
    convert(&mut ct2, &bin_path)
}

/// The decoding tokens of CTranslate2's `config.json` (`suppress_ids`, `suppress_ids_begin`,
/// `lang_ids`). Multilingual or not is CTranslate2 4.8's rule (what faster-whisper decodes
/// with): the vocabulary holds the empty token that the multilingual vocabularies have just
/// before `<|endoftext|>`; without a vocabulary file, Whisper's own rule (51,865 entries or
/// more, the same for every released model). English-only models have the language tokens in
/// their tokenizer too but never learned them.
pub(super) fn decoding(sources: &Sources, vocab: usize) -> Result<Decoding, WhisperError> {
    let path = PathBuf::from(&sources.origin).join("config.json");
    let ids = |key: &str| super::id_list(&sources.config, key, &path);
    Ok(Decoding {
        suppress_ids: ids("suppress_ids")?,
        suppress_ids_begin: ids("suppress_ids_begin")?,
        lang_ids: ids("lang_ids")?,
        alignment_heads: super::pairs(
            sources.config.get("alignment_heads"),
            "alignment_heads",
            &path,
        )?,
        multilingual: match &sources.vocabulary {
            Some(tokens) => tokens.iter().any(String::is_empty),
            None => vocab >= 51_865,
        },
        specials: Vec::new(),
        config_path: path,
    })
}

impl Taker<'_> {
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
    let config = super::whisper_config(
        super::Dims {
            vocab,
            d_model: d,
            heads,
            d_ff,
            encoder_layers: n_enc,
            decoder_layers: n_dec,
            n_mels,
            encoder_positions: enc_pos_shape[0],
            decoder_positions: dec_pos_shape[0],
        },
        path,
    )?;
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
    t.finish()?;
    Ok((config, t.out))
}
