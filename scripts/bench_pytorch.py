#!/usr/bin/env python3
"""PyTorch side of `seq2seq bench`: the same model and shapes, timed the same way.

Reference config: vocab 64, d_model 256, 4 heads, 3+3 layers, FFN 1024, ReLU, dropout 0.1,
post-norm, batch 64, source and target length 24, Adam (eps 1e-9 like the Rust side).

Prints one JSON object on stdout:
  train_tokens_per_s  median over timed windows of target tokens per second (after warm-up)
  greedy_ms_b1        greedy decoding of 24 tokens at batch 1 (median of runs), re-running the
                      decoder on the whole prefix each step, as nn.Transformer users usually do
  greedy_ms_b64       the same at batch 64
  peak_rss_mb         peak resident memory of this process (ru_maxrss)

Run: python3 scripts/bench_pytorch.py [--threads N] [--windows N] [--steps N] [--quick]
"""
import argparse
import json
import math
import resource
import statistics
import time

import torch
from torch import nn


def sinusoids(max_len, d):
    pe = torch.zeros(max_len, d)
    pos = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)
    div = torch.exp(torch.arange(0, d, 2, dtype=torch.float64) * (-math.log(10000.0) / d))
    pe[:, 0::2] = torch.sin(pos * div).float()
    pe[:, 1::2] = torch.cos(pos * div).float()
    return pe


class Seq2Seq(nn.Module):
    def __init__(self, vocab, d, heads, layers, ff, dropout, max_len=64):
        super().__init__()
        self.d = d
        self.src_embed = nn.Embedding(vocab, d)
        self.tgt_embed = nn.Embedding(vocab, d)
        self.transformer = nn.Transformer(d, heads, layers, layers, ff, dropout=dropout,
                                          activation="relu", batch_first=True, norm_first=False)
        self.generator = nn.Linear(d, vocab)
        self.drop = nn.Dropout(dropout)
        self.register_buffer("pe", sinusoids(max_len, d), persistent=False)

    def embed(self, emb, tokens):
        return self.drop(emb(tokens) * math.sqrt(self.d) + self.pe[: tokens.shape[1]])

    def encode(self, src):
        return self.transformer.encoder(self.embed(self.src_embed, src))

    def decode(self, tgt, memory):
        t = tgt.shape[1]
        mask = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)
        return self.transformer.decoder(self.embed(self.tgt_embed, tgt), memory, tgt_mask=mask)

    def forward(self, src, tgt):
        return self.generator(self.decode(tgt, self.encode(src)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--windows", type=int, default=5)
    ap.add_argument("--steps", type=int, default=3, help="training steps per timed window")
    ap.add_argument("--quick", action="store_true", help="tiny model, for a smoke test")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    vocab, d, heads, layers, ff, batch, length = 64, 256, 4, 3, 1024, 64, 24
    if args.quick:
        d, heads, layers, ff, batch, length = 32, 2, 1, 64, 8, 8
    model = Seq2Seq(vocab, d, heads, layers, ff, 0.1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.98), eps=1e-9)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    src = torch.randint(4, vocab, (batch, length))
    tgt = torch.randint(4, vocab, (batch, length + 1))
    tgt_in, tgt_out = tgt[:, :-1], tgt[:, 1:]

    def step():
        opt.zero_grad(set_to_none=True)
        logits = model(src, tgt_in)
        loss = loss_fn(logits.reshape(-1, vocab), tgt_out.reshape(-1))
        loss.backward()
        opt.step()

    model.train()
    for _ in range(2):
        step()
    rates = []
    for _ in range(args.windows):
        start = time.perf_counter()
        for _ in range(args.steps):
            step()
        rates.append(batch * length * args.steps / (time.perf_counter() - start))

    model.eval()

    @torch.no_grad()
    def greedy(b):
        s = src[:b]
        memory = model.encode(s)
        out = torch.full((b, 1), 1, dtype=torch.long)
        for _ in range(length):
            logits = model.generator(model.decode(out, memory)[:, -1])
            out = torch.cat([out, logits.argmax(-1, keepdim=True)], dim=1)
        return out

    def median_ms(b, runs):
        greedy(b)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            greedy(b)
            times.append(1000 * (time.perf_counter() - start))
        return statistics.median(times)

    def matmul_gflops(m, k, n, runs):
        a, b = torch.rand(m, k), torch.rand(k, n)
        a @ b
        best = 0.0
        for _ in range(runs):
            start = time.perf_counter()
            a @ b
            best = max(best, 2 * m * k * n / (time.perf_counter() - start) / 1e9)
        return best

    result = {
        "torch": torch.__version__,
        "threads": args.threads,
        "train_tokens_per_s": statistics.median(rates),
        "greedy_ms_b1": median_ms(1, 5),
        "greedy_ms_b64": median_ms(batch, 3),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "sgemm_gflops": matmul_gflops(1024, 1024, 1024, 5),
        "ffn_matmul_gflops": matmul_gflops(batch * length, d, ff, 10),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
