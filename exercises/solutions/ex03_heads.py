"""Splitting into heads and merging back (report §1.2.1, multi-head self-attention).

Multi-head attention runs h attentions side by side, each on d/h of the model's width.
``split_heads``: (B, T, d) → (B, h, T, d/h), head i taking channels [i·d/h, (i+1)·d/h).
``merge_heads``: the exact inverse, (B, h, T, d/h) → (B, T, d).
Raise ValueError if d is not divisible by n_head.

Grade it: pytest exercises/test_ex03_heads.py
"""

from __future__ import annotations

from torch import Tensor


def split_heads(x: Tensor, n_head: int) -> Tensor:
    b, t, d = x.shape
    if d % n_head:
        raise ValueError(f"d={d} is not divisible by n_head={n_head}")
    return x.view(b, t, n_head, d // n_head).transpose(1, 2)  # (B, h, T, d/h)


def merge_heads(x: Tensor) -> Tensor:
    b, h, t, hd = x.shape
    return x.transpose(1, 2).reshape(b, t, h * hd)  # (B, T, d)
