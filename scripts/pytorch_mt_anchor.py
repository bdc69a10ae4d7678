#!/usr/bin/env python3
"""PyTorch anchor for the Multi30k recipe: the same data, vocabulary, model and schedule as
`examples/multi30k.json`, trained with plain `nn.Transformer`, val BLEU/chrF after every epoch.

The vocabulary is the one seq2seq learned (`tokenizer.json` of a run or model directory, read
with Hugging Face's `tokenizers` package, the library seq2seq uses), so both sides see the same
pieces and ids (0 <pad>, 1 <s>, 2 </s>, 3 <unk>). Like seq2seq: the source is its pieces, the
decoder reads <s> + target and predicts target + </s>; embeddings scaled by sqrt(d_model) plus
interleaved sinusoids; one embedding for both sides, the generator tied to it without a bias;
batches of at most BATCH_TOKENS padded positions on the longer side, sorted by target then
source length, shuffled in order each epoch; Adam (0.9, 0.98, 1e-9), Noam (factor 1, warmup),
label smoothing 0.1, gradient-norm clip 1.0. Greedy decoding re-runs the decoder on the prefix
(nn.Transformer has no cache); BLEU and chrF are sacreBLEU's defaults on detokenized text.

Hours count training steps only (evaluation is left out), so the curve is training time.

Run: python3 scripts/pytorch_mt_anchor.py --tokenizer RUN_DIR/tokenizer.json \
         --src train.en --tgt train.de --valid-src val.en --valid-tgt val.de \
         [--dropout 0.1] [--epochs 12] [--minutes M] [--eval-every 2] [--threads 2]
         [--out curve.jsonl]
Prints a line per epoch and appends it as JSON to --out.
"""
import argparse
import json
import math
import random
import time

import sacrebleu
import torch
from tokenizers import Tokenizer
from torch import nn

PAD, BEGIN, END = 0, 1, 2


def sinusoids(max_len, d):
    pe = torch.zeros(max_len, d)
    pos = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)
    div = torch.exp(torch.arange(0, d, 2, dtype=torch.float64) * (-math.log(10000.0) / d))
    pe[:, 0::2] = torch.sin(pos * div).float()
    pe[:, 1::2] = torch.cos(pos * div).float()
    return pe


class Model(nn.Module):
    def __init__(self, vocab, d, heads, layers, ff, dropout, max_len):
        super().__init__()
        self.d = d
        self.embed_tokens = nn.Embedding(vocab, d)
        self.transformer = nn.Transformer(d, heads, layers, layers, ff, dropout=dropout,
                                          activation="relu", batch_first=True, norm_first=False)
        self.drop = nn.Dropout(dropout)
        self.register_buffer("pe", sinusoids(max_len, d), persistent=False)
        nn.init.normal_(self.embed_tokens.weight, std=d ** -0.5)

    def embed(self, tokens):
        return self.drop(self.embed_tokens(tokens) * math.sqrt(self.d) + self.pe[: tokens.shape[1]])

    def encode(self, src):
        return self.transformer.encoder(self.embed(src), src_key_padding_mask=src == PAD)

    def decode(self, tgt_in, memory, src):
        t = tgt_in.shape[1]
        causal = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)
        hidden = self.transformer.decoder(self.embed(tgt_in), memory, tgt_mask=causal,
                                          tgt_key_padding_mask=tgt_in == PAD,
                                          memory_key_padding_mask=src == PAD)
        return hidden @ self.embed_tokens.weight.T  # tied generator, no bias


def read_pairs(tok, src_path, tgt_path, max_len):
    with open(src_path, encoding="utf-8") as f:
        src = [line.rstrip("\n") for line in f]
    with open(tgt_path, encoding="utf-8") as f:
        tgt = [line.rstrip("\n") for line in f]
    assert len(src) == len(tgt), f"{src_path}: {len(src)} lines, {tgt_path}: {len(tgt)}"
    pairs = []
    for s, t in zip(src, tgt):
        if not s.strip() or not t.strip():
            continue
        s_ids, t_ids = tok.encode(s.strip()).ids, tok.encode(t.strip()).ids
        if len(s_ids) <= max_len and len(t_ids) + 1 <= max_len:
            pairs.append((s_ids, t_ids, t.strip()))
    return pairs


