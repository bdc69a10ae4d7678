#!/usr/bin/env python3
"""Draw docs/translation-curve.png from docs/translation-curve.json: val BLEU of the Multi30k
recipe against training hours (left) and epochs (right), ours beside the PyTorch anchor.

The JSON holds the measured points: {"ours": [{"epoch", "hours", "bleu", "kind"}...],
"anchor": [{"epoch", "hours", "bleu"}...], "notes": "..."}; "kind" is "single" (one epoch's
checkpoint) or "average" (the average of the last 5, the shipped model's kind).
Needs matplotlib (PyPI).
Run: python3 scripts/plot_translation_curve.py [docs/translation-curve.json] [docs/translation-curve.png]
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "docs/translation-curve.json"
    out = sys.argv[2] if len(sys.argv) > 2 else "docs/translation-curve.png"
    with open(src) as f:
        data = json.load(f)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, x in zip(axes, ["hours", "epoch"]):
        single = [p for p in data["ours"] if p["kind"] == "single"]
        average = [p for p in data["ours"] if p["kind"] == "average"]
        ax.plot([p[x] for p in single], [p["bleu"] for p in single], "o-", color="tab:blue",
                label="seq2seq (Burn), one epoch's checkpoint")
        ax.plot([p[x] for p in average], [p["bleu"] for p in average], "*", color="tab:blue",
                markersize=12, label="seq2seq, average of the last 5 (shipped)")
        ax.plot([p[x] for p in data["anchor"]], [p["bleu"] for p in data["anchor"]], "s--",
                color="tab:orange", label="PyTorch nn.Transformer anchor")
        ax.set_xlabel("training hours (2-core AMD EPYC)" if x == "hours" else "epochs")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("val BLEU, greedy (sacreBLEU)")
    axes[0].legend(loc="lower right", fontsize=8)
    fig.suptitle("Multi30k En->De, examples/multi30k.json against the PyTorch anchor")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
