"""The explicit reference: softmax(QKᵀ/√d)V written out step by step (backend "naive").

Report §1.2.1 (自注意力机制 self-attention), in the report's steps:

    weights = softmax(Q Kᵀ / √d)                   dot products of Q and K, then softmax
    output  = weights V                            weighted sum over all positions

Report §3.2 (平方级上升): this path materialises the whole T_q × T_k score matrix, so memory and
time both grow with T_q · T_k; at T = 8192 with 8 heads the fp32 scores alone are 2 GiB. The
other backends (minillm.kernels.chunked, .sdpa) compute the same numbers without keeping it.

Conventions (shared by every backend): masks True = may attend (minillm.kernels.masks), the
causal triangle bottom-right aligned, grouped-query K/V as checked by minillm.kernels.checks.

Docs: docs/transformer.md#self-attention, docs/quadratic-cost.md.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import repeat
from torch import Tensor

from minillm.kernels.checks import check_attention_inputs
from minillm.kernels.masks import causal_mask, check_window

__all__ = ["scaled_dot_product_attention"]


# --8<-- [start:sdpa]
def scaled_dot_product_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    causal: bool = False,
    mask: Tensor | None = None,
    scale: float | None = None,
    dropout_p: float = 0.0,
    window: int | None = None,
    return_weights: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """softmax(Q Kᵀ · scale + mask) V, written out step by step.

    Args:
        q: (..., H, T_q, d) queries.  k: (..., H_kv, T_k, d) keys.  v: (..., H_kv, T_k, d_v)
            values; H_kv divides H (grouped-query attention), equal leading dimensions.
        causal: the queries are the *last* T_q of the T_k positions, so query i sees keys
            0 … i + (T_k - T_q) (for T_q == T_k: keys 0 … i, exactly torch's ``is_causal``). May be
            combined with ``mask``; both must allow a key.
        mask: boolean (True = may attend) or float (added to the scores), broadcastable to
            (..., H, T_q, T_k).
        scale: defaults to 1/√d.
        dropout_p: dropout probability on the attention weights (always applied when > 0, as in
            torch; modules pass 0 in eval mode).
        window: sliding window W (needs ``causal``): the query at position p sees only keys
            p - W + 1 … p (minillm.kernels.masks).
        return_weights: also return the (..., H, T_q, T_k) attention weights.

    Returns:
        (..., H, T_q, d_v) output, or ``(output, weights)``. A query that may see no key gets 0.
    """
    group = check_attention_inputs(q, k, v, mask, dropout_p, causal, scale)
    check_window(window, causal)
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    if k.shape[-2] == 0:  # no keys at all: every query sees nothing, so its output is 0
        out = q.new_zeros((*q.shape[:-1], v.shape[-1]))  # (..., T_q, d_v)
        return (out, q.new_zeros((*q.shape[:-1], 0))) if return_weights else out
    if group > 1:  # grouped-query attention: query head h reads K/V head h // group
        k = repeat(k, "... h t d -> ... (h g) t d", g=group)  # (..., H, T_k, d)
        v = repeat(v, "... h t d -> ... (h g) t d", g=group)  # (..., H, T_k, d_v)

    # Step 1: how well each query matches each key. fp16/bf16 inputs are multiplied in fp32: in
    # fp16 a product of entries around 1e2 already overflows to inf and the softmax turns it to NaN.
    acc = torch.promote_types(q.dtype, torch.float32)
    scores = (q.to(acc) @ k.to(acc).transpose(-2, -1)) * scale  # (..., T_q, T_k)

    # Step 2: forbid what the masks forbid (-inf becomes weight 0 after softmax).
    allowed = causal_mask(q.shape[-2], k.shape[-2], q.device, window) if causal else None  # (T_q, T_k)
    if mask is not None and mask.dtype == torch.bool:
        allowed = mask if allowed is None else allowed & mask
    elif mask is not None:  # additive; -inf hides a key even from a NaN query (NaN + -inf would be NaN)
        scores = (scores + mask).masked_fill(torch.isneginf(mask), float("-inf"))
    if allowed is not None:
        scores = scores.masked_fill(~allowed, float("-inf"))

    # Step 3: softmax over the keys, written out. Subtracting the row maximum keeps exp() from
    # overflowing and does not change the result. A row with no allowed key has max = -inf; we
    # give it weights 0 instead of the 0/0 = NaN that a plain softmax would return.
    row_max = scores.amax(dim=-1, keepdim=True)  # (..., T_q, 1)
    dead_row = torch.isneginf(row_max)
    row_max = row_max.masked_fill(dead_row, 0.0)
    exp_scores = torch.exp(scores - row_max)  # (..., T_q, T_k)
    denom = exp_scores.sum(dim=-1, keepdim=True)  # (..., T_q, 1)
    weights = exp_scores / denom.masked_fill(dead_row, 1.0)  # (..., T_q, T_k)

    if dropout_p > 0.0:
        weights = F.dropout(weights, p=dropout_p, training=True)

    # Step 4: weighted sum of the values (back in the inputs' dtype).
    out = (weights @ v.to(acc)).to(q.dtype)  # (..., T_q, d_v)
    return (out, weights.to(q.dtype)) if return_weights else out


# --8<-- [end:sdpa]
