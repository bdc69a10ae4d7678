#!/usr/bin/env python3
"""A tiny random Whisper saved by Hugging Face transformers, and what transformers computes with it.

    python3 scripts/whisper_transformers_reference.py [--out tests/fixtures/whisper/transformers]

Needs `transformers` (5.25.0 made the checked-in fixture), `torch`, `numpy`, `safetensors`.
Reads tests/fixtures/whisper/ (made by scripts/whisper_reference.py): the small tokenizer of its
tiny random model (535 tokens, 3 languages), its suppressed tokens and the log-mel features of
3 s of jfk.wav (`features` in reference.safetensors).

Writes into --out:
  model/   what `WhisperForConditionalGeneration.save_pretrained` writes (config.json,
           generation_config.json, model.safetensors, float32) plus the tokenizer.json: the
           layout of `openai/whisper-*` on the Hugging Face hub.
  reference.json, reference.safetensors
           for each prompt (English transcription, Czech-to-English translation):
           `generate()`'s greedy and beam-5 tokens (transformers' own Whisper generation:
           suppress_tokens, begin_suppress_tokens, forced language and task, no timestamps),
           and beam 5 again with the suppressed tokens masked in the logits before the
           log-softmax (`beam5_masked_logits`: CTranslate2's order; transformers masks the
           log-probabilities after it, so its beam scores are not renormalised),
           and the logits of every step teacher-forced over the greedy output (before any
           suppression); the encoder output for the features.

The weights are random with larger scales than transformers' init (std 0.02 gives logits so
flat that float32 rounding would decide the argmax), and the decoder positions carry a ramp
toward <|endoftext|> so the random model stops by itself, as in whisper_reference.py.
"""
import argparse
import json
import os
import shutil

import numpy as np
import torch
from safetensors.numpy import load_file, save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CT2_FIXTURE = os.path.join(ROOT, "tests", "fixtures", "whisper")
SEED = 52
D, HEADS, FFN, LAYERS, MELS = 24, 2, 96, 2, 80
MAX_NEW = 40


