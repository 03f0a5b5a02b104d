"""Grades ex07_ranking_loss.py against minillm and hand-computed values."""

import math

import torch
import torch.nn.functional as F
from _grader import call, expect, fail, load, shapes

from minillm.rlhf.losses import pairwise_ranking_loss

ex = load("ex07_ranking_loss")


def mistakes(r: torch.Tensor) -> dict:
    k = r.shape[1]
    margin = r[:, :, None] - r[:, None, :]  # (B, K, K): r_i - r_j
    better = torch.ones(k, k, dtype=torch.bool).triu(1)  # i ranked above j
    pairs = margin[:, better]  # (B, K(K-1)/2): r_w - r_l
    return {
        "the margin's sign: rows are best first, so the loss is -log σ(r_w - r_l) with w ranked *above* l": (
            -F.logsigmoid(-pairs).mean()
        ),
        "the minus sign is missing: the loss is -log σ(r_w - r_l), which falls as r_w rises": F.logsigmoid(
            pairs
        ).mean(),
        "only neighbouring replies were compared: use all K(K-1)/2 pairs (w above l)": (
            -F.logsigmoid(r[:, :-1] - r[:, 1:]).mean()
        ),
        "averaged over all K×K entries of the masked margin matrix: the mean is over the K(K-1)/2 pairs only "
        "(divide by the number of pairs, or index the pairs out before .mean())": (
            -(F.logsigmoid(margin) * better).mean()
        ),
        "averaged over all K×K entries (the masked ones count as 0): the mean is over the K(K-1)/2 pairs only": (
            -(F.logsigmoid(margin) * better).sum() / (r.shape[0] * k * k)
        ),
        "summed instead of averaged: take the mean over the pairs and the rows": -F.logsigmoid(pairs).sum(),
        "summed over the pairs instead of averaged: take the mean over the K(K-1)/2 pairs, then over the rows": (
            -F.logsigmoid(pairs).sum(1).mean()
        ),
        "the log is missing: the loss is -log σ(r_w - r_l), not -σ(r_w - r_l)": -torch.sigmoid(pairs).mean(),
        "each pair was counted in both directions (or with itself): only pairs with w ranked above l": (
            -F.logsigmoid(margin.flatten(1)).mean()
        ),
    }


def loss_of(r):
    loss = call(f"ranking_loss(rewards {shapes(r)})", ex.ranking_loss, r)
    if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
        fail(f"ranking_loss(rewards {shapes(r)}): return one number (a 0-d tensor, the mean), got {shapes(loss)}")
    return loss


def test_hand_value():
    r = torch.tensor([[2.0, 0.0]])
    want = torch.tensor(-math.log(1 / (1 + math.exp(-2))))  # 0.127
    expect(loss_of(r), want, "ranking_loss([[2, 0]]) = -log σ(2)", mistakes(r), rtol=1e-6)


def test_hand_value_three_replies():
    r = torch.tensor([[1.0, 0.0, 0.0]])  # pairs (1,0), (1,0), (0,0): mean of -log σ(1), -log σ(1), log 2
    want = torch.tensor((2 * -math.log(1 / (1 + math.exp(-1))) + math.log(2)) / 3)
    expect(loss_of(r), want, "ranking_loss([[1, 0, 0]])", mistakes(r), rtol=1e-6)


def test_matches_minillm_and_has_gradients():
    r = torch.randn(5, 4, generator=torch.Generator().manual_seed(0), requires_grad=True)
    loss = loss_of(r)
    expect(loss, pairwise_ranking_loss(r), "ranking_loss on a (5, 4) batch", mistakes(r.detach()))
    if not loss.requires_grad:
        fail("ranking_loss: the loss has no gradient: compute it with torch operations on `rewards` (no .item())")
    loss.backward()
    if not r.grad[:, 0].lt(0).all():
        fail("ranking_loss: raising the best reply's score must lower the loss")
