#!/usr/bin/env python3
"""A Marian repository saved by the *installed* transformers, and what its `generate()` does.

`scripts/marian_reference.py` trained the checked-in fixture (tests/fixtures/marian) once, with
one transformers release. This script instead builds a tiny MarianMTModel at test time, so that a
new transformers release that changes what `save_pretrained` writes (generation_config.json
fields) or how `generate()` decides (its default length rule, say) shows up as a failing
comparison rather than as a user's wrong translation.

It writes, under OUT (in the opus-mt file layout `seq2seq import-marian` reads):
- config.json, model.safetensors, generation_config.json: `MarianMTModel.save_pretrained` of a
  random model (seeded; d_model 16, 2 heads, 1 encoder + 1 decoder layer, FFN 32, swish,
  scaled and tied embeddings, `forced_eos_token_id` = `</s>`). No generation setting is set by
  hand: generation_config.json is whatever the installed transformers derives from the model
  config (5.25.0 writes `_from_model_config`, `output_attentions`, `output_hidden_states`,
  `use_cache`, ... and no `max_length`, so `generate()` falls back on its default length rule).
- source.spm, target.spm, vocab.json, tokenizer_config.json: the checked-in fixture's
  SentencePiece models and vocab.json, saved again by `MarianTokenizer.save_pretrained`.
- reference.json: `generate()` outputs of the model *reloaded* from OUT (so the saved
  generation_config.json is what decides), for `--sentences` val lines of the fixture:
  greedy and `num_beams=4`, each as saved (no max_length) and with `max_length=--max-length`
  (as if generation_config.json had that field), as ids and text, in the layout of
  tests/fixtures/marian/reference.json (`greedy_ids`: the ids after the decoder start token,
  trailing `<pad>` removed, the final `</s>` kept; `greedy_text`: `batch_decode` with
  `skip_special_tokens`).

The random weights (std `--init-std`) are made peaky (the last decoder LayerNorm's gain times
`--gain`) so that outputs vary and beam search differs from greedy in places.
`final_logits_bias` is random, except that `<pad>`, `<unk>` and the vocab.json pieces that
target.spm does not have get -1e4, as a trained model would never pick them (their text
rendering is not what this check is about); `</s>` gets `--eos-bias`, by default found by
bisection so that about half the greedy outputs end by `</s>` and the rest run into the length
limit. A seed is kept only if no output changes when every logit moves by up to `--delta`
(1e-3), so that no reference output hangs on a near-tie; otherwise the next seed is tried.
reference.json also records the versions, the seed, the </s> bias, the saved
generation_config.json, `src_ids` (MarianTokenizer's ids of each sentence) and
`default_max_ids_after_start` (the longest output without max_length: 20 with 5.25.0).

Needs: torch, transformers, sentencepiece, safetensors (PyPI), and not sacremoses (with it,
MarianTokenizer normalises punctuation first). CPU, one thread, a few seconds (plus imports).
Run: python3 scripts/marian_transformers_check.py OUT
"""
import argparse
import json
import os
import shutil
import time
import warnings

import sentencepiece as spm
import torch
import transformers
from transformers import MarianConfig, MarianMTModel, MarianTokenizer

transformers.logging.set_verbosity_error()
transformers.logging.disable_progress_bar()
# generate() warns on every call without max_length: that is the case under test.
warnings.filterwarnings("ignore", message="Using the model-agnostic default `max_length`")
# Without sacremoses MarianTokenizer skips Moses punctuation normalisation, as import-marian does.
warnings.filterwarnings("ignore", message="Recommended: pip install sacremoses")

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "..", "tests", "fixtures", "marian")


def strip(rows, pad):
    """generate() rows as reference.json holds them: without the decoder start token and the
    <pad> that fills rows which ended early."""
    out = []
    for row in rows.tolist():
        ids = row[1:]
        while ids and ids[-1] == pad:
            ids.pop()
        out.append(ids)
    return out


