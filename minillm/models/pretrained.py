"""The directories a GPT can be loaded from, and the read side of minillm's checkpoint format.

Report §1.2: a model is pre-trained once and used many times. ``GPT.from_pretrained(path)`` and
``minillm.load(path)`` accept three kinds of directory, told apart by what is inside:

    minillm checkpoint   ckpt-0001000/ holding state.json (+ model.safetensors, trainer.pt,
                         tokenizer.json): what ``minillm train`` and ``Trainer`` write
    run directory        the --out-dir of ``minillm train``: ckpt-* subdirectories; the newest is read
    Hugging Face         config.json + model.safetensors (or its sharded index, or pytorch_model.bin):
                         GPT-2 (minillm.models.hf_gpt2) or the Llama family (minillm.models.hf_llama)

A checkpoint's files are checked against the SHA-256 digests in its state.json before anything
is read, and weights are read with safetensors (or ``torch.load(weights_only=True)``): a file you
did not write is data, never code. ``minillm.train.checkpoint`` writes checkpoints (and restores
optimizer and RNG states to resume); it imports the reading side from here, so one module knows
the layout and models do not depend on training.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, load_model
from torch import nn

from minillm.utils.fileio import read_json

__all__ = [
    "CHECKED_FILES",
    "FORMAT",
    "CheckpointError",
    "Pretrained",
    "latest_checkpoint",
    "list_checkpoints",
    "load_tensors",
    "load_weights",
    "locate",
    "read_checkpoint_state",
    "read_hf_config",
    "read_hf_weights",
    "sha256_file",
]

FORMAT = "minillm-checkpoint"
NAME = re.compile(r"^ckpt-(\d+)$")
CHECKED_FILES = ("model.safetensors", "trainer.pt", "tokenizer.json")  # each read only after its SHA-256 matched


class CheckpointError(ValueError):
    """A checkpoint is missing, truncated, altered, or belongs to a different model or run."""


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def list_checkpoints(out_dir: str | Path) -> list[Path]:
    """Complete checkpoints in ``out_dir``, oldest first (temporary directories are not listed)."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        return []
    found = [p for p in out_dir.iterdir() if p.is_dir() and NAME.match(p.name)]
    return sorted(found, key=lambda p: int(NAME.match(p.name).group(1)))


def latest_checkpoint(out_dir: str | Path) -> Path | None:
    found = list_checkpoints(out_dir)
    return found[-1] if found else None


def read_checkpoint_state(path: str | Path) -> tuple[Path, dict]:
    """Validate a checkpoint directory's files against its state.json; return (path, state).
    A run directory stands for its newest checkpoint."""
    path = Path(path)
    if path.is_dir() and not (path / "state.json").exists() and list_checkpoints(path):
        path = latest_checkpoint(path)
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}")
    if not path.is_dir() or not (path / "state.json").is_file():
        raise CheckpointError(f"{path} is not a minillm checkpoint (expected a directory with state.json)")
    state = read_json(path / "state.json", "checkpoint file", CheckpointError)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a minillm checkpoint (state.json has no format={FORMAT!r})")
    digests = state.get("sha256")
    if not isinstance(digests, dict) or not all(isinstance(v, str) for v in digests.values()):
        raise CheckpointError(
            f"{path / 'state.json'} has no SHA-256 map ('sha256': file name -> digest); minillm refuses to load "
            "a checkpoint it cannot check"
        )
    unlisted = [n for n in CHECKED_FILES if (path / n).exists() and n not in digests]
    if "model.safetensors" not in digests or unlisted:
        raise CheckpointError(
            f"{path / 'state.json'}: the SHA-256 map must list model.safetensors and every file minillm reads "
            f"({', '.join(CHECKED_FILES)}); unlisted: {unlisted or ['model.safetensors']}"
        )
    if not isinstance(state.get("step"), int) or isinstance(state.get("step"), bool) or state["step"] < 0:
        raise CheckpointError(
            f"{path / 'state.json'}: 'step' must be a non-negative integer, got {state.get('step')!r}"
        )
    if not isinstance(state.get("configs", {}), dict):
        raise CheckpointError(f"{path / 'state.json'}: 'configs' must be an object")
    for name, digest in digests.items():
        if name not in CHECKED_FILES:  # a plain name minillm writes: no paths, nothing outside the directory
            raise CheckpointError(f"{path / 'state.json'} lists an unexpected file {name!r}; known: {CHECKED_FILES}")
        f = path / name
        if not f.is_file():
            raise CheckpointError(f"checkpoint {path} is incomplete: {name} is missing")
        if sha256_file(f) != digest:
            raise CheckpointError(f"checkpoint file {f} is truncated or altered (SHA-256 does not match state.json)")
    return path, state


