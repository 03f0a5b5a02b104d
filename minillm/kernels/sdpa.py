"""PyTorch's fused attention with minillm's conventions (backend "sdpa", what "auto" picks).

torch.nn.functional.scaled_dot_product_attention dispatches to FlashAttention, memory-efficient or
C++ math kernels (report §3.2: the same numbers as the explicit softmax, far less memory traffic).
Two of torch's conventions differ from minillm's, so this wrapper bridges them:

- torch's ``is_causal`` is top-left aligned and does not combine with a mask; minillm's causal
  triangle is bottom-right (minillm.kernels.masks), so for T_q != T_k or with a mask it is folded
  into the mask;
- a query row with no visible key is NaN or arbitrary across torch versions; minillm returns 0;
- a NaN in a query row stays in that row under the explicit softmax, but torch's CPU flash kernel
  (what torch picks for unmasked calls on a CPU) returns 0 for it, as if the row saw no key; the
  wrapper puts the NaN back, so a bad input is never silently hidden.

Grouped-query K/V go straight to torch's ``enable_gqa`` (the same head mapping as minillm's).

Docs: docs/quadratic-cost.md#one-entry-point-several-backends.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from minillm.kernels.checks import check_attention_inputs
from minillm.kernels.masks import add_causal, check_window

__all__ = ["sdpa_attention"]


def sdpa_attention(
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
    """torch's fused attention; shapes and conventions as minillm.kernels.checks describes.

    torch has no sliding window, so ``window`` is folded into a boolean mask: correct, but the
    fused kernel still visits all T_q × T_k pairs (no O(T·W) saving; "chunked" skips the tiles).
    """
    group = check_attention_inputs(q, k, v, mask, dropout_p, causal, scale)
    check_window(window, causal)
    if k.shape[-2] == 0:  # no keys at all: every query sees nothing, so its output is 0 (torch's would be NaN
        return q.new_zeros((*q.shape[:-1], v.shape[-1]))  # with a NaN query anywhere), as naive and chunked
    if causal and q.shape[-2] == 1 and window is None:
        causal = False  # one query, the newest position (a decoding step): it sees every key, no mask to build
    if causal and (mask is not None or q.shape[-2] != k.shape[-2] or window is not None):  # bottom-right
        mask, causal = add_causal(mask, q.shape[-2], k.shape[-2], q.device, window), False  # (..., T_q, T_k)
    out = F.scaled_dot_product_attention(
        q, k, v, attn_mask=mask, is_causal=causal, scale=scale, dropout_p=dropout_p, enable_gqa=group > 1
    )  # (..., H, T_q, d_v)
    if mask is not None:
        visible = (
            mask.any(-1, keepdim=True) if mask.dtype == torch.bool else (mask > float("-inf")).any(-1, keepdim=True)
        )
        out = out.masked_fill(~visible, 0.0)  # (..., H, T_q, d_v): rows that see nothing are 0
    if not q.is_meta and torch.isnan(q.detach().sum()):  # torch's CPU flash kernel gives 0 for a NaN query row
        nan_row = q.isnan().any(-1, keepdim=True)  # (..., H, T_q, 1)
        if mask is not None:
            nan_row = nan_row & visible  # a row that sees nothing stays 0, NaN query or not
        out = out.masked_fill(nan_row, float("nan"))  # (..., H, T_q, d_v): a NaN query row stays NaN
    return out
