#!/usr/bin/env python3
"""CTranslate2's side of `seq2seq bench`'s speech row: transcribe files with a faster-whisper
(CTranslate2) model, timed as `seq2seq transcribe --stats` times ours.

    python3 scripts/bench_whisper_ctranslate2.py --model DIR --beam 1 --batch 4 --threads 2 \
        [--language en] FILE...

Needs `ctranslate2` (4.8.5 measured) and numpy; the features are scripts/whisper_reference.py's
(whisper's log-mel in numpy, as faster-whisper computes its own in numpy). The clock starts
after the model is loaded and covers what ours covers: reading the audio, the features, and
`Whisper.generate` (float32, `intra_threads` = --threads) over the files' 30 s windows in
batches of --batch, taken in file order across files, with faster-whisper's decoding settings
(`whisper_reference.generate_settings`). Prints one JSON object: files, audio seconds, seconds,
peak resident memory (MiB, `ru_maxrss`), and each file's output ids (its windows' joined).
"""
import argparse
import json
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np  # noqa: E402
import whisper_reference as ref  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--beam", type=int, default=1)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--language")
    p.add_argument("files", nargs="+")
    args = p.parse_args()

    model = ref.load_whisper(args.model, args.threads)
    vocab = ref.Vocab(args.model)
    language = args.language or ("en" if model.is_multilingual else None)
    prompt = vocab.prompt(language) if language else vocab.prompt()
    settings = ref.generate_settings(args.beam)

    start = time.perf_counter()
    filters = ref.mel_filters(model.n_mels)
    windows, owner, audio_seconds = [], [], 0.0
    for k, path in enumerate(args.files):
        feats, _, audio = ref.features_for(path, model.n_mels, "whisper", filters)
        windows.extend(feats)
        owner.extend([k] * len(feats))
        audio_seconds += len(audio) / ref.SAMPLE_RATE
    outputs = [[] for _ in args.files]
    for i in range(0, len(windows), args.batch):
        batch = np.stack(windows[i: i + args.batch])
        results = model.generate(ref.storage(batch), [prompt] * len(batch), **settings)
        for j, r in enumerate(results):
            outputs[owner[i + j]].extend(r.sequences_ids[0])
    seconds = time.perf_counter() - start
    print(json.dumps(dict(
        engine="CTranslate2 " + ref.ct2().__version__,
        files=len(args.files), audio_seconds=round(audio_seconds, 3), seconds=round(seconds, 4),
        peak_mib=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
        outputs=[dict(path=f, ids=o) for f, o in zip(args.files, outputs)],
    )))


if __name__ == "__main__":
    main()
