"""Grades ex09_ppo_clip.py against minillm and hand-computed values."""

import math

import torch
from _grader import load

from minillm.rlhf.losses import ppo_policy_loss

ex = load("ex09_ppo_clip")


def test_hand_values():
    old = torch.zeros(2)
    new = torch.log(torch.tensor([1.5, 0.5]))
    adv = torch.tensor([1.0, -1.0])
    # ρ=1.5, A=1: min(1.5, 1.2) = 1.2;  ρ=0.5, A=-1: min(-0.5, -0.8) = -0.8
    assert math.isclose(ex.ppo_clip_loss(new, old, adv).item(), -(1.2 - 0.8) / 2, rel_tol=1e-6)


def test_matches_minillm_and_clipped_gradient_is_zero():
    g = torch.Generator().manual_seed(0)
    new = (0.3 * torch.randn(20, generator=g)).requires_grad_()
    old, adv = torch.zeros(20), torch.randn(20, generator=g)
    loss = ex.ppo_clip_loss(new, old, adv)
    torch.testing.assert_close(loss, ppo_policy_loss(new, old, adv, torch.ones(20, dtype=torch.bool))[0])
    loss.backward()
    ratio = new.detach().exp()
    outside = ((ratio > 1.2) & (adv > 0)) | ((ratio < 0.8) & (adv < 0))
    assert outside.any() and torch.all(new.grad[outside] == 0)
