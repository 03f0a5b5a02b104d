"""``TrainConfig``: every hyper-parameter of a pre-training run, in one validated dataclass.

Report §1.2 (pre-training). The model is *composed*, not copied: ``TrainConfig.model`` is the
``GPTConfig`` the run builds (its ``vocab_size`` comes from the data and is filled in by the
``Trainer``). On the command line and in ``--config`` JSON files every field, the model's included,
has one flat name: ``minillm train --n-layer 6 --activation swiglu --no-bias`` or
``{"n_layer": 6, "lr": 3e-4}`` (``minillm.utils.configs`` holds those rules; an explicit flag beats the file).
The optimizer defaults are ``minillm/train/step.py``'s (GPT-3, Brown et al. 2020, appendix B: AdamW
β = (0.9, 0.95), weight decay 0.1, clipping at 1.0, linear warm-up over 5 % of the run, cosine decay
to 10 % of the peak rate); ``warmup_steps`` and ``min_lr`` left at ``None`` are filled in from them.

Docs: docs/training.md.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from minillm.models.gpt import GPTConfig
from minillm.train.parallel import PARALLEL_MODES
from minillm.train.step import BETAS, GRAD_CLIP, MIN_LR_RATIO, WEIGHT_DECAY, default_warmup
from minillm.utils.configs import add_config_arguments, check_fields, config_from_args, from_flat_dict, to_flat_dict

__all__ = ["FROM_DATA", "RESUMABLE_CHANGES", "TrainConfig", "small_gpt"]

# Fields a resumed run may change without changing the optimisation itself.
RESUMABLE_CHANGES = frozenset(
    {
        "out_dir",
        "data_dir",
        "eval_interval",
        "log_interval",
        "checkpoint_interval",
        "keep_last",
        "progress",
        "compile",
        "sample_tokens",
        "sample_prompt",
        "device",
        "resume",
        "parallel",  # how the state is split changes no number of the optimisation (train/parallel.py)
        "activation_checkpointing",
    }
)

# GPTConfig fields that come from the data, so they are neither flags nor config-file keys.
FROM_DATA = frozenset({"vocab_size"})


def small_gpt(**overrides) -> GPTConfig:
    """The default model of ``minillm train``: a GPT small enough to train on a laptop CPU."""
    return GPTConfig(**{"n_layer": 4, "n_head": 4, "n_embd": 128, "block_size": 128, **overrides})


@dataclass
class TrainConfig:
    """A pre-training run: data, model, optimisation, logging. Sizes are in tokens/sequences."""

    # data and output
    data_dir: str = "data/python-docs"  # written by `minillm prepare`
    out_dir: str = "out/train"
    resume: bool = False  # continue from the newest checkpoint in out_dir
    # the model; its vocab_size is replaced by the data's
    model: GPTConfig = field(default_factory=small_gpt)
    # optimisation; batch_size is the global batch in sequences per optimizer step
    batch_size: int = 32
    grad_accum: int = 1  # micro-batches per step (per process)
    max_steps: int = 2000
    lr: float = 1e-3
    min_lr: float | None = field(default=None, metadata={"help": "the cosine's floor; default 10% of lr"})
    warmup_steps: int | None = field(default=None, metadata={"help": "default 5% of max_steps (at least 1)"})
    weight_decay: float = WEIGHT_DECAY
    beta1: float = BETAS[0]
    beta2: float = BETAS[1]
    grad_clip: float = GRAD_CLIP  # 0 disables clipping
    # logging, evaluation, checkpoints
    log_interval: int = 10
    eval_interval: int = 250
    eval_iters: int = 20
    checkpoint_interval: int = 500  # a checkpoint is also written at the end
    keep_last: int = 3
    sample_tokens: int = 200  # generated at every evaluation; 0 disables
    sample_prompt: str = "\n"  # a prompt the tokenizer cannot encode falls back to a token it can
    progress: bool = True  # tqdm progress bar
    # system
    seed: int = 0
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:1", ...
    dtype: str = "auto"  # "auto" (bfloat16 autocast on CUDA if supported, else float32), "float32", "bfloat16"
    compile: bool = False  # torch.compile the model
    parallel: str = field(
        default="ddp",
        metadata={"help": "under torchrun: ddp, zero1, fsdp, tp or tp+fsdp (minillm/train/parallel.py); one process: ddp"},
    )
    activation_checkpointing: bool = False  # keep each block's input only; recompute the block in backward

    def __post_init__(self):
        check_fields(self)  # types first: a string for a bool or a float, inf or nan, is refused here
        positive = (
            "batch_size",
            "grad_accum",
            "max_steps",
            "log_interval",
            "eval_interval",
            "eval_iters",
            "checkpoint_interval",
            "keep_last",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.min_lr is None:  # the schedule's defaults, resolved once so checkpoints record the numbers
            self.min_lr = self.lr * MIN_LR_RATIO
        if self.warmup_steps is None:
            self.warmup_steps = default_warmup(self.max_steps)
        if self.batch_size % self.grad_accum:
            raise ValueError(f"batch_size={self.batch_size} is not divisible by grad_accum={self.grad_accum}")
        if not 0 <= self.warmup_steps <= self.max_steps:
            raise ValueError(f"need 0 <= warmup_steps <= max_steps, got {self.warmup_steps} and {self.max_steps}")
        if not 0 <= self.min_lr <= self.lr:
            raise ValueError(f"need 0 <= min_lr <= lr, got min_lr={self.min_lr}, lr={self.lr}")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise ValueError(f"Adam betas must be in [0, 1), got {self.beta1}, {self.beta2}")
        if self.grad_clip < 0 or self.weight_decay < 0 or self.sample_tokens < 0:
            raise ValueError("grad_clip, weight_decay and sample_tokens must not be negative")
        if self.seed < 0:  # NumPy's seed sequences take only non-negative integers
            raise ValueError(f"seed must be a non-negative integer, got {self.seed}")
        if self.dtype not in ("auto", "float32", "bfloat16"):
            raise ValueError(f"unknown dtype {self.dtype!r}; choose 'auto', 'float32' or 'bfloat16'")
        if self.parallel not in PARALLEL_MODES:
            raise ValueError(f"unknown parallel mode {self.parallel!r}; choose one of {PARALLEL_MODES}")
        if not (self.device == "auto" or self.device == "cpu" or self.device.startswith("cuda")):
            raise ValueError(f"unknown device {self.device!r}; use 'auto', 'cpu' or 'cuda[:N]'")

    @property
    def micro_batch_size(self) -> int:
        return self.batch_size // self.grad_accum

    def to_dict(self) -> dict:
        """The flat names (the model's fields beside the run's), as flags and checkpoints use them."""
        return {k: v for k, v in to_flat_dict(self).items() if k not in FROM_DATA}

    @classmethod
    def from_dict(cls, values: dict, source: str = "config") -> TrainConfig:
        """Build from flat names (e.g. a JSON file); an unknown key or a mistyped value is an error naming it."""
        return from_flat_dict(cls, values, skip=FROM_DATA, source=source)

    def changes_from(self, saved: dict) -> list[str]:
        """The fields that differ from a saved config and would change the optimisation."""
        now = self.to_dict()
        keys = sorted((set(now) | set(saved)) - RESUMABLE_CHANGES)
        return [f"{k}: {saved.get(k)!r} -> {now.get(k)!r}" for k in keys if saved.get(k) != now.get(k)]

    # -- command line ------------------------------------------------------------------------
    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """One flag per flat field (``n_layer`` → ``--n-layer``, ``--bias/--no-bias``) and ``--config``."""
        add_config_arguments(parser, cls, skip=FROM_DATA)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> TrainConfig:
        """Explicit flag > ``--config`` JSON file > default."""
        return config_from_args(cls, args, skip=FROM_DATA)
