"""The one backend registry and the one entry point ``attention`` (report §3.2 kernels).

    attention(q, k, v, causal=False, mask=None, backend="auto", scale=None, dropout_p=0.0)

Each backend is a name, a function with one signature ``fn(q, k, v, causal, mask, scale,
dropout_p)`` and a check that says why it cannot run given inputs (None when it can). Adding a
kernel is one line in ``BACKENDS``; ``"auto"`` is accepted wherever a backend is named
(minillm.kernels.attention, MultiHeadAttention, GPTConfig, TransformerConfig, the benchmarks).

"auto" takes the first backend of ``AUTO_ORDER`` that can run the inputs. Today that is always
"sdpa": PyTorch's fused kernels run on every device and dtype torch supports and were the fastest
in minillm's benchmarks (benchmarks/README.md). Put a backend before it only once the benchmarks
measure it faster on that device.

Docs: docs/quadratic-cost.md#one-entry-point-several-backends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor

from minillm.kernels.checks import check_attention_inputs
from minillm.kernels.chunked import chunked_attention
from minillm.kernels.naive import scaled_dot_product_attention
from minillm.kernels.sdpa import sdpa_attention

__all__ = ["AUTO_ORDER", "BACKENDS", "BACKEND_NAMES", "Backend", "attention", "check_backend", "resolve_backend"]


@dataclass(frozen=True)
class Backend:
    """One attention kernel: ``fn(q, k, v, causal, mask, scale, dropout_p)`` and when it can run."""

    name: str
    fn: Callable[..., Tensor]
    dropout: bool  # whether it implements dropout on the attention weights
    unavailable: Callable[[Tensor], str | None]  # q -> why it cannot run on q's device/dtype, or None


def _runs_anywhere(q: Tensor) -> str | None:
    return None


def _naive(q, k, v, causal, mask, scale, dropout_p):
    return scaled_dot_product_attention(q, k, v, mask=mask, is_causal=causal, dropout_p=dropout_p, scale=scale)


def _chunked(q, k, v, causal, mask, scale, dropout_p):
    return chunked_attention(q, k, v, causal=causal, mask=mask, scale=scale)


def _triton_not_written(q: Tensor) -> str | None:
    return "the Triton kernel is not written yet (it will be minillm/kernels/triton.py); use 'sdpa' or 'chunked'"


def _unreachable(*args):
    raise AssertionError("resolve_backend refuses unavailable backends before they are called")


BACKENDS: dict[str, Backend] = {
    b.name: b
    for b in (
        Backend("naive", _naive, True, _runs_anywhere),  # the explicit softmax(QKᵀ/√d)V (kernels/naive.py)
        Backend("chunked", _chunked, False, _runs_anywhere),  # FlashAttention in PyTorch (kernels/chunked.py)
        Backend("sdpa", sdpa_attention, True, _runs_anywhere),  # torch's fused kernels (kernels/sdpa.py)
        Backend("triton", _unreachable, False, _triton_not_written),  # replaced by the kernel's entry when it lands
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


def resolve_backend(name: str, q: Tensor, dropout_p: float = 0.0) -> str:
    """The registered backend that runs for ``name`` on queries like ``q`` ("auto" resolved).

    A named backend that cannot run these inputs (wrong device or dtype, dropout, not written) is
    a ValueError that says why; "auto" picks the first of ``AUTO_ORDER`` that can.
    """
    check_backend(name)
    for candidate in AUTO_ORDER if name == "auto" else (name,):
        backend = BACKENDS[candidate]
        reason = backend.unavailable(q)
        if reason is None and dropout_p and not backend.dropout:
            reason = f"it has no attention dropout (got dropout_p={dropout_p}); use 0, 'sdpa' or 'naive'"
        if reason is None:
            return candidate
        if name != "auto":
            raise ValueError(f"backend {name!r} cannot run these inputs ({q.dtype} on {q.device}): {reason}")
    raise ValueError(f"no attention backend in AUTO_ORDER runs {q.dtype} on {q.device}: {', '.join(AUTO_ORDER)}")


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
    """Exact attention softmax(QKᵀ·scale + mask)V with the chosen backend; all give one result.

    q (..., H, T_q, d), k (..., H_kv, T_k, d), v (..., H_kv, T_k, d_v) with H_kv dividing H
    (grouped-query attention). ``causal``: the queries are the *last* T_q of the T_k positions.
    ``mask``: bool (True = may attend) or float (added), broadcastable to (..., H, T_q, T_k).
    ``scale`` defaults to 1/√d; ``dropout_p`` drops attention weights ("naive" and "sdpa").
    """
    check_attention_inputs(q, k, v, mask, dropout_p)
    name = resolve_backend(backend, q, dropout_p)
    return BACKENDS[name].fn(q, k, v, causal, mask, scale, dropout_p)  # (..., H, T_q, d_v)
