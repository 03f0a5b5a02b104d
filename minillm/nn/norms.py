"""Normalisation layers: LayerNorm (with or without bias) and RMSNorm.

Report §1.2.1 (Add & Norm): every sub-layer output is normalised. The 2017 paper and GPT-2 use
LayerNorm, which centres and scales each position's features:

    LayerNorm(x) = (x - mean(x)) / √(var(x) + ε) · γ + β

RMSNorm (Zhang & Sennrich 2019, "Root Mean Square Layer Normalization"), used by Llama, Qwen,
Mistral and most models after 2023, drops the centring and the bias β:

    RMSNorm(x) = x / √(mean(x²) + ε) · γ

It is cheaper (one reduction instead of two) and trains as well. Hugging Face's Llama/Qwen
implementations compute it in float32 and cast back to the input dtype; so does this one, so
bf16 models match them. LayerNorm without bias is ``torch.nn.LayerNorm(d, bias=False)`` (GPT
configs with ``bias=False``); ``make_norm`` is the one place a config's ``norm`` name becomes a
module.

Docs: docs/beyond.md#rmsnorm.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["NORMS", "LayerNorm", "RMSNorm", "check_norm", "make_norm"]

NORMS = ("layernorm", "rmsnorm")
LayerNorm = nn.LayerNorm  # LayerNorm(d, eps=1e-5, bias=False) is LayerNorm without bias


# --8<-- [start:rmsnorm]
class RMSNorm(nn.Module):
    """x / √(mean(x²) + eps) · weight over the last dimension; weight starts at 1."""

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        if not isinstance(dim, int) or dim <= 0:
            raise ValueError(f"RMSNorm dim must be a positive integer, got {dim!r}")
        if not eps > 0:
            raise ValueError(f"RMSNorm eps must be positive, got {eps!r}")
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] != self.weight.shape[0]:
            raise ValueError(f"RMSNorm of size {self.weight.shape[0]} got input of shape {tuple(x.shape)}")
        h = x.to(torch.promote_types(x.dtype, torch.float32))  # fp16/bf16: the mean of squares in fp32, as Llama/Qwen
        h = h * torch.rsqrt(h.pow(2).mean(dim=-1, keepdim=True) + self.eps)  # (..., dim)
        return self.weight * h.to(x.dtype)  # (..., dim)

    def extra_repr(self) -> str:
        return f"{self.weight.shape[0]}, eps={self.eps}"


# --8<-- [end:rmsnorm]


def check_norm(norm: str) -> str:
    """``norm`` if it is a known name, else a ValueError listing the choices."""
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; choose one of {', '.join(NORMS)}")
    return norm


def make_norm(norm: str, dim: int, eps: float = 1e-5, bias: bool = True) -> nn.Module:
    """The normalisation a config names: "layernorm" (with ``bias`` or without) or "rmsnorm" (never a bias)."""
    check_norm(norm)
    if norm == "rmsnorm":
        return RMSNorm(dim, eps)
    return nn.LayerNorm(dim, eps=eps, bias=bias)