def load_weights(path: str | Path, model: nn.Module) -> None:
    """Fill ``model`` in place from ``path``/model.safetensors (a tied matrix is stored once)."""
    path = Path(path)
    try:
        load_model(model, str(path / "model.safetensors"), strict=True, device=str(next(model.parameters()).device))
    except RuntimeError as err:
        raise CheckpointError(f"weights in {path} do not fit this model: {err}") from None
    except Exception as err:  # noqa: BLE001 — safetensors' own header errors: the file is damaged
        raise CheckpointError(f"{path / 'model.safetensors'} is not a readable safetensors file: {err}") from None


def load_tensors(file: str | Path, what: str = "file"):
    """``torch.load(file, weights_only=True)``: tensors and plain containers only. A file that holds
    any other pickled object (which could run code while loading) is refused, never executed."""
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(
            f"minillm refused to load {file}: this {what} contains pickled Python objects other than tensors, and "
            "loading them could run code from the file. Only load files from a source you trust; re-save such a "
            "model as safetensors."
        ) from None
    except (RuntimeError, EOFError) as err:
        raise CheckpointError(f"{file} is not a readable torch file: {err}") from None


@dataclass(frozen=True)
class Pretrained:
    """What ``locate`` found: ``kind`` is "checkpoint" or "huggingface"; ``path`` the directory
    holding the weights (a run directory resolves to its newest checkpoint); ``model_config`` the
    saved GPTConfig fields (None for Hugging Face: hf_llama reads config.json); ``step`` the
    training step of a checkpoint; ``tokenizer_file`` a minillm tokenizer.json, if there is one."""

    kind: str
    path: Path
    model_config: dict | None = None
    step: int | None = None
    tokenizer_file: Path | None = None


def locate(path: str | Path) -> Pretrained:
    """Tell which kind of directory ``path`` is (see the module docstring) and check it; a
    checkpoint's files are verified here. Anything else is a ValueError naming what was looked for."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"no directory at {path}")
    if (path / "state.json").is_file() or list_checkpoints(path):
        ckpt, state = read_checkpoint_state(path)
        model_config = state.get("configs", {}).get("model")
        if not isinstance(model_config, dict) or not model_config:
            raise CheckpointError(f"{ckpt} has no model config in state.json; it was not written by `minillm train`")
        tokenizer = ckpt / "tokenizer.json"
        return Pretrained(
            "checkpoint", ckpt, model_config, int(state["step"]), tokenizer if tokenizer.is_file() else None
        )
    if (path / "config.json").is_file():
        return Pretrained("huggingface", path)
    raise ValueError(
        f"{path} is not a model directory: looked for state.json (a minillm checkpoint), ckpt-* "
        "subdirectories (a `minillm train` run directory) and config.json (a Hugging Face model directory)"
    )


def read_hf_config(path: str | Path) -> dict:
    """The JSON object in ``path``/config.json of a Hugging Face model directory."""
    file = Path(path) / "config.json"
    if not file.is_file():
        raise FileNotFoundError(f"{path} is not a Hugging Face model directory (no config.json)")
    hf = read_json(file, "Hugging Face config")
    if not isinstance(hf, dict):
        raise ValueError(f"{file} must hold a JSON object of model settings, got {type(hf).__name__}")  # noqa: TRY004 (a user file, not a caller bug)
    return hf


def read_hf_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """Every tensor of a Hugging Face directory, by its Hugging Face name: model.safetensors, the
    shards a model.safetensors.index.json names (large models), or pytorch_model.bin (weights only)."""
    path = Path(path)
    single, index, legacy = (
        path / "model.safetensors",
        path / "model.safetensors.index.json",
        path / "pytorch_model.bin",
    )
    try:
        if single.is_file():
            return load_file(single)
        if index.is_file():  # sharded: a JSON map from tensor name to shard file
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
            if not all(isinstance(n, str) and Path(n).name == n for n in shards):  # plain names: no paths out
                raise ValueError(f"{index.name} names shard files outside {path}: {shards[:3]}")
            return {k: v for shard in shards for k, v in load_file(path / shard).items()}
        if legacy.is_file():  # weights_only: a pickle may carry code; this refuses anything but tensors
            return load_tensors(legacy, "pytorch_model.bin")
    except CheckpointError as err:  # the refusal says why; do not bury it under "cannot read"
        raise ValueError(str(err)) from None
    except Exception as err:  # noqa: BLE001 — every reader's error means the same thing to the user
        raise ValueError(f"cannot read the weights in {path}: {type(err).__name__}: {err}") from None
    raise FileNotFoundError(f"{path} has no model.safetensors, model.safetensors.index.json or pytorch_model.bin")
