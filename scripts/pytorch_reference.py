#!/usr/bin/env python3
"""PyTorch reference fixtures for the Rust/Burn Transformer (tests/suite/pytorch_parity.rs).

What this makes
---------------
Small, deterministic fixtures under ``tests/fixtures/`` that pin our Rust
implementation to PyTorch's ``torch.nn`` Transformer modules:

  mha                  nn.MultiheadAttention (cross-attention with key padding,
                       plus self-attention with causal + key padding masks)
  encoder_layer_post   nn.TransformerEncoderLayer, norm_first=False
  encoder_layer_pre    nn.TransformerEncoderLayer, norm_first=True
  decoder_layer_post   nn.TransformerDecoderLayer, norm_first=False
  decoder_layer_pre    nn.TransformerDecoderLayer, norm_first=True
  seq2seq_post         embeddings + sinusoidal PE + nn.Transformer + generator,
  seq2seq_pre          post-norm and pre-norm respectively

For every fixture NAME there are two files:

  NAME.weights.safetensors  exactly ``module.state_dict()`` (float32, contiguous)
  NAME.io.safetensors       inputs (``input.*``) and outputs (``output.*``);
                            floats are float32, token ids and masks are int64.
                            Masks use PyTorch's bool polarity: 1 = blocked /
                            padded, 0 = keep.

The seq2seq fixtures additionally have ``NAME.json`` (the model config in the
format of the Rust ``TransformerConfig``), and ``seq2seq_post`` has two vocab
files (``seq2seq_post.src_vocab.txt`` / ``.tgt_vocab.txt``: one symbol per line,
line number = token id) for the CLI import test.

How to re-run
-------------
From the repository root:

    python3 scripts/pytorch_reference.py

It needs ``torch``, ``numpy`` and ``safetensors``. Everything runs on the CPU in
float32, and each fixture calls ``torch.manual_seed`` before building its module
and inputs, so re-running reproduces the same files (for a given torch version).

Notes on exactness
------------------
* Every parameter (including LayerNorm gamma/beta and all biases, which
  PyTorch initialises to 1/0) is re-initialised with U(-0.5, 0.5), so a bug in
  bias or gamma handling cannot hide behind a default value.
* dropout = 0.0 everywhere and modules run in ``.train()`` mode under
  ``torch.no_grad()``. PyTorch's "fast path" (the fused native
  MHA/encoder kernels and the nested-tensor conversion in TransformerEncoder)
  is only taken in eval mode, but we also switch it off explicitly with
  ``torch.backends.mha.set_fastpath_enabled(False)`` and build every
  TransformerEncoder with ``enable_nested_tensor=False``. The nested-tensor
  path would write zeros at padded positions, and the Rust tests compare all
  positions, padded ones included.
"""

import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file

# --------------------------------------------------------------------------
# Global settings
# --------------------------------------------------------------------------

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(REPO_ROOT, "tests", "fixtures")

# Sizes: deliberately all distinct so that a transposed axis shows up as a
# shape error rather than silently passing.
B = 3  # batch
D = 16  # d_model
H = 2  # attention heads
F = 40  # feed-forward width
S = 7  # source length
T = 5  # target length
SRC_LENS = [7, 5, 3]  # valid source tokens per batch item (rest is padding)
TGT_LENS = [5, 4, 2]  # valid target tokens per batch item
PAD = 0  # padding token id

SRC_VOCAB = 11
TGT_VOCAB = 13
N_ENC = 2
N_DEC = 3
MAX_LEN = 64
LN_EPS = 1e-5

torch.set_default_dtype(torch.float32)
torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)  # bit-stable CPU reductions across machines/runs

# Turn off the MHA / encoder-layer fast path (native fused kernels). It is
# only used in eval mode anyway, but be explicit. Older torch lacks the switch.
if hasattr(torch.backends, "mha") and hasattr(torch.backends.mha, "set_fastpath_enabled"):
    torch.backends.mha.set_fastpath_enabled(False)
    FASTPATH_NOTE = "torch.backends.mha.set_fastpath_enabled(False)"
