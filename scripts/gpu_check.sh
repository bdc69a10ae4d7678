#!/usr/bin/env bash
# One command that tells us what a GPU machine does with seq2seq, in minutes.
#
#   scripts/gpu_check.sh [--quick] [--no-build]        (from the repository root)
#
# Results go to $OUT (default gpu-check/): one log per step, summary.txt and summary.json.
# Steps, each under its own time limit (the whole run fits in 8 minutes on a GPU machine with
# the binary prebuilt):
#   1 build     target/release/seq2seq with the wgpu backend (and cuda when SEQ2SEQ_CUDA=1),
#               built if missing (timed); --no-build fails at once when it is missing
#   2 devices   the adapters wgpu sees and the one it picks; nvidia-smi when present
#   3 parity    tests/backends.rs on the GPU when its test binary is built (not with --quick),
#               and always the CLI check: a PyTorch fixture imported and its logits compared
#   4 bench     `bench` on wgpu (unfused), then on wgpu-fusion (which may panic: recorded),
#               PyTorch on CUDA beside it when torch sees a GPU; plus a CUDA-backend bench
#               when the binary has one and a CUDA device answers
#   5 g2p       the G2P recipe's training step on real batches: target tokens/s, s per epoch
# On a machine without a GPU it still runs to the end: on a software adapter (lavapipe) the
# parity check and the small bench run, the fused bench and the G2P step are skipped, saying so
# (about 4 minutes); without any adapter every GPU step is skipped. --quick: the smallest
# versions everywhere (what CI runs).
set -uo pipefail
cd "$(dirname "$0")/.."
command -v python3 > /dev/null || { echo "gpu_check: needs python3 (for its JSON)" >&2; exit 2; }

QUICK=0
BUILD=1
for arg in "$@"; do
    case "$arg" in
        --quick) QUICK=1 ;;
        --no-build) BUILD=0 ;;
        -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
        *) echo "gpu_check: unknown argument $arg (see --help)" >&2; exit 2 ;;
    esac
done
OUT="${OUT:-gpu-check}"
mkdir -p "$OUT"
BIN=target/release/seq2seq
STARTED=$(date +%s)
SUMMARY="$OUT/summary.tsv"
: > "$SUMMARY"

say() { echo "== $*" | tee -a "$OUT/summary.txt"; }
: > "$OUT/summary.txt"

# record NAME STATUS SECONDS NOTE
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >> "$SUMMARY"; }

# step NAME LIMIT_S CMD...: run with a time limit, output to $OUT/NAME.log (and the terminal).
step() {
    local name=$1 limit=$2; shift 2
    local t0=$(date +%s) status
    echo "-- $name (limit ${limit}s): $*" | tee -a "$OUT/summary.txt"
    timeout --kill-after=10 "$limit" "$@" > >(tee "$OUT/$name.log") 2>&1
    local rc=$?
    local secs=$(( $(date +%s) - t0 ))
    case $rc in
        0) status=ok ;;
        124|137) status=timeout ;;
        101) status=panicked ;;
        *) status="failed (exit $rc)" ;;
    esac
    local note=""
    if [ "$status" = panicked ]; then
        note=$(grep -m1 -A1 "panicked at" "$OUT/$name.log" | tail -1 | cut -c1-200)
    fi
    record "$name" "$status" "$secs" "$note"
    echo "   $name: $status in ${secs}s${note:+: $note}" | tee -a "$OUT/summary.txt"
    return $rc
}

skip() { record "$1" skipped 0 "$2"; say "$1 skipped: $2"; }

# 1 build ---------------------------------------------------------------------------------
FEATURES=wgpu
if [ "${SEQ2SEQ_CUDA:-0}" = 1 ]; then FEATURES=wgpu,cuda; fi
has_wgpu() { [ -x "$BIN" ] && "$BIN" --version 2>/dev/null | grep -q wgpu; }
if has_wgpu; then
    record build ok 0 "prebuilt: $("$BIN" --version)"
    say "build: using the prebuilt $BIN ($("$BIN" --version))"
