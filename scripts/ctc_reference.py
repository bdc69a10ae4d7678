#!/usr/bin/env python3
"""PyTorch's CTC loss as a fixture for the non-autoregressive decoder (tests/suite/nonautoregressive.rs).

Writes tests/fixtures/ctc.io.safetensors:

  input.logits          [batch, time, vocab] float32 (our layout; PyTorch's ctc_loss takes
                        log_softmax over vocab, transposed to [time, batch, vocab])
  input.time_padding    [batch, time] int64, 1 = padding (our mask polarity: true = blocked)
  input.targets         [batch, max_target] int64, padded with 0 (the blank, PAD's id)
  input.target_lengths  [batch] int64
  output.loss           [batch] float32: F.ctc_loss(..., blank=0, reduction="none",
                        zero_infinity=True)
  output.grad           [batch, time, vocab] float32: d sum(loss) / d logits

The rows cover: targets with repeated symbols (an alignment needs a blank between them),
a padded input (shorter time than the batch's), a target that fills its time exactly, and a
target no alignment can reach (loss 0 with zero_infinity, gradient 0).

Run from the repository root: python3 scripts/ctc_reference.py  (needs torch, safetensors)
"""
import os

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO_ROOT, "tests", "fixtures", "ctc.io.safetensors")

torch.manual_seed(7)
BATCH, TIME, VOCAB = 4, 9, 6  # distinct sizes
logits = (torch.randn(BATCH, TIME, VOCAB) * 2.0).requires_grad_()
input_lengths = torch.tensor([9, 6, 9, 4], dtype=torch.int64)
targets = torch.tensor(
    [
        [3, 3, 4, 5, 0],  # a repeat: 3 _ 3 needs a blank between
        [2, 5, 2, 0, 0],  # padded input: 6 positions
        [1, 2, 1, 2, 3],  # 5 symbols in 9 positions
        [4, 4, 4, 0, 0],  # 3 repeats need 5 positions, only 4: unreachable
    ],
    dtype=torch.int64,
)
target_lengths = torch.tensor([4, 3, 5, 3], dtype=torch.int64)

log_probs = F.log_softmax(logits, dim=2).transpose(0, 1)  # [time, batch, vocab]
loss = F.ctc_loss(
    log_probs, targets, input_lengths, target_lengths,
    blank=0, reduction="none", zero_infinity=True,
)
loss.sum().backward()
time_padding = (torch.arange(TIME)[None, :] >= input_lengths[:, None]).to(torch.int64)

save_file(
    {
        "input.logits": logits.detach().contiguous(),
        "input.time_padding": time_padding.contiguous(),
        "input.targets": targets.contiguous(),
        "input.target_lengths": target_lengths.contiguous(),
        "output.loss": loss.detach().contiguous(),
        "output.grad": logits.grad.contiguous(),
    },
    OUT,
)
os.chmod(OUT, 0o644)
print(f"wrote {OUT}: losses {loss.detach().tolist()}")
