"""The naive attention kernel: materialise the whole T_q × T_k score matrix (the lesson of §3.2).

Memory and time both grow with T_q · T_k; at T = 8192 with 8 heads the fp32 scores alone are
2 GiB. This is minillm.nn.attention.scaled_dot_product_attention with the kernels' causal
convention (queries are the last T_q of the T_k positions).

Docs: docs/quadratic-cost.md.
"""

from __future__ import annotations

from torch import Tensor

from minillm.nn.attention import add_causal, scaled_dot_product_attention

__all__ = ["naive_attention"]


def naive_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    causal: bool = False,
    mask: Tensor | None = None,
    scale: float | None = None,
    dropout_p: float = 0.0,
) -> Tensor:
    if causal:
        mask = add_causal(mask, q.shape[-2], k.shape[-2], device=q.device)  # bottom-right triangle
    return scaled_dot_product_attention(q, k, v, mask=mask, scale=scale, dropout_p=dropout_p)
