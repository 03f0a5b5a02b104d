"""FlashAttention-2 in Triton, the Python side (backend "triton"): tile sizes, launches, autograd, checks.

Report §3.2: attention's compute grows as T², but its memory need not. The kernels themselves —
Algorithm 1 (forward) and Algorithm 2 (backward) of Dao 2023, "FlashAttention-2", with minillm's
bottom-right causal rule and the sliding window — are in minillm/kernels/triton_kernels.py. Here:
which tiles each GPU gets, how a call becomes three kernel launches, and the autograd Function
that saves O and L (not P) for the backward.

Tile sizes come from ``CONFIGS`` (per GPU generation, kernel and head size), not runtime
autotuning: autotune needs a driver, and a table is something a student can read. With
``TRITON_INTERPRET=1`` set before this module is imported, the kernels run on CPU through numpy
(fp32/fp16; bf16 comes back wrong there). The registry imports this module on the first
``backend="triton"`` call. Compile report: minillm/commands/triton_compile.py.

Docs: docs/quadratic-cost.md#the-same-algorithm-on-a-gpu.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import triton
from torch import Tensor

from minillm.kernels.checks import check_attention_inputs
from minillm.kernels.masks import check_window
from minillm.kernels.triton_kernels import dkdv_kernel, dq_kernel, fwd_kernel

__all__ = [
    "CONFIGS",
    "HEAD_DIMS",
    "INTERPRETED",
    "WINDOW_CONFIGS",
    "TileConfig",
    "config_for",
    "triton_attention",
    "unsupported",
]

HEAD_DIMS = (16, 32, 64, 128)  # tl.arange needs powers of two; tl.dot needs ≥ 16
GPU_DTYPES = (torch.float16, torch.bfloat16)  # fp32 would make tl.dot use TF32 silently
INTERPRETER_DTYPES = (torch.float32, torch.float16)  # bf16 is wrong under TRITON_INTERPRET=1


@dataclass(frozen=True)
class TileConfig:
    block_m: int  # query rows per tile
    block_n: int  # key rows per tile
    num_warps: int
    num_stages: int  # software-pipelining depth of the K/V (or Q/dO) loads


# (arch, kernel, head_dim) -> tiles. fp16 and bf16 share a row: both are 2 bytes. Chosen with
# `minillm kernels compile` (0 spills, shared memory within the limit); see the docs for timings.
_SM90 = {"fwd": (128, 64, 4, 3), "dkdv": (64, 128, 8, 3), "dq": (128, 64, 8, 3)}
_SM90_D128 = {"fwd": (128, 64, 8, 3), "dkdv": (32, 64, 8, 2), "dq": (128, 64, 8, 2)}
_SM80 = {"fwd": (128, 64, 8, 3), "dkdv": (32, 64, 8, 3), "dq": (64, 64, 8, 3)}  # 8 warps: 0 spills with a window too
_SM80_D128 = {"fwd": (128, 32, 8, 2), "dkdv": (32, 64, 8, 2), "dq": (64, 64, 8, 2)}
_INTERPRETER = {"fwd": (32, 64, 1, 1), "dkdv": (32, 64, 1, 1), "dq": (32, 64, 1, 1)}  # unequal: tests both
CONFIGS: dict[tuple[str, str, int], TileConfig] = {
    (arch, kernel, d): TileConfig(*table[kernel])
    for arch, small, big in (("sm90", _SM90, _SM90_D128), ("sm80", _SM80, _SM80_D128))
    for kernel in ("fwd", "dkdv", "dq")
    for d, table in ((16, small), (32, small), (64, small), (128, big))
} | {("interpreter", kernel, d): TileConfig(*_INTERPRETER[kernel]) for kernel in _INTERPRETER for d in HEAD_DIMS}


# A sliding window adds a third tile loop; on sm_90 with d ≤ 64 that spills at 4 warps (fwd) and 3 stages (dK/dV).
WINDOW_CONFIGS = {("sm90", "fwd", d): TileConfig(128, 64, 8, 3) for d in (16, 32, 64)} | {
    ("sm90", "dkdv", d): TileConfig(64, 128, 8, 2) for d in (16, 32, 64)
}


def config_for(arch: str, kernel: str, head_dim: int, window: bool = False) -> TileConfig:
    key = (arch, kernel, head_dim)
    return WINDOW_CONFIGS.get(key, CONFIGS[key]) if window else CONFIGS[key]


# Decided once, when triton_kernels' decorators ran: TRITON_INTERPRET=1 then made them numpy interpreters.
INTERPRETED = type(fwd_kernel).__name__ == "InterpretedFunction"


def _arch(q: Tensor) -> str:
    """The CONFIGS row for q's device: "interpreter", "sm90" (Hopper and newer) or "sm80" (Ampere, Ada)."""
    if INTERPRETED:
        return "interpreter"
    return "sm90" if torch.cuda.get_device_capability(q.device)[0] >= 9 else "sm80"


