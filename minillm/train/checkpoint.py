"""Checkpoints that are safe to load, safe to interrupt, and resume a run exactly.

A checkpoint is a directory ``ckpt-0001000/`` holding

    model.safetensors   the weights (safetensors: plain tensors, no pickled code)
    trainer.pt          optimizer state and torch/CUDA RNG states, read with torch.load(weights_only=True)
    state.json          step, the run's configs, Python/NumPy RNG states, metrics, and the
                        SHA-256 of the two files above (a truncated or altered file is detected)
    tokenizer.json      (optional) the tokenizer, so `minillm sample` needs nothing else

Safety: the files are first written into a hidden temporary directory and fsync'ed, and the
directory is then renamed into place. A rename is atomic, so a crash mid-save leaves either the
old set of checkpoints or the old set plus one complete new one — never half a checkpoint. Only
then are checkpoints beyond the newest ``keep_last`` deleted, each first renamed to a hidden
``.trash-*`` name, so a crash mid-deletion never leaves a half-deleted ``ckpt-*`` that looks
complete. A failed write (a full disk: ENOSPC) is one CheckpointError naming the directory; the
previous checkpoints are untouched.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from minillm.models.pretrained import (  # the read side of the format lives with the models that load it
    FORMAT,
    CheckpointError,
    latest_checkpoint,
    list_checkpoints,
    load_tensors,
    load_weights,
    read_checkpoint_state,
    sha256_file,
)
from minillm.utils.fileio import fsync_dir

if TYPE_CHECKING:
    from minillm.train.config import TrainConfig

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "capture_rng",
    "latest_checkpoint",
    "list_checkpoints",
    "load_checkpoint",
    "restore_rng",
    "resume_point",
    "save_checkpoint",
]


def capture_rng() -> tuple[dict, dict]:
    """(tensors, json_able): every RNG a training step may touch — torch, CUDA, NumPy, Python."""
    tensors = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        tensors["cuda"] = torch.cuda.get_rng_state_all()
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, py_state, py_gauss = random.getstate()
    plain = {
        "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(gauss)],
        "python": [version, list(py_state), py_gauss],
    }
    return tensors, plain


def restore_rng(tensors: dict, plain: dict) -> None:
    torch.set_rng_state(tensors["torch"])
    if "cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(tensors["cuda"])
    kind, keys, pos, has_gauss, gauss = plain["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
    version, py_state, py_gauss = plain["python"]
    random.setstate((version, tuple(py_state), py_gauss))


def save_checkpoint(
    out_dir: str | Path,
    step: int,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | dict | None = None,
    configs: dict | None = None,
    metrics: dict | None = None,
    tokenizer_file: str | Path | None = None,
    keep_last: int = 3,
) -> Path:
    """Write ``ckpt-{step}`` into ``out_dir`` atomically, then keep only the newest ``keep_last``.
    ``optimizer``: the optimizer, or its state dict already gathered from a sharded run (train/parallel.py)."""
    if keep_last < 1:
        raise ValueError(f"keep_last must be at least 1, got {keep_last}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in [*out_dir.glob(".tmp-ckpt-*"), *out_dir.glob(".trash-ckpt-*")]:  # left by a crash in an earlier save
        shutil.rmtree(stale, ignore_errors=True)
    final = out_dir / f"ckpt-{step:07d}"
    tmp = out_dir / f".tmp-ckpt-{step:07d}-{os.getpid()}"
    try:
        _write(tmp, final, out_dir, step, model, optimizer, configs, metrics, tokenizer_file)
    except (OSError, RuntimeError) as err:  # a full disk (torch.save reports it as RuntimeError): one line
        shutil.rmtree(tmp, ignore_errors=True)
        newest = latest_checkpoint(out_dir)
        kept = f"the newest complete checkpoint {newest} is intact" if newest else "no earlier checkpoint exists"
        why = getattr(err, "strerror", None) or err
        raise CheckpointError(f"could not write checkpoint {final.name} in {out_dir}: {why}; {kept}") from None
    for old in list_checkpoints(out_dir)[:-keep_last]:
        trash = out_dir / f".trash-{old.name}-{os.getpid()}"
        os.replace(old, trash)  # atomic: the checkpoint is listed whole or not at all
        shutil.rmtree(trash, ignore_errors=True)
    return final


def _write(tmp, final, out_dir, step, model, optimizer, configs, metrics, tokenizer_file) -> None:
    """The files of one checkpoint into ``tmp``, fsync'ed, then renamed to ``final`` (module docstring)."""
    from safetensors.torch import save_model  # stores a tied matrix once

    tmp.mkdir()
    try:
        save_model(model, str(tmp / "model.safetensors"))
        rng_tensors, rng_plain = capture_rng()
        blob = {"rng": rng_tensors}
        if optimizer is not None:
            blob["optimizer"] = optimizer if isinstance(optimizer, dict) else optimizer.state_dict()
        torch.save(blob, tmp / "trainer.pt")
        if tokenizer_file is not None:
            shutil.copyfile(tokenizer_file, tmp / "tokenizer.json")
        files = sorted(p.name for p in tmp.iterdir())
        state = {
            "format": FORMAT,
            "version": 1,
            "step": step,
            "configs": configs or {},
            "metrics": metrics or {},
            "rng": rng_plain,
            "sha256": {name: sha256_file(tmp / name) for name in files},
        }
        (tmp / "state.json").write_text(json.dumps(state, indent=1))
        for name in [*files, "state.json"]:
            with open(tmp / name, "rb") as f:
                os.fsync(f.fileno())
        fsync_dir(tmp)
        if final.exists():  # saving the same step twice: swap, then drop the old copy
            old = out_dir / f".tmp-ckpt-old-{step:07d}-{os.getpid()}"
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old)
        else:
            os.replace(tmp, final)
        fsync_dir(out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@dataclass
class Checkpoint:
    """What ``load_checkpoint`` read: the step, the configs and metrics saved with it, and its files."""

    path: Path
    step: int
    configs: dict
    metrics: dict
    rng_plain: dict
    trainer_state: dict = field(repr=False)

    @property
    def tokenizer_file(self) -> Path | None:
        p = self.path / "tokenizer.json"
        return p if p.is_file() else None


def config_diff(saved: dict, current: dict) -> list[str]:
    """One "key: checkpoint X vs now Y" line per field that differs."""
    keys = sorted(set(saved) | set(current))
    return [
        f"{k}: checkpoint {saved.get(k)!r} vs now {current.get(k)!r}" for k in keys if saved.get(k) != current.get(k)
    ]


def load_checkpoint(
    path: str | Path,
    model: nn.Module | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    model_config: dict | None = None,
    restore_rngs: bool = False,
) -> Checkpoint:
    """Read a checkpoint (a ``ckpt-*`` directory, or a run directory → its newest checkpoint).

    Every file is checked against its SHA-256 before anything is loaded. With ``model_config``, the
    saved model config must match it field for field (the error lists the differences). The model
    and optimizer, when given, are filled in place; ``restore_rngs`` puts back all RNG states.
    """
    path, state = read_checkpoint_state(path)
    configs = state.get("configs", {})
    if model_config is not None:
        diff = config_diff(configs.get("model", {}), model_config)
        if diff:
            raise CheckpointError(f"checkpoint {path} is for a different model architecture: " + "; ".join(diff))
    if not (path / "trainer.pt").is_file():
        raise CheckpointError(f"checkpoint {path} has no trainer.pt (optimizer and RNG states)")
    blob = load_tensors(path / "trainer.pt", "checkpoint's trainer state")
    if model is not None:
        load_weights(path, model)
    if optimizer is not None:
        if "optimizer" not in blob:
            raise CheckpointError(f"checkpoint {path} has no optimizer state")
        optimizer.load_state_dict(blob["optimizer"])
    if restore_rngs:
        restore_rng(blob["rng"], state["rng"])
    return Checkpoint(path, int(state["step"]), configs, state.get("metrics", {}), state["rng"], blob)


def resume_point(config: TrainConfig, model_config: dict) -> Path | None:
    """The checkpoint a run with ``config`` continues from: None for a fresh run. Checked before any
    weights exist, so a refused run overwrites nothing: a fresh run into a directory that holds
    checkpoints, --resume without one, a damaged checkpoint, another architecture or a changed config."""
    latest = latest_checkpoint(config.out_dir)
    if not config.resume:
        if latest is not None:
            raise ValueError(
                f"{config.out_dir} already holds checkpoints (newest {latest.name}); pass --resume to continue "
                "that run or choose another --out-dir (nothing was overwritten)"
            )
        return None
    if latest is None:
        raise ValueError(f"--resume given but {config.out_dir} has no checkpoint")
    _, state = read_checkpoint_state(latest)  # a damaged checkpoint is named here, before any work
    diff = config_diff(state.get("configs", {}).get("model", {}), model_config)
    if diff:
        raise CheckpointError(f"{latest} holds a different model architecture: " + "; ".join(diff))
    changed = config.changes_from(state.get("configs", {}).get("train", {}))
    if changed:
        raise ValueError(f"cannot resume {latest} with a changed config: " + "; ".join(changed))
    return latest
