"""What every RLHF stage shares: the optimisation fields of its config, its step, its records.

Report §1.2.2-1: SFT, the reward model, PPO and DPO are three (four) trainings of one model
family, so they share one shape. Each stage is a config dataclass (subclassing ``StageConfig``:
the same names as ``TrainConfig`` for the same things) and a trainer whose ``train()`` returns
one record per optimizer step (PPO: per rollout):

    {"step": 1, "loss": 0.69, "lr": 2e-4, "time_s": 0.1, ...the stage's own figures}

The update itself is minillm/train/step.py's ``TrainStep``: AdamW with decay on matrices only,
warm-up + cosine to 10 %, gradient clipping, the defaults of GPT-3 (Brown et al. 2020, app. B).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from minillm.train.step import GRAD_CLIP, WEIGHT_DECAY, StepResult, TrainStep, make_optimizer
from minillm.utils.configs import check_fields

__all__ = ["RECORD_KEYS", "StageConfig", "Timer", "make_step", "record", "run_steps"]

RECORD_KEYS = ("step", "loss", "lr", "time_s")  # every record of every stage has these


@dataclass
class StageConfig:
    """Optimisation fields every stage has; a stage's config subclasses it and adds its own."""

    max_steps: int = 300
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = WEIGHT_DECAY
    grad_clip: float = GRAD_CLIP  # 0 disables clipping
    lr_schedule: str = "cosine"  # "cosine": warm-up + cosine to 10 % (train/step.py); "constant"
    seed: int = 0

    def __post_init__(self):
        check_fields(self)  # types first: a string for an int, inf or nan, is refused here
        for name in ("max_steps", "batch_size", "lr"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{type(self).__name__}: {name} must be positive, got {getattr(self, name)!r}")
        if self.lr_schedule not in ("cosine", "constant"):
            raise ValueError(f"lr_schedule must be 'cosine' or 'constant', got {self.lr_schedule!r}")
        if self.weight_decay < 0 or self.grad_clip < 0:
            raise ValueError(f"{type(self).__name__}: weight_decay and grad_clip must not be negative")


def make_step(
    model: nn.Module, config: StageConfig, lr: float | None = None, max_steps: int | None = None
) -> TrainStep:
    """AdamW + warm-up/cosine + clipping for ``model`` with the stage's settings (``lr``, ``max_steps``
    override the config's, e.g. for PPO's critic and its several updates per rollout)."""
    lr = config.lr if lr is None else lr
    optimizer = make_optimizer(model, lr, config.weight_decay)
    flat = {"warmup_steps": 0, "min_lr": lr} if config.lr_schedule == "constant" else {}
    max_steps = max_steps or config.max_steps
    return TrainStep(model, optimizer, lr=lr, max_steps=max_steps, grad_clip=config.grad_clip, **flat)


class Timer:
    """Seconds since ``train()`` began, for the records' ``time_s``."""

    def __init__(self):
        self.start = time.perf_counter()

    def __call__(self) -> float:
        return time.perf_counter() - self.start


def record(step: int, result: StepResult, time_s: float, **figures: float) -> dict:
    """One record: steps done so far (1-based, as ``Trainer``'s metrics), loss, lr, time, the stage's figures."""
    return {"step": step, "loss": result.loss.item(), "lr": result.lr, "time_s": time_s, **result.figures, **figures}


def run_steps(model: nn.Module, config: StageConfig, next_batch: Callable[[], Any], loss_fn: Callable) -> list[dict]:
    """``config.max_steps`` steps of ``loss_fn(next_batch())`` — the whole ``train()`` of SFT, the
    reward model and DPO; one record per step."""
    step, clock, records = make_step(model, config), Timer(), []
    model.train()
    for s in range(config.max_steps):
        records.append(record(s + 1, step(s, [next_batch()], loss_fn), clock()))
    return records
