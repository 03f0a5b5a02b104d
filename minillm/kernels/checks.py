"""The one input validator of every attention entry point (report §3.2 kernels).

Shapes, for every backend and for minillm.nn.attention.scaled_dot_product_attention:

    q (..., H, T_q, d)      k (..., H_kv, T_k, d)      v (..., H_kv, T_k, d_v)

- q, k and v have the same rank and the same leading ("batch") dimensions ``...``: no
  broadcasting between them, so a shape mistake is an error instead of a silent copy.
- Dimension -3 is the head dimension. K/V may have fewer heads than Q (grouped-query attention,
  GQA; multi-query when H_kv = 1) if H_kv divides H: query head h uses K/V head h // (H / H_kv),
  torch's ``enable_gqa`` convention (K/V repeated with ``repeat_interleave``). Rank-2 inputs
  (T, d) have no head dimension.
- ``mask`` (bool, True = may attend, or float of the query's dtype, added to the scores)
  broadcasts to the scores (..., H, T_q, T_k). An integer 0/1 mask is refused: added to the
  scores as numbers it would silently mean "attend everywhere".
- q, k and v share one dtype, except under ``torch.autocast`` (on q's device), where
  ``attention`` casts them to the autocast dtype as torch's own fused kernel does.
- ``causal`` is a bool; ``scale`` None or a finite positive number (nan or inf would turn every
  output into NaN without an error).

Every check raises one ValueError (TypeError for a non-tensor) naming the shapes, before any math.

Docs: docs/quadratic-cost.md#one-entry-point-several-backends.
"""

from __future__ import annotations

import math
import numbers

import torch
from torch import Tensor

__all__ = ["check_attention_inputs"]


def _shapes(q: Tensor, k: Tensor, v: Tensor) -> str:
    return f"q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}"


def check_attention_inputs(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor | None = None,
    dropout_p: float = 0.0,
    causal: bool = False,
    scale: float | None = None,
) -> int:
    """Validate attention inputs (see the module docstring); return the group size H // H_kv."""
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.dim() < 2:
            raise ValueError(f"{name} must have shape (..., T, d), got {tuple(t.shape)}")
        if not t.is_floating_point():
            raise ValueError(f"{name} must be a floating-point tensor, got {t.dtype}")
    if not (q.dtype == k.dtype == v.dtype) and not torch.is_autocast_enabled(q.device.type):
        raise ValueError(
            f"q, k, v must share a dtype, got q {q.dtype}, k {k.dtype}, v {v.dtype}: convert them to one "
            "(under torch.autocast mixed dtypes are allowed and computed in the autocast dtype)"
        )
    if not (q.device == k.device == v.device):
        raise ValueError(f"q, k, v must be on one device, got {q.device}, {k.device}, {v.device}")
    if not (q.dim() == k.dim() == v.dim()):
        raise ValueError(f"q, k, v must have the same number of dimensions: {_shapes(q, k, v)}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q and k must share the head size d: {_shapes(q, k, v)}")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"k and v must have the same number of keys T_k: {_shapes(q, k, v)}")
    if q.shape[:-3] != k.shape[:-3] or k.shape[:-2] != v.shape[:-2]:
        raise ValueError(f"q, k, v need equal leading (batch) dimensions: {_shapes(q, k, v)}")
    group = 1
    if q.dim() >= 3:
        n_head, n_kv_head = q.shape[-3], k.shape[-3]
        if n_kv_head == 0 or n_head % n_kv_head != 0:
            raise ValueError(
                f"q has {n_head} heads and k, v have {n_kv_head} (dimension -3): grouped-query attention "
                f"needs the K/V head count to divide the query head count: {_shapes(q, k, v)}"
            )
        group = n_head // n_kv_head
    if mask is not None:
        if not isinstance(mask, Tensor):
            raise TypeError(f"mask must be a torch.Tensor, got {type(mask).__name__}")
        if mask.dtype != torch.bool and mask.dtype != q.dtype:
            raise ValueError(
                f"mask must be bool (True = may attend) or a float mask of the query's dtype {q.dtype} "
                f"(added to the scores), got {mask.dtype}"
            )
        if mask.device != q.device:
            raise ValueError(f"mask is on {mask.device} but q is on {q.device}")
        scores = (*q.shape[:-1], k.shape[-2])  # (..., H, T_q, T_k)
        try:
            ok = torch.broadcast_shapes(mask.shape, scores) == torch.Size(scores)
        except RuntimeError:
            ok = False
        if not ok:
            raise ValueError(
                f"mask of shape {tuple(mask.shape)} does not broadcast to the attention scores "
                f"(..., T_q, T_k) = {scores}"
            )
    if not _is_real(dropout_p) or not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"dropout_p must be a number in [0, 1), got {dropout_p!r}")
    if not isinstance(causal, bool):
        raise TypeError(f"causal must be True or False, got {causal!r}")
    if scale is not None and not (_is_real(scale) and math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be None (1/sqrt(d)) or a finite positive number, got {scale!r}")
    return group


def _is_real(x) -> bool:
    """A Python or NumPy real number; bool is not one (True would silently mean 1)."""
    return isinstance(x, numbers.Real) and not isinstance(x, bool)
