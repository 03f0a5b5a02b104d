"""Grades ex09_ppo_clip.py against minillm and hand-computed values."""

import math

import torch
from _grader import expect, load

from minillm.rlhf.losses import ppo_policy_loss

ex = load("ex09_ppo_clip")


def mistakes(new, old, adv, eps=0.2) -> dict:
    ratio = torch.exp(new - old)
    clipped = ratio.clamp(1 - eps, 1 + eps)
    return {
        "max instead of min: PPO takes the *pessimistic* (smaller) of ρA and clip(ρ)A": -torch.maximum(
            ratio * adv, clipped * adv
        ).mean(),
        "the minus sign is missing: the loss is -mean(min(...)), which falls as the objective rises": torch.minimum(
            ratio * adv, clipped * adv
        ).mean(),
        "the ratio is inverted: ρ = exp(logp_new - logp_old)": -torch.minimum(
            (1 / ratio) * adv, (1 / ratio).clamp(1 - eps, 1 + eps) * adv
        ).mean(),
        "the ratio of log-probabilities is not ρ: ρ = π_new / π_old = exp(logp_new - logp_old)": -torch.minimum(
            (new / old) * adv, (new / old).clamp(1 - eps, 1 + eps) * adv
        ).mean(),
        "the clipped term alone: take min(ρA, clip(ρ, 1-ε, 1+ε)A), not only the clipped one": -(clipped * adv).mean(),
    }


def test_hand_values():
    old = torch.zeros(2)
    new = torch.log(torch.tensor([1.5, 0.5]))
    adv = torch.tensor([1.0, -1.0])
    # ρ=1.5, A=1: min(1.5, 1.2) = 1.2;  ρ=0.5, A=-1: min(-0.5, -0.8) = -0.8
    want = torch.tensor(-(1.2 - 0.8) / 2)
    expect(ex.ppo_clip_loss(new, old, adv), want, "the loss for ρ = (1.5, 0.5), A = (1, -1)", mistakes(new, old, adv))
    assert math.isclose(ex.ppo_clip_loss(new, old, adv, eps=0.6).item(), -(1.5 - 0.5) / 2, rel_tol=1e-6), (
        "use the eps argument, not a fixed 0.2"
    )


def test_matches_minillm_and_clipped_gradient_is_zero():
    g = torch.Generator().manual_seed(0)
    new = (0.3 * torch.randn(20, generator=g)).requires_grad_()
    old, adv = torch.full((20,), -0.5), torch.randn(20, generator=g)
    loss = ex.ppo_clip_loss(new, old, adv)
    want = ppo_policy_loss(new, old, adv, torch.ones(20, dtype=torch.bool))[0]
    expect(loss, want, "the loss on 20 random samples", mistakes(new.detach(), old, adv))
    loss.backward()
    ratio = (new - old).detach().exp()
    outside = ((ratio > 1.2) & (adv > 0)) | ((ratio < 0.8) & (adv < 0))
    assert outside.any() and torch.all(new.grad[outside] == 0), "a clipped sample must get no gradient"