def token_buckets(pairs, max_tokens):
    pairs = sorted(pairs, key=lambda p: (len(p[1]), len(p[0])))
    batches, current, width = [], [], 0
    for p in pairs:
        w = max(len(p[0]), len(p[1]) + 1)
        new_width = max(width, w)
        if current and (len(current) + 1) * new_width > max_tokens:
            batches.append(current)
            current, width = [], w
        else:
            width = new_width
        current.append(p)
    if current:
        batches.append(current)
    return batches


def padded(rows):
    width = max(len(r) for r in rows)
    return torch.tensor([r + [PAD] * (width - len(r)) for r in rows], dtype=torch.long)


@torch.no_grad()
def greedy(model, pairs, tok, max_len, batch=128):
    model.eval()
    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]))
    out = [None] * len(pairs)
    for start in range(0, len(order), batch):
        idx = order[start: start + batch]
        src = padded([pairs[i][0] for i in idx])
        memory = model.encode(src)
        ys = torch.full((len(idx), 1), BEGIN, dtype=torch.long)
        done = torch.zeros(len(idx), dtype=torch.bool)
        limit = min(max_len - 1, 2 * src.shape[1] + 10)
        for _ in range(limit):
            nxt = model.decode(ys, memory, src)[:, -1].argmax(-1)
            nxt = torch.where(done, torch.full_like(nxt, PAD), nxt)
            ys = torch.cat([ys, nxt.unsqueeze(1)], dim=1)
            done |= nxt == END
            if done.all():
                break
        for row, i in zip(ys.tolist(), idx):
            ids = []
            for t in row[1:]:
                if t in (END, PAD):
                    break
                ids.append(t)
            out[i] = tok.decode(ids, skip_special_tokens=True)
    model.train()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--src", required=True)
    ap.add_argument("--tgt", required=True)
    ap.add_argument("--valid-src", required=True)
    ap.add_argument("--valid-tgt", required=True)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--minutes", type=float, default=None, help="stop after this much training")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-tokens", type=int, default=4000)
    ap.add_argument("--warmup", type=int, default=800)
    ap.add_argument("--eval-every", type=int, default=2, help="score val every N epochs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    d, heads, layers, ff, max_len = 256, 4, 3, 1024, 128

    tok = Tokenizer.from_file(args.tokenizer)
    train = read_pairs(tok, args.src, args.tgt, max_len)
    valid = read_pairs(tok, args.valid_src, args.valid_tgt, max_len)
    batches = [
        (padded([p[0] for p in b]), padded([[BEGIN] + p[1] for p in b]),
         padded([p[1] + [END] for p in b]))
        for b in token_buckets(train, args.batch_tokens)
    ]
    n_tokens = sum(int((b[2] != PAD).sum()) for b in batches)
    print(f"{len(train)} training pairs, {len(batches)} batches, {n_tokens} target tokens an "
          f"epoch; {len(valid)} val pairs; torch {torch.__version__}, {args.threads} threads",
          flush=True)

    model = Model(tok.get_vocab_size(), d, heads, layers, ff, args.dropout, max_len)
    opt = torch.optim.Adam(model.parameters(), lr=1.0, betas=(0.9, 0.98), eps=1e-9)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: d ** -0.5 * min((s + 1) ** -0.5, (s + 1) * args.warmup ** -1.5))
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1, ignore_index=PAD)
    refs = [p[2] for p in valid]
    trained = 0.0
    model.train()
    for epoch in range(1, args.epochs + 1):
        random.shuffle(batches)
        start = time.perf_counter()
        for src, tgt_in, tgt_out in batches:
            opt.zero_grad(set_to_none=True)
            logits = model.decode(tgt_in, model.encode(src), src)
            loss = loss_fn(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1))
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
        trained += time.perf_counter() - start
        last = epoch == args.epochs or (args.minutes is not None and trained >= 60 * args.minutes)
        if epoch % args.eval_every != 0 and not last:
            print(f"epoch {epoch}: {trained:.0f} s of training", flush=True)
            continue
        hyps = greedy(model, valid, tok, max_len)
        row = {
            "epoch": epoch,
            "train_s": round(trained, 1),
            "hours": round(trained / 3600, 3),
            "target_tokens_per_s": round(n_tokens * epoch / trained),
            "loss": round(loss.item(), 4),
            "val_bleu": round(sacrebleu.corpus_bleu(hyps, [refs]).score, 2),
            "val_chrf": round(sacrebleu.corpus_chrf(hyps, [refs]).score, 2),
        }
        print(json.dumps(row), flush=True)
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps(row) + "\n")
        if last:
            break


if __name__ == "__main__":
    main()