else:
    FASTPATH_NOTE = "set_fastpath_enabled unavailable; relying on train() mode"


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def reinit_(module: nn.Module) -> None:
    """Re-initialise EVERY parameter with U(-0.5, 0.5) (biases and LayerNorm too)."""
    with torch.no_grad():
        for p in module.parameters():
            nn.init.uniform_(p, -0.5, 0.5)


def padding_mask(lengths, max_len):
    """Bool [len(lengths), max_len] mask: True at padded positions (pos >= length)."""
    pos = torch.arange(max_len).unsqueeze(0)  # [1, L]
    return pos >= torch.tensor(lengths).unsqueeze(1)  # [N, L]


def causal_mask(n):
    """Bool [n, n] mask: True strictly above the diagonal (future positions blocked)."""
    return torch.triu(torch.ones(n, n, dtype=torch.bool), diagonal=1)


def as_i64(mask):
    """Bool mask -> int64 (1 = blocked, 0 = keep) for storage."""
    return mask.to(torch.int64)


def check_no_nan(name, tensors):
    for k, v in tensors.items():
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise RuntimeError(f"{name}: {k} has non-finite values (fully masked row?)")


def save_fixture(name, module, io):
    """Write NAME.weights.safetensors (state_dict only) and NAME.io.safetensors."""
    state = {k: v.detach().to(torch.float32).contiguous().clone() for k, v in module.state_dict().items()}
    save_file(state, os.path.join(OUT_DIR, f"{name}.weights.safetensors"))

    for k in io:
        assert k.startswith("input.") or k.startswith("output."), k
    io = {k: v.detach().contiguous().clone() for k, v in io.items()}
    for k, v in io.items():
        assert v.dtype in (torch.float32, torch.int64), (k, v.dtype)
    check_no_nan(name, io)
    save_file(io, os.path.join(OUT_DIR, f"{name}.io.safetensors"))
    # safetensors creates files with mode 0600; make them ordinary repo files.
    for part in ("weights", "io"):
        os.chmod(os.path.join(OUT_DIR, f"{name}.{part}.safetensors"), 0o644)


def reference_mha_numpy(mha: nn.MultiheadAttention, q, k, v, blocked):
    """Independent float64 NumPy multi-head attention, used only as a sanity check
    of the fixture conventions (mask polarity, head split, weight layout).

    blocked: bool [B, Lq, Lk], True = not allowed to attend.
    Returns (context [B, Lq, D], weights [B, H, Lq, Lk]).
    """
    w = mha.in_proj_weight.detach().double().numpy()  # [3D, D] rows: q, k, v
    b = mha.in_proj_bias.detach().double().numpy()
    wo = mha.out_proj.weight.detach().double().numpy()
    bo = mha.out_proj.bias.detach().double().numpy()
    d = w.shape[1]
    h = mha.num_heads
    dh = d // h
    q, k, v = (x.double().numpy() for x in (q, k, v))
    Q = q @ w[:d].T + b[:d]
    K = k @ w[d : 2 * d].T + b[d : 2 * d]
    V = v @ w[2 * d :].T + b[2 * d :]

    def split(x):  # [B, L, D] -> [B, H, L, dh]
        return x.reshape(x.shape[0], x.shape[1], h, dh).transpose(0, 2, 1, 3)

    Q, K, V = split(Q), split(K), split(V)
    scores = Q @ K.transpose(0, 1, 3, 2) / math.sqrt(dh)
    scores = np.where(blocked.numpy()[:, None], -np.inf, scores)
    scores = scores - scores.max(-1, keepdims=True)
    e = np.exp(scores)
    att = e / e.sum(-1, keepdims=True)
    ctx = (att @ V).transpose(0, 2, 1, 3).reshape(q.shape[0], q.shape[1], d)
    return ctx @ wo.T + bo, att


# --------------------------------------------------------------------------
# Fixture 1: multi-head attention
# --------------------------------------------------------------------------


