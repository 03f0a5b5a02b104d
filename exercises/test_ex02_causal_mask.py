"""Grades ex02_causal_mask.py against minillm and hand-computed values."""

import torch
from _grader import load

from minillm.nn.attention import causal_mask

ex = load("ex02_causal_mask")


def test_square_is_lower_triangle():
    assert torch.equal(ex.causal_mask(4, 4), torch.ones(4, 4, dtype=torch.bool).tril())


def test_matches_minillm_for_cache_shapes():
    for tq, tk in [(1, 1), (1, 9), (3, 8), (8, 8)]:
        m = ex.causal_mask(tq, tk)
        assert m.dtype == torch.bool and torch.equal(m, causal_mask(tq, tk)), (tq, tk)
