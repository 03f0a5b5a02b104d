"""Top-p (nucleus) sampling filter (report §1.2.1, output part).

Given logits (..., V), keep the smallest set of most likely tokens whose probabilities sum to
at least p, and set every other logit to -inf. The most likely token is always kept, and at
p = 1 every token stays (mind the rounding of a float32 running sum).
(Holtzman et al. 2020.)

Grade it: pytest exercises/test_ex05_top_p.py
"""

from __future__ import annotations

from torch import Tensor


def top_p_filter(logits: Tensor, p: float) -> Tensor:
    raise NotImplementedError("ex05_top_p: write this function")
