"""Grades ex11_triton_forward.py under Triton's interpreter (CPU, fp32, tiny shapes) against torch."""

import os

import pytest
import torch
import torch.nn.functional as F
from _grader import load

# Triton reads TRITON_INTERPRET when it is imported and again when a kernel runs (conftest.py sets it first).
os.environ["TRITON_INTERPRET"] = "1"
pytest.importorskip("triton")
ex = load("ex11_triton_forward")


@pytest.mark.parametrize("t_q, t_k", [(16, 16), (5, 37), (33, 8)])
def test_matches_torch(t_q, t_k):
    g = torch.Generator().manual_seed(t_q + t_k)
    q, k, v = torch.randn(t_q, 16, generator=g), torch.randn(t_k, 16, generator=g), torch.randn(t_k, 16, generator=g)
    torch.testing.assert_close(ex.flash_forward(q, k, v), F.scaled_dot_product_attention(q, k, v), atol=1e-5, rtol=1e-5)


def test_large_scores_do_not_overflow():
    q = torch.full((4, 16), 30.0)
    k = torch.randn(40, 16, generator=torch.Generator().manual_seed(0)) * 30
    v = torch.randn(40, 16)
    out = ex.flash_forward(q, k, v)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v), atol=1e-4, rtol=1e-4)
