"""Grades ex02_causal_mask.py against minillm and hand-computed values."""

import torch
from _grader import call, expect, load

from minillm.nn.attention import causal_mask

ex = load("ex02_causal_mask")


def mistakes(tq: int, tk: int) -> dict:
    right = causal_mask(tq, tk)
    own = torch.arange(tk)[None, :] == torch.arange(tq)[:, None] + (tk - tq)  # (t_q, t_k): each query's own position
    ones = torch.ones(tq, tk, dtype=torch.bool)
    return {
        "the mask points the wrong way: True must mark keys at or *before* the query (lower triangle), "
        "yours lets queries see the future": ~right | own,
        "the mask is inverted: True = may attend, not True = hidden": ~right,
        "the diagonal is hidden: a query may attend to its own position": right & ~own,
        "aligned top-left: with t_q < t_k the queries are the *last* t_q positions, so query i sees keys "
        "0 … i + (t_k - t_q)": ones.tril(),
        "the offset has the wrong sign: query i sits at position i + (t_k - t_q), after the t_k - t_q cached keys": (
            torch.arange(tk)[None, :] <= torch.arange(tq)[:, None] - (tk - tq)
        ),
        "an additive mask (0 where allowed, -inf where hidden) was returned: this exercise wants booleans, "
        "True = may attend": torch.zeros(tq, tk).masked_fill(~right, float("-inf")),
        "the result is not boolean: return a torch.bool tensor (True = may attend)": right.int(),
    }


def mask(tq: int, tk: int):
    return call(f"causal_mask({tq}, {tk})", ex.causal_mask, tq, tk)


def test_square_is_lower_triangle():
    expect(mask(4, 4), torch.ones(4, 4, dtype=torch.bool).tril(), "causal_mask(4, 4)", mistakes(4, 4))


def test_hand_value_for_a_cache():
    # two new tokens after two cached ones: query 0 is position 2 (sees keys 0-2), query 1 position 3
    want = torch.tensor([[True, True, True, False], [True, True, True, True]])
    expect(mask(2, 4), want, "causal_mask(2, 4)", mistakes(2, 4))


def test_matches_minillm_for_cache_shapes():
    for tq, tk in [(1, 1), (1, 9), (3, 8), (8, 8)]:
        expect(mask(tq, tk), causal_mask(tq, tk), f"causal_mask({tq}, {tk})", mistakes(tq, tk))
