"""Grades ex03_heads.py against minillm and hand-computed values."""

import pytest
import torch
from _grader import load
from einops import rearrange

ex = load("ex03_heads")


def test_split_matches_einops_and_merge_inverts():
    x = torch.randn(2, 5, 12)
    heads = ex.split_heads(x, 3)
    assert torch.equal(heads, rearrange(x, "b t (h d) -> b h t d", h=3))
    assert torch.equal(ex.merge_heads(heads), x)


def test_bad_head_count():
    with pytest.raises(ValueError):
        ex.split_heads(torch.randn(1, 2, 10), 3)
