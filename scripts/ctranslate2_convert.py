#!/usr/bin/env python3
"""Convert a seq2seq model directory to a CTranslate2 model.

Usage: python3 scripts/ctranslate2_convert.py MODEL_DIR OUT_DIR [--quantization TYPE] [--force]

MODEL_DIR is what `seq2seq train` / `import-pytorch` writes: config.json, model.safetensors
(PyTorch nn.Transformer key names) and src_vocab.json / tgt_vocab.json (JSON lists, id = index,
0 <pad>, 1 <s>, 2 </s>, 3 <unk>). Needs `ctranslate2`, `numpy`, `safetensors`.

How our model maps onto CTranslate2's TransformerSpec:
* post-norm (norm_first = false) -> pre_norm=False: CTranslate2 then applies each sublayer's
  layer_norm after the residual add, exactly like our norm1/norm2/norm3.
* Positions: our sinusoid table is interleaved (sin on even dims, cos on odd dims,
  src/model/positional.rs); CTranslate2's built-in table is [sin | cos] concatenated, so the table
  is always written explicitly (max_len rows; position 0 = first token, BEGIN on the target side).
* Embeddings are multiplied by sqrt(d_model) when scale_embeddings (spec.scale_embeddings).
* Self-attention: linear[0] = fused q|k|v (= PyTorch in_proj, same order), linear[1] = out_proj.
  Cross-attention: linear[0] = q, linear[1] = fused k|v, linear[2] = out_proj.
* layer_norm_eps -> config.layer_norm_epsilon.
"""

import argparse
import json
import math
import os
import sys

import numpy as np
from safetensors.numpy import load_file

import ctranslate2
from ctranslate2.specs import common_spec, transformer_spec


