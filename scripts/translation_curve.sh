#!/usr/bin/env bash
# BLEU and chrF against training epochs: every epoch checkpoint of a translation run (or the
# ones listed after the files), exported alone and scored greedily on a parallel test set.
#   scripts/translation_curve.sh RUN_DIR SRC TGT [EPOCH ...]
# e.g. scripts/translation_curve.sh /work/mt/runs/multi30k-en-de \
#        ../shared/data/multi30k/val.en ../shared/data/multi30k/val.de 2 4 6
# Prints one line per epoch: epoch, BLEU, chrF (sacreBLEU's defaults: the `eval` scorer).
set -euo pipefail
run=$1 src=$2 tgt=$3
shift 3
bin=${SEQ2SEQ:-target/release/seq2seq}
epochs=("$@")
if [ ${#epochs[@]} -eq 0 ]; then
    mapfile -t epochs < <(ls "$run/checkpoint" | sed -n 's/^model-\([0-9]*\)\.mpk$/\1/p' | sort -n)
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "epoch bleu chrf"
for epoch in "${epochs[@]}"; do
    "$bin" average --run "$run" --epochs "$epoch" --out "$tmp/model" > /dev/null 2>&1
    "$bin" eval --model "$tmp/model" --src "$src" --tgt "$tgt" --json "$tmp/report.json" > /dev/null 2>&1
    python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(sys.argv[2], round(r['bleu'],2), round(r['chrf'],2))" "$tmp/report.json" "$epoch"
done
