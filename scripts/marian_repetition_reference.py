#!/usr/bin/env python3
"""What transformers' `generate()` makes of the checked-in Marian fixture (tests/fixtures/marian,
made by scripts/marian_reference.py) with its repetition controls set: `repetition_penalty` and
`no_repeat_ngram_size`, greedy and `num_beams=4`, on the fixture's 100 sentences.

Writes tests/fixtures/marian/repetition.json: the versions, then per setting its generate()
arguments and the output ids (after the decoder start token, trailing `<pad>` removed, the final
`</s>` kept: the layout of reference.json's `greedy_ids`), and how many outputs differ from the
same search without the control (a control that changes nothing would test nothing).

Needs torch, transformers, sentencepiece (PyPI), not sacremoses. CPU, one thread, seconds.
Run: python3 scripts/marian_repetition_reference.py [FIXTURE_DIR]
"""
import json
import os
import sys

import torch
import transformers
from transformers import MarianMTModel, MarianTokenizer

SETTINGS = {
    "greedy_penalty": dict(num_beams=1, repetition_penalty=1.3),
    "greedy_ngram": dict(num_beams=1, no_repeat_ngram_size=2),
    "beam4_penalty": dict(num_beams=4, repetition_penalty=1.3),
    "beam4_ngram": dict(num_beams=4, no_repeat_ngram_size=2),
    "beam4_both": dict(num_beams=4, repetition_penalty=1.2, no_repeat_ngram_size=3),
}


def main():
    fixture = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/marian"
    torch.set_num_threads(1)
    with open(os.path.join(fixture, "reference.json"), encoding="utf-8") as f:
        reference = json.load(f)
    sentences = reference["sentences"]
    pad = reference["pad_id"]
    tok = MarianTokenizer.from_pretrained(fixture)
    model = MarianMTModel.from_pretrained(fixture).eval()
    enc = tok(sentences, padding=True, return_tensors="pt")

    def strip(rows):
        out = []
        for row in rows.tolist():
            ids = row[1:]  # the decoder start token
            while ids and ids[-1] == pad:
                ids.pop()
            out.append(ids)
        return out

    out = {
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "settings": {},
    }
    with torch.no_grad():
        for name, kwargs in SETTINGS.items():
            plain = strip(model.generate(**enc, do_sample=False, num_beams=kwargs["num_beams"]))
            ids = strip(model.generate(**enc, do_sample=False, **kwargs))
            changed = sum(a != b for a, b in zip(plain, ids))
            out["settings"][name] = {"generate": kwargs, "ids": ids, "changed": changed}
            print(f"{name}: {kwargs}, {changed}/{len(ids)} outputs changed by the control")
    with open(os.path.join(fixture, "repetition.json"), "w", encoding="utf-8") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