def make_mha():
    torch.manual_seed(1)
    mha = nn.MultiheadAttention(D, H, dropout=0.0, batch_first=True)
    reinit_(mha)
    mha.train()

    # Cross-attention case: queries of target length, keys/values of source length.
    query = torch.randn(B, T, D)
    key = torch.randn(B, S, D)
    value = torch.randn(B, S, D)
    kpm = padding_mask(SRC_LENS, S)  # [B, S]

    # Self-attention case with causal + key padding masks.
    self_x = torch.randn(B, T, D)
    causal = causal_mask(T)  # [T, T]
    self_kpm = padding_mask(TGT_LENS, T)  # [B, T]

    with torch.no_grad():
        ctx, weights = mha(
            query, key, value, key_padding_mask=kpm, need_weights=True, average_attn_weights=False
        )
        self_ctx, self_weights = mha(
            self_x,
            self_x,
            self_x,
            key_padding_mask=self_kpm,
            attn_mask=causal,
            need_weights=True,
            average_attn_weights=False,
        )

    # Sanity check against an independent float64 implementation.
    ref_ctx, ref_w = reference_mha_numpy(mha, query, key, value, kpm[:, None, :].expand(B, T, S))
    assert np.allclose(ctx.numpy(), ref_ctx, atol=1e-5), "mha cross context mismatch"
    assert np.allclose(weights.numpy(), ref_w, atol=1e-6), "mha cross weights mismatch"
    blocked = causal[None] | self_kpm[:, None, :]
    ref_ctx, ref_w = reference_mha_numpy(mha, self_x, self_x, self_x, blocked)
    assert np.allclose(self_ctx.numpy(), ref_ctx, atol=1e-5), "mha self context mismatch"
    assert np.allclose(self_weights.numpy(), ref_w, atol=1e-6), "mha self weights mismatch"

    save_fixture(
        "mha",
        mha,
        {
            "input.query": query,
            "input.key": key,
            "input.value": value,
            "input.key_padding_mask": as_i64(kpm),
            "output.context": ctx,
            "output.weights": weights,
            "input.self_x": self_x,
            "input.causal_mask": as_i64(causal),
            "input.self_key_padding_mask": as_i64(self_kpm),
            "output.self_context": self_ctx,
            "output.self_weights": self_weights,
        },
    )


# --------------------------------------------------------------------------
# Fixture 2: encoder layer (post-norm and pre-norm)
# --------------------------------------------------------------------------


def make_encoder_layer(norm_first: bool, seed: int):
    name = "encoder_layer_pre" if norm_first else "encoder_layer_post"
    torch.manual_seed(seed)
    layer = nn.TransformerEncoderLayer(
        D,
        H,
        dim_feedforward=F,
        dropout=0.0,
        activation="relu",
        layer_norm_eps=LN_EPS,
        batch_first=True,
        norm_first=norm_first,
    )
    reinit_(layer)
    layer.train()

    src = torch.randn(B, S, D)
    src_kpm = padding_mask(SRC_LENS, S)
    with torch.no_grad():
        out = layer(src, src_key_padding_mask=src_kpm)

    save_fixture(
        name,
        layer,
        {"input.src": src, "input.src_key_padding_mask": as_i64(src_kpm), "output.out": out},
    )


# --------------------------------------------------------------------------
# Fixture 3: decoder layer (post-norm and pre-norm)
# --------------------------------------------------------------------------


def make_decoder_layer(norm_first: bool, seed: int):
    name = "decoder_layer_pre" if norm_first else "decoder_layer_post"
    torch.manual_seed(seed)
    layer = nn.TransformerDecoderLayer(
        D,
        H,
        F,
        0.0,
        "relu",
        layer_norm_eps=LN_EPS,
        batch_first=True,
        norm_first=norm_first,
    )
    reinit_(layer)
    layer.train()

    tgt = torch.randn(B, T, D)
    memory = torch.randn(B, S, D)
    tgt_mask = causal_mask(T)
    tgt_kpm = padding_mask(TGT_LENS, T)
    mem_kpm = padding_mask(SRC_LENS, S)
    with torch.no_grad():
        out = layer(
            tgt,
            memory,
            tgt_mask=tgt_mask,
            tgt_key_padding_mask=tgt_kpm,
            memory_key_padding_mask=mem_kpm,
        )

    save_fixture(
        name,
        layer,
        {
            "input.tgt": tgt,
            "input.memory": memory,
            "input.tgt_mask": as_i64(tgt_mask),
            "input.tgt_key_padding_mask": as_i64(tgt_kpm),
            "input.memory_key_padding_mask": as_i64(mem_kpm),
            "output.out": out,
        },
    )


