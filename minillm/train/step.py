"""One optimizer step, written once: every trainer in minillm runs its updates through this file.

Report §1.2 (pre-training) and §1.2.2 (the RLHF stages use the same step). One step is

    for each of n micro-batches:               loss_i = loss_fn(batch_i)        (under autocast)
        backward(loss_i / n)                   # gradients add up to the mean over the whole batch
    ‖g‖ = clip_grad_norm(g, grad_clip)         # rescale g when its norm exceeds grad_clip
    lr = warm-up + cosine(step)                # minillm/train/schedule.py: cosine_lr
    AdamW step, weight decay on matrices only  # not on biases or norm gains

The defaults are GPT-3's (Brown et al. 2020, appendix B): Adam β = (0.9, 0.95), weight decay 0.1,
gradient clipping at 1.0, linear warm-up then cosine decay to 10 % of the peak learning rate.
``Trainer`` (train/trainer.py), ``train_lm`` (train/loop.py), the RLHF trainers (rlhf/) and the
examples import them from here, so a default changes in one place.

Docs: docs/training.md ("One training step").
"""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from minillm.train.schedule import cosine_lr

__all__ = [
    "BETAS",
    "GRAD_CLIP",
    "MIN_LR_RATIO",
    "WARMUP_FRACTION",
    "WEIGHT_DECAY",
    "StepResult",
    "TrainStep",
    "autocast",
    "clip_grad_norm",
    "default_warmup",
    "is_dtensor",
    "lr_at",
    "make_optimizer",
    "param_groups",
]

# --8<-- [start:defaults]
BETAS = (0.9, 0.95)  # Adam (β1, β2); β2 = 0.95 rather than 0.999 steadies large-batch LM training
WEIGHT_DECAY = 0.1  # decoupled (AdamW) decay, on weight matrices and embeddings only
GRAD_CLIP = 1.0  # max global gradient norm; 0 disables clipping
FUSED_ADAMW_ON_CPU = tuple(int(v) for v in torch.__version__.split(".")[:2]) >= (2, 4)  # torch 2.4 added it
MIN_LR_RATIO = 0.1  # the cosine ends at 10 % of the peak learning rate
WARMUP_FRACTION = 0.05  # linear warm-up over the first 5 % of the steps (at least one)
# --8<-- [end:defaults]


def default_warmup(max_steps: int) -> int:
    """Warm-up length used when none is given: ``WARMUP_FRACTION`` of the run, at least one step."""
    if max_steps <= 0:
        raise ValueError(f"max_steps must be positive, got {max_steps}")
    return max(1, int(max_steps * WARMUP_FRACTION))


def lr_at(step: int, lr: float, max_steps: int, warmup_steps: int | None = None, min_lr: float | None = None) -> float:
    """The learning rate of ``step`` (0-based) with the defaults above filled in (``cosine_lr`` is the formula)."""
    warmup = default_warmup(max_steps) if warmup_steps is None else warmup_steps
    floor = lr * MIN_LR_RATIO if min_lr is None else min_lr
    return cosine_lr(step, lr, max_steps, warmup, floor)


# --8<-- [start:optimizer]
def param_groups(model: nn.Module, weight_decay: float = WEIGHT_DECAY) -> list[dict]:
    """Two AdamW groups: decay on tensors with ≥ 2 dimensions (weight matrices, embeddings), none on
    biases and norm gains (decaying a gain towards 0 would fight the normalisation it scales)."""
    params = [p for p in model.parameters() if p.requires_grad]
    return [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]


def make_optimizer(
    model: nn.Module,
    lr: float,
    weight_decay: float = WEIGHT_DECAY,
    betas: tuple[float, float] = BETAS,
    device_type: str = "cpu",
) -> torch.optim.AdamW:
    """AdamW over ``param_groups(model)``; fused (one kernel for all tensors) on CUDA and, from torch
    2.4, on CPU, where it is ~5x faster than the per-tensor loop (benchmarks/README.md)."""
    if not (lr > 0 and math.isfinite(lr)):  # inf or nan would train to NaN and save NaN checkpoints
        raise ValueError(f"lr must be a positive finite number, got {lr}")
    if not (weight_decay >= 0 and math.isfinite(weight_decay)):
        raise ValueError(f"weight_decay must be a finite number >= 0, got {weight_decay}")
    if not all(0 <= b < 1 for b in betas):  # also refuses nan (every comparison with nan is False)
        raise ValueError(f"Adam betas must be in [0, 1), got {betas}")
    groups = param_groups(model, weight_decay)
    if not any(g["params"] for g in groups):
        raise ValueError(f"{type(model).__name__} has no trainable parameters")
    fused = device_type == "cuda" or (device_type == "cpu" and FUSED_ADAMW_ON_CPU)
    return torch.optim.AdamW(groups, lr=lr, betas=betas, fused=fused)


# --8<-- [end:optimizer]


def autocast(device_type: str, dtype: torch.dtype | None):
    """``torch.autocast`` for a low-precision ``dtype``; a no-op context for ``None`` (full precision)."""
    return contextlib.nullcontext() if dtype is None else torch.autocast(device_type, dtype=dtype)