def build(args, seed, vocab, target_pieces, enc):
    """A random MarianMTModel for `seed`, its </s> bias calibrated; None if none fits."""
    pad, eos, unk = vocab["<pad>"], vocab["</s>"], vocab["<unk>"]
    torch.manual_seed(seed)
    config = MarianConfig(
        vocab_size=len(vocab), decoder_vocab_size=len(vocab), d_model=16,
        encoder_layers=1, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2,
        encoder_ffn_dim=32, decoder_ffn_dim=32, activation_function="swish",
        max_position_embeddings=64, init_std=args.init_std, dropout=0.1, attention_dropout=0.0,
        activation_dropout=0.0, scale_embedding=True, pad_token_id=pad, eos_token_id=eos,
        decoder_start_token_id=pad, forced_eos_token_id=eos, bos_token_id=None,
        share_encoder_decoder_embeddings=True, tie_word_embeddings=True,
    )
    model = MarianMTModel(config).eval()
    with torch.no_grad():
        model.model.decoder.layers[-1].final_layer_norm.weight.mul_(args.gain)
        bias = torch.randn(len(vocab))
        for piece, i in vocab.items():
            if piece not in target_pieces and piece != "</s>":
                bias[i] = -1e4
        bias[pad] = bias[unk] = -1e4
        model.final_logits_bias.copy_(bias.unsqueeze(0))

    def ended_early(value):
        """How many greedy outputs end by </s> within 20 tokens, before a forced </s>."""
        with torch.no_grad():
            model.final_logits_bias[0, eos] = value
            out = model.generate(**enc, num_beams=1, do_sample=False, max_new_tokens=20)
        return sum(eos in row[1:20] for row in out.tolist())

    n = enc["input_ids"].shape[0]
    value = args.eos_bias
    if value is None:
        low, high = -50.0, 50.0  # more end early as the bias grows (not strictly: bisect anyway)
        for _ in range(20):
            mid = (low + high) / 2
            low, high = (mid, high) if ended_early(mid) < n / 2 else (low, mid)
        # At `high` one sentence is on the edge between ending and running on: step away.
        value = round(high, 1) + 0.5
    early = ended_early(value)
    if not 0.2 * n <= early <= 0.8 * n:
        print(f"seed {seed}: {early}/{n} greedy outputs end by </s> early at bias {value}: next")
        return None, value
    return model, value


def outputs(model, enc, max_length, pad):
    """greedy and beam 4, as saved (no max_length) and with max_length: ids."""
    got = {}
    with torch.no_grad():
        for name, beams in [("greedy", 1), ("beam4", 4)]:
            for suffix, extra in [("", {}), ("_max_length", {"max_length": max_length})]:
                out = model.generate(**enc, do_sample=False, num_beams=beams, **extra)
                got[f"{name}{suffix}"] = out
    return got


