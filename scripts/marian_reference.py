#!/usr/bin/env python3
"""Reference for `seq2seq import-marian`: a small MarianMTModel in the opus-mt file layout, and
what transformers makes of it.

Builds, from the Multi30k En->De training files:
- two SentencePiece unigram models (`source.spm` on train.en, `target.spm` on train.de), with
  SentencePiece's default normalisation (nmt_nfkc, so the models carry a precompiled charsmap),
- a joint `vocab.json` in opus-mt's order (`</s>` 0, `<unk>` 1, the pieces of both models,
  `<pad>` last); a few source pieces are left out on purpose, so that the rule "a piece missing
  from vocab.json is <unk>" is exercised,
- a `MarianMTModel` (swish, post-norm, scaled embeddings, sinusoids in [sin | cos] halves, shared
  and tied embeddings), trained for a few hundred steps so that its outputs look like sentences
  and beam search differs from greedy, with a random `final_logits_bias` so that the bias counts,
and saves it as an opus-mt repository would hold it (config.json, model.safetensors,
generation_config.json, source.spm, target.spm, vocab.json, tokenizer_config.json) under OUT, and
beside it `reference.json` (every val.en and val.de line with MarianTokenizer's ids for it; greedy and
`num_beams=4` `generate()` outputs, ids and text, for the first 100 val.en sentences) and
`logits.safetensors` (teacher-forced logits of 3 sentences).

Needs: torch, transformers, sentencepiece (PyPI). Deterministic for a seed on one thread.
Run: python3 scripts/marian_reference.py --data ../shared/data/multi30k --out tests/fixtures/marian
"""
import argparse
import json
import os
import random
import shutil
import tempfile

import sentencepiece as spm
import torch
from safetensors.torch import save_file
from transformers import GenerationConfig, MarianConfig, MarianMTModel, MarianTokenizer


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]


