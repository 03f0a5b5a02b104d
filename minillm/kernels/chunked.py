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

The code runs the same recurrence in base 2 (scores times log2 e, exp2 for exp): the exponential
is the costliest element-wise step, and exp2 is about twice as fast as exp on a CPU.

The backward pass (FlashAttention-2, Dao 2023, Algorithm 2) recomputes P_j = exp(S_j - L) per
block instead of storing it, with D = rowsum(dO ∘ O):

    dV_j = P_jᵀ dO      dP_j = dO V_jᵀ      dS_j = P_j ∘ (dP_j - D)
    dQ  += dS_j K_j · scale                 dK_j = dS_jᵀ Q · scale

Both passes walk over tiles of block_q queries × block_k keys, so the extra memory is one tile of
scores plus O(T·d) for the output and the per-row statistics, instead of the O(T²) score matrix;
cache-sized tiles also keep the element-wise softmax work in the CPU cache. With ``causal=True``
tiles that lie entirely in the queries' future are skipped, which halves the work; with a
sliding ``window`` W the tiles wholly older than every query's window are skipped too, so each
query tile visits about (block_q + W) keys and the cost is O(T·W) instead of O(T²).

Grouped-query attention costs no copy here: the H query heads are viewed as (H_kv, group) and
each K/V head broadcasts over its group; in backward, dK and dV sum over the group, because one
K/V head served every query head of its group.

