"""Grades ex01_attention.py against minillm's explicit kernel and hand-computed values."""

import math

import pytest
import torch
from _grader import by_hand, call, expect, load, shapes

from minillm.kernels.naive import scaled_dot_product_attention as minillm_attention

ex = load("ex01_attention")

SHAPE_HINT = (
    "the shapes of a matrix product do not fit: the scores are q @ kᵀ with kᵀ = k.transpose(-2, -1) "
    "(k.T reverses *every* axis of a batched tensor), shaped (..., T_q, T_k); the output is weights @ v"
)


def attend(q, k, v, mask=None):
    with by_hand(ex, "ex01 (attention)"):  # torch's fused kernel is what we grade against, not an answer
        what = f"attention(q, k, v{', mask' if mask is not None else ''}) with shapes {shapes(q, k, v)}"
        result = call(what, ex.attention, q, k, v, mask, hint=SHAPE_HINT)
    if not (isinstance(result, tuple) and len(result) == 2):
        pytest.fail(f"{what}: return the pair (output, weights), got {type(result).__name__}", pytrace=False)
    return result


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
    if v.shape[-1] != d:
        wrong["the scale uses v's width: d in 1/√d is the width of q and k (q.shape[-1]), not of v"] = finish(
            raw / math.sqrt(v.shape[-1])
        )
    if mask is not None:
        right = torch.softmax((raw / math.sqrt(d)).masked_fill(~mask, float("-inf")), dim=-1)
        after = torch.softmax(raw / math.sqrt(d), dim=-1).masked_fill(~mask, 0.0)
        wrong["the mask is inverted: True = may attend, so fill -inf where the mask is False (~mask)"] = finish(
            raw / math.sqrt(d), keep=~mask
        )
        wrong["masked scores were set to 0, not -inf: exp(0) = 1 still gives them weight"] = finish(
            raw / math.sqrt(d), fill=0.0
        )
        wrong[
            "the mask was applied after the softmax: the hidden keys' weight is then missing from each row, "
            "which no longer sums to 1. Fill the masked *scores* with -inf before the softmax"
        ] = (after @ v, after)
        wrong["the mask was applied after the softmax (weights filled with -inf): fill the *scores* instead"] = (
            right.masked_fill(~mask, float("-inf")) @ v,
            torch.softmax(raw / math.sqrt(d), dim=-1).masked_fill(~mask, float("-inf")),
        )
    return wrong


def properties(w, mask=None) -> list:
    """What every right answer's weights satisfy, checked when yours match no named mistake."""
    if not isinstance(w, torch.Tensor):
        return []
    rows = w.sum(-1)
    found = [
        (
            bool(torch.allclose(rows, torch.ones_like(rows), atol=1e-4)),
            (
                "each query's weights over the keys must sum to 1: the softmax runs over the last axis (the keys), "
                "after the mask"
            ),
        )
    ]
    if mask is not None:
        hidden = w.masked_select(~mask.expand_as(w))
        found.append((bool(hidden.eq(0).all()), "a key the mask hides got weight: fill its score with -inf"))
    return found


def grade(q, k, v, mask=None):
    out, w = attend(q, k, v, mask)
    ref_out, ref_w = minillm_attention(q, k, v, mask=mask, return_weights=True)
    wrong = mistakes(q, k, v, mask)
    expect(w, ref_w, "the attention weights", {h: ww for h, (_, ww) in wrong.items()}, properties=properties(w, mask))
    expect(out, ref_out, "the output", {h: o for h, (o, _) in wrong.items()})
    expect(out, w @ v, "the output (it must be your weights @ v)")


def test_hand_value():
    # one query, two keys, d = 4: scores (2·2, 0) / √4 = (2, 0); weights softmax(2, 0) = (σ(2), 1 - σ(2))
    q = torch.tensor([[2.0, 0, 0, 0]])
    k = torch.tensor([[2.0, 0, 0, 0], [0, 0, 0, 0]])
    v = torch.tensor([[1.0, 0], [0, 1]])
    s = 1 / (1 + math.exp(-2))
    out, w = attend(q, k, v)
    hints = {h: ww for h, (_, ww) in mistakes(q, k, v).items()}
    hints["the 1/√d scale is missing: softmax([4, 0]) = (0.982, 0.018), softmax([4, 0] / 2) = (0.881, 0.119)"] = (
        torch.tensor([[4.0, 0.0]]).softmax(-1)
    )
    want = torch.tensor([[s, 1 - s]])
    expect(w, want, "the weights of softmax([4, 0] / √4)", hints, properties=properties(w))
    expect(out, want, "the output (weights @ v with v = identity)")


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
    grade(q, k, v, mask)  # names an inverted mask, a 0 fill or a mask applied after the softmax
