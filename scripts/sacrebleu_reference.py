#!/usr/bin/env python3
"""Writes tests/fixtures/sacrebleu.json: corpus BLEU and chrF computed by sacreBLEU with its
default settings (BLEU: 13a tokenisation, exp smoothing, 4-grams; chrF: character 6-grams,
beta 2, no word n-grams) on a small set of hypotheses and references, for the Rust tests.

Run from the repo root: python3 scripts/sacrebleu_reference.py  (pip install sacrebleu)
"""
import json

import sacrebleu

HYPOTHESES = [
    "The cat sat on the mat.",
    "There is a cat on the mat",
    "It's 3.5 km to the station, isn't it?",
    "a b c d e f",
    "Hello, world!",
    "completely different words here",
]
REFERENCES = [
    "The cat is sitting on the mat.",
    "There is a cat on the mat.",
    "It is 3.5 km to the station, isn't it?",
    "a b c d e f",
    "Hello world!",
    "nothing in common",
]


def main():
    bleu = sacrebleu.corpus_bleu(HYPOTHESES, [REFERENCES])
    chrf = sacrebleu.corpus_chrf(HYPOTHESES, [REFERENCES])
    sentence_bleu = [sacrebleu.sentence_bleu(h, [r]).score for h, r in zip(HYPOTHESES, REFERENCES)]
    out = {
        "sacrebleu_version": sacrebleu.__version__,
        "hypotheses": HYPOTHESES,
        "references": REFERENCES,
        "bleu": bleu.score,
        "bleu_precisions": bleu.precisions,
        "bleu_bp": bleu.bp,
        "bleu_sys_len": bleu.sys_len,
        "bleu_ref_len": bleu.ref_len,
        "chrf": chrf.score,
        "sentence_bleu": sentence_bleu,
    }
    with open("tests/fixtures/sacrebleu.json", "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