def unsupported(q: Tensor) -> str | None:
    """Why the triton backend cannot run queries like ``q`` (None when it can); the registry asks this."""
    if INTERPRETED:
        if q.dtype not in INTERPRETER_DTYPES:
            return f"under TRITON_INTERPRET=1 it takes float32 or float16, not {q.dtype} (bf16 is wrong in the interpreter)"
    elif q.device.type != "cuda":
        return (
            f"{q.device.type} tensors need Triton's interpreter: set TRITON_INTERPRET=1 before the first "
            "backend='triton' call of the process (Triton reads it when the kernels are defined), or use CUDA tensors"
        )
    elif q.dtype not in GPU_DTYPES:
        return f"on CUDA it takes float16 or bfloat16, not {q.dtype} (tl.dot would round float32 to TF32)"
    elif torch.cuda.get_device_capability(q.device) < (8, 0):
        return "it needs an sm_80 (Ampere) or newer GPU"
    if q.shape[-1] not in HEAD_DIMS:
        return f"head size d={q.shape[-1]} is not one of {HEAD_DIMS}"
    return None


def _launch(kernel, grid, cfg: TileConfig, *args, causal: bool, window: int, head_dim: int) -> None:
    kernel[grid](*args, CAUSAL=causal, WINDOW=window, HEAD_DIM=head_dim, BLOCK_M=cfg.block_m, BLOCK_N=cfg.block_n,
                 num_warps=cfg.num_warps, num_stages=cfg.num_stages)  # fmt: skip


def _forward(q: Tensor, k: Tensor, v: Tensor, causal: bool, scale: float, window: int) -> tuple[Tensor, Tensor]:
    b, h, t_q, d = q.shape
    t_k, group = k.shape[2], h // k.shape[1]
    o = torch.empty_like(q)  # (B, H, T_q, D)
    lse = torch.empty((b, h, t_q), dtype=torch.float32, device=q.device)  # log2-sum-exp per query row
    cfg = config_for(_arch(q), "fwd", d, window > 0)
    grid = (triton.cdiv(t_q, cfg.block_m), b * h)
    _launch(fwd_kernel, grid, cfg, q, k, v, o, lse, t_q, t_k, group, scale, causal=causal, window=window, head_dim=d)
    return o, lse


def _backward(q, k, v, o, lse, do, causal: bool, scale: float, window: int) -> tuple[Tensor, Tensor, Tensor]:
    b, h, t_q, d = q.shape
    h_kv, t_k = k.shape[1], k.shape[2]
    delta = (do.float() * o.float()).sum(-1)  # (B, H, T_q) = rowsum(dO ∘ O), the D of Algorithm 2
    dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
    arch = _arch(q)
    cfg = config_for(arch, "dkdv", d, window > 0)
    grid = (triton.cdiv(t_k, cfg.block_n), b * h_kv)
    _launch(dkdv_kernel, grid, cfg, q, k, v, do, dk, dv, lse, delta, t_q, t_k, h // h_kv, scale,
            causal=causal, window=window, head_dim=d)  # fmt: skip
    cfg = config_for(arch, "dq", d, window > 0)
    grid = (triton.cdiv(t_q, cfg.block_m), b * h)
    _launch(dq_kernel, grid, cfg, q, k, v, do, dq, lse, delta, t_q, t_k, h // h_kv, scale,
            causal=causal, window=window, head_dim=d)  # fmt: skip
    return dq, dk, dv


