"""Grades ex10_online_softmax.py against minillm's chunked kernel, torch and hand-computed values."""

import math

import pytest
import torch
import torch.nn.functional as F
from _grader import by_hand, call, expect, fail, load, shapes

from minillm.kernels.chunked import chunked_attention

ex = load("ex10_online_softmax")


def blocked(
    q,
    k,
    v,
    block,
    rescale_o=True,
    rescale_l=True,
    subtract_max=True,
    scale=True,
    normalise=True,
    partial=True,
    update_m=True,
):
    """The online softmax with switches for the usual mistakes (all True: the right answer)."""
    s_all = q @ k.T / (math.sqrt(q.shape[-1]) if scale else 1.0)
    m = torch.full((q.shape[0], 1), float("-inf") if subtract_max else 0.0, dtype=torch.float64)
    l, o = torch.zeros(q.shape[0], 1, dtype=torch.float64), torch.zeros(q.shape[0], v.shape[-1], dtype=torch.float64)
    stop = k.shape[0] if partial else k.shape[0] - block + 1  # the mistake: only whole blocks
    for j in range(0, stop, block):
        s = s_all[:, j : j + block].double()
        m_new = torch.maximum(m, s.max(-1, keepdim=True).values) if subtract_max else m
        p = torch.exp(s - m_new)
        c = torch.exp(m - m_new)
        l = (c if rescale_l else 1.0) * l + p.sum(-1, keepdim=True)
        o = (c if rescale_o else 1.0) * o + p @ v[j : j + block].double()
        m = m_new if update_m else m
    return (o / l if normalise else o).float()


def mistakes(q, k, v, block) -> dict:
    return {
        "the running output o is not rescaled: when the maximum rises, o = exp(m - m_new)·o + P V": blocked(
            q, k, v, block, rescale_o=False
        ),
        "the running sum ℓ is not rescaled: when the maximum rises, ℓ = exp(m - m_new)·ℓ + rowsum(P)": blocked(
            q, k, v, block, rescale_l=False
        ),
        "the 1/√d scale is missing: S = Q Kᵀ / √d": blocked(q, k, v, block, scale=False),
        "neither o nor ℓ is rescaled (was exp(m - m_new) computed after m = m_new? then it is 1): when the "
        "maximum rises, ℓ = exp(m - m_new)·ℓ + rowsum(P) and o = exp(m - m_new)·o + P V, with the *old* m": blocked(
            q, k, v, block, rescale_o=False, rescale_l=False
        ),
        "the last, partial block of keys was skipped: with T_k not a multiple of block the final block is shorter; "
        "walk j over range(0, T_k, block) and slice k[j : j + block]": blocked(q, k, v, block, partial=False),
        "the running maximum m is never updated: set m = m_new after each block": blocked(
            q, k, v, block, update_m=False
        ),
        "o was returned without dividing by ℓ: return o / ℓ": blocked(q, k, v, block, normalise=False),
    }


def run(q, k, v, block):
    what = f"blocked_attention(q, k, v, block={block}) with shapes {shapes(q, k, v)}"
    with by_hand(ex, "ex10 (online softmax)"):  # the point is to write the blocks yourself
        out = call(
            what,
            ex.blocked_attention,
            q,
            k,
            v,
            block,
            hint="the shapes do not fit: one block's scores are q @ k[j : j + block].T, shaped (T_q, block), "
            "m and ℓ are (T_q, 1) so they broadcast over the block's columns",
        )
    if not isinstance(out, torch.Tensor) or out.shape != (q.shape[0], v.shape[-1]):
        fail(f"{what}: return the (T_q, d_v) = {(q.shape[0], v.shape[-1])} output, got {shapes(out)}")
    return out


def test_hand_value_two_blocks():
    # one query, two keys in two blocks of 1, d = 1: scores (2, 0); the second block keeps the maximum
    q, k, v = torch.tensor([[2.0]]), torch.tensor([[1.0], [0.0]]), torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    s = 1 / (1 + math.exp(-2))
    expect(run(q, k, v, 1), torch.tensor([[s, 1 - s]]), "softmax((2, 0)) over two blocks", mistakes(q, k, v, 1))
    # and a second block that *raises* the maximum: scores (0, 2)
    k2 = k.flip(0)
    expect(run(q, k2, v, 1), torch.tensor([[1 - s, s]]), "softmax((0, 2)) over two blocks", mistakes(q, k2, v, 1))


@pytest.mark.parametrize("block", [1, 3, 64, 1000])
def test_matches_minillm_chunked(block):
    g = torch.Generator().manual_seed(block)
    q, k, v = torch.randn(17, 8, generator=g), torch.randn(29, 8, generator=g), torch.randn(29, 5, generator=g)
    want = chunked_attention(q[None, None], k[None, None], v[None, None])[0, 0]  # (17, 5)
    torch.testing.assert_close(want, F.scaled_dot_product_attention(q, k, v), atol=1e-5, rtol=1e-5)
    expect(run(q, k, v, block), want, f"blocked attention with block = {block}", mistakes(q, k, v, block))


def test_large_scores_do_not_overflow():
    q = torch.full((4, 8), 30.0)
    k = torch.randn(50, 8, generator=torch.Generator().manual_seed(0)) * 30
    v = torch.randn(50, 3)
    out = run(q, k, v, 7)
    assert torch.isfinite(out).all(), (
        "inf or nan with large scores: subtract the running maximum before exp (P = exp(S - m_new))"
    )
    want = F.scaled_dot_product_attention(q, k, v)
    expect(out, want, "blocked attention with large scores", mistakes(q, k, v, 7), atol=1e-4, rtol=1e-4)
