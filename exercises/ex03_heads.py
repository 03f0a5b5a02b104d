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
    raise NotImplementedError("ex03_heads: write this function")


def merge_heads(x: Tensor) -> Tensor:
    raise NotImplementedError("ex03_heads: write this function")
