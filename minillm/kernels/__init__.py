"""Attention kernels for report §3.2: one entry point, several backends that give the same result.

    attention(q, k, v, causal=False, mask=None, backend="auto")

- "naive":   explicit softmax(QKᵀ/√d)V, materialises T_q × T_k scores (minillm.kernels.naive)
- "chunked": the FlashAttention algorithm in pure PyTorch, O(T) extra memory (kernels.chunked)
- "sdpa":    torch.nn.functional.scaled_dot_product_attention (PyTorch's fused kernels)
- "triton":  a Triton GPU kernel — not written yet; selecting it raises an error that says so
- "auto":    "sdpa" (fastest available on CPU and GPU for every dtype torch supports)

Conventions (all backends): q (..., T_q, d), k (..., T_k, d), v (..., T_k, d_v) with equal leading
dimensions; ``causal`` puts the queries at the *last* T_q key positions (T_q = T_k: the usual
triangle; T_q < T_k: decoding with a KV cache); ``mask`` is bool (True = may attend) or float
(added), broadcastable to (..., T_q, T_k); a query row with no visible key returns zeros.

Docs: docs/quadratic-cost.md.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from minillm.kernels.chunked import chunked_attention
from minillm.kernels.naive import naive_attention
from minillm.nn.attention import add_causal

__all__ = ["attention", "BACKENDS", "naive_attention", "chunked_attention", "sdpa_attention"]

BACKENDS = ("auto", "naive", "chunked", "sdpa", "triton")


def sdpa_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    causal: bool = False,
    mask: Tensor | None = None,
    scale: float | None = None,
    dropout_p: float = 0.0,
) -> Tensor:
    """PyTorch's fused attention with minillm's conventions (bottom-right causal, zero dead rows)."""
    if causal and (mask is not None or q.shape[-2] != k.shape[-2]):
        # torch's is_causal is top-left aligned and does not combine with a mask: fold it in.
        mask, causal = add_causal(mask, q.shape[-2], k.shape[-2], device=q.device), False
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal, scale=scale, dropout_p=dropout_p)
    if mask is not None:
        visible = (
            mask.any(dim=-1, keepdim=True) if mask.dtype == torch.bool else torch.isfinite(mask).any(-1, keepdim=True)
        )
        out = out.masked_fill(~visible, 0.0)
    return out


def _check(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, backend: str) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; supported: {', '.join(BACKENDS)}")
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, Tensor) or t.dim() < 2:
            raise ValueError(f"{name} must be a tensor of shape (..., T, d), got {getattr(t, 'shape', type(t))}")
    if q.shape[:-2] != k.shape[:-2] or k.shape[:-2] != v.shape[:-2]:
        raise ValueError(f"q, k, v need equal leading dimensions: {tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q and k must share the head size d: {tuple(q.shape)} vs {tuple(k.shape)}")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"k and v must have the same length T_k: {tuple(k.shape)} vs {tuple(v.shape)}")
    if not (q.dtype == k.dtype == v.dtype):
        raise ValueError(f"q, k, v must share a dtype, got {q.dtype}, {k.dtype}, {v.dtype}")
    if mask is not None:
        target = (*q.shape[:-1], k.shape[-2])
        try:
            ok = torch.broadcast_shapes(mask.shape, target) == torch.Size(target)
        except RuntimeError:
            ok = False
        if not ok:
            raise ValueError(f"mask of shape {tuple(mask.shape)} does not broadcast to (..., T_q, T_k) = {target}")
    if backend == "triton":
        if not q.is_cuda:
            raise ValueError("backend 'triton' needs CUDA tensors; on CPU use 'chunked', 'sdpa' or 'naive'")
        raise NotImplementedError("the Triton attention kernel is not written yet; use 'sdpa' or 'chunked'")


def attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    causal: bool = False,
    mask: Tensor | None = None,
    backend: str = "auto",
    scale: float | None = None,
    dropout_p: float = 0.0,
) -> Tensor:
    """Exact attention softmax(QKᵀ·scale + mask)V with the chosen backend (see module docstring).

    ``dropout_p`` (on the attention weights) is supported by "naive" and "sdpa" only.
    """
    _check(q, k, v, mask, backend)
    if dropout_p and backend == "chunked":
        raise ValueError("backend 'chunked' has no attention dropout; use dropout_p=0, 'sdpa' or 'naive'")
    if backend == "naive":
        return naive_attention(q, k, v, causal, mask, scale, dropout_p)
    if backend == "chunked":
        return chunked_attention(q, k, v, causal, mask, scale)
    return sdpa_attention(q, k, v, causal, mask, scale, dropout_p)  # "sdpa" and "auto"
