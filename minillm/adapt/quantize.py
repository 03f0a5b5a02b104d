"""Weight quantization for on-device (端侧) models: int8 per output channel, int4 per group.

Report: the industry chapters' small models that run on a phone or laptop. A weight matrix W
(d_out × d_in) is stored as small integers q and a few floating-point scales s, and turned back
into floats only when it is used ("weight-only" quantization; the activations stay float):

    int8, per output channel (row i):    s_i = max_j |W_ij| / 127,     q_ij = round(W_ij / s_i) ∈ [-127, 127]
    int4, per group of g inputs (g = 32, 64 or 128):
                                         s_ig = max_{j in group} |W_ij| / 7,   q_ij = round(W_ij / s_ig) ∈ [-7, 7]
    dequantised:                         Ŵ_ij = s · q_ij,   |Ŵ_ij - W_ij| ≤ s / 2

Two 4-bit values share one byte: (q + 8) of column 2k in the low nibble, of column 2k+1 in the high
nibble. Both formats keep q and s as buffers, so ``state_dict()`` holds real ``torch.int8`` /
``torch.uint8`` tensors and float32 scales — not fake-quantised floats.

What is *not* quantized: embeddings (a table lookup, not a matrix product) and a tied output layer
(its matrix *is* the embedding) stay in floating point unless ``tied_head=True``, which gives the
output layer its own quantized copy and unties it (the embedding stays float). Biases stay float.

    quantize_int8(model)                  # in place; returns model
    quantize_int4(model, group_size=64)
    weight_bytes(model)                   # bytes of the state_dict, shared tensors once

Docs: docs/adaptation.md. The cost of the same formats at 0.5B-7B parameters: minillm.costs.weight_bytes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from torch import Tensor, nn

__all__ = ["GROUP_SIZES", "Int4Linear", "Int8Linear", "quantize_int4", "quantize_int8", "weight_bytes"]

GROUP_SIZES = (32, 64, 128)  # int4 group sizes: the common choices of GPTQ / AWQ / llama.cpp


# --8<-- [start:int8]
class Int8Linear(nn.Module):
    """y = x Ŵᵀ + b with Ŵ = s[:, None] · q: int8 ``weight_int8`` (d_out, d_in), float32 ``weight_scale`` (d_out,)."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        w = linear.weight.detach().float()  # (d_out, d_in)
        scale = w.abs().amax(dim=1) / 127  # (d_out,): the largest weight of each row maps to ±127
        scale = torch.where(scale > 0, scale, torch.ones_like(scale))  # an all-zero row: any scale works
        self.register_buffer("weight_int8", torch.round(w / scale[:, None]).clamp(-127, 127).to(torch.int8))
        self.register_buffer("weight_scale", scale)
        self.bias = linear.bias

    def dequantized(self, dtype: torch.dtype = torch.float32) -> Tensor:
        return (self.weight_int8.to(dtype) * self.weight_scale[:, None].to(dtype)).contiguous()  # (d_out, d_in)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.dequantized(x.dtype), self.bias)  # dequantised on the fly, never stored

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 per output channel"


# --8<-- [end:int8]


