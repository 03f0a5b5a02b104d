"""Scaled dot-product attention (report §1.2.1, self-attention).

Write softmax(Q Kᵀ / √d) V for q (..., T_q, d), k (..., T_k, d), v (..., T_k, d_v).
``mask`` (broadcastable to (..., T_q, T_k)) is boolean, True = may attend; masked scores become
-inf before the softmax. Return (output (..., T_q, d_v), weights (..., T_q, T_k)).
Do not call torch's fused attention — that is what the grader compares against.

Grade it: pytest exercises/test_ex01_attention.py
"""

from __future__ import annotations

from torch import Tensor


def attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    raise NotImplementedError("ex01_attention: write this function")