def randomise(model, eot):
    g = torch.Generator().manual_seed(SEED)

    def normal(shape, std):
        return torch.randn(shape, generator=g, dtype=torch.float64).float() * std

    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("embed_positions.weight") and ".encoder." in name:
                continue  # the sinusoids transformers wrote
            if name.endswith("layer_norm.weight"):
                p.copy_(1.0 + normal(p.shape, 0.2))
            elif name.endswith(".bias"):
                p.copy_(normal(p.shape, 0.2))
            elif "conv" in name:
                p.copy_(normal(p.shape, 1.0 / np.sqrt(p.shape[1] * p.shape[2])))
            elif name.endswith("embed_tokens.weight"):
                p.copy_(normal(p.shape, 1.0))
            elif name.endswith("embed_positions.weight"):
                unit = model.model.decoder.embed_tokens.weight[eot]
                unit = unit / unit.norm()
                ramp = 0.2 * torch.arange(p.shape[0], dtype=torch.float32)[:, None] * unit[None, :]
                p.copy_(normal(p.shape, 3.0) + ramp)
            elif p.dim() == 2:
                p.copy_(normal(p.shape, 1.0 / np.sqrt(p.shape[1])))
            else:
                raise SystemExit(f"whisper_transformers_reference: no rule for {name} {tuple(p.shape)}")
        # A larger final gain spreads the logits (fewer near-ties for float32 comparisons).
        model.model.decoder.layer_norm.weight.mul_(3.0)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=os.path.join(CT2_FIXTURE, "transformers"))
    args = p.parse_args()
    import transformers
    from transformers import GenerationConfig, WhisperConfig, WhisperForConditionalGeneration

    tokenizer_path = os.path.join(CT2_FIXTURE, "tiny-random", "tokenizer.json")
    with open(tokenizer_path, encoding="utf-8") as f:
        tok = json.load(f)
    ids = {t["content"]: t["id"] for t in tok["added_tokens"]}
    with open(os.path.join(CT2_FIXTURE, "tiny-random", "config.json")) as f:
        ct2_cfg = json.load(f)
    with open(os.path.join(CT2_FIXTURE, "reference.json")) as f:
        vocab = json.load(f)["model"]["vocabulary_size"]  # text, specials and timestamps
    eot, sot = ids["<|endoftext|>"], ids["<|startoftranscript|>"]
    languages = ["en", "de", "cs"]

    config = WhisperConfig(
        vocab_size=vocab, num_mel_bins=MELS, d_model=D,
        encoder_layers=LAYERS, encoder_attention_heads=HEADS, encoder_ffn_dim=FFN,
        decoder_layers=LAYERS, decoder_attention_heads=HEADS, decoder_ffn_dim=FFN,
        max_source_positions=1500, max_target_positions=448,
        bos_token_id=eot, eos_token_id=eot, pad_token_id=eot, decoder_start_token_id=sot,
        activation_function="gelu", scale_embedding=False, tie_word_embeddings=True,
    )
    torch.manual_seed(SEED)
    model = WhisperForConditionalGeneration(config).eval()
    randomise(model, eot)
    gen = GenerationConfig(
        decoder_start_token_id=sot, bos_token_id=eot, eos_token_id=eot, pad_token_id=eot,
        max_length=448,
        suppress_tokens=ct2_cfg["suppress_ids"], begin_suppress_tokens=ct2_cfg["suppress_ids_begin"],
        is_multilingual=True,
        lang_to_id={f"<|{l}|>": ids[f"<|{l}|>"] for l in languages},
        task_to_id={"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]},
        no_timestamps_token_id=ids["<|notimestamps|>"],
        # generate() wants these for Whisper even without timestamps
        max_initial_timestamp_index=50, return_timestamps=False,
    )
    model.generation_config = gen
    model_dir = os.path.join(args.out, "model")
    if os.path.isdir(model_dir):
        shutil.rmtree(model_dir)
    model.save_pretrained(model_dir)
    shutil.copy(tokenizer_path, os.path.join(model_dir, "tokenizer.json"))

    # Everything below is computed by the saved-and-reloaded model, as a user would load it.
    model = WhisperForConditionalGeneration.from_pretrained(model_dir).eval()
    features = load_file(os.path.join(CT2_FIXTURE, "reference.safetensors"))["features"]
    x = torch.from_numpy(features)[None]
    tensors = {}
    with torch.no_grad():
        enc = model.model.encoder(x).last_hidden_state
    tensors["encoder_output"] = enc[0].numpy().astype(np.float32)
    runs = []
    for name, language, task in [("en", "en", "transcribe"), ("cs_translate", "cs", "translate")]:
        prompt = [sot, ids[f"<|{language}|>"], ids[f"<|{task}|>"], ids["<|notimestamps|>"]]
        run = dict(name=name, language=language, task=task, prompt=prompt)
        for beams in (1, 5):
            with torch.no_grad():
                out = model.generate(x, language=language, task=task, num_beams=beams, do_sample=False,
                                     max_new_tokens=MAX_NEW, return_timestamps=False)
            seq = out[0].tolist() if not isinstance(out, dict) else out["sequences"][0].tolist()
            # generate() returns the prompt too (transformers 5: without it); keep what follows it
            if seq[:len(prompt)] == prompt:
                seq = seq[len(prompt):]
            while seq and seq[-1] == eot:
                seq = seq[:-1]
            run[f"beam{beams}"] = seq
        # CTranslate2 (and this crate) mask suppressed tokens in the logits, before the
        # log-softmax; transformers' processors mask the log-probabilities after it. The same
        # generate() with the mask moved into the logits (a hook on the output layer):
        def premask(module, inputs, logits):
            logits = logits.clone()
            logits[..., ct2_cfg["suppress_ids"]] = -float("inf")
            if logits.shape[1] > 1:  # the step that reads the prompt
                logits[:, -1, ct2_cfg["suppress_ids_begin"]] = -float("inf")
            return logits

        hook = model.proj_out.register_forward_hook(premask)
        with torch.no_grad():
            out = model.generate(x, language=language, task=task, num_beams=5, do_sample=False,
                                 max_new_tokens=MAX_NEW, return_timestamps=False)
        hook.remove()
        seq = out[0].tolist()
        seq = seq[len(prompt):] if seq[:len(prompt)] == prompt else seq
        run["beam5_masked_logits"] = [t for t in seq if t != eot]
        greedy = run["beam1"]
        tokens = torch.tensor([prompt + greedy])
        with torch.no_grad():
            logits = model(input_features=x, decoder_input_ids=tokens).logits[0]
        # The greedy tokens are the argmax of these logits with the suppressed tokens masked
        # (begin_suppress_tokens at the first step too), and the step after them ends the text:
        # generate() stopped at <|endoftext|>, not at max_new_tokens.
        masked = logits[len(prompt) - 1:].clone()
        masked[:, ct2_cfg["suppress_ids"]] = -float("inf")
        masked[0, ct2_cfg["suppress_ids_begin"]] = -float("inf")
        assert masked.argmax(-1).tolist() == greedy + [eot], (masked.argmax(-1).tolist(), greedy)
        assert len(run["beam5"]) < MAX_NEW
        key = f"logits_{name}"
        tensors[key] = logits[len(prompt) - 1:].numpy().astype(np.float32)  # [greedy + 1, vocab]
        run["logits"] = key
        runs.append(run)
        print(name, "greedy", len(greedy), "tokens; beam 5", len(run["beam5"]), "tokens")
    ref = dict(
        about=f"scripts/whisper_transformers_reference.py: transformers {transformers.__version__}, "
              f"torch {torch.__version__}, float32, cpu",
        model=dict(d_model=D, heads=HEADS, ffn=FFN, encoder_layers=LAYERS, decoder_layers=LAYERS,
                   n_mels=MELS, vocabulary_size=vocab, seed=SEED, languages=languages),
        max_new_tokens=MAX_NEW,
        features="reference.safetensors `features` (3 s of jfk.wav)",
        runs=runs,
    )
    with open(os.path.join(args.out, "reference.json"), "w") as f:
        json.dump(ref, f, indent=1)
        f.write("\n")
    save_file(tensors, os.path.join(args.out, "reference.safetensors"))
    print("wrote", args.out)


if __name__ == "__main__":
    main()