# --------------------------------------------------------------------------
# Fixture 4: full sequence-to-sequence model
# --------------------------------------------------------------------------


def sinusoidal_pe(max_len: int, d: int) -> torch.Tensor:
    """Vaswani et al. positional encoding, computed in float64 then cast to float32:
    pe[pos, 2i] = sin(pos / 10000^(2i/d)), pe[pos, 2i+1] = cos(pos / 10000^(2i/d))."""
    pos = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)  # [L, 1]
    two_i = torch.arange(0, d, 2, dtype=torch.float64)  # [d/2]
    angle = pos / torch.pow(torch.tensor(10000.0, dtype=torch.float64), two_i / d)  # [L, d/2]
    pe = torch.zeros(max_len, d, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle)
    return pe.to(torch.float32)


class Seq2Seq(nn.Module):
    """Token embeddings (scaled by sqrt(d)) + sinusoidal PE -> nn.Transformer -> Linear."""

    def __init__(
        self,
        src_vocab=SRC_VOCAB,
        tgt_vocab=TGT_VOCAB,
        d=D,
        h=H,
        n_enc=N_ENC,
        n_dec=N_DEC,
        d_ff=F,
        norm_first=False,
        max_len=MAX_LEN,
    ):
        super().__init__()
        self.d = d
        self.src_embed = nn.Embedding(src_vocab, d)
        self.tgt_embed = nn.Embedding(tgt_vocab, d)
        # Build the encoder ourselves so that it never converts to nested tensors
        # (nn.Transformer's own encoder uses the default enable_nested_tensor=True).
        # Parameter names are identical to nn.Transformer's default encoder:
        # transformer.encoder.layers.{i}.* and transformer.encoder.norm.*.
        enc_layer = nn.TransformerEncoderLayer(
            d, h, d_ff, 0.0, "relu", layer_norm_eps=LN_EPS, batch_first=True, norm_first=norm_first
        )
        encoder = nn.TransformerEncoder(
            enc_layer,
            n_enc,
            norm=nn.LayerNorm(d, eps=LN_EPS),  # final norm, as nn.Transformer adds
            enable_nested_tensor=False,
        )
        self.transformer = nn.Transformer(
            d,
            h,
            n_enc,
            n_dec,
            d_ff,
            dropout=0.0,
            activation="relu",
            custom_encoder=encoder,
            layer_norm_eps=LN_EPS,
            batch_first=True,
            norm_first=norm_first,
        )
        assert self.transformer.encoder.use_nested_tensor is False
        self.generator = nn.Linear(d, tgt_vocab)
        # Not persistent: NOT part of the state dict (the Rust side recomputes it).
        self.register_buffer("pe", sinusoidal_pe(max_len, d), persistent=False)

    def embed_src(self, src):
        return self.src_embed(src) * math.sqrt(self.d) + self.pe[: src.shape[1]]

    def embed_tgt(self, tgt):
        return self.tgt_embed(tgt) * math.sqrt(self.d) + self.pe[: tgt.shape[1]]

    def encode(self, src, src_pad):
        """Encoder stack output including the final LayerNorm."""
        return self.transformer.encoder(self.embed_src(src), src_key_padding_mask=src_pad)

    def forward(self, src, tgt, src_pad, tgt_pad):
        s = self.embed_src(src)
        t = self.embed_tgt(tgt)
        causal = causal_mask(tgt.shape[1])
        out = self.transformer(
            s,
            t,
            tgt_mask=causal,
            src_key_padding_mask=src_pad,
            tgt_key_padding_mask=tgt_pad,
            memory_key_padding_mask=src_pad,
        )
        return self.generator(out)


def random_tokens(lengths, max_len, vocab):
    """Ids uniformly in 1..vocab-1 at valid positions, PAD (0) beyond each length."""
    ids = torch.randint(1, vocab, (len(lengths), max_len), dtype=torch.int64)
    return ids.masked_fill(padding_mask(lengths, max_len), PAD)


