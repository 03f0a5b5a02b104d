"""Grades ex09_ppo_clip.py against minillm and hand-computed values."""

import torch
from _grader import call, expect, fail, load, shapes

from minillm.rlhf.losses import ppo_policy_loss

ex = load("ex09_ppo_clip")


def mistakes(new, old, adv, eps=0.2) -> dict:
    ratio = torch.exp(new - old)
    clipped = ratio.clamp(1 - eps, 1 + eps)
    return {
        "max instead of min: PPO takes the *pessimistic* (smaller) of ρA and clip(ρ)A": -torch.maximum(
            ratio * adv, clipped * adv
        ).mean(),
        "the advantage's sign is ignored: min(ρ, clip(ρ))·A is not min(ρA, clip(ρ)A). With A < 0 the smaller "
        "product comes from the *larger* ratio, so multiply by A first, then take the min": -(
            torch.minimum(ratio, clipped) * adv
        ).mean(),
        "only the upper side of the clip: clip(ρ, 1-ε, 1+ε) also bounds ρ from below by 1-ε": -torch.minimum(
            ratio * adv, ratio.clamp(max=1 + eps) * adv
        ).mean(),
        "only the lower side of the clip: clip(ρ, 1-ε, 1+ε) also bounds ρ from above by 1+ε": -torch.minimum(
            ratio * adv, ratio.clamp(min=1 - eps) * adv
        ).mean(),
        "the minus sign is missing: the loss is -mean(min(...)), which falls as the objective rises": torch.minimum(
            ratio * adv, clipped * adv
        ).mean(),
        "the ratio is inverted: ρ = exp(logp_new - logp_old)": -torch.minimum(
            (1 / ratio) * adv, (1 / ratio).clamp(1 - eps, 1 + eps) * adv
        ).mean(),
        "the ratio is the difference of log-probabilities: ρ = exp(logp_new - logp_old)": -torch.minimum(
            (new - old) * adv, (new - old).clamp(1 - eps, 1 + eps) * adv
        ).mean(),
        "the ratio of log-probabilities is not ρ: ρ = π_new / π_old = exp(logp_new - logp_old)": -torch.minimum(
            (new / old) * adv, (new / old).clamp(1 - eps, 1 + eps) * adv
        ).mean(),
        "the clipped term alone: take min(ρA, clip(ρ, 1-ε, 1+ε)A), not only the clipped one": -(clipped * adv).mean(),
        "the unclipped term alone: take min(ρA, clip(ρ, 1-ε, 1+ε)A)": -(ratio * adv).mean(),
        "summed instead of averaged: the loss is the *mean* over the samples": -torch.minimum(
            ratio * adv, clipped * adv
        ).sum(),
    }


def loss_of(new, old, adv, **kw):
    what = f"ppo_clip_loss(logp_new {shapes(new)}, logp_old, advantages{', eps=' + str(kw['eps']) if kw else ''})"
    loss = call(what, ex.ppo_clip_loss, new, old, adv, **kw)
    if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
        fail(f"{what}: return one number (a 0-d tensor, the mean), got {shapes(loss)}")
    return loss


def test_hand_values():
    # ρ above and below the clip range, A of both signs, ε = 0.2 (per sample: min(ρA, clip(ρ)A)):
    #   ρ=1.5, A= 1: min( 1.5,  1.2) =  1.2     ρ=0.5, A=-2: min(-1.0, -1.6) = -1.6
    #   ρ=1.5, A=-2: min(-3.0, -2.4) = -3.0     ρ=0.6, A= 1: min( 0.6,  0.8) =  0.6
    # (every mistake below gives a different loss here)
    old = torch.zeros(4)
    new = torch.log(torch.tensor([1.5, 0.5, 1.5, 0.6]))
    adv = torch.tensor([1.0, -2.0, -2.0, 1.0])
    want = torch.tensor(-(1.2 - 1.6 - 3.0 + 0.6) / 4)  # 0.7
    what = "the loss for ρ = (1.5, 0.5, 1.5, 0.6), A = (1, -2, -2, 1)"
    expect(loss_of(new, old, adv), want, what, mistakes(new, old, adv))
    # ε = 0.6: ρ = 1.5 and 0.5 lie inside [0.4, 1.6], so nothing is clipped: -(1.5 - 1.0) / 2
    expect(
        loss_of(new[:2], old[:2], adv[:2], eps=0.6),
        torch.tensor(-0.25),
        "the loss for ρ = (1.5, 0.5), A = (1, -2), eps = 0.6",
        {"eps is ignored: clip to [1 - eps, 1 + eps] with the eps argument, not a fixed 0.2": torch.tensor(0.2)},
    )


def test_matches_minillm_and_clipped_gradient_is_zero():
    g = torch.Generator().manual_seed(0)
    new = (0.3 * torch.randn(20, generator=g)).requires_grad_()
    old, adv = torch.full((20,), -0.5), torch.randn(20, generator=g)
    loss = loss_of(new, old, adv)
    want = ppo_policy_loss(new, old, adv, torch.ones(20, dtype=torch.bool))[0]
    expect(loss, want, "the loss on 20 random samples", mistakes(new.detach(), old, adv))
    if not loss.requires_grad:
        fail("ppo_clip_loss: the loss has no gradient: compute it with torch operations (no .item(), no detach)")
    loss.backward()
    ratio = (new - old).detach().exp()
    outside = ((ratio > 1.2) & (adv > 0)) | ((ratio < 0.8) & (adv < 0))
    assert outside.any()
    if not torch.all(new.grad[outside] == 0):
        fail("ppo_clip_loss: a clipped sample must get no gradient (its term is the constant clip(ρ)·A)")