class _TritonAttention(torch.autograd.Function):
    """Forward saves O and L (not P); backward recomputes P tile by tile."""

    @staticmethod
    def forward(ctx, q, k, v, causal, scale, window):
        o, lse = _forward(q, k, v, causal, scale, window)
        ctx.save_for_backward(q, k, v, o, lse)
        ctx.causal, ctx.scale, ctx.window = causal, scale, window
        return o

    @staticmethod
    def backward(ctx, do):
        q, k, v, o, lse = ctx.saved_tensors
        dq, dk, dv = _backward(q, k, v, o, lse, do.contiguous(), ctx.causal, ctx.scale, ctx.window)
        return dq, dk, dv, None, None, None


def _as_bhtd(t: Tensor) -> Tensor:
    """(..., H, T, D) or (T, D) as a contiguous (B, H, T, D): the kernels index rows by arithmetic."""
    heads = t.shape[-3] if t.dim() >= 3 else 1
    return t.reshape(-1, heads, *t.shape[-2:]).contiguous()  # (B, H, T, D)


def triton_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    causal: bool = False,
    mask: Tensor | None = None,
    scale: float | None = None,
    dropout_p: float = 0.0,
    window: int | None = None,
) -> Tensor:
    """softmax(Q Kᵀ · scale) V by the Triton kernels above; differentiable in q, k and v.

    q (..., H, T_q, d), k and v (..., H_kv, T_k, d) as minillm.kernels.checks describes, with d
    in HEAD_DIMS and d_v = d. ``causal``: bottom-right; ``window`` W (needs ``causal``): the query at
    position p sees keys p - W + 1 … p, and tiles outside every window are skipped. No ``mask``
    (use "sdpa" or "chunked") and no dropout.
    CUDA: fp16/bf16 on sm_80+; CPU under TRITON_INTERPRET=1: fp32/fp16.
    """
    check_attention_inputs(q, k, v, None, dropout_p, causal, scale)
    check_window(window, causal)
    reason = unsupported(q)
    if reason is None and dropout_p:
        reason = f"it has no attention dropout (got dropout_p={dropout_p}); use 0, 'sdpa' or 'naive'"
    if reason is None and mask is not None:
        reason = "it takes causal=True/False but no mask; use 'sdpa' or 'chunked' for masks"
    if reason is None and not (q.dtype == k.dtype == v.dtype):  # mixed only under autocast; attention() casts
        reason = f"it needs one dtype for q, k, v, got {q.dtype}, {k.dtype}, {v.dtype}; call minillm.kernels.attention"
    if reason is None and v.shape[-1] != q.shape[-1]:
        reason = f"it needs d_v = d, got d={q.shape[-1]}, d_v={v.shape[-1]}"
    if reason is not None:
        raise ValueError(f"backend 'triton' cannot run these inputs ({q.dtype} on {q.device}): {reason}")
    scale = q.shape[-1] ** -0.5 if scale is None else float(scale)
    out_shape = (*q.shape[:-1], v.shape[-1])
    q4, k4, v4 = _as_bhtd(q), _as_bhtd(k), _as_bhtd(v)  # (B, H, T_q, D), (B, H_kv, T_k, D) ×2
    if q4.numel() == 0 or k4.shape[2] == 0:  # nothing to launch: no rows, or no keys (every row sees nothing)
        return (q * 0).sum(-1, keepdim=True).expand(out_shape) + (k.sum() + v.sum()) * 0
    w = 0 if window is None else int(window)  # 0: no window (a compile-time constant: one variant per W)
    return _TritonAttention.apply(q4, k4, v4, bool(causal), scale, w).reshape(out_shape)  # (..., H, T_q, d)