elif [ $BUILD = 0 ]; then
    echo "gpu_check: --no-build, and $BIN is missing or has no wgpu backend;" \
         "build it with: cargo build --release --features $FEATURES" >&2
    record build failed 0 "no wgpu binary (--no-build)"
    exit 2
else
    step build 3600 cargo build --release --features "$FEATURES" \
        || { echo "gpu_check: the build failed, see $OUT/build.log" >&2; exit 1; }
    say "build took $(cut -f3 < <(grep '^build' "$SUMMARY"))s"
fi
"$BIN" --version > "$OUT/version.txt"

# 2 devices -------------------------------------------------------------------------------
step devices 60 "$BIN" devices
"$BIN" devices --json > "$OUT/devices.json" 2>/dev/null
KIND=$(python3 - "$OUT/devices.json" <<'EOF'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except Exception:
    print("none"); sys.exit()
types = [a["device_type"] for a in (d.get("wgpu_adapters") or [])]
if not d.get("wgpu_default_adapter_ok"):
    print("none")
elif any(t in ("DiscreteGpu", "IntegratedGpu", "VirtualGpu") for t in types):
    print("gpu")
else:
    print("software")
EOF
)
KIND=${KIND:-none}
if command -v nvidia-smi > /dev/null; then
    step nvidia-smi 30 nvidia-smi
else
    skip nvidia-smi "nvidia-smi not found"
fi
TORCH_CUDA=0
if python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    TORCH_CUDA=1
fi
CUDA_BACKEND=0
if "$BIN" --help 2>/dev/null | grep -q "cuda"; then CUDA_BACKEND=1; fi
say "devices: wgpu adapter kind: $KIND; PyTorch CUDA: $TORCH_CUDA; cuda backend built in: $CUDA_BACKEND"
SMALL=$QUICK
if [ "$KIND" = software ]; then
    SMALL=1
    say "only a software adapter (e.g. lavapipe): the GPU steps run their smallest versions," \
        "and the fused bench and the G2P step are skipped (minutes of shader compilation and" \
        "software rasterising that say nothing about a GPU)"
fi

# Peak GPU memory from nvidia-smi while CMD runs: gpu_mem NAME CMD...
gpu_mem() {
    local name=$1; shift
    if command -v nvidia-smi > /dev/null; then
        nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 \
            > "$OUT/$name.gpumem" 2>/dev/null &
        local sampler=$!
        "$@"; local rc=$?
        kill $sampler 2>/dev/null; wait $sampler 2>/dev/null
        local peak=$(sort -n "$OUT/$name.gpumem" | tail -1)
        say "$name: peak GPU memory in use (whole GPU, nvidia-smi): ${peak:-?} MiB"
        return $rc
    fi
    "$@"
}

# 3 parity --------------------------------------------------------------------------------
if [ "$KIND" = none ]; then
    skip parity "no wgpu adapter"
else
    # The newest tests/backends.rs binary that has the wgpu tests in it.
    TESTBIN=""
    for candidate in $(ls -t target/release/deps/backends-* 2>/dev/null | grep -v '\.d$'); do
        if "$candidate" --list 2>/dev/null | grep -q wgpu; then TESTBIN=$candidate; break; fi
    done
    if [ -z "$TESTBIN" ]; then
        skip parity-tests "no tests/backends.rs binary with wgpu (cargo test --release --features wgpu --test backends --no-run)"
    elif [ $SMALL = 1 ]; then
        skip parity-tests "--quick or a software adapter (the binary is there: $TESTBIN)"
    else
        step parity-tests 240 "$TESTBIN" --test-threads 1
    fi
    step parity-cli 180 "$BIN" --backend wgpu import-pytorch \
        --weights tests/fixtures/seq2seq_post.weights.safetensors \
        --config tests/fixtures/seq2seq_post.json \
        --src-vocab tests/fixtures/seq2seq_post.src_vocab.txt \
        --tgt-vocab tests/fixtures/seq2seq_post.tgt_vocab.txt \
        --out "$OUT/parity-model" --check tests/fixtures/seq2seq_post.io.safetensors \
        --tolerance 1e-4
