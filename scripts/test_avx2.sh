#!/usr/bin/env bash
# The suite's comparisons against PyTorch, transformers and CTranslate2 (and the flex kernels'
# own checks) on the AVX2 code paths, on any x86-64 machine, AVX-512 ones included.
#
# The CPU kernels (gemm's matmuls on flex, macerator's element-wise loops on both backends)
# pick AVX-512 or AVX2 at run time from CPUID, and the two sum in different orders, so a
# tolerance checked on one kind of machine only is not checked. valgrind's virtual CPU reports
# AVX2 and FMA but no AVX-512 (a Zen 3's profile), so the same release binaries run the AVX2
# kernels under it; `backends::simd_level` checks that first. About 50x slower than native:
# only the reference comparisons run here (the whole suite runs natively in CI).
#
# Usage: scripts/test_avx2.sh [extra test-name filters]   (needs valgrind: apt-get install valgrind)
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v valgrind >/dev/null; then
    echo "error: scripts/test_avx2.sh needs valgrind (Debian: apt-get install valgrind)" >&2
    exit 2
fi
case "$(uname -m)" in
    x86_64) ;;
    *) echo "scripts/test_avx2.sh: not an x86-64 machine, nothing to do"; exit 0 ;;
esac
# Build (or find) the release test binaries exactly as `cargo test --release` does.
executables=$(cargo test --release --no-run 2>&1 | sed -n 's/.*Executable .*(\(.*\))$/\1/p')
binary() { echo "$executables" | grep "/deps/$1-" | head -n 1; }
suite=$(binary suite)
backends=$(binary backends)
if [ -z "$suite" ] || [ -z "$backends" ]; then
    echo "error: could not find the suite and backends test binaries" >&2
    exit 1
fi
run() {
    echo "== valgrind $(basename "$1") $*" | sed 's/ [^ ]*deps\/[^ ]*//'
    SEQ2SEQ_EXPECT_SIMD=avx2 valgrind --quiet --error-exitcode=99 "$@" --test-threads=1
}
run "$backends" simd_level
run "$backends" pytorch_fixtures_pass_on_flex log_softmax_on_flex exp_on_flex
run "$suite" pytorch_parity nonautoregressive::ctc_loss marian::teacher_forced marian::greedy \
    marian::beam_search speech::log_mel speech::encoder_output speech::every_steps \
    speech::greedy_outputs speech::beam_outputs "$@"
echo "AVX2 path: all passed"
