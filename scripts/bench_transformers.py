#!/usr/bin/env python3
"""Translate sentences with a Hugging Face Marian (opus-mt) repository and time `generate()`.

The reference side of `seq2seq bench --infer-hf HF_DIR` (the model directory that
`seq2seq import-marian HF_DIR` wrote is the other side).

Usage:
  python3 scripts/bench_transformers.py --hf-dir HF_DIR --words FILE [--beam K] [--batch B]
      [--threads N] [--out FILE] [--scores] [--json]

Inputs: one sentence per line, tokenized by MarianTokenizer (source.spm, vocab.json). Output:
one line per input, in input order, the translation as `tokenizer.batch_decode(...,
skip_special_tokens=True)` gives it; with --scores a tab and the hypothesis' score follow:
greedy, the sum of its tokens' log-probabilities (END included); beam, transformers'
`sequences_scores` (that sum over the generated length to the power `length_penalty`), which
is what `seq2seq` reports for the same decoding.

Decoding: the repository's generation config (max_length, forced_eos_token_id, bad_words_ids,
length_penalty, early_stopping) with num_beams=K and do_sample=False, as `seq2seq infer
--beam K` decodes an imported model.

Batches: the inputs sorted by token count (shortest first, stable), cut every B, one `generate()` call
each, with the attention mask; as `seq2seq` cuts them. The timed region is `generate()` and
the decoding of its ids to text; loading and tokenizing are reported apart. One thread pool of
N threads (torch.set_num_threads).
"""

import argparse
import json
import os
import sys
import time

from peak_memory import peak_rss_mib


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--hf-dir", required=True, help="Hugging Face Marian repository directory")
    p.add_argument("--words", required=True, help="one sentence per line ('-' = stdin)")
    p.add_argument("--beam", type=int, default=1)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=None, help="write outputs here (default: stdout)")
    p.add_argument("--scores", action="store_true",
                   help="append a tab and the hypothesis' score to each output line")
    p.add_argument("--json", action="store_true", help="print a JSON summary line on stderr")
    args = p.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

    import torch
    from transformers import MarianMTModel, MarianTokenizer

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    tok = MarianTokenizer.from_pretrained(args.hf_dir)
    model = MarianMTModel.from_pretrained(args.hf_dir).eval()
    load_s = time.perf_counter() - started

    text = sys.stdin.read() if args.words == "-" else open(args.words, encoding="utf-8").read()
    lines = text.splitlines()
    started = time.perf_counter()
    ids = [tok(line)["input_ids"] for line in lines]
    tokenize_s = time.perf_counter() - started
    order = sorted(range(len(lines)), key=lambda i: len(ids[i]))
    pad = tok.pad_token_id

    outputs = [None] * len(lines)
    decode_s = 0.0
    with torch.inference_mode():
        for start in range(0, len(order), args.batch):
            chunk = order[start:start + args.batch]
            width = max(len(ids[i]) for i in chunk)
            input_ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, i in enumerate(chunk):
                input_ids[row, :len(ids[i])] = torch.tensor(ids[i])
                mask[row, :len(ids[i])] = 1
            t0 = time.perf_counter()
            out = model.generate(
                input_ids=input_ids, attention_mask=mask, num_beams=args.beam,
                do_sample=False, output_scores=args.scores, return_dict_in_generate=True,
            )
            texts = tok.batch_decode(out.sequences, skip_special_tokens=True)
            decode_s += time.perf_counter() - t0
            if not args.scores:
                scores = [None] * len(chunk)
            elif args.beam == 1:
                steps = model.compute_transition_scores(
                    out.sequences, out.scores, normalize_logits=True)
                # Steps after END hold pad with a score of 0 (or -inf when pad is banned).
                generated = out.sequences[:, 1:]
                keep = torch.ones_like(generated, dtype=torch.bool)
                for row in range(generated.shape[0]):
                    ends = (generated[row] == model.generation_config.eos_token_id).nonzero()
                    if len(ends):
                        keep[row, ends[0, 0] + 1:] = False
                scores = torch.where(keep, steps, torch.zeros_like(steps)).sum(dim=1).tolist()
            else:
                scores = out.sequences_scores.tolist()
            for row, i in enumerate(chunk):
                outputs[i] = (texts[row], scores[row])

    sink = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout
    for hyp, score in outputs:
        sink.write(f"{hyp}\t{score:.6f}\n" if args.scores else f"{hyp}\n")
    if args.out:
        sink.close()
    words = sum(len(line.split()) for line in lines)
    summary = {
        "engine": "transformers", "beam": args.beam, "batch": args.batch,
        "threads": args.threads, "inputs": len(lines), "words": words,
        "load_s": load_s, "tokenize_s": tokenize_s, "decode_s": decode_s,
        "words_per_s": words / max(decode_s, 1e-9),
        "peak_rss_mib": peak_rss_mib(),
    }
    if args.json:
        print(json.dumps(summary), file=sys.stderr)
    else:
        print(f"{len(lines)} sentences ({words} words) in {decode_s:.2f} s: "
              f"{summary['words_per_s']:.1f} words/s", file=sys.stderr)


if __name__ == "__main__":
    main()
