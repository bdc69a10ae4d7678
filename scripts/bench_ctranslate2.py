#!/usr/bin/env python3
"""Decode words with a CTranslate2 model (from scripts/ctranslate2_convert.py) and time it.

Usage:
  python3 scripts/bench_ctranslate2.py --model CT2_DIR --words FILE [--beam K] [--batch B]
      [--lenpen A] [--order sorted|input] [--threads N] [--out FILE] [--scores] [--json]
      [--tokens]

Inputs are one word per line, split like `seq2seq infer` does for G2P (trimmed, lowercased,
one token per character; no BEGIN/END on the source). With --tokens, each line is already the
source's tokens separated by single spaces (as `seq2seq bench` writes them for a subword model:
sentencepiece pieces, `▁` marking a word start), used as they are. Output is one line per input, phonemes
separated by spaces, in input order, like `seq2seq infer` (with --scores, a tab and the
hypothesis' log-probability follow: the sum over its tokens, END included; inputs it would refuse, empty or
longer than max_len or with unknown characters, are reported on stderr and get no line, as there).

Decoding settings chosen to match `seq2seq infer --beam K --lenpen A`:
  min_decoding_length=0 (END may come first), max_decoding_length=max_len-1 (END included),
  length_penalty=A (0 = rank by raw log-probability; note CTranslate2's penalty divides by
  len^A, ours by ((5+len)/6)^A, so only A=0 is the same ranking).

--order sorted (default): one translate_batch call over all inputs with max_batch_size=B;
  CTranslate2 sorts the inputs by length before cutting batches (less padding).
--order input: one call per chunk of B inputs in input order, like `seq2seq infer`.

The timed region is the decoding only (model load reported separately).
"""

import argparse
import json
import os
import sys
import time

from peak_memory import peak_rss_mib


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="CTranslate2 model directory")
    p.add_argument("--words", required=True, help="one word per line ('-' = stdin)")
    p.add_argument("--beam", type=int, default=1)
    p.add_argument("--batch", type=int, default=64, help="max_batch_size (examples)")
    p.add_argument("--lenpen", type=float, default=0.0)
    p.add_argument("--order", choices=["sorted", "input"], default="sorted")
    p.add_argument("--threads", type=int, default=2, help="intra_threads")
    p.add_argument("--inter-threads", type=int, default=1)
    p.add_argument("--max-len", type=int, default=None,
                   help="model max_len (default: from CT2_DIR/seq2seq.json)")
    p.add_argument("--repeat", type=int, default=1, help="time this many runs, report the best")
    p.add_argument("--compute-type", default="default")
    p.add_argument("--omp-wait-policy", choices=["ACTIVE", "PASSIVE"], default=None,
                   help="set OMP_WAIT_POLICY before loading CTranslate2; PASSIVE avoids the "
                        "spin-wait collapse when the cores are shared with another busy process")
    p.add_argument("--out", default=None, help="write outputs here (default: stdout)")
    p.add_argument("--scores", action="store_true",
                   help="append a tab and the hypothesis' log-probability to each output line")
    p.add_argument("--json", action="store_true", help="print a JSON summary line on stderr")
    p.add_argument("--tokens", action="store_true",
                   help="each line is the source's tokens separated by spaces (no lowercasing)")
    args = p.parse_args()
    if args.omp_wait_policy:
        os.environ["OMP_WAIT_POLICY"] = args.omp_wait_policy
    global ctranslate2
    import ctranslate2  # after OMP_WAIT_POLICY is set: OpenMP reads it when it loads

    max_len = args.max_len
    if max_len is None:
        with open(os.path.join(args.model, "seq2seq.json"), encoding="utf-8") as f:
            max_len = json.load(f)["max_len"]
    # A model with shared embeddings has one vocabulary for both sides.
    vocab_file = os.path.join(args.model, "source_vocabulary.json")
    if not os.path.exists(vocab_file):
        vocab_file = os.path.join(args.model, "shared_vocabulary.json")
    with open(vocab_file, encoding="utf-8") as f:
        src_vocab = set(json.load(f))

    text = sys.stdin.read() if args.words == "-" else open(args.words, encoding="utf-8").read()
    lines = text.splitlines()
    inputs, index = [], []
    for i, line in enumerate(lines):
        if args.tokens:
            tokens = line.split()
        else:
            tokens = list(line.strip().lower())
        if not tokens:
            err = "empty input"
        elif len(tokens) > max_len:
            err = f"input of {len(tokens)} symbols is longer than the model's maximum of {max_len}"
        elif any(t not in src_vocab for t in tokens):
            err = f"unknown symbol(s) {sorted(set(t for t in tokens if t not in src_vocab))}"
        else:
            inputs.append(tokens)
            index.append(i)
            continue
        print(f"error: line {i + 1}: {err}", file=sys.stderr)

    t0 = time.perf_counter()
    translator = ctranslate2.Translator(
        args.model, device="cpu", compute_type=args.compute_type,
        inter_threads=args.inter_threads, intra_threads=args.threads,
    )
    load_s = time.perf_counter() - t0

    options = dict(
        beam_size=args.beam,
        length_penalty=args.lenpen,
        max_decoding_length=max_len - 1,
        min_decoding_length=0,
        max_input_length=0,
        num_hypotheses=1,
        return_scores=args.scores,
    )

    def decode():
        if args.order == "sorted":
            return translator.translate_batch(inputs, max_batch_size=args.batch, **options)
        results = []
        for start in range(0, len(inputs), args.batch):
            results.extend(translator.translate_batch(inputs[start:start + args.batch], **options))
        return results

    times = []
    for _ in range(max(1, args.repeat)):
        t0 = time.perf_counter()
        results = decode()
        times.append(time.perf_counter() - t0)
    best = min(times)

    outputs = [None] * len(lines)
    for i, result in zip(index, results):
        outputs[i] = " ".join(result.hypotheses[0])
        if args.scores:
            outputs[i] += f"\t{result.scores[0]:.6f}"
    out = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout
    for o in outputs:
        if o is not None:
            out.write(o + "\n")
    if args.out:
        out.close()

    wps = len(inputs) / best if best > 0 else float("inf")
    print(f"ctranslate2 {ctranslate2.__version__}: {len(inputs)} words, beam {args.beam}, "
          f"batch {args.batch} ({args.order}), {args.threads} threads: {best:.3f} s, "
          f"{wps:.1f} words/s (load {load_s:.3f} s)", file=sys.stderr)
    if args.json:
        print(json.dumps({
            "engine": "ctranslate2", "version": ctranslate2.__version__,
            "words": len(inputs), "failed": len(lines) - len(inputs),
            "beam": args.beam, "batch": args.batch, "order": args.order,
            "lenpen": args.lenpen, "intra_threads": args.threads,
            "inter_threads": args.inter_threads, "compute_type": args.compute_type,
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
            "decode_s": round(best, 4), "all_decode_s": [round(t, 4) for t in times],
            "load_s": round(load_s, 4), "words_per_s": round(wps, 1),
            "peak_rss_mib": peak_rss_mib(),
        }), file=sys.stderr)
    return 1 if len(inputs) < len(lines) else 0


if __name__ == "__main__":
    sys.exit(main())
