#!/usr/bin/env python3
"""Draw docs/fashion-sweep.png from docs/fashion-sweep.jsonl (what scripts/fashion_sweep.sh
wrote): Fashion-MNIST test accuracy against the number of training images (log scale) for the
CNN, self-attention over 4x4 patches and self-attention over pixels, and training time.
Needs matplotlib (PyPI).
Run: python3 scripts/plot_fashion_sweep.py [docs/fashion-sweep.jsonl] [docs/fashion-sweep.png]
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

LABELS = {
    "cnn": "CNN (2 conv blocks)",
    "patch4": "self-attention, 4x4 patches as tokens",
    "pixels": "self-attention, pixels as tokens (14x14)",
}
COLOURS = {"cnn": "tab:orange", "patch4": "tab:blue", "pixels": "tab:green"}


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "docs/fashion-sweep.jsonl"
    out = sys.argv[2] if len(sys.argv) > 2 else "docs/fashion-sweep.png"
    runs = [json.loads(line) for line in open(src) if line.strip()]
    fig, (acc, time) = plt.subplots(1, 2, figsize=(11, 4.2))
    for model in LABELS:
        points = sorted((r for r in runs if r["model"] == model), key=lambda r: r["train_images"])
        if not points:
            continue
        xs = [r["train_images"] for r in points]
        params = points[0]["parameters"]
        label = f"{LABELS[model]}, {params / 1000:.0f}k parameters"
        acc.plot(xs, [r["test_accuracy"] for r in points], "o-", color=COLOURS[model], label=label)
        time.plot(xs, [r["seconds"] / 60 for r in points], "o-", color=COLOURS[model], label=label)
    for ax in (acc, time):
        ax.set_xscale("log")
        ax.set_xlabel("training images")
        ax.grid(True, which="both", alpha=0.3)
    acc.set_ylabel("test accuracy (%), 10,000 images")
    time.set_ylabel("training time (minutes, one core)")
    acc.legend(loc="lower right", fontsize=8)
    acc.set_title("Fashion-MNIST: accuracy against data")
    time.set_title("training time (fixed epochs per size)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