def sinusoid_table(max_len: int, d_model: int) -> np.ndarray:
    """Same as src/model/positional.rs: PE[pos, i] = sin(pos / 10000^(i/d)) for even i,
    PE[pos, i+1] = cos(same angle); computed in f64, rounded to f32."""
    table = np.zeros((max_len, d_model), dtype=np.float64)
    pos = np.arange(max_len, dtype=np.float64)[:, None]
    i = np.arange(0, d_model, 2, dtype=np.float64)[None, :]
    angle = pos / np.power(10000.0, i / d_model)
    table[:, 0::2] = np.sin(angle)
    table[:, 1::2] = np.cos(angle)[:, : d_model // 2]
    return table.astype(np.float32)


class Weights:
    def __init__(self, path):
        self.tensors = load_file(path)
        self.used = set()

    def __contains__(self, key):
        return key in self.tensors

    def __getitem__(self, key):
        self.used.add(key)
        return np.ascontiguousarray(self.tensors[key].astype(np.float32))

    def unused(self):
        return sorted(set(self.tensors) - self.used)


def set_linear(spec, w, prefix, bias=True):
    spec.weight = w[prefix + ".weight"]
    if bias:
        spec.bias = w[prefix + ".bias"]


def set_norm(spec, w, prefix):
    spec.gamma = w[prefix + ".weight"]
    spec.beta = w[prefix + ".bias"]


def set_self_attention(spec, w, prefix, d):
    # PyTorch packs q, k, v row-wise in in_proj_weight [3d, d]; CTranslate2's fused qkv linear
    # expects the same layout.
    spec.linear[0].weight = w[prefix + ".in_proj_weight"]
    spec.linear[0].bias = w[prefix + ".in_proj_bias"]
    set_linear(spec.linear[1], w, prefix + ".out_proj")


def set_cross_attention(spec, w, prefix, d):
    weight = w[prefix + ".in_proj_weight"]
    bias = w[prefix + ".in_proj_bias"]
    spec.linear[0].weight = np.ascontiguousarray(weight[:d])
    spec.linear[0].bias = np.ascontiguousarray(bias[:d])
    spec.linear[1].weight = np.ascontiguousarray(weight[d:])
    spec.linear[1].bias = np.ascontiguousarray(bias[d:])
    set_linear(spec.linear[2], w, prefix + ".out_proj")


def set_ffn(spec, w, prefix):
    set_linear(spec.linear_0, w, prefix + ".linear1")
    set_linear(spec.linear_1, w, prefix + ".linear2")


def build_spec(model_dir):
    with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    m = config["model"]
    with open(os.path.join(model_dir, "src_vocab.json"), encoding="utf-8") as f:
        src_vocab = json.load(f)
    with open(os.path.join(model_dir, "tgt_vocab.json"), encoding="utf-8") as f:
        tgt_vocab = json.load(f)
    for name, vocab in (("source", src_vocab), ("target", tgt_vocab)):
        if vocab[:4] != ["<pad>", "<s>", "</s>", "<unk>"]:
            sys.exit(f"unexpected {name} vocabulary specials: {vocab[:4]}")

    d = m["d_model"]
    activation = {
        "relu": common_spec.Activation.RELU,
        "gelu": common_spec.Activation.GELU,  # Burn's gelu is the exact erf form, like CT2's
    }[m.get("activation", "relu")]
    pre_norm = bool(m.get("norm_first", False))
    final_norm = bool(m.get("final_norm", False))
    max_len = m["max_len"]

    encoder = transformer_spec.TransformerEncoderSpec(
        m["n_encoder_layers"],
        m["n_heads"],
        pre_norm=pre_norm,
        no_final_norm=not final_norm,
        activation=activation,
    )
    decoder = transformer_spec.TransformerDecoderSpec(
        m["n_decoder_layers"],
        m["n_heads"],
        pre_norm=pre_norm,
        no_final_norm=not final_norm,
        activation=activation,
    )
    if final_norm and not pre_norm:
        # The spec only declares the output LayerNorm for pre-norm models; CTranslate2's C++
        # encoder/decoder build it whenever the variable exists.
        encoder.layer_norm = common_spec.LayerNormSpec()
        decoder.layer_norm = common_spec.LayerNormSpec()
        print("warning: post-norm with final_norm is not a standard CTranslate2 layout (untested)",
              file=sys.stderr)
    spec = transformer_spec.TransformerSpec(encoder, decoder)

    w = Weights(os.path.join(model_dir, "model.safetensors"))

    # Embeddings and positions.
    src_embed = w["src_embed.weight"]
    tgt_embed = src_embed if m.get("share_embeddings") else w["tgt_embed.weight"]
    encoder.embeddings[0].weight = src_embed
    decoder.embeddings.weight = tgt_embed
    encoder.scale_embeddings = bool(m.get("scale_embeddings", True))
    decoder.scale_embeddings = bool(m.get("scale_embeddings", True))
    positional = m.get("positional", "sinusoidal")
    if positional == "sinusoidal":
        table = sinusoid_table(max_len, d)
    elif positional == "learned":
        table = w["pos_embed.weight"]
    else:
        sys.exit(f"unsupported positional: {positional}")
    encoder.position_encodings.encodings = table
    decoder.position_encodings.encodings = table.copy()

    # Encoder.
    for i, layer in enumerate(encoder.layer):
        p = f"transformer.encoder.layers.{i}"
        set_self_attention(layer.self_attention, w, p + ".self_attn", d)
        set_norm(layer.self_attention.layer_norm, w, p + ".norm1")
        set_ffn(layer.ffn, w, p)
        set_norm(layer.ffn.layer_norm, w, p + ".norm2")
    if final_norm:
        set_norm(encoder.layer_norm, w, "transformer.encoder.norm")

    # Decoder.
    for i, layer in enumerate(decoder.layer):
        p = f"transformer.decoder.layers.{i}"
        set_self_attention(layer.self_attention, w, p + ".self_attn", d)
        set_norm(layer.self_attention.layer_norm, w, p + ".norm1")
        set_cross_attention(layer.attention, w, p + ".multihead_attn", d)
        set_norm(layer.attention.layer_norm, w, p + ".norm2")
        set_ffn(layer.ffn, w, p)
        set_norm(layer.ffn.layer_norm, w, p + ".norm3")
    if final_norm:
        set_norm(decoder.layer_norm, w, "transformer.decoder.norm")

    # Generator.
    if m.get("tie_generator"):
        decoder.projection.weight = tgt_embed
    else:
        set_linear(decoder.projection, w, "generator")

    left = w.unused()
    if left:
        sys.exit(f"tensors not converted: {left}")

    spec.config.layer_norm_epsilon = float(m.get("layer_norm_eps", 1e-5))
    spec.register_source_vocabulary(src_vocab)
    spec.register_target_vocabulary(tgt_vocab)
    return spec, m


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model_dir")
    parser.add_argument("out_dir")
    parser.add_argument("--quantization", default=None,
                        help="int8, int8_float32, int16, float16, ... (default: float32 as is)")
    parser.add_argument("--force", action="store_true", help="overwrite OUT_DIR")
    args = parser.parse_args()

    if os.path.exists(args.out_dir) and os.listdir(args.out_dir) and not args.force:
        sys.exit(f"{args.out_dir} exists and is not empty (use --force)")
    spec, m = build_spec(args.model_dir)
    spec.validate()
    spec.optimize(quantization=args.quantization)
    os.makedirs(args.out_dir, exist_ok=True)
    spec.save(args.out_dir)
    # Keep max_len next to the model so the benchmark can bound decoding like `seq2seq infer`.
    with open(os.path.join(args.out_dir, "seq2seq.json"), "w", encoding="utf-8") as f:
        json.dump({"max_len": m["max_len"], "source_model": os.path.abspath(args.model_dir),
                   "ctranslate2": ctranslate2.__version__}, f)
        f.write("\n")
    print(f"saved {args.out_dir} (ctranslate2 {ctranslate2.__version__})")


if __name__ == "__main__":
    main()
