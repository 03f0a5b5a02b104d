"""The one backend registry and the one entry point ``attention`` (report §3.2 kernels).

    attention(q, k, v, *, causal=False, mask=None, backend="auto", scale=None, dropout_p=0.0, window=None)

Each backend is a name, a kernel with the one signature every kernel has,
``fn(q, k, v, *, causal, mask, scale, dropout_p, window)``, and a check that says why it cannot run
given inputs (None when it can). Each kernel validates its inputs itself (minillm.kernels.checks), so
``attention`` picks the kernel and calls it: the inputs are checked once. Adding a kernel is one line
in ``BACKENDS``; ``"auto"`` is accepted wherever a backend is named
(minillm.kernels.attention, MultiHeadAttention, GPTConfig, TransformerConfig, the benchmarks).

"auto" takes the first backend of ``AUTO_ORDER`` that can run the inputs. Today that is always
"sdpa": PyTorch's fused kernels run on every device and dtype torch supports and were the fastest
in minillm's benchmarks (benchmarks/README.md). Put a backend before it only once the benchmarks
measure it faster on that device.

Docs: docs/quadratic-cost.md#one-entry-point-several-backends.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from minillm.kernels.chunked import chunked_attention
from minillm.kernels.naive import scaled_dot_product_attention
from minillm.kernels.sdpa import sdpa_attention

__all__ = ["AUTO_ORDER", "BACKENDS", "BACKEND_NAMES", "Backend", "attention", "check_backend", "resolve_backend"]


@dataclass(frozen=True)
class Backend:
    """One attention kernel: ``fn(q, k, v, *, causal, mask, scale, dropout_p, window)`` and when it can run."""

    name: str
    fn: Callable[..., Tensor]
    dropout: bool  # whether it implements dropout on the attention weights
    unavailable: Callable[[Tensor], str | None]  # q -> why it cannot run on q's device/dtype, or None
    window: bool = False  # whether it implements the causal sliding window (kernels/masks.py)


def _runs_anywhere(q: Tensor) -> str | None:
    return None


def _triton_module():
    """minillm.kernels.triton_attention, imported on the first backend="triton" call: Triton reads
    TRITON_INTERPRET when its decorators run, and importing minillm must work without triton."""
    return importlib.import_module("minillm.kernels.triton_attention")


def _triton_unavailable(q: Tensor) -> str | None:
    if importlib.util.find_spec("triton") is None:
        return "triton is not installed (pip install triton; Linux x86-64, or CUDA builds of torch bring it)"
    try:
        return _triton_module().unsupported(q)  # device, dtype, head size (triton_attention.py)
    except ImportError as err:
        return f"triton does not import ({err})"


def _triton(q, k, v, **options):
    """minillm.kernels.triton_attention.triton_attention, imported when first called."""
    return _triton_module().triton_attention(q, k, v, **options)


BACKENDS: dict[str, Backend] = {
    b.name: b
    for b in (
        Backend("naive", scaled_dot_product_attention, True, _runs_anywhere, window=True),  # softmax(QKᵀ/√d)V, explicit
        Backend("chunked", chunked_attention, False, _runs_anywhere, window=True),  # FlashAttention in PyTorch
        Backend("sdpa", sdpa_attention, True, _runs_anywhere, window=True),  # torch's fused kernels (kernels/sdpa.py)
        Backend("triton", _triton, False, _triton_unavailable, window=True),  # FlashAttention-2 (triton_attention.py)
    )
}
BACKEND_NAMES = ("auto", *BACKENDS)
AUTO_ORDER = ("sdpa",)  # fastest measured first; see the module docstring before adding one


def check_backend(name: str, what: str = "backend") -> str:
    """``name`` if it is "auto" or a registered backend, else a ValueError listing the choices.

    Only the name is checked (configs know no device yet); ``resolve_backend`` checks that the
    backend can run given tensors.
    """
    if not isinstance(name, str) or name not in BACKEND_NAMES:
        raise ValueError(f"unknown {what} {name!r}; choose one of {', '.join(BACKEND_NAMES)}")
    return name


def resolve_backend(name: str, q: Tensor, dropout_p: float = 0.0, window: int | None = None) -> str:
    """The registered backend that runs for ``name`` on queries like ``q`` ("auto" resolved).

    A named backend that cannot run these inputs (wrong device or dtype, dropout, not written) is
    a ValueError that says why (a sliding ``window`` it does not implement included); "auto" picks
    the first of ``AUTO_ORDER`` that can.
    """
    check_backend(name)
    if not isinstance(q, Tensor):
        raise TypeError(f"q must be a torch.Tensor, got {type(q).__name__}")
    for candidate in AUTO_ORDER if name == "auto" else (name,):
        backend = BACKENDS[candidate]
        reason = backend.unavailable(q)
        if reason is None and dropout_p and not backend.dropout:
            reason = f"it has no attention dropout (got dropout_p={dropout_p}); use 0, 'sdpa' or 'naive'"
        if reason is None and window is not None and not backend.window:
            windowed = ", ".join(repr(b.name) for b in BACKENDS.values() if b.window)
            reason = f"it has no sliding window (got window={window}); use one of {windowed}"
        if reason is None:
            return candidate
        if name != "auto":
            raise ValueError(f"backend {name!r} cannot run these inputs ({q.dtype} on {q.device}): {reason}")
    raise ValueError(f"no attention backend in AUTO_ORDER runs {q.dtype} on {q.device}: {', '.join(AUTO_ORDER)}")


def attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    causal: bool = False,
    mask: Tensor | None = None,
    backend: str = "auto",
    scale: float | None = None,
    dropout_p: float = 0.0,
    window: int | None = None,
) -> Tensor:
    """Exact attention softmax(QKᵀ·scale + mask)V with the chosen backend; all give one result.

    q (..., H, T_q, d), k (..., H_kv, T_k, d), v (..., H_kv, T_k, d_v) with H_kv dividing H
    (grouped-query attention). ``causal``: the queries are the *last* T_q of the T_k positions.
    ``mask``: bool (True = may attend) or float (added), broadcastable to (..., H, T_q, T_k).
    ``scale`` defaults to 1/√d; ``dropout_p`` drops attention weights ("naive" and "sdpa").
    ``window`` W (needs ``causal``): the query at position p sees only keys p - W + 1 … p.
    """
    name = resolve_backend(backend, q, dropout_p, window)
    if not all(isinstance(t, Tensor) and t.dtype == q.dtype for t in (k, v)) and torch.is_autocast_enabled(
        q.device.type
    ):
        low = torch.get_autocast_dtype(q.device.type)  # mixed dtypes under torch.autocast: one, as torch's kernel casts
        q, k, v = q.to(low), k.to(low), v.to(low)
    options = {"causal": causal, "mask": mask, "scale": scale, "dropout_p": dropout_p, "window": window}
    return BACKENDS[name].fn(q, k, v, **options)  # (..., H, T_q, d_v); the kernel checks its inputs