def robust(model, enc, max_length, pad, reference, delta, draws=3):
    """Outputs unchanged when every logit moves by up to `delta` (another implementation's
    float32 rounding): no output of the reference hangs on a near-tie."""
    saved = model.final_logits_bias.detach().clone()
    gen = torch.Generator().manual_seed(1234)
    try:
        for _ in range(draws):
            noise = (torch.rand(saved.shape, generator=gen) * 2 - 1) * delta
            with torch.no_grad():
                model.final_logits_bias.copy_(saved + noise)
            for key, out in outputs(model, enc, max_length, pad).items():
                if strip(out, pad) != strip(reference[key], pad):
                    return False
    finally:
        with torch.no_grad():
            model.final_logits_bias.copy_(saved)
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", help="output directory (created; files in it are overwritten)")
    ap.add_argument("--fixture", default=FIXTURE, help="where source.spm, target.spm, vocab.json "
                    "and reference.json (for the source sentences) are read")
    ap.add_argument("--sentences", type=int, default=60, help="val sentences to generate")
    ap.add_argument("--max-length", type=int, default=12,
                    help="max_length of the second pair of outputs (counts the decoder start)")
    ap.add_argument("--seed", type=int, default=0, help="first seed tried")
    ap.add_argument("--tries", type=int, default=20, help="seeds tried at most")
    ap.add_argument("--init-std", type=float, default=0.3, help="std of the random weights")
    ap.add_argument("--gain", type=float, default=4.0,
                    help="scale of the last decoder LayerNorm (peakier logits)")
    ap.add_argument("--eos-bias", type=float, default=None,
                    help="final_logits_bias of </s> (default: the value, found by bisection, at "
                    "which half the greedy outputs end by </s> within 20 tokens)")
    ap.add_argument("--delta", type=float, default=1e-3,
                    help="a seed is kept only if no output changes when logits move by this much")
    args = ap.parse_args()
    started = time.time()
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)

    for name in ("source.spm", "target.spm", "vocab.json"):
        shutil.copy(os.path.join(args.fixture, name), os.path.join(args.out, name))
    with open(os.path.join(args.fixture, "reference.json"), encoding="utf-8") as f:
        sentences = json.load(f)["val_src"][: args.sentences]
    with open(os.path.join(args.out, "vocab.json"), encoding="utf-8") as f:
        vocab = json.load(f)
    pad, eos = vocab["<pad>"], vocab["</s>"]
    if pad != len(vocab) - 1 or eos != 0:
        raise SystemExit("expected opus-mt's vocab.json layout: </s> 0, <pad> last")
    tok = MarianTokenizer(
        source_spm=os.path.join(args.out, "source.spm"),
        target_spm=os.path.join(args.out, "target.spm"),
        vocab=os.path.join(args.out, "vocab.json"),
        source_lang="en", target_lang="de",
    )
    tok.save_pretrained(args.out)
    target = spm.SentencePieceProcessor(model_file=os.path.join(args.out, "target.spm"))
    target_pieces = {target.id_to_piece(i) for i in range(target.get_piece_size())}
    enc = tok(sentences, padding=True, return_tensors="pt")

    for seed in range(args.seed, args.seed + args.tries):
        model, eos_bias = build(args, seed, vocab, target_pieces, enc)
        if model is None:
            continue
        if robust(model, enc, args.max_length, pad, outputs(model, enc, args.max_length, pad),
                  args.delta):
            break
        print(f"seed {seed}: an output changes when logits move by {args.delta}: next")
    else:
        raise SystemExit(f"no seed in {args.seed}..{args.seed + args.tries - 1} fits")
    model.save_pretrained(args.out)

    # What transformers does with the saved repository.
    model = MarianMTModel.from_pretrained(args.out).eval()
    tok = MarianTokenizer.from_pretrained(args.out)
    with open(os.path.join(args.out, "generation_config.json"), encoding="utf-8") as f:
        saved_generation = json.load(f)
    reference = {
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "sentencepiece": spm.__version__,
        "seed": seed,
        "eos_bias": eos_bias,
        "delta": args.delta,
        "pad_id": pad,
        "generation_config": saved_generation,
        "max_length": args.max_length,
        "sentences": sentences,
        "src_ids": [tok(s)["input_ids"] for s in sentences],
    }
    for key, out in outputs(model, enc, args.max_length, pad).items():
        reference[f"{key}_ids"] = strip(out, pad)
        reference[f"{key}_text"] = tok.batch_decode(out, skip_special_tokens=True)
    # The default length rule as this release applies it: without max_length, the longest
    # output has this many ids after the decoder start token (</s> included).
    reference["default_max_ids_after_start"] = max(
        len(ids) for key in ("greedy_ids", "beam4_ids") for ids in reference[key])
    with open(os.path.join(args.out, "reference.json"), "w", encoding="utf-8") as f:
        json.dump(reference, f, ensure_ascii=False)

    def at_limit(key, limit):
        return sum(len(ids) == limit for ids in reference[key])

    n = len(sentences)
    lines = [f"transformers {transformers.__version__}, torch {torch.__version__}: seed {seed}, "
             f"{n} sentences, vocab {len(vocab)}, </s> bias {eos_bias}, "
             f"{time.time() - started:.1f} s",
             f"generation_config.json: {json.dumps(saved_generation)}"]
    for suffix, limit in [("", reference["default_max_ids_after_start"]),
                          ("_max_length", args.max_length - 1)]:
        g, b = reference[f"greedy{suffix}_ids"], reference[f"beam4{suffix}_ids"]
        lines.append(
            f"{'max_length ' + str(args.max_length) if suffix else 'no max_length'}: "
            f"greedy == beam4 on {sum(x == y for x, y in zip(g, b))}/{n}; "
            f"at the limit ({limit} ids after start): greedy {at_limit('greedy' + suffix + '_ids', limit)}, "
            f"beam4 {at_limit('beam4' + suffix + '_ids', limit)}; distinct greedy outputs "
            f"{len(set(map(tuple, g)))}")
    for s, g, b in list(zip(sentences, reference["greedy_text"], reference["beam4_text"]))[:2]:
        lines.append(f"  {s}\n    greedy: {g}\n    beam 4: {b}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
