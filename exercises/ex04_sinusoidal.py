"""Sinusoidal positional encoding (report §1.2.1, input part: 位置编码器).

Return the (block_size, n_embd) table of Vaswani et al. 2017:
    PE[pos, 2i]   = sin(pos / 10000^(2i / n_embd))
    PE[pos, 2i+1] = cos(pos / 10000^(2i / n_embd))
n_embd may be odd (then the last column is a sin). Return float32.

Grade it: pytest exercises/test_ex04_sinusoidal.py
"""

from __future__ import annotations

from torch import Tensor


def sinusoidal_table(block_size: int, n_embd: int) -> Tensor:
    raise NotImplementedError("ex04_sinusoidal: write this function")