def train_spm(text_path, prefix, vocab_size):
    spm.SentencePieceTrainer.train(
        input=text_path, model_prefix=prefix, vocab_size=vocab_size, model_type="unigram",
        character_coverage=1.0, num_threads=1, minloglevel=2,
    )
    return prefix + ".model"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data/multi30k")
    ap.add_argument("--out", default="tests/fixtures/marian")
    ap.add_argument("--vocab-size", type=int, default=1000, help="pieces per SentencePiece model")
    ap.add_argument("--d-model", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--sentences", type=int, default=100, help="val sentences to generate")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    random.seed(args.seed)

    src_train = read_lines(os.path.join(args.data, "train.en"))
    tgt_train = read_lines(os.path.join(args.data, "train.de"))
    src_val = read_lines(os.path.join(args.data, "val.en"))
    tgt_val = read_lines(os.path.join(args.data, "val.de"))
    os.makedirs(args.out, exist_ok=True)

    with tempfile.TemporaryDirectory() as tmp:
        source = train_spm(os.path.join(args.data, "train.en"), os.path.join(tmp, "source"),
                           args.vocab_size)
        target = train_spm(os.path.join(args.data, "train.de"), os.path.join(tmp, "target"),
                           args.vocab_size)
        shutil.copy(source, os.path.join(args.out, "source.spm"))
        shutil.copy(target, os.path.join(args.out, "target.spm"))

    sp_src = spm.SentencePieceProcessor(model_file=os.path.join(args.out, "source.spm"))
    sp_tgt = spm.SentencePieceProcessor(model_file=os.path.join(args.out, "target.spm"))
    special = {"<unk>", "<s>", "</s>"}
    pieces = []
    seen = set()
    for sp in (sp_src, sp_tgt):
        for i in range(sp.get_piece_size()):
            piece = sp.id_to_piece(i)
            if piece not in special and piece not in seen:
                seen.add(piece)
                pieces.append(piece)
    # Left out of vocab.json: the three source pieces with the lowest scores that the target
    # model does not have (so MarianTokenizer maps them to <unk> on the source side).
    target_pieces = {sp_tgt.id_to_piece(i) for i in range(sp_tgt.get_piece_size())}
    lowest = sorted(
        (sp_src.get_score(i), sp_src.id_to_piece(i))
        for i in range(sp_src.get_piece_size())
        if sp_src.id_to_piece(i) not in special and sp_src.id_to_piece(i) not in target_pieces
        and len(sp_src.id_to_piece(i)) > 1
    )[:3]
    left_out = {piece for _, piece in lowest}
    vocab = {"</s>": 0, "<unk>": 1}
    for piece in pieces:
        if piece not in left_out:
            vocab[piece] = len(vocab)
    pad = len(vocab)
    vocab["<pad>"] = pad
    with open(os.path.join(args.out, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False, indent=1)

    tok = MarianTokenizer(
        source_spm=os.path.join(args.out, "source.spm"),
        target_spm=os.path.join(args.out, "target.spm"),
        vocab=os.path.join(args.out, "vocab.json"),
        source_lang="en", target_lang="de",
    )
    tok.save_pretrained(args.out)

    d = args.d_model
    config = MarianConfig(
        vocab_size=len(vocab), decoder_vocab_size=len(vocab), d_model=d,
        encoder_layers=args.layers, decoder_layers=args.layers,
        encoder_attention_heads=4, decoder_attention_heads=4,
        encoder_ffn_dim=4 * d, decoder_ffn_dim=4 * d, activation_function="swish",
        max_position_embeddings=128, dropout=0.1, attention_dropout=0.0,
        activation_dropout=0.0, scale_embedding=True, pad_token_id=pad, eos_token_id=0,
        decoder_start_token_id=pad, forced_eos_token_id=0, bos_token_id=None,
        share_encoder_decoder_embeddings=True, tie_word_embeddings=True,
    )
    model = MarianMTModel(config)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, betas=(0.9, 0.98), weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / 200) * min(1.0, ((s + 1) / 200) ** -0.5))
    pairs = [(s, t) for s, t in zip(src_train, tgt_train) if s.strip() and t.strip()]
    model.train()
    for step in range(args.steps):
        batch = random.sample(pairs, args.batch)
        enc = tok([s for s, _ in batch], text_target=[t for _, t in batch], padding=True,
                  truncation=True, max_length=64, return_tensors="pt")
        enc["labels"][enc["labels"] == pad] = -100
        loss = model(**enc).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 100 == 0 or step == args.steps - 1:
            print(f"step {step} loss {loss.item():.3f}", flush=True)
    model.eval()
    with torch.no_grad():
        model.final_logits_bias.copy_(torch.randn(1, len(vocab)) * 0.1)
    model.generation_config = GenerationConfig(
        bad_words_ids=[[pad]], decoder_start_token_id=pad, eos_token_id=0,
        forced_eos_token_id=0, max_length=64, num_beams=4, pad_token_id=pad,
    )
    model.save_pretrained(args.out, safe_serialization=True)

    # What transformers does with it.
    sentences = src_val[: args.sentences]
    with torch.no_grad():
        enc = tok(sentences, padding=True, return_tensors="pt")
        greedy = model.generate(**enc, num_beams=1, do_sample=False)
        beam = model.generate(**enc, num_beams=4, do_sample=False)

    def strip(rows):
        out = []
        for row in rows.tolist():
            ids = row[1:]  # the decoder start token
            while ids and ids[-1] == pad:
                ids.pop()
            out.append(ids)
        return out

    reference = {
        "transformers": __import__("transformers").__version__,
        "sentencepiece": spm.__version__,
        "pad_id": pad,
        "left_out_pieces": sorted(left_out),
        "val_src": src_val,
        "val_tgt": tgt_val,
        "val_src_ids": [tok(s)["input_ids"] for s in src_val],
        "val_tgt_ids": [tok(text_target=t)["input_ids"] for t in tgt_val],
        "sentences": sentences,
        "greedy_ids": strip(greedy),
        "greedy_text": tok.batch_decode(greedy, skip_special_tokens=True),
        "beam4_ids": strip(beam),
        "beam4_text": tok.batch_decode(beam, skip_special_tokens=True),
    }
    with open(os.path.join(args.out, "reference.json"), "w", encoding="utf-8") as f:
        json.dump(reference, f, ensure_ascii=False)

    # Teacher-forced logits of three sentences (the decoder reads <pad> + target).
    three = list(range(3))
    enc = tok([src_val[i] for i in three], text_target=[tgt_val[i] for i in three],
              padding=True, return_tensors="pt")
    labels = enc.pop("labels")
    decoder_input_ids = torch.cat(
        [torch.full((3, 1), pad, dtype=torch.long), labels[:, :-1]], dim=1)
    with torch.no_grad():
        logits = model(**enc, decoder_input_ids=decoder_input_ids).logits
    save_file({
        "input_ids": enc["input_ids"].contiguous(),
        "attention_mask": enc["attention_mask"].contiguous(),
        "decoder_input_ids": decoder_input_ids.contiguous(),
        "logits": logits.contiguous(),
    }, os.path.join(args.out, "logits.safetensors"))
    same = sum(g == b for g, b in zip(reference["greedy_ids"], reference["beam4_ids"]))
    print(f"saved {args.out}: vocab {len(vocab)}, greedy == beam 4 on {same}/{len(sentences)}")
    for s, g, b in list(zip(sentences, reference["greedy_text"], reference["beam4_text"]))[:3]:
        print(f"  {s}\n    greedy: {g}\n    beam 4: {b}")


if __name__ == "__main__":
    main()