Docs: docs/quadratic-cost.md.
"""

from __future__ import annotations

import math

import torch
from einops import rearrange
from torch import Tensor

from minillm.kernels.checks import check_attention_inputs
from minillm.kernels.masks import check_window

__all__ = ["chunked_attention"]

LOG2E = math.log2(math.e)  # exp(x) = exp2(x · log2 e)


def _acc_dtype(t: Tensor) -> torch.dtype:
    """Accumulate in fp32 for fp16/bf16/fp32 inputs, in fp64 for fp64 inputs."""
    return torch.promote_types(t.dtype, torch.float32)


def _tile_mask(mask: Tensor | None, i0: int, i1: int, j0: int, j1: int) -> Tensor | None:
    """Rows i0:i1 and columns j0:j1 of a mask broadcastable to (..., T_q, T_k)."""
    if mask is None:
        return None
    rows = mask if mask.shape[-2] == 1 else mask[..., i0:i1, :]
    return rows if rows.shape[-1] == 1 else rows[..., j0:j1]


def _tile_scores(q_tile, k_tile, mask, causal, i0, i1, j0, j1, offset, window=None) -> Tensor:
    """Masked base-2 scores of queries i0:i1 against keys j0:j1, in the accumulation dtype.

    ``q_tile`` is already multiplied by scale · log2 e and in the accumulation dtype; ``k_tile`` is
    brought to it before the product (in fp16, entries around 1e2 already overflow). The result is
    a fresh tensor that callers may overwrite in place.
    """
    s = q_tile @ k_tile.to(q_tile.dtype).transpose(-2, -1)  # (..., rows, cols)
    m = _tile_mask(mask, i0, i1, j0, j1)
    if m is not None:
        if m.dtype == torch.bool:
            s.masked_fill_(~m, float("-inf"))
        else:
            s.add_(m, alpha=LOG2E)  # the additive mask is in natural-log units
            s.masked_fill_(torch.isneginf(m), float("-inf"))  # hidden stays hidden, even from a NaN query
    if causal and j1 - 1 > i0 + offset:  # the tile reaches past the diagonal for some query
        q_pos = torch.arange(i0, i1, device=s.device)[:, None] + offset  # (rows, 1)
        k_pos = torch.arange(j0, j1, device=s.device)[None, :]  # (1, cols)
        s.masked_fill_(k_pos > q_pos, float("-inf"))
    if window is not None and j0 <= i1 - 1 + offset - window:  # some key is older than some query's window
        q_pos = torch.arange(i0, i1, device=s.device)[:, None] + offset  # (rows, 1)
        k_pos = torch.arange(j0, j1, device=s.device)[None, :]  # (1, cols)
        s.masked_fill_(k_pos <= q_pos - window, float("-inf"))
    return s


# --8<-- [start:flash-forward]
def _forward(q, k, v, mask, causal, scale, block_q, block_k, window=None):
    """Algorithm 1 (FlashAttention-2 order): for each query tile, stream over the key tiles.

    Scores are kept in base 2 (q is scaled by scale · log2 e, so exp(x) = exp2(x · log2 e)):
    the exponential is the costliest element-wise step and exp2 is about twice as fast as exp on
    a CPU; FlashAttention's own kernels do the same. The kept statistic is L = m + log2 l.
    """
    t_q, t_k = q.shape[-2], k.shape[-2]
    offset = t_k - t_q  # queries are the last t_q positions
    acc_dtype = _acc_dtype(q)
    q2 = q.to(acc_dtype) * (scale * LOG2E)  # (..., T_q, d): scores come out in base 2
    out = torch.empty((*q.shape[:-1], v.shape[-1]), dtype=q.dtype, device=q.device)  # (..., T_q, d_v)
    lse = torch.empty((*q.shape[:-1], 1), dtype=acc_dtype, device=q.device)  # (..., T_q, 1), base 2
    for i0 in range(0, t_q, block_q):
        i1 = min(i0 + block_q, t_q)
        q_tile = q2[..., i0:i1, :]  # (..., rows, d)
        m = torch.full((*q_tile.shape[:-1], 1), float("-inf"), dtype=acc_dtype, device=q.device)  # running max
        l = torch.zeros_like(m)  # running denominator Σ exp2(s - m)
        acc = torch.zeros((*q_tile.shape[:-1], v.shape[-1]), dtype=acc_dtype, device=q.device)  # Σ P V
        key_end = min(t_k, i1 + offset) if causal else t_k  # later keys are in every row's future
        key_start = 0 if window is None else max(0, i0 + offset - window + 1)  # older keys: outside every window
        for j0 in range(key_start - key_start % block_k, max(key_end, 0), block_k):
            j1 = min(j0 + block_k, t_k)
            s = _tile_scores(
                q_tile, k[..., j0:j1, :], mask, causal, i0, i1, j0, j1, offset, window
            )  # (..., rows, cols)
            m_new = torch.maximum(m, s.amax(dim=-1, keepdim=True))
            m_safe = m_new.masked_fill(torch.isneginf(m_new), 0.0)  # rows with nothing visible yet
            p = s.sub_(m_safe).exp2_()  # in place: the tile's unnormalised softmax
            correction = torch.exp2(m - m_safe)  # rescales what was summed under the old max
            l.mul_(correction).add_(p.sum(dim=-1, keepdim=True))
            acc.mul_(correction).add_(p @ v[..., j0:j1, :].to(acc_dtype))  # (..., rows, d_v)
            m = m_new
        dead = l == 0  # no visible key at all: output 0, like the naive path
        l = l.masked_fill(dead, 1.0)
        out[..., i0:i1, :] = torch.where(dead, 0.0, acc / l)
        lse[..., i0:i1, :] = torch.where(dead, float("inf"), m + torch.log2(l))
    return out, lse


# --8<-- [end:flash-forward]


def _backward(q, k, v, mask, causal, scale, block_q, block_k, out, lse, d_out, window=None):
    """Algorithm 2: for each key tile, revisit the query tiles that can see it; recompute P."""
    t_q, t_k = q.shape[-2], k.shape[-2]
    offset = t_k - t_q
    acc_dtype = _acc_dtype(q)
    up = lambda t: t.to(acc_dtype)
    q_up = up(q)  # (..., T_q, d)
    q2 = q_up * (scale * LOG2E)  # (..., T_q, d): base-2 scores, as in the forward pass
    d_out = up(d_out)
    d_row = (d_out * up(out)).sum(dim=-1, keepdim=True)  # (..., T_q, 1) = rowsum(dO ∘ O)
    dq = torch.zeros(q.shape, dtype=acc_dtype, device=q.device)
    dk = torch.empty(k.shape, dtype=k.dtype, device=k.device)
    dv = torch.empty(v.shape, dtype=v.dtype, device=v.device)
    for j0 in range(0, t_k, block_k):
        j1 = min(j0 + block_k, t_k)
        k_tile, v_tile = up(k[..., j0:j1, :]), up(v[..., j0:j1, :])  # (..., cols, d), (..., cols, d_v)
        dk_tile = torch.zeros(k_tile.shape, dtype=acc_dtype, device=k.device)
        dv_tile = torch.zeros(v_tile.shape, dtype=acc_dtype, device=v.device)
        first_q = max(0, j0 - offset) if causal else 0  # earlier queries cannot see this tile
        end_q = t_q if window is None else min(t_q, j1 - 1 + window - offset)  # later queries: tile left their window
        for i0 in range(first_q - first_q % block_q, end_q, block_q):
            i1 = min(i0 + block_q, t_q)
            s = _tile_scores(q2[..., i0:i1, :], k_tile, mask, causal, i0, i1, j0, j1, offset, window)
            p = s.sub_(lse[..., i0:i1, :]).exp2_()  # (..., rows, cols): the softmax, recomputed
            do_tile = d_out[..., i0:i1, :]
            # sum_to_size: with grouped-query attention a K/V head gets the sum over its group
            dv_tile += (p.transpose(-2, -1) @ do_tile).sum_to_size(dv_tile.shape)
            ds = (do_tile @ v_tile.transpose(-2, -1)).sub_(d_row[..., i0:i1, :]).mul_(p)  # P ∘ (dP - D)
            dq[..., i0:i1, :] += ds @ k_tile
            dk_tile += (ds.transpose(-2, -1) @ q_up[..., i0:i1, :]).sum_to_size(dk_tile.shape)
        dk[..., j0:j1, :] = dk_tile * scale
        dv[..., j0:j1, :] = dv_tile
    return (dq * scale).to(q.dtype), dk, dv


class _ChunkedAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, mask, causal, scale, block_q, block_k, window):
        out, lse = _forward(q, k, v, mask, causal, scale, block_q, block_k, window)
        ctx.save_for_backward(q, k, v, out, lse, mask)
        ctx.causal, ctx.scale, ctx.blocks, ctx.window = causal, scale, (block_q, block_k), window
        return out

    @staticmethod
    def backward(ctx, d_out):
        q, k, v, out, lse, mask = ctx.saved_tensors
        dq, dk, dv = _backward(q, k, v, mask, ctx.causal, ctx.scale, *ctx.blocks, out, lse, d_out, ctx.window)
        return dq, dk, dv, None, None, None, None, None, None


def _group_heads(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, group: int):
    """View H query heads as (H_kv, group) so that each K/V head broadcasts over its group."""
    q = rearrange(q, "... (h g) t d -> ... h g t d", g=group)  # (..., H_kv, g, T_q, d)
    k = rearrange(k, "... h t d -> ... h 1 t d")  # (..., H_kv, 1, T_k, d)
    v = rearrange(v, "... h t d -> ... h 1 t d")  # (..., H_kv, 1, T_k, d_v)
    if mask is not None:
        mask = mask[(None,) * (q.dim() - 1 - mask.dim())]  # (..., H or 1, T_q, T_k): the scores' rank
        if mask.shape[-3] == 1:
            mask = mask.unsqueeze(-3)  # (..., 1, 1, T_q, T_k)
        else:
            mask = rearrange(mask, "... (h g) i j -> ... h g i j", g=group)  # (..., H_kv, g, T_q, T_k)
    return q, k, v, mask


def chunked_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    causal: bool = False,
    mask: Tensor | None = None,
    scale: float | None = None,
    dropout_p: float = 0.0,
    window: int | None = None,
    block_size: int = 256,
    block_q: int | None = None,
) -> Tensor:
    """Exact attention, key block by key block; O(T·block) extra memory in forward and backward.

    q (..., H, T_q, d), k (..., H_kv, T_k, d), v (..., H_kv, T_k, d_v) as minillm.kernels.checks
    describes (H_kv divides H). ``causal``: the queries are the *last* T_q of the T_k positions
    (bottom-right). ``mask``: bool (True = may attend) or float additive, broadcastable to
    (..., H, T_q, T_k); no gradient flows into it. ``block_size`` keys × ``block_q`` queries per
    tile (``block_q=None``: same as ``block_size``); 256 × 256 was fastest on a 2-core x86 CPU in fp32
    (benchmarks/README.md), and square tiles leave only one masked tile per row on the diagonal.
    ``window`` W (with ``causal``): the query at position p sees keys p - W + 1 … p; key tiles
    outside every window are skipped (O(T·W) work). ``dropout_p`` must be 0 (the signature is every
    backend's: minillm.kernels.registry).
    """
    group = check_attention_inputs(q, k, v, mask, dropout_p, causal, scale)
    check_window(window, causal)
    if dropout_p:
        raise ValueError(
            f"chunked attention has no attention dropout, got dropout_p={dropout_p}; use 'sdpa' or 'naive'"
        )
    block_q = block_size if block_q is None else block_q
    for name, size in (("block_size", block_size), ("block_q", block_q)):
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:  # 2.0 or True is no tile size
            raise ValueError(f"block sizes must be >= 1 and of type int, got {name}={size!r} ({type(size).__name__})")
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    if group == 1:
        return _ChunkedAttention.apply(q, k, v, mask, causal, scale, block_q, block_size, window)
    qg, kg, vg, mask = _group_heads(q, k, v, mask, group)
    out = _ChunkedAttention.apply(
        qg, kg, vg, mask, causal, scale, block_q, block_size, window
    )  # (..., H_kv, g, T_q, d_v)
    return rearrange(out, "... h g t d -> ... (h g) t d")  # (..., H, T_q, d_v)