fi

# 4 bench ---------------------------------------------------------------------------------
BENCH=(bench --no-builtin --epoch-batches 0 --g2p-batches 0 --infer-words 0)
if [ $SMALL = 1 ]; then BENCH+=(--quick); fi
if [ $TORCH_CUDA = 1 ]; then TORCH=(--torch-device cuda); else TORCH=(--no-pytorch); fi
if [ "$KIND" = none ]; then
    skip bench-wgpu "no wgpu adapter"
    skip bench-wgpu-fusion "no wgpu adapter"
else
    gpu_mem bench-wgpu step bench-wgpu 240 "$BIN" --backend wgpu "${BENCH[@]}" "${TORCH[@]}" \
        --json "$OUT/bench-wgpu.json"
    if [ "$KIND" = software ]; then
        skip bench-wgpu-fusion "software adapter"
    else
        # burn-fusion may panic (tracel-ai/burn#4347): the step records it and goes on.
        gpu_mem bench-wgpu-fusion step bench-wgpu-fusion 150 "$BIN" --backend wgpu-fusion \
            "${BENCH[@]}" --no-pytorch --json "$OUT/bench-wgpu-fusion.json"
    fi
fi
if [ $CUDA_BACKEND = 1 ] && command -v nvidia-smi > /dev/null; then
    gpu_mem bench-cuda step bench-cuda 150 "$BIN" --backend cuda "${BENCH[@]}" --no-pytorch \
        --json "$OUT/bench-cuda.json"
else
    skip bench-cuda "no cuda backend in the binary or no NVIDIA driver"
fi

# 5 g2p -----------------------------------------------------------------------------------
if [ "$KIND" = none ]; then
    skip g2p "no wgpu adapter"
elif [ "$KIND" = software ]; then
    skip g2p "software adapter (one G2P batch takes over 5 minutes on lavapipe)"
else
    BATCHES=32
    if [ $SMALL = 1 ]; then BATCHES=2; fi
    gpu_mem g2p step g2p 180 "$BIN" --backend wgpu bench --g2p-only --g2p-batches $BATCHES \
        "${TORCH[@]}" --json "$OUT/g2p.json"
fi

# summary ---------------------------------------------------------------------------------
TOTAL=$(( $(date +%s) - STARTED ))
python3 - "$SUMMARY" "$OUT" "$TOTAL" "$KIND" <<'EOF'
import json, os, sys
summary, out, total, kind = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
steps = []
for line in open(summary):
    name, status, secs, note = (line.rstrip("\n").split("\t") + [""])[:4]
    steps.append({"step": name, "status": status, "seconds": int(secs), "note": note})
results = {}
for name in ("devices", "bench-wgpu", "bench-wgpu-fusion", "bench-cuda", "g2p"):
    path = os.path.join(out, name + ".json")
    try:
        results[name] = json.load(open(path))
    except Exception:
        pass
json.dump({"adapter_kind": kind, "total_seconds": total, "steps": steps, "results": results},
          open(os.path.join(out, "summary.json"), "w"), indent=2)
print(f"{'step':<20} {'status':<18} {'s':>5}  note")
for s in steps:
    print(f"{s['step']:<20} {s['status']:<18} {s['seconds']:>5}  {s['note']}")
skipped = [s["step"] for s in steps if s["status"] == "skipped"]
print(f"total {total} s; adapter: {kind}; skipped: {', '.join(skipped) or 'none'}")
# burn-fusion is allowed to fail (a known upstream bug); any other failure fails the check.
bad = [s["step"] for s in steps
       if s["status"] not in ("ok", "skipped") and s["step"] != "bench-wgpu-fusion"]
if bad:
    print(f"FAILED: {', '.join(bad)}")
    sys.exit(1)
EOF
RC=$?
echo "results in $OUT/ (summary.json, one .log per step)"
exit $RC
