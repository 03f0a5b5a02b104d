"""Grades ex08_gae.py against minillm and hand-computed values."""

import torch
from _grader import load

from minillm.rlhf.losses import gae

ex = load("ex08_gae")


def test_hand_values():
    adv, ret = ex.gae(torch.tensor([0.0, 1.0]), torch.tensor([0.5, 0.5]), gamma=1.0, lam=1.0)
    torch.testing.assert_close(adv, torch.tensor([0.5, 0.5]))  # return-to-go 1 minus V
    torch.testing.assert_close(ret, torch.tensor([1.0, 1.0]))


def test_matches_minillm():
    g = torch.Generator().manual_seed(0)
    r, v = torch.randn(9, generator=g), torch.randn(9, generator=g)
    for gamma, lam in [(1.0, 0.95), (0.9, 0.5), (0.99, 0.0)]:
        a, ret = ex.gae(r, v, gamma, lam)
        a_ref, ret_ref = gae(r[None], v[None], torch.ones(1, 9, dtype=torch.bool), gamma, lam)
        torch.testing.assert_close(a, a_ref[0])
        torch.testing.assert_close(ret, ret_ref[0])
