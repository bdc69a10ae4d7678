#!/usr/bin/env python3
"""Our transcripts against CTranslate2's, and both against the human transcripts (WER).

    python3 scripts/speech_compare.py --ours OURS.jsonl --reference REF.jsonl --key greedy \
        [--data data/speech] [--normalizer data/speech/openai-whisper]

OURS.jsonl: `seq2seq transcribe --json` output (one object per file: path, text, tokens per
30-second window). REF.jsonl: `scripts/whisper_reference.py transcribe` output (per file: id,
path relative to --data, reference text, and under `greedy` / `beam5` CTranslate2's ids, text
and per-window ids). Files are matched by path.

Prints one JSON object: files compared, identical token sequences, the differing files (with
both texts), and WER per set (jfk, librivox, asterisk) for ours and CTranslate2's, scored
after Whisper's English text normaliser (`EnglishTextNormalizer` from the openai-whisper sdist
that scripts/fetch_whisper.sh unpacks: numbers written as digits or words count as equal;
needs the `regex` and `more_itertools` packages) or, with --no-normalizer, after lowercasing
and removing punctuation. Asterisk transcripts that describe sounds ("[beep tone]") are left
out of the WER.
"""
import argparse
import json
import os
import re
import sys


def levenshtein(a, b):
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ours", required=True)
    p.add_argument("--reference", required=True)
    p.add_argument("--key", default="greedy", choices=["greedy", "beam5"])
    p.add_argument("--data", default="data/speech")
    p.add_argument("--normalizer", default="data/speech/openai-whisper")
    p.add_argument("--no-normalizer", action="store_true")
    args = p.parse_args()

    if args.no_normalizer:
        def norm(s):
            return re.sub(r"[^\w\s']", " ", s.lower()).split()
    else:
        try:
            # The sdist folder is named openai-whisper: load normalizers/ from it as a package.
            sys.path.insert(0, os.path.abspath(args.normalizer))
            from normalizers import EnglishTextNormalizer  # noqa: E402
        except ImportError as e:
            sys.exit(f"speech_compare.py: cannot load Whisper's normaliser from {args.normalizer} "
                     f"({e}; run scripts/fetch_whisper.sh; pip install regex more_itertools)")
        normalizer = EnglishTextNormalizer()

        def norm(s):
            return normalizer(s).split()

    refs = {}
    with open(args.reference) as f:
        for line in f:
            r = json.loads(line)
            refs[os.path.normpath(os.path.join(args.data, r["path"]))] = r
    ours = {}
    with open(args.ours) as f:
        for line in f:
            o = json.loads(line)
            ours[os.path.normpath(o["path"])] = o

    same, differ, missing = 0, [], 0
    errors = {}  # set -> [our edits, their edits, reference words]
    for path, r in refs.items():
        o = ours.get(path)
        if o is None:
            missing += 1
            continue
        theirs = r[args.key]
        windows = [w["ids"] for w in theirs["windows"]] if "windows" in theirs else [theirs["ids"]]
        if o["tokens"] == windows:
            same += 1
        else:
            differ.append({"path": r["path"], "ours": o["text"], "ctranslate2": theirs["text"].strip()})
        reference = r.get("reference") or ""
        if not reference or "[" in reference:
            continue
        words = norm(reference)
        if not words:
            continue
        s = r["id"].split("/")[0]
        e = errors.setdefault(s, [0, 0, 0, 0])
        e[0] += levenshtein(norm(o["text"]), words)
        e[1] += levenshtein(norm(theirs["text"]), words)
        e[2] += len(words)
        e[3] += 1
    wer = {s: {"files": e[3], "words": e[2], "ours": round(100 * e[0] / e[2], 2),
               "ctranslate2": round(100 * e[1] / e[2], 2)} for s, e in sorted(errors.items())}
    json.dump({"key": args.key, "compared": len(refs) - missing, "missing": missing,
               "identical": same, "different": differ, "wer_percent": wer,
               "normalizer": "none" if args.no_normalizer else "whisper EnglishTextNormalizer"},
              sys.stdout, indent=1, ensure_ascii=False)
    print()


if __name__ == "__main__":
    main()
