#!/usr/bin/env bash
# The comparison of docs/vision.md: the CNN, self-attention over 4x4 patches and self-attention
# over pixels (14x14 images) against the number of training images on Fashion-MNIST.
# Each run trains with fixed settings (no choice made on test), is scored on the 5,000-image
# dev split and once on the 10,000 test images, and appends one JSON line to $OUT/results.jsonl.
# A finished run (report.json present) is skipped; an interrupted one is resumed.
#
#   scripts/fashion_sweep.sh [SIZES...]        (default: 1000 5000 20000 55000)
#
# Environment: BIN (default target/release/seq2seq), OUT (default models/fashion-sweep),
# THREADS (default 1: one core per run; pin with taskset), MODELS (default "cnn patch4 pixels"),
# PIXELS_MAX (default 5000: pixels as tokens cost about 6x patches, so larger sets are skipped).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/seq2seq}
OUT=${OUT:-models/fashion-sweep}
THREADS=${THREADS:-1}
MODELS=${MODELS:-cnn patch4 pixels}
PIXELS_MAX=${PIXELS_MAX:-5000}
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(1000 5000 20000 55000)
mkdir -p "$OUT"

# Epochs per training-set size: small sets get more passes (each run about 400-3,500 steps of
# 128 images).
epochs_for() {
    case $1 in
        1000) echo 50 ;;
        5000) echo 30 ;;
        20000) echo 12 ;;
        *) echo 8 ;;
    esac
}

for n in "${SIZES[@]}"; do
    for model in $MODELS; do
        case $model in
            cnn) flags=(--model cnn) ;;
            patch4) flags=(--model transformer --patch 4) ;;
            pixels)
                if [ "$n" -gt "$PIXELS_MAX" ]; then
                    echo "skip pixels at $n images (PIXELS_MAX=$PIXELS_MAX)"
                    continue
                fi
                flags=(--model transformer --patch 1 --downsample 2) ;;
            *) echo "unknown model $model" >&2; exit 2 ;;
        esac
        dir=$OUT/$model-$n
        if [ -e "$dir/report.json" ]; then
            echo "done already: $dir"
            continue
        fi
        # Checkpoints of an interrupted run are in <parent of --out>/runs/<name>.
        resume=()
        if compgen -G "$OUT/runs/$model-$n/checkpoint/*" > /dev/null; then
            resume=(--resume)
        fi
        epochs=$(epochs_for "$n")
        echo "== $model, $n images, $epochs epochs ($(date -u +%H:%M:%S))"
        "$BIN" image train "${flags[@]}" --threads "$THREADS" --train-images "$n" \
            --epochs "$epochs" --plain --out "$dir" "${resume[@]}" > "$dir.log" 2>&1 \
            || { echo "failed: see $dir.log" >&2; exit 1; }
        test_line=$("$BIN" image eval --model "$dir" --split test | head -1)
        echo "$test_line"
        python3 - "$dir" "$model" "$test_line" >> "$OUT/results.jsonl" <<'EOF'
import json, re, sys
d, model, test_line = sys.argv[1:]
r = json.load(open(f"{d}/report.json"))
dev = r["dev"]
test = float(re.search(r"accuracy ([0-9.]+)%", test_line).group(1))
print(json.dumps({
    "model": model, "train_images": r["train_images"], "epochs": r["epochs"],
    "parameters": r["parameters"], "seconds": round(r["seconds"], 1),
    "dev_accuracy": round(100.0 * dev["correct"] / dev["items"], 2),
    "test_accuracy": test,
}))
EOF
    done
done