def is_dtensor(t) -> bool:
    """Whether ``t`` is a sharded DTensor (minillm/train/parallel.py). None can exist before
    torch.distributed.tensor is imported, so a run that never shards never pays for that import."""
    module = sys.modules.get("torch.distributed.tensor")
    return module is not None and isinstance(t, module.DTensor)


def clip_grad_norm(params: list[nn.Parameter], max_norm: float) -> Tensor:
    """Scale the gradients so their global norm is at most ``max_norm`` (0: only measure); returns
    the norm before clipping. A sharded gradient (a DTensor, minillm/train/parallel.py) counts whole:
    its shards' squares are summed across the ranks."""
    grads = [p.grad for p in params if p.grad is not None]
    if not any(is_dtensor(g) for g in grads):
        return nn.utils.clip_grad_norm_(params, max_norm) if max_norm else nn.utils.get_total_norm(grads)
    norms = [torch.linalg.vector_norm(g) for g in grads]
    total = torch.linalg.vector_norm(torch.stack([n.full_tensor() if is_dtensor(n) else n for n in norms]))
    if max_norm:
        coef = torch.clamp(max_norm / (total + 1e-6), max=1.0).item()  # clip_grad_norm_'s rule
        for g in grads:
            g.mul_(coef)
    return total


@dataclass
class StepResult:
    """What one step reports. ``loss`` and ``grad_norm`` are tensors on the device (reading them syncs)."""

    loss: Tensor  # mean loss over the micro-batches (this process's)
    grad_norm: Tensor  # global gradient norm before clipping
    lr: float  # the learning rate the step used
    figures: dict[str, float] = field(default_factory=dict)  # the loss function's extra figures, averaged


class TrainStep:
    """Runs one optimizer step of ``optimizer`` over ``model``'s parameters; see the module docstring.

    ``loss_fn(micro_batch)`` returns the loss, or ``(loss, figures)`` with a dict of extra scalars
    (accuracy, KL, ...) that the step averages over the micro-batches. ``ddp``: the
    DistributedDataParallel wrapper, whose all-reduce is skipped until the last micro-batch.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        *,
        lr: float,
        max_steps: int,
        warmup_steps: int | None = None,
        min_lr: float | None = None,
        grad_clip: float = GRAD_CLIP,
        grad_accum: int = 1,
        autocast_dtype: torch.dtype | None = None,
        device_type: str = "cpu",
        ddp: nn.parallel.DistributedDataParallel | None = None,
    ):
        if not (grad_clip >= 0 and math.isfinite(grad_clip)):
            raise ValueError(f"grad_clip must be a finite number >= 0 (0 disables clipping), got {grad_clip}")
        if not (lr > 0 and math.isfinite(lr)):
            raise ValueError(f"lr must be a positive finite number, got {lr}")
        if grad_accum <= 0:
            raise ValueError(f"grad_accum must be positive, got {grad_accum}")
        self.lr, self.max_steps = lr, max_steps
        self.warmup_steps = default_warmup(max_steps) if warmup_steps is None else warmup_steps
        self.min_lr = lr * MIN_LR_RATIO if min_lr is None else min_lr
        lr_at(0, lr, max_steps, self.warmup_steps, self.min_lr)  # bad schedule arguments: error now
        self.model, self.optimizer, self.ddp = model, optimizer, ddp
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.grad_clip, self.grad_accum = grad_clip, grad_accum
        self.autocast_dtype, self.device_type = autocast_dtype, device_type

    def lr_at(self, step: int) -> float:
        return cosine_lr(step, self.lr, self.max_steps, self.warmup_steps, self.min_lr)

    # --8<-- [start:step]
    def __call__(self, step: int, micro_batches: Iterable[Any], loss_fn: Callable[[Any], Any]) -> StepResult:
        """Step number ``step`` (0-based) over exactly ``grad_accum`` micro-batches."""
        n = self.grad_accum
        if hasattr(micro_batches, "__len__") and len(micro_batches) != n:
            raise ValueError(f"got {len(micro_batches)} micro-batches, expected grad_accum={n}")
        self.optimizer.zero_grad(set_to_none=True)
        total, figures, count = None, {}, 0
        for i, batch in enumerate(micro_batches):
            if i >= n:
                raise ValueError(f"got more than grad_accum={n} micro-batches")
            last = i == n - 1
            skip_sync = self.ddp is not None and not last
            with self.ddp.no_sync() if skip_sync else contextlib.nullcontext():  # DDP: all-reduce once, at the end
                with autocast(self.device_type, self.autocast_dtype):
                    out = loss_fn(batch)
                loss, extra = out if isinstance(out, tuple) else (out, {})
                (loss / n).backward()  # the gradients of the mean loss over all n micro-batches
            total = loss.detach() / n if total is None else total + loss.detach() / n
            for k, v in extra.items():
                figures[k] = figures.get(k, 0.0) + float(v) / n
            count += 1
        if count != n:
            raise ValueError(f"got {count} micro-batches, expected grad_accum={n}")
        grad_norm = clip_grad_norm(self.params, self.grad_clip)
        lr = self.lr_at(step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)  # free the gradients between steps
        return StepResult(total, grad_norm, lr, figures)

    # --8<-- [end:step]
