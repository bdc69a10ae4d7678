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

With --g2p FILE (written by `seq2seq bench`): the G2P workload instead. FILE holds the model
sizes of the G2P recipe and real length-bucketed batches of the g014b2b training data (token
ids, no BEGIN/END); each batch is padded, masked (key padding on both sides, causal decoder) and
trained on exactly as the Rust side does, with label smoothing and PAD (0) ignored. Prints
  g2p_train_tokens_per_s  target tokens (END included, PAD excluded) per second over all timed
                          batches, after warm-up steps on the two longest ones

With --device cuda (or any torch device): everything runs there (torch.set_default_device),
timings synchronise the device first, and the JSON adds peak_device_mb
(torch.cuda.max_memory_allocated) and the device's name.

Run: python3 scripts/bench_pytorch.py [--threads N] [--windows N] [--steps N] [--quick]
         [--device cpu|cuda]
     python3 scripts/bench_pytorch.py --g2p FILE [--threads N] [--passes N] [--device D]
"""
import argparse
import json
import math
import resource
import statistics
import time

import torch
from torch import nn


def sync():
    """Wait for the device: GPU work is asynchronous, a timer must not stop before it ends."""
    if torch.cuda.is_available() and torch.get_default_device().type == "cuda":
        torch.cuda.synchronize()


def now():
    sync()
    return time.perf_counter()


def sinusoids(max_len, d):
    pe = torch.zeros(max_len, d)
    pos = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)
    div = torch.exp(torch.arange(0, d, 2, dtype=torch.float64) * (-math.log(10000.0) / d))
    pe[:, 0::2] = torch.sin(pos * div).float()
    pe[:, 1::2] = torch.cos(pos * div).float()
    return pe


class Seq2Seq(nn.Module):
    def __init__(self, vocab, d, heads, layers, ff, dropout, max_len=64, tgt_vocab=None,
                 dec_layers=None):
        super().__init__()
        self.d = d
        tgt_vocab = tgt_vocab or vocab
        self.src_embed = nn.Embedding(vocab, d)
        self.tgt_embed = nn.Embedding(tgt_vocab, d)
        self.transformer = nn.Transformer(d, heads, layers, dec_layers or layers, ff,
                                          dropout=dropout, activation="relu", batch_first=True,
                                          norm_first=False)
        self.generator = nn.Linear(d, tgt_vocab)
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


def g2p_workload(path, threads, passes):
    """Train steps on the real G2P batches of FILE; returns target tokens per second."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    with open(path) as f:
        spec = json.load(f)
    m = spec["model"]
    model = Seq2Seq(m["src_vocab"], m["d_model"], m["n_heads"], m["encoder_layers"], m["d_ff"],
                    m["dropout"], max_len=m["max_len"], tgt_vocab=m["tgt_vocab"],
                    dec_layers=m["decoder_layers"])
    # The translation workload: one embedding for both sides, the generator tied to it without
    # a bias, as in seq2seq's tied generator.
    if m.get("share_embeddings"):
        model.tgt_embed = model.src_embed
    if m.get("tie_generator"):
        model.generator = nn.Linear(m["d_model"], m["tgt_vocab"], bias=False)
        model.generator.weight = model.tgt_embed.weight
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.98), eps=1e-9)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=m["label_smoothing"], ignore_index=0)
    BEGIN, END, PAD = 1, 2, 0

    def padded(rows):
        width = max(len(r) for r in rows)
        return torch.tensor([r + [PAD] * (width - len(r)) for r in rows], dtype=torch.long)

    batches = []
    for b in spec["batches"]:
        src = padded(b["src"])
        tgt_in = padded([[BEGIN] + t for t in b["tgt"]])
        tgt_out = padded([t + [END] for t in b["tgt"]])
        batches.append((src, tgt_in, tgt_out, int((tgt_out != PAD).sum())))

    def step(src, tgt_in, tgt_out):
        opt.zero_grad(set_to_none=True)
        src_pad, tgt_pad = src == PAD, tgt_in == PAD
        t = tgt_in.shape[1]
        causal = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)
        memory = model.transformer.encoder(model.embed(model.src_embed, src),
                                           src_key_padding_mask=src_pad)
        hidden = model.transformer.decoder(model.embed(model.tgt_embed, tgt_in), memory,
                                           tgt_mask=causal, tgt_key_padding_mask=tgt_pad,
                                           memory_key_padding_mask=src_pad)
        logits = model.generator(hidden)
        loss = loss_fn(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1))
        loss.backward()
        opt.step()

    model.train()
    for src, tgt_in, tgt_out, _ in sorted(batches, key=lambda b: -b[1].numel())[:2]:
        step(src, tgt_in, tgt_out)
    tokens, seconds = 0, 0.0
    for _ in range(passes):
        for src, tgt_in, tgt_out, n in batches:
            start = now()
            step(src, tgt_in, tgt_out)
            seconds += now() - start
            tokens += n
    return tokens / seconds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--g2p", help="time the G2P workload written by `seq2seq bench`")
    ap.add_argument("--passes", type=int, default=1, help="passes over the G2P batches")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--windows", type=int, default=5)
    ap.add_argument("--steps", type=int, default=3, help="training steps per timed window")
    ap.add_argument("--quick", action="store_true", help="tiny model, for a smoke test")
    ap.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1, mps, ...")
    args = ap.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"--device {args.device}: torch.cuda.is_available() is False")
    torch.set_default_device(device)
    info = {"torch": torch.__version__, "threads": args.threads, "device": str(device)}
    if device.type == "cuda":
        info["device_name"] = torch.cuda.get_device_name(device)

    def device_memory():
        if device.type == "cuda":
            return {"peak_device_mb": torch.cuda.max_memory_allocated(device) / 2**20}
        return {}

    if args.g2p:
        rate = g2p_workload(args.g2p, args.threads, args.passes)
        print(json.dumps({**info, "g2p_train_tokens_per_s": rate, **device_memory()}))
        return
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
        start = now()
        for _ in range(args.steps):
            step()
        rates.append(batch * length * args.steps / (now() - start))

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
            start = now()
            greedy(b)
            times.append(1000 * (now() - start))
        return statistics.median(times)

    def matmul_gflops(m, k, n, runs):
        a, b = torch.rand(m, k), torch.rand(k, n)
        a @ b
        best = 0.0
        for _ in range(runs):
            start = now()
            a @ b
            best = max(best, 2 * m * k * n / (now() - start) / 1e9)
        return best

    result = {
        **info,
        "train_tokens_per_s": statistics.median(rates),
        "greedy_ms_b1": median_ms(1, 5),
        "greedy_ms_b64": median_ms(batch, 3),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "sgemm_gflops": matmul_gflops(1024, 1024, 1024, 5),
        "ffn_matmul_gflops": matmul_gflops(batch * length, d, ff, 10),
        **device_memory(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
