"""Grades ex01_attention.py against minillm's explicit kernel and hand-computed values."""

import math

import pytest
import torch
from _grader import by_hand, expect, load

from minillm.kernels.naive import scaled_dot_product_attention as minillm_attention

ex = load("ex01_attention")


def attend(q, k, v, mask=None):
    with by_hand(ex, "ex01 (attention)"):  # torch's fused kernel is what we grade against, not an answer
        return ex.attention(q, k, v, mask)


def mistakes(q, k, v, mask=None):
    """The (output, weights) that the usual mistakes give on these inputs."""
    d = q.shape[-1]
    raw = q @ k.transpose(-2, -1)  # (..., T_q, T_k) without any scale

    def finish(scores, dim=-1, fill=float("-inf"), keep=mask):
        if keep is not None:
            scores = scores.masked_fill(~keep, fill)
        w = torch.softmax(scores, dim=dim)
        return w @ v, w

    wrong = {
        "the 1/√d scale is missing: scores = Q Kᵀ / √d, not Q Kᵀ": finish(raw),
        "divided by d instead of √d: the scale is 1/√d": finish(raw / d),
        "multiplied by √d: the scores are divided by √d": finish(raw * math.sqrt(d)),
        "the softmax runs over the queries (dim=-2): each query's weights over the keys must sum to 1": finish(
            raw / math.sqrt(d), dim=-2
        ),
    }
    if mask is not None:
        wrong["the mask is inverted: True = may attend, so fill -inf where the mask is False (~mask)"] = finish(
            raw / math.sqrt(d), keep=~mask
        )
        wrong["masked scores were set to 0, not -inf: exp(0) = 1 still gives them weight"] = finish(
            raw / math.sqrt(d), fill=0.0
        )
    return wrong


def grade(q, k, v, mask=None):
    out, w = attend(q, k, v, mask)
    ref_out, ref_w = minillm_attention(q, k, v, mask=mask, return_weights=True)
    wrong = mistakes(q, k, v, mask)
    expect(w, ref_w, "the attention weights", {h: ww for h, (_, ww) in wrong.items()})
    expect(out, ref_out, "the output", {h: o for h, (o, _) in wrong.items()})
    expect(out, w @ v, "the output (it must be your weights @ v)")


def test_hand_value():
    # one query, two keys, d = 4: scores (2·2, 0) / √4 = (2, 0); weights softmax(2, 0) = (σ(2), 1 - σ(2))
    q = torch.tensor([[2.0, 0, 0, 0]])
    k = torch.tensor([[2.0, 0, 0, 0], [0, 0, 0, 0]])
    v = torch.tensor([[1.0, 0], [0, 1]])
    s = 1 / (1 + math.exp(-2))
    out, w = attend(q, k, v)
    expect(
        w,
        torch.tensor([[s, 1 - s]]),
        "the weights of softmax([4, 0] / √4)",
        {
            "the 1/√d scale is missing: softmax([4, 0]) = (0.982, 0.018), softmax([4, 0] / 2) = (0.881, 0.119)": (
                torch.tensor([[4.0, 0.0]]).softmax(-1)
            )
        },
    )
    expect(out, torch.tensor([[s, 1 - s]]), "the output (weights @ v with v = identity)")


@pytest.mark.parametrize("tq,tk", [(1, 1), (5, 5), (3, 7)])
def test_matches_minillm(tq, tk):
    g = torch.Generator().manual_seed(0)
    q, k, v = (
        torch.randn(2, 3, tq, 8, generator=g),
        torch.randn(2, 3, tk, 8, generator=g),
        torch.randn(2, 3, tk, 4, generator=g),
    )
    grade(q, k, v)


def test_mask_hides_keys():
    g = torch.Generator().manual_seed(1)
    q, k, v = torch.randn(1, 4, 8, generator=g), torch.randn(1, 6, 8, generator=g), torch.randn(1, 6, 8, generator=g)
    mask = torch.rand(4, 6, generator=g) > 0.4
    mask[:, 0] = True  # every query sees at least one key
    grade(q, k, v, mask)  # names an inverted mask or a 0 fill
    _, w = attend(q, k, v, mask)
    assert torch.all(w[:, ~mask] == 0), "a key the mask hides got weight: fill its score with -inf before softmax"
