"""``TrainConfig``: every hyper-parameter of a pre-training run, in one validated dataclass.

The defaults train a small GPT on a laptop CPU; every field is also a command-line flag of
``minillm train`` (``--n-layer 6``, ``--no-bias``, ...). Schedule and optimizer values follow
GPT-2/GPT-3 practice (Brown et al. 2020, appendix B: AdamW β = (0.9, 0.95), weight decay 0.1,
gradient clipping at 1.0, linear warm-up then cosine decay to 10 % of the peak rate).
"""

from __future__ import annotations

import argparse
from dataclasses import MISSING, asdict, dataclass, fields

__all__ = ["TrainConfig", "RESUMABLE_CHANGES"]

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
    }
)


@dataclass
class TrainConfig:
    """A pre-training run: data, model size, optimisation, logging. Sizes are in tokens/sequences."""

    # data and output
    data_dir: str = "data/python-docs"  # written by `minillm prepare`
    out_dir: str = "out/train"
    resume: bool = False  # continue from the newest checkpoint in out_dir
    # model (the vocabulary size comes from the data)
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    block_size: int = 128
    dropout: float = 0.0
    bias: bool = True
    pos_embedding: str = "learned"
    attn_backend: str = "sdpa"
    # optimisation; batch_size is the global batch in sequences per optimizer step
    batch_size: int = 32
    grad_accum: int = 1  # micro-batches per step (per process)
    max_steps: int = 2000
    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup_steps: int = 100
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0  # 0 disables clipping
    # logging, evaluation, checkpoints
    log_interval: int = 10
    eval_interval: int = 250
    eval_iters: int = 20
    checkpoint_interval: int = 500  # a checkpoint is also written at the end
    keep_last: int = 3
    sample_tokens: int = 200  # generated at every evaluation; 0 disables
    sample_prompt: str = "\n"
    progress: bool = True  # tqdm progress bar
    # system
    seed: int = 0
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:1", ...
    dtype: str = "auto"  # "auto" (bfloat16 autocast on CUDA if supported, else float32), "float32", "bfloat16"
    compile: bool = False  # torch.compile the model

    def __post_init__(self):
        positive = (
            "n_layer",
            "n_head",
            "n_embd",
            "block_size",
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
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
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
        if self.dtype not in ("auto", "float32", "bfloat16"):
            raise ValueError(f"unknown dtype {self.dtype!r}; choose 'auto', 'float32' or 'bfloat16'")
        if not (self.device == "auto" or self.device == "cpu" or self.device.startswith("cuda")):
            raise ValueError(f"unknown device {self.device!r}; use 'auto', 'cpu' or 'cuda[:N]'")

    @property
    def micro_batch_size(self) -> int:
        return self.batch_size // self.grad_accum

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        """Build from a dict (e.g. a JSON file); an unknown key is an error, not silently ignored."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown config key(s) {unknown}; known keys: {sorted(known)}")
        return cls(**values)

    def changes_from(self, saved: dict) -> list[str]:
        """The fields that differ from a saved config and would change the optimisation."""
        now = self.to_dict()
        keys = sorted((set(now) | set(saved)) - RESUMABLE_CHANGES)
        return [f"{k}: {saved.get(k)!r} -> {now.get(k)!r}" for k in keys if saved.get(k) != now.get(k)]

    # -- command line ------------------------------------------------------------------------
    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """One flag per field: ``n_layer`` → ``--n-layer``; booleans get ``--x`` / ``--no-x``."""
        for f in fields(cls):
            flag = "--" + f.name.replace("_", "-")
            default = f.default if f.default is not MISSING else None
            if isinstance(default, bool):
                parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
            else:
                parser.add_argument(flag, type=type(default), default=default, help=f"default: {default!r}")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> TrainConfig:
        return cls(**{f.name: getattr(args, f.name) for f in fields(cls)})