# --8<-- [start:int4]
class Int4Linear(nn.Module):
    """Ŵ[i, j] = s[i, j // g] · q[i, j]: ``weight_packed`` uint8 (d_out, d_in / 2), ``weight_scale`` (d_out, d_in / g)."""

    def __init__(self, linear: nn.Linear, group_size: int):
        super().__init__()
        self.in_features, self.out_features, self.group_size = linear.in_features, linear.out_features, group_size
        w = rearrange(linear.weight.detach().float(), "o (n g) -> o n g", g=group_size)  # (d_out, groups, g)
        scale = w.abs().amax(dim=2) / 7  # (d_out, groups)
        scale = torch.where(scale > 0, scale, torch.ones_like(scale))
        q = torch.round(w / scale[..., None]).clamp(-7, 7).to(torch.uint8) + 8  # (d_out, groups, g) in [1, 15]
        q = rearrange(q, "o n (k two) -> o (n k) two", two=2)  # (d_out, d_in / 2, 2): neighbours share a byte
        self.register_buffer("weight_packed", q[..., 0] | (q[..., 1] << 4))  # (d_out, d_in / 2) uint8
        self.register_buffer("weight_scale", scale)
        self.bias = linear.bias

    def dequantized(self, dtype: torch.dtype = torch.float32) -> Tensor:
        low, high = self.weight_packed & 0xF, self.weight_packed >> 4  # (d_out, d_in / 2) each
        q = rearrange([low, high], "two o k -> o (k two)").to(dtype) - 8  # (d_out, d_in) in [-7, 7]
        scale = repeat(self.weight_scale.to(dtype), "o n -> o (n g)", g=self.group_size)  # (d_out, d_in)
        return q * scale

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.dequantized(x.dtype), self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int4 groups of {self.group_size}"


# --8<-- [end:int4]


def _linears_to_quantize(model: nn.Module, tied_head: bool) -> dict[str, nn.Linear]:
    """The ``nn.Linear`` layers to replace; refuses quantized or LoRA-wrapped models."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"expected an nn.Module, got {type(model).__name__}")
    kinds = {type(m).__name__ for m in model.modules()}
    if kinds & {"Int8Linear", "Int4Linear"}:
        raise ValueError("model is already quantized; quantize the original float model")
    if "LoRALinear" in kinds:
        raise ValueError("model has LoRA adapters; merge_lora(model) before quantizing")
    linears = {name: m for name, m in model.named_modules() if isinstance(m, nn.Linear)}
    if not tied_head:  # a weight shared with another module (GPT's lm_head = wte) stays float
        shared = {id(p) for n, m in model.named_modules() if n not in linears for p in m.parameters(recurse=False)}
        linears = {n: m for n, m in linears.items() if id(m.weight) not in shared}
    if not linears:
        raise ValueError(f"{type(model).__name__} has no linear layers to quantize")
    return linears


def _replace(model: nn.Module, layers: dict[str, nn.Module]) -> nn.Module:
    for name, layer in layers.items():
        parent, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, child, layer)
    return model


@torch.no_grad()
def quantize_int8(model: nn.Module, tied_head: bool = False) -> nn.Module:
    """Replace every linear layer by an ``Int8Linear`` (per-output-channel scales); in place, returns ``model``."""
    linears = _linears_to_quantize(model, tied_head)
    return _replace(model, {name: Int8Linear(m) for name, m in linears.items()})


@torch.no_grad()
def quantize_int4(model: nn.Module, group_size: int = 64, tied_head: bool = False) -> nn.Module:
    """Replace every linear layer by an ``Int4Linear`` (one scale per ``group_size`` inputs); in place."""
    if group_size not in GROUP_SIZES or isinstance(group_size, bool):
        raise ValueError(f"group_size must be one of {GROUP_SIZES}, got {group_size!r}")
    linears = _linears_to_quantize(model, tied_head)
    bad = {name: m.in_features for name, m in linears.items() if m.in_features % group_size}
    if bad:  # checked for every layer before any is replaced
        name, width = next(iter(bad.items()))
        raise ValueError(
            f"group_size={group_size} does not divide the input width of {len(bad)} linear layer(s), "
            f"e.g. {name} ({width} inputs); widths {sorted(set(bad.values()))}: choose a group that divides them"
        )
    return _replace(model, {name: Int4Linear(m, group_size) for name, m in linears.items()})


def weight_bytes(model: nn.Module) -> int:
    """Bytes of ``model.state_dict()`` (parameters and saved buffers), a tensor shared by two modules once."""
    seen, total = set(), 0
    for t in model.state_dict().values():
        if t.data_ptr() not in seen:
            seen.add(t.data_ptr())
            total += t.numel() * t.element_size()
    return total
