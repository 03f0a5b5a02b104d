"""Grades ex01_attention.py against minillm and hand-computed values."""

import pytest
import torch
import torch.nn.functional as F
from _grader import load

ex = load("ex01_attention")


@pytest.mark.parametrize("tq,tk", [(1, 1), (5, 5), (3, 7)])
def test_matches_torch(tq, tk):
    g = torch.Generator().manual_seed(0)
    q, k, v = (
        torch.randn(2, 3, tq, 8, generator=g),
        torch.randn(2, 3, tk, 8, generator=g),
        torch.randn(2, 3, tk, 4, generator=g),
    )
    out, w = ex.attention(q, k, v)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 3, tq))


def test_mask_hides_keys():
    g = torch.Generator().manual_seed(1)
    q, k, v = torch.randn(1, 4, 8, generator=g), torch.randn(1, 6, 8, generator=g), torch.randn(1, 6, 8, generator=g)
    mask = torch.rand(4, 6, generator=g) > 0.4
    mask[:, 0] = True  # every query sees at least one key
    out, w = ex.attention(q, k, v, mask)
    assert torch.all(w[:, ~mask] == 0)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), atol=1e-5, rtol=1e-5)
