"""A small, explicit language-model training loop (AdamW, warm-up + cosine, clipping).

Enough for the examples and experiments that train tiny GPTs on a CPU in minutes.
"""

from __future__ import annotations

import time
from typing import Callable

import torch
from torch import Tensor, nn

from minillm.train.schedule import cosine_lr

__all__ = ["train_lm"]


def train_lm(
    model: nn.Module,
    get_batch: Callable[[], tuple[Tensor, Tensor]],
    steps: int,
    lr: float = 1e-3,
    warmup_steps: int | None = None,
    weight_decay: float = 0.1,
    grad_clip: float = 1.0,
    log_every: int = 0,
    log: Callable[[str], None] = print,
) -> list[float]:
    """Run ``steps`` AdamW updates of ``model(x, targets) -> (logits, loss)``; return the losses.

    ``get_batch()`` returns (inputs, targets) of shape (B, T); targets of -100 are ignored.
    Weight decay applies to parameters with ≥ 2 dimensions (weight matrices and embeddings), not
    to biases or LayerNorm gains, as in GPT-2/nanoGPT practice.
    """
    if steps <= 0:
        raise ValueError(f"steps must be positive, got {steps}")
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=lr,
        betas=(0.9, 0.99),
    )
    warmup = max(1, steps // 20) if warmup_steps is None else warmup_steps
    losses: list[float] = []
    start = time.time()
    model.train()
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = cosine_lr(step, lr, steps, warmup, min_lr=lr / 10)
        x, y = get_batch()
        _, loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip:
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        opt.step()
        losses.append(loss.item())
        if log_every and (step + 1) % log_every == 0:
            recent = sum(losses[-log_every:]) / log_every
            log(f"step {step + 1:5d}  loss {recent:.4f}  ({time.time() - start:5.1f} s)")
    return losses
