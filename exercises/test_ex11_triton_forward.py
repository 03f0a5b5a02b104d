"""Grades ex11_triton_forward.py under Triton's interpreter (CPU, fp32, tiny shapes) against a float64
attention, and names the usual slips by replaying the tile loop with each one in plain torch."""

import os

import pytest
import torch
import torch.nn.functional as F
from _grader import call, expect, fail, load, shapes

# Triton reads TRITON_INTERPRET when it is imported and again when a kernel runs (conftest.py sets it first).
os.environ["TRITON_INTERPRET"] = "1"
pytest.importorskip("triton")
ex = load("ex11_triton_forward")
BLOCK_N = 16  # flash_forward's default tile of keys


def tiles(q, k, v, scale=True, pad_inf=True, rescale_l=True, rescale_acc=True, partial=True, update_m=True, trans=True):
    """The kernel's loop over key tiles in float64 torch, with switches for the usual slips (all True: right)."""
    q, k, v = q.double(), k.double(), v.double()
    t_k = k.shape[0]
    m = torch.full((q.shape[0],), float("-inf"), dtype=torch.float64)
    l, acc = torch.zeros(q.shape[0], dtype=torch.float64), torch.zeros(q.shape[0], v.shape[1], dtype=torch.float64)
    stop = t_k if partial else t_k - BLOCK_N + 1
    for start in range(0, stop, BLOCK_N):
        k_tile = torch.zeros(BLOCK_N, k.shape[1], dtype=torch.float64)
        v_tile = torch.zeros(BLOCK_N, v.shape[1], dtype=torch.float64)
        n = min(BLOCK_N, t_k - start)
        k_tile[:n], v_tile[:n] = k[start : start + n], v[start : start + n]  # rows past T_k load as 0
        s = q @ (k_tile.T if trans else k_tile) * (q.shape[1] ** -0.5 if scale else 1.0)  # (T_q, BLOCK_N)
        if pad_inf:
            s[:, n:] = float("-inf")
        m_new = torch.maximum(m, s.max(1).values)
        p = torch.exp(s - m_new[:, None])
        alpha = torch.exp(m - m_new)
        l = (alpha if rescale_l else 1.0) * l + p.sum(1)
        acc = (alpha[:, None] if rescale_acc else 1.0) * acc + p @ v_tile
        m = m_new if update_m else m
    return (acc / l[:, None]).float()


def mistakes(q, k, v) -> dict:
    return {
        "the scale is missing: s = q kᵀ · scale (scale = 1/√d is passed in)": tiles(q, k, v, scale=False),
        "the padded key columns were not set to -inf: in the last tile the columns ≥ T_k load as zeros, so their "
        "score 0 still adds exp(0 - m) to l. Use tl.where(cols[None, :] < T_k, s, float('-inf'))": tiles(
            q, k, v, pad_inf=False
        ),
        "the running sum l is not rescaled: when the maximum rises, l = exp(m_i - m_new) · l + rowsum(p)": tiles(
            q, k, v, rescale_l=False
        ),
        "the accumulator acc is not rescaled: when the maximum rises, acc = exp(m_i - m_new)[:, None] · acc + p v": (
            tiles(q, k, v, rescale_acc=False)
        ),
        "neither l nor acc is rescaled (was alpha computed after m_i = m_new? then it is 1)": tiles(
            q, k, v, rescale_l=False, rescale_acc=False
        ),
        "the last, partial tile of keys was skipped: loop start_n over range(0, T_k, BLOCK_N) and mask the rows "
        "≥ T_k when loading": tiles(q, k, v, partial=False),
        "the running maximum m_i is never updated: set m_i = m_new after each tile": tiles(q, k, v, update_m=False),
        "k was not transposed: the scores are tl.dot(q, tl.trans(k)), (BLOCK_M, D) @ (D, BLOCK_N); tl.dot(q, k) "
        "only runs because D = BLOCK_N here": tiles(q, k, v, trans=False) if q.shape[1] == BLOCK_N else None,
    }


def forward(q, k, v):
    what = f"flash_forward with your _inner_loop on q, k, v of shapes {shapes(q, k, v)}"
    hint = (
        "tile shapes: k and v tiles are (BLOCK_N, D), so the scores are tl.dot(q, tl.trans(k)) (BLOCK_M, BLOCK_N), "
        "the row max and sum are tl.max(s, 1) and tl.sum(p, 1), and per-row values broadcast as m_new[:, None]"
    )
    return call(what, ex.flash_forward, q, k, v, hint=hint)


def reference(q, k, v):
    return F.scaled_dot_product_attention(q.double(), k.double(), v.double()).float()


@pytest.mark.parametrize("t_q, t_k", [(16, 16), (5, 37), (33, 8)])
def test_matches_torch(t_q, t_k):
    g = torch.Generator().manual_seed(t_q + t_k)
    q, k, v = torch.randn(t_q, 16, generator=g), torch.randn(t_k, 16, generator=g), torch.randn(t_k, 16, generator=g)
    want = reference(q, k, v)
    assert torch.allclose(tiles(q, k, v), want, atol=1e-6)  # the replay itself is right
    expect(forward(q, k, v), want, f"attention with T_q = {t_q}, T_k = {t_k}", mistakes(q, k, v))


def test_large_scores_do_not_overflow():
    q = torch.full((4, 16), 30.0)
    k = torch.randn(40, 16, generator=torch.Generator().manual_seed(0)) * 30
    v = torch.randn(40, 16)
    out = forward(q, k, v)
    if not torch.isfinite(out).all():
        fail("inf or nan with large scores: subtract the running maximum before exp (p = exp(s - m_new[:, None]))")
    expect(out, reference(q, k, v), "attention with large scores", mistakes(q, k, v), atol=1e-4, rtol=1e-4)
