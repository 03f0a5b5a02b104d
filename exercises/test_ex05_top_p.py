"""Grades ex05_top_p.py against minillm and hand-computed values."""

import math

import torch
from _grader import load

from minillm.generation import top_p_filter

ex = load("ex05_top_p")


def test_hand_example():
    logits = torch.log(torch.tensor([0.1, 0.5, 0.3, 0.1]))
    out = ex.top_p_filter(logits, 0.7)  # 0.5 + 0.3 >= 0.7: keep tokens 1 and 2
    assert torch.isinf(out[[0, 3]]).all() and torch.equal(out[[1, 2]], logits[[1, 2]])
    assert not math.isinf(ex.top_p_filter(logits, 0.01)[1])  # the top token always stays


def test_matches_minillm():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 3, 50, generator=g) * 3
    for p in (0.1, 0.5, 0.9, 1.0):
        assert torch.equal(torch.isinf(ex.top_p_filter(logits, p)), torch.isinf(top_p_filter(logits, p))), p
