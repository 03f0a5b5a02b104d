"""Grades ex12_reinforce_baseline.py against minillm and hand-computed values."""

import torch
from _grader import call, expect, fail, load, shapes

from minillm.rlhf.policy_gradient import group_advantages, reinforce_token_loss

ex = load("ex12_reinforce_baseline")


def mistakes(lp, r, g) -> dict:
    groups = r.view(-1, g)
    centred = (groups - groups.mean(1, keepdim=True)).flatten()
    strided = r.view(g, -1)
    return {
        "no baseline: subtract the mean reward of the reply's group, A_i = r_i - mean(group)": -r[:, None] * lp,
        "the baseline is the whole batch's mean: use the mean of the reply's own group of G": -(r - r.mean())[:, None]
        * lp,
        "the groups are strided: a prompt's G replies are side by side, rewards.view(P, G), not view(G, P)": -(
            (strided - strided.mean(0, keepdim=True)).flatten()
        )[:, None]
        * lp,
        "divided by the group's std: that is GRPO's advantage; this exercise asks for r - mean only": -(
            (groups - groups.mean(1, keepdim=True)) / groups.std(1, keepdim=True)
        ).flatten()[:, None]
        * lp,
        "the minus sign is missing: the loss is -A·log π, which falls as good replies get likelier": centred[:, None]
        * lp,
        "probabilities instead of log-probabilities: the loss is -A · log π(y_t), logprobs as given": -centred[:, None]
        * lp.exp(),
    }


def loss_of(lp, r, g):
    what = f"reinforce_baseline_token_loss(logprobs {shapes(lp)}, rewards {shapes(r)}, group_size={g})"
    out = call(what, ex.reinforce_baseline_token_loss, lp, r, g)
    if not isinstance(out, torch.Tensor) or out.shape != lp.shape:
        fail(f"{what}: return one loss per token, shaped like logprobs {tuple(lp.shape)}, got {shapes(out)}")
    return out


def test_hand_values():
    # P = 2 prompts, G = 2 replies: rewards (1, 0 | 2, 5), group means 0.5 and 3.5, A = (0.5, -0.5, -1.5, 1.5)
    lp = torch.log(torch.tensor([[0.5, 0.25], [0.5, 1.0], [0.25, 0.5], [1.0, 0.5]]))
    r = torch.tensor([1.0, 0.0, 2.0, 5.0])
    a = torch.tensor([0.5, -0.5, -1.5, 1.5])
    want = -a[:, None] * lp
    expect(loss_of(lp, r, 2), want, "the loss for rewards (1, 0 | 2, 5), G = 2", mistakes(lp, r, 2))
    # one group of 4 equal rewards: nothing to learn, every token's loss is 0
    expect(
        loss_of(lp, torch.full((4,), 3.0), 4),
        torch.zeros(4, 2),
        "the loss for one group of four equal rewards",
        {"no baseline: a group of equal rewards has advantages 0": -3.0 * lp},
    )


def test_matches_minillm_and_the_gradient_is_minus_the_advantage():
    g = torch.Generator().manual_seed(0)
    lp = (-torch.rand(12, 5, generator=g) * 3).requires_grad_()
    r = torch.randint(0, 2, (12,), generator=g).float()
    adv = group_advantages(r.view(3, 4), normalize_by_std=False).flatten()
    out = loss_of(lp, r, 4)
    expect(
        out, reinforce_token_loss(lp, adv), "the loss on 3 groups of 4 random 0/1 rewards", mistakes(lp.detach(), r, 4)
    )
    if not out.requires_grad:
        fail("reinforce_baseline_token_loss: the loss has no gradient: compute it with torch operations, no detach")
    out.sum().backward()
    expect(lp.grad, -adv[:, None].expand(12, 5), "the gradient of the summed loss with respect to logprobs")
