"""A small, explicit language-model training loop: the examples' ten-line pre-training.

Report §1.2 (pre-training). Each step draws one batch and runs minillm/train/step.py's
``TrainStep`` (AdamW with decay on matrices only, warm-up + cosine, clipping), so the small loop
and ``Trainer`` share every default. Enough for the examples and experiments that train tiny
GPTs on a CPU in minutes; ``Trainer`` adds checkpoints, evaluation, DDP and autocast.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from torch import Tensor, nn

from minillm.train.step import BETAS, GRAD_CLIP, WEIGHT_DECAY, TrainStep, make_optimizer

__all__ = ["train_lm"]


def train_lm(
    model: nn.Module,
    get_batch: Callable[[], tuple[Tensor, Tensor]],
    steps: int,
    lr: float = 1e-3,
    warmup_steps: int | None = None,
    weight_decay: float = WEIGHT_DECAY,
    grad_clip: float = GRAD_CLIP,
    betas: tuple[float, float] = BETAS,
    log_every: int = 0,
    log: Callable[[str], None] = print,
) -> list[float]:
    """Run ``steps`` AdamW updates of ``model(x, targets) -> (logits, loss)``; return the losses.

    ``get_batch()`` returns (inputs, targets) of shape (B, T); targets of -100 are ignored.
    ``warmup_steps=None`` uses the default warm-up length (train/step.py: ``default_warmup``).
    """
    if steps <= 0:
        raise ValueError(f"steps must be positive, got {steps}")
    if log_every < 0:
        raise ValueError(f"log_every must not be negative, got {log_every}")
    optimizer = make_optimizer(model, lr, weight_decay, betas)
    step_fn = TrainStep(model, optimizer, lr=lr, max_steps=steps, warmup_steps=warmup_steps, grad_clip=grad_clip)
    losses: list[float] = []
    start = time.time()
    model.train()
    for step in range(steps):
        result = step_fn(step, [get_batch()], lambda xy: model(*xy)[1])
        losses.append(result.loss.item())
        if log_every and (step + 1) % log_every == 0:
            recent = sum(losses[-log_every:]) / log_every
            log(f"step {step + 1:5d}  loss {recent:.4f}  lr {result.lr:.2e}  ({time.time() - start:5.1f} s)")
    return losses
