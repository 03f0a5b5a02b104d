"""LoRA: fine-tune a frozen model through a low-rank update of some of its linear layers.

Report §1.2.2-2 (指令微调 instruction tuning) on a budget: instead of updating every weight W
(d_out × d_in), LoRA (Hu et al. 2021) freezes W and learns two thin matrices,

    y = x Wᵀ + b + (alpha / r) · x Aᵀ Bᵀ        A: (r, d_in), B: (d_out, r), r ≪ min(d_in, d_out)

B starts at zero, so the wrapped model computes exactly what it did before training; A starts
random (Kaiming-uniform, as the reference implementation loralib), so gradients reach B at once.
Only A and B train: r·(d_in + d_out) parameters per layer instead of d_in·d_out, and AdamW keeps
two moments for those alone. ``merge_lora`` folds the update into W (W ← W + (alpha/r)·B A), after
which the model is a plain model again with no extra cost at inference.

    apply_lora(model, r=8, alpha=16)            # wraps the attention projections; freezes the rest
    save_lora(model, "adapter.safetensors")     # the adapters alone (kilobytes), with r, alpha, targets
    merge_lora(model)                           # W + (alpha/r)·B A, adapters removed

A layer whose weight is shared (GPT's output layer tied to the token embedding) is refused: merging
into it would change the embedding too. Docs: docs/adaptation.md.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from minillm.utils.fileio import atomic_write

__all__ = [
    "DEFAULT_TARGETS",
    "LoRALinear",
    "apply_lora",
    "load_lora",
    "lora_state_dict",
    "merge_lora",
    "save_lora",
]

# The attention projections (the paper's choice): GPT-2 stores q, k and v as one qkv_proj; the later
# family and MultiHeadAttention as three. ``targets=None`` takes those of them the model has.
DEFAULT_TARGETS = ("qkv_proj", "q_proj", "k_proj", "v_proj", "out_proj")


# --8<-- [start:lora-linear]
class LoRALinear(nn.Module):
    """A frozen linear layer (the same ``weight``/``bias`` parameters) plus a trainable low-rank update."""

    def __init__(self, base: nn.Linear, r: int, alpha: float):
        super().__init__()
        self.in_features, self.out_features = base.in_features, base.out_features
        self.weight, self.bias = base.weight, base.bias  # same Parameter objects: names stay "<layer>.weight"
        self.r, self.alpha, self.scale = r, alpha, alpha / r
        w = base.weight
        self.lora_A = nn.Parameter(torch.empty(r, self.in_features, dtype=w.dtype, device=w.device))
        self.lora_B = nn.Parameter(torch.zeros(self.out_features, r, dtype=w.dtype, device=w.device))  # 0: no change
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))  # loralib's init of A

    def forward(self, x: Tensor) -> Tensor:
        update = F.linear(F.linear(x, self.lora_A), self.lora_B)  # (..., r) then (..., d_out)
        return F.linear(x, self.weight, self.bias) + self.scale * update

    def merged(self) -> nn.Linear:
        """A plain nn.Linear computing the same function: W + (alpha/r)·B A, the same bias."""
        linear = nn.Linear(self.in_features, self.out_features, bias=self.bias is not None)
        linear.to(device=self.weight.device, dtype=self.weight.dtype)
        with torch.no_grad():
            linear.weight.copy_(self.weight + self.scale * (self.lora_B @ self.lora_A))  # (d_out, d_in)
            if self.bias is not None:
                linear.bias.copy_(self.bias)
        return linear.requires_grad_(self.weight.requires_grad)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, r={self.r}, alpha={self.alpha}"


# --8<-- [end:lora-linear]


def _lora_layers(model: nn.Module) -> dict[str, LoRALinear]:
    return {name: m for name, m in model.named_modules() if isinstance(m, LoRALinear)}


def _set_module(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, module)


def _check_targets(targets) -> tuple[str, ...]:
    if isinstance(targets, str) or not isinstance(targets, Sequence):
        raise TypeError(f"targets must be a list or tuple of module-name endings, got {targets!r}")
    if not targets or not all(isinstance(t, str) and t for t in targets):
        raise ValueError(f"targets must be non-empty strings, got {targets!r}")
    return tuple(targets)


def _matches(name: str, target: str) -> bool:
    return name == target or name.endswith("." + target)  # whole name components: "proj" is not "q_proj"


def apply_lora(model: nn.Module, r: int, alpha: float, targets: Sequence[str] | None = None) -> nn.Module:
    """Wrap every ``nn.Linear`` whose module name ends with one of ``targets`` (default: the attention
    projections the model has, of ``DEFAULT_TARGETS``) in a ``LoRALinear`` and freeze every other
    parameter; in place, returns ``model``. Outputs are unchanged (B = 0)."""
    if not isinstance(r, int) or isinstance(r, bool) or r <= 0:
        raise ValueError(f"LoRA rank r must be a positive integer, got {r!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not math.isfinite(alpha) or alpha <= 0:
        raise ValueError(f"LoRA alpha must be a positive finite number, got {alpha!r}")
    targets = None if targets is None else _check_targets(targets)
    if _lora_layers(model):
        raise ValueError("model already has LoRA adapters; merge_lora(model) first to add new ones")
    linears = {name: m for name, m in model.named_modules() if isinstance(m, nn.Linear)}
    if targets is None:
        targets = tuple(t for t in DEFAULT_TARGETS if any(_matches(name, t) for name in linears)) or DEFAULT_TARGETS
    valid = sorted({name.rsplit(".", 1)[-1] for name in linears})
    unknown = [t for t in targets if not any(_matches(name, t) for name in linears)]
    if unknown:
        raise ValueError(f"no linear layer's name ends with {unknown}; valid targets are {valid}")
    chosen = {name: m for name, m in linears.items() if any(_matches(name, t) for t in targets)}
    others = {id(p) for name, m in model.named_modules() if name not in chosen for p in m.parameters(recurse=False)}
    for name, m in chosen.items():
        if id(m.weight) in others:  # tied (e.g. lm_head = wte): merging would also move the embedding
            raise ValueError(f"{name}.weight is shared with another module (tied); LoRA cannot target it")
        if r > min(m.in_features, m.out_features):
            raise ValueError(f"r={r} exceeds {name}'s smaller side min({m.in_features}, {m.out_features})")
    model.requires_grad_(False)
    for name, m in chosen.items():
        _set_module(model, name, LoRALinear(m, r, alpha))  # lora_A, lora_B are created trainable
    return model


def merge_lora(model: nn.Module) -> nn.Module:
    """Fold every adapter into its weight (W + (alpha/r)·B A) and remove it; in place, returns ``model``.
    The merged layers keep the frozen state they had (call ``model.requires_grad_(True)`` to train all)."""
    layers = _lora_layers(model)
    if not layers:
        raise ValueError("model has no LoRA adapters to merge (apply_lora first)")
    for name, layer in layers.items():
        _set_module(model, name, layer.merged())
    return model


def lora_state_dict(model: nn.Module) -> dict[str, Tensor]:
    """The adapters alone: ``{"<layer>.lora_A": (r, d_in), "<layer>.lora_B": (d_out, r), ...}``."""
    return {k: v for k, v in model.state_dict().items() if k.endswith((".lora_A", ".lora_B"))}


def save_lora(model: nn.Module, path: str | Path) -> Path:
    """Write the adapters (safetensors, atomically) with r, alpha and the adapted layer names as metadata."""
    from safetensors.torch import save_file

    layers = _lora_layers(model)
    if not layers:
        raise ValueError("model has no LoRA adapters to save (apply_lora first)")
    first = next(iter(layers.values()))
    meta = {"r": str(first.r), "alpha": repr(first.alpha), "layers": json.dumps(sorted(layers))}
    tensors = {k: v.detach().contiguous() for k, v in lora_state_dict(model).items()}
    return atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=meta))


def load_lora(model: nn.Module, path: str | Path) -> nn.Module:
    """Load adapters written by ``save_lora``; a model without adapters gets them first (``apply_lora``
    with the file's r, alpha and layers). Missing or unexpected names → ValueError listing them."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), "pt") as f:
        meta = f.metadata() or {}
    if not {"r", "alpha", "layers"} <= meta.keys():
        raise ValueError(f"{path} is not a LoRA adapter file from save_lora (metadata {sorted(meta)})")
    if not _lora_layers(model):
        apply_lora(model, int(meta["r"]), float(meta["alpha"]), json.loads(meta["layers"]))
    state, mine = load_file(str(path)), lora_state_dict(model)
    missing, unexpected = sorted(mine.keys() - state.keys()), sorted(state.keys() - mine.keys())
    if missing or unexpected:
        raise ValueError(f"{path}: adapters do not fit this model; missing {missing}, unexpected {unexpected}")
    for k, v in state.items():
        if v.shape != mine[k].shape:
            raise ValueError(f"{path}: {k} has shape {tuple(v.shape)}, the model's is {tuple(mine[k].shape)}")
    model.load_state_dict(state, strict=False)
    return model
