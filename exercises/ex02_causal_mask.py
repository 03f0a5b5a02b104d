"""The causal mask of a decoder (report §1.2.1, decoder layer).

Return a boolean (t_q, t_k) mask, True where query i may attend to key j. The queries are the
*last* t_q of the t_k positions (as when decoding with a KV cache), so query i sits at position
i + (t_k - t_q) and may see every key at or before that position. For t_q == t_k this is the
lower triangle including the diagonal.

Grade it: pytest exercises/test_ex02_causal_mask.py
"""

from __future__ import annotations

from torch import Tensor


def causal_mask(t_q: int, t_k: int) -> Tensor:
    raise NotImplementedError("ex02_causal_mask: write this function")
