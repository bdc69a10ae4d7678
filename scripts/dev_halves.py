#!/usr/bin/env python3
"""Write a G2P model's dev split as two halves, to choose a setting (an ensemble or rescoring
weight) on one half and score it on the other.

Usage:
  python3 scripts/dev_halves.py --data DICT --out-a A.dict --out-b B.dict
      [--dev-fraction 0.05] [--test-fraction 0.0] [--split-seed 1] [--seed 0]

The dev split is re-created as `seq2seq` does (src/data/split.rs: FNV-1a over the seed's eight
little-endian bytes and the lowercased word, a SplitMix64 round, the top 53 bits as a fraction;
test below `test_fraction`, dev below `test_fraction + dev_fraction`), so `seq2seq eval --data
A.dict` and `--data B.dict` score exactly the words of `eval --split dev`, every pronunciation of
a word on the same side. Pass the model config's fractions and split seed (g014b2b: 0.05, 0.0, 1;
artifacts/g2p: 0.05, 0.05, 1). Prints the number of dev words, which `eval --split dev` reports
as its items.
"""
import argparse
import random
import re

MASK = (1 << 64) - 1


def mix(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def fraction(seed, key):
    h = 0xCBF29CE484222325
    for byte in seed.to_bytes(8, "little") + key.encode():
        h = ((h ^ byte) * 0x100000001B3) & MASK
    return (mix((h + 0x9E3779B97F4A7C15) & MASK) >> 11) / (1 << 53)


def word_of(line):
    # As src/data/dictionary.rs: the word before a tab (or whitespace), a "(2)" variant
    # number stripped, lowercased.
    word = line.split("\t", 1)[0] if "\t" in line else line.split(None, 1)[0]
    word = word.strip()
    m = re.fullmatch(r"(.+)\((\d+)\)", word)
    return (m.group(1) if m else word).lower()


def entry(line):
    # "#" starts a comment at the start of a line or after whitespace; None for no entry.
    line = re.sub(r"(^|\s)#.*", "", line).strip()
    return line or None


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--out-a", required=True)
    p.add_argument("--out-b", required=True)
    p.add_argument("--dev-fraction", type=float, default=0.05)
    p.add_argument("--test-fraction", type=float, default=0.0)
    p.add_argument("--split-seed", type=int, default=1)
    p.add_argument("--seed", type=int, default=0, help="shuffles the dev words into halves")
    a = p.parse_args()
    try:
        with open(a.data, encoding="utf-8") as f:
            entries = [(word_of(l), l) for l in map(entry, f) if l]
    except (OSError, UnicodeDecodeError) as e:
        p.error(f"cannot read --data {a.data}: {e}")
    lo, hi = a.test_fraction, a.test_fraction + a.dev_fraction
    dev = [(w, l) for w, l in entries if lo <= fraction(a.split_seed, w) < hi]
    words = sorted({w for w, _ in dev})
    random.Random(a.seed).shuffle(words)
    half = set(words[: len(words) // 2])
    with open(a.out_a, "w", encoding="utf-8") as fa, open(a.out_b, "w", encoding="utf-8") as fb:
        for w, l in dev:
            (fa if w in half else fb).write(l + "\n")
    print(f"{len(words)} dev words: {len(half)} in {a.out_a}, {len(words) - len(half)} in {a.out_b}")


if __name__ == "__main__":
    main()