def seq2seq_config(norm_first: bool) -> dict:
    return {
        "src_vocab_size": SRC_VOCAB,
        "tgt_vocab_size": TGT_VOCAB,
        "d_model": D,
        "n_heads": H,
        "d_ff": F,
        "n_encoder_layers": N_ENC,
        "n_decoder_layers": N_DEC,
        "dropout": 0.0,
        "activation": "relu",
        "norm_first": norm_first,
        "final_norm": True,
        "max_len": MAX_LEN,
        "positional": "sinusoidal",
        "scale_embeddings": True,
        "share_embeddings": False,
        "tie_generator": False,
        "layer_norm_eps": LN_EPS,
    }


def make_seq2seq(norm_first: bool, seed: int):
    name = "seq2seq_pre" if norm_first else "seq2seq_post"
    torch.manual_seed(seed)
    model = Seq2Seq(norm_first=norm_first)
    reinit_(model)
    model.train()

    src = random_tokens(SRC_LENS, S, SRC_VOCAB)
    tgt = random_tokens(TGT_LENS, T, TGT_VOCAB)
    src_pad = padding_mask(SRC_LENS, S)
    tgt_pad = padding_mask(TGT_LENS, T)
    with torch.no_grad():
        memory = model.encode(src, src_pad)
        logits = model(src, tgt, src_pad, tgt_pad)

    save_fixture(
        name,
        model,
        {
            "input.src": src,
            "input.tgt": tgt,
            "input.src_key_padding_mask": as_i64(src_pad),
            "input.tgt_key_padding_mask": as_i64(tgt_pad),
            "output.memory": memory,
            "output.logits": logits,
        },
    )
    with open(os.path.join(OUT_DIR, f"{name}.json"), "w") as f:
        json.dump(seq2seq_config(norm_first), f, indent=2)
        f.write("\n")


# --------------------------------------------------------------------------
# Fixture 5: vocabularies for the CLI import test
# --------------------------------------------------------------------------


def vocab_symbols(size: int):
    """<pad>, <s>, </s>, <unk>, then a, b, c, ... (line number = token id)."""
    specials = ["<pad>", "<s>", "</s>", "<unk>"]
    letters = [chr(ord("a") + i) for i in range(size - len(specials))]
    return specials + letters


def make_vocabs():
    for kind, size in (("src", SRC_VOCAB), ("tgt", TGT_VOCAB)):
        with open(os.path.join(OUT_DIR, f"seq2seq_post.{kind}_vocab.txt"), "w") as f:
            for sym in vocab_symbols(size):
                f.write(sym + "\n")


# --------------------------------------------------------------------------
# Verification: reload everything and print keys and shapes
# --------------------------------------------------------------------------


def describe(path):
    tensors = load_file(path)
    print(f"{os.path.relpath(path, REPO_ROOT)} ({os.path.getsize(path)} bytes)")
    for k, v in tensors.items():
        assert v.is_contiguous()
        print(f"    {k:55s} {str(v.dtype):14s} {list(v.shape)}")
    return tensors


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    print(f"torch {torch.__version__}; fast path: {FASTPATH_NOTE}")

    make_mha()
    make_encoder_layer(norm_first=False, seed=2)
    make_encoder_layer(norm_first=True, seed=3)
    make_decoder_layer(norm_first=False, seed=4)
    make_decoder_layer(norm_first=True, seed=5)
    make_seq2seq(norm_first=False, seed=6)
    make_seq2seq(norm_first=True, seed=7)
    make_vocabs()

    names = [
        "mha",
        "encoder_layer_post",
        "encoder_layer_pre",
        "decoder_layer_post",
        "decoder_layer_pre",
        "seq2seq_post",
        "seq2seq_pre",
    ]
    for name in names:
        for part in ("weights", "io"):
            tensors = describe(os.path.join(OUT_DIR, f"{name}.{part}.safetensors"))
            if part == "weights":
                assert all(v.dtype == torch.float32 for v in tensors.values())
            else:
                assert all(k.startswith(("input.", "output.")) for k in tensors)

    print("\nseq2seq_post state dict keys:")
    for k in load_file(os.path.join(OUT_DIR, "seq2seq_post.weights.safetensors")):
        print("   ", k)
    print("\nwrote", len(os.listdir(OUT_DIR)), "files to", os.path.relpath(OUT_DIR, REPO_ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
