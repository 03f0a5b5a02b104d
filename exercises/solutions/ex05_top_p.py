"""Top-p (nucleus) sampling filter (report §1.2.1, output part).

Given logits (..., V), keep the smallest set of most likely tokens whose probabilities sum to
at least p, and set every other logit to -inf. The most likely token is always kept, and at
p = 1 every token stays (mind the rounding of a float32 running sum).
(Holtzman et al. 2020.)

Grade it: pytest exercises/test_ex05_top_p.py
"""

from __future__ import annotations

import torch
from torch import Tensor


def top_p_filter(logits: Tensor, p: float) -> Tensor:
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = torch.softmax(sorted_logits.double(), dim=-1)  # float64: at p = 1 every token must stay
    before = torch.cumsum(probs, dim=-1) - probs  # mass of the tokens strictly more likely
    drop = torch.zeros_like(before, dtype=torch.bool).scatter(-1, order, before >= p)
    return logits.masked_fill(drop, float("-inf"))
