"""Grades ex07_ranking_loss.py against minillm and hand-computed values."""

import math

import torch
from _grader import load

from minillm.rlhf.losses import pairwise_ranking_loss

ex = load("ex07_ranking_loss")


def test_hand_value():
    r = torch.tensor([[2.0, 0.0]])
    assert math.isclose(ex.ranking_loss(r).item(), -math.log(1 / (1 + math.exp(-2))), rel_tol=1e-6)


def test_matches_minillm_and_has_gradients():
    r = torch.randn(5, 4, generator=torch.Generator().manual_seed(0), requires_grad=True)
    loss = ex.ranking_loss(r)
    torch.testing.assert_close(loss, pairwise_ranking_loss(r))
    loss.backward()
    assert r.grad[:, 0].lt(0).all()  # raising the best reply's score lowers the loss
