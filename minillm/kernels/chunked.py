"""The FlashAttention algorithm in pure PyTorch: attention without the T × T matrix.

Report §3.2: attention's cost grows with the square of the context. Its *compute* must (every
query meets every key), but its *memory* need not: Dao et al. (2022), "FlashAttention", visit the
keys block by block and keep, for each query row, only a running maximum m, a running softmax
denominator l and a running weighted sum of values (the "online softmax", Milakov & Gimelshein
2018). For key block j with scores S_j = Q K_jᵀ · scale:

    m_new = max(m, rowmax(S_j))
    P_j   = exp(S_j - m_new)
    l     = l · exp(m - m_new) + rowsum(P_j)             (rescale what was summed so far)
    acc   = acc · exp(m - m_new) + P_j V_j
    O     = acc / l                     after the last block; L = m + log l is kept for backward

The backward pass (FlashAttention-2, Dao 2023, Algorithm 2) recomputes P_j = exp(S_j - L) per
block instead of storing it, with D = rowsum(dO ∘ O):

    dV_j = P_jᵀ dO      dP_j = dO V_jᵀ      dS_j = P_j ∘ (dP_j - D)
    dQ  += dS_j K_j · scale                 dK_j = dS_jᵀ Q · scale

Extra memory is O(T · block) for one block of scores instead of O(T²). With ``causal=True`` key
blocks that lie entirely in a query's future are skipped, which halves the work. The loop over
query blocks that a GPU kernel would also have is left to the batched matmul here.

Docs: docs/quadratic-cost.md.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["chunked_attention"]


def _acc_dtype(t: Tensor) -> torch.dtype:
    """Accumulate in fp32 for fp16/bf16/fp32 inputs, in fp64 for fp64 inputs."""
    return torch.promote_types(t.dtype, torch.float32)


def _block_mask(mask: Tensor | None, q0: int, j0: int, j1: int) -> Tensor | None:
    """Rows q0: and columns j0:j1 of a mask broadcastable to (..., T_q, T_k)."""
    if mask is None:
        return None
    rows = mask if mask.shape[-2] == 1 else mask[..., q0:, :]
    return rows if rows.shape[-1] == 1 else rows[..., j0:j1]


def _scores(q_blk, k_blk, mask_blk, causal, q0, j0, offset, scale) -> Tensor:
    """Masked fp32 scores of query rows q0: against key block j0: (..., T_q - q0, block)."""
    s = (q_blk @ k_blk.transpose(-2, -1)).to(_acc_dtype(q_blk)) * scale  # (..., T_q - q0, block)
    if mask_blk is not None:
        s = s.masked_fill(~mask_blk, float("-inf")) if mask_blk.dtype == torch.bool else s + mask_blk
    if causal:
        q_pos = torch.arange(q0, q0 + s.shape[-2], device=s.device)[:, None] + offset  # (rows, 1)
        k_pos = torch.arange(j0, j0 + s.shape[-1], device=s.device)[None, :]  # (1, block)
        if k_pos[0, -1] > q_pos[0, 0]:  # the block reaches into some query's future
            s = s.masked_fill(k_pos > q_pos, float("-inf"))
    return s


def _first_query(causal: bool, j0: int, offset: int) -> int:
    """First query row that may see key j0 (queries are the last T_q of T_k positions)."""
    return max(0, j0 - offset) if causal else 0


def _forward(q, k, v, mask, causal, scale, block_size):
    t_q, t_k = q.shape[-2], k.shape[-2]
    offset = t_k - t_q
    acc_dtype = _acc_dtype(q)
    m = torch.full((*q.shape[:-1], 1), float("-inf"), dtype=acc_dtype, device=q.device)  # (..., T_q, 1) running max
    l = torch.zeros_like(m)  # (..., T_q, 1) running denominator
    acc = torch.zeros((*q.shape[:-1], v.shape[-1]), dtype=acc_dtype, device=q.device)  # (..., T_q, d_v)
    for j0 in range(0, t_k, block_size):
        j1 = min(j0 + block_size, t_k)
        q0 = _first_query(causal, j0, offset)
        if q0 >= t_q:
            break  # every later key block is in every query's future
        s = _scores(q[..., q0:, :], k[..., j0:j1, :], _block_mask(mask, q0, j0, j1), causal, q0, j0, offset, scale)
        m_old = m[..., q0:, :]
        m_new = torch.maximum(m_old, s.amax(dim=-1, keepdim=True))  # (..., rows, 1)
        m_safe = m_new.masked_fill(torch.isneginf(m_new), 0.0)  # rows with nothing visible yet
        p = torch.exp(s - m_safe)  # (..., rows, block)
        correction = torch.exp(m_old - m_safe)  # (..., rows, 1)
        l[..., q0:, :] = l[..., q0:, :] * correction + p.sum(dim=-1, keepdim=True)
        acc[..., q0:, :] = acc[..., q0:, :] * correction + p @ v[..., j0:j1, :].to(acc_dtype)
        m[..., q0:, :] = m_new
    dead = l == 0  # query rows that saw no key at all: output 0, as the naive path
    out = torch.where(dead, 0.0, acc / l.masked_fill(dead, 1.0))
    lse = torch.where(dead, float("inf"), m + torch.log(l.masked_fill(dead, 1.0)))  # exp(s - inf) = 0
    return out.to(q.dtype), lse


def _backward(q, k, v, mask, causal, scale, block_size, out, lse, d_out):
    t_q, t_k = q.shape[-2], k.shape[-2]
    offset = t_k - t_q
    acc_dtype = _acc_dtype(q)
    up = lambda t: t.to(acc_dtype)  # noqa: E731
    d_row = (up(d_out) * up(out)).sum(dim=-1, keepdim=True)  # (..., T_q, 1) = rowsum(dO ∘ O)
    dq = torch.zeros(q.shape, dtype=acc_dtype, device=q.device)
    dk = torch.zeros(k.shape, dtype=acc_dtype, device=k.device)
    dv = torch.zeros(v.shape, dtype=acc_dtype, device=v.device)
    for j0 in range(0, t_k, block_size):
        j1 = min(j0 + block_size, t_k)
        q0 = _first_query(causal, j0, offset)
        if q0 >= t_q:
            break
        q_blk, do_blk = q[..., q0:, :], d_out[..., q0:, :]
        s = _scores(q_blk, k[..., j0:j1, :], _block_mask(mask, q0, j0, j1), causal, q0, j0, offset, scale)
        p = torch.exp(s - lse[..., q0:, :])  # (..., rows, block): the softmax, recomputed
        dv[..., j0:j1, :] = p.transpose(-2, -1) @ up(do_blk)  # (..., block, d_v)
        dp = up(do_blk) @ up(v[..., j0:j1, :]).transpose(-2, -1)  # (..., rows, block)
        ds = p * (dp - d_row[..., q0:, :])  # (..., rows, block)
        dq[..., q0:, :] += ds @ up(k[..., j0:j1, :]) * scale
        dk[..., j0:j1, :] = ds.transpose(-2, -1) @ up(q_blk) * scale
    return dq.to(q.dtype), dk.to(k.dtype), dv.to(v.dtype)


class _ChunkedAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, mask, causal, scale, block_size):
        out, lse = _forward(q, k, v, mask, causal, scale, block_size)
        ctx.save_for_backward(q, k, v, out, lse, mask)
        ctx.causal, ctx.scale, ctx.block_size = causal, scale, block_size
        return out

    @staticmethod
    def backward(ctx, d_out):
        q, k, v, out, lse, mask = ctx.saved_tensors
        dq, dk, dv = _backward(q, k, v, mask, ctx.causal, ctx.scale, ctx.block_size, out, lse, d_out)
        return dq, dk, dv, None, None, None, None


def chunked_attention(
    q: Tensor, k: Tensor, v: Tensor, causal: bool = False, mask: Tensor | None = None,
    scale: float | None = None, block_size: int = 256,
) -> Tensor:
    """Exact attention, key block by key block; O(T·block) extra memory in forward and backward.

    q (..., T_q, d), k (..., T_k, d), v (..., T_k, d_v) with equal leading dimensions. ``causal``
    aligns queries with the *last* T_q keys (decoding with a cache). ``mask``: bool (True = may
    attend) or float additive, broadcastable to (..., T_q, T_k); no gradient flows into it.
    """
    if block_size < 1:
        raise ValueError(f"block_size must be >= 1, got {block_size}")
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    return _ChunkedAttention.apply(q, k, v, mask, causal, scale, block_size)
