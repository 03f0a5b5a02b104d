"""chunked_attention tile by tile (written against mutmut survivors, tests/MUTATION.md).

Every result is compared with a float64 softmax written out below — the allowed pairs built by
hand from the bottom-right causal rule and the window rule, rows that see no key giving 0 — with
gradients by autograd through it. Tile sizes that do not divide the lengths, single-row and
single-key tiles, fewer queries than keys (a KV cache) and more queries than keys (rows that see
nothing) reach every edge of the tile loops. The tiles the kernel skips are checked by counting
its matrix-product FLOPs (torch's FlopCounterMode) against the tiles that hold a visible pair.
"""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from minillm.kernels.chunked import chunked_attention

F64 = torch.float64


def _allowed(t_q, t_k, causal=False, window=None):
    """Query i sits at position p = i + T_k - T_q; it sees key j iff j <= p (causal) and j > p - W (window)."""
    p = torch.arange(t_q)[:, None] + (t_k - t_q)  # (T_q, 1)
    j = torch.arange(t_k)[None, :]  # (1, T_k)
    ok = torch.ones(t_q, t_k, dtype=torch.bool)
    if causal:
        ok = ok & (j <= p)
    if window is not None:
        ok = ok & (j > p - window)
    return ok


def _reference(q, k, v, causal=False, mask=None, scale=None, window=None):
    """softmax(q kᵀ · scale + mask) v in float64 over the allowed keys; a row that sees none gives 0."""
    q, k, v = (t.to(F64) for t in (q, k, v))
    if q.dim() >= 3:  # grouped K/V heads: copy each one for its query heads
        group = q.shape[-3] // k.shape[-3]
        k, v = k.repeat_interleave(group, -3), v.repeat_interleave(group, -3)
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    s = (q @ k.transpose(-2, -1)) * scale
    allowed = _allowed(q.shape[-2], k.shape[-2], causal, window)
    if mask is not None and mask.dtype == torch.bool:
        allowed = allowed & mask
    elif mask is not None:
        s = s + mask.to(F64)
        allowed = allowed & (mask > float("-inf"))
    allowed = allowed.expand(s.shape)
    keep = allowed.any(-1, keepdim=True)
    # rows that see nothing: let them see everything, then zero them (keeps their gradients at 0, not NaN)
    weights = torch.softmax(s.masked_fill(~(allowed | ~keep), float("-inf")), dim=-1) * keep
    return weights @ v


def _compare(q, k, v, blocks=None, atol=1e-12, rtol=1e-10, **kw):
    """chunked_attention(q, k, v, **kw) against the reference: output and the gradients of q, k and v."""
    tiles = {} if blocks is None else {"block_size": blocks[0], "block_q": blocks[1]}
    leaves = [t.detach().requires_grad_() for t in (q, k, v)]
    out = chunked_attention(*leaves, **kw, **tiles)
    ref_leaves = [t.detach().to(F64).requires_grad_() for t in (q, k, v)]
    ref = _reference(*ref_leaves, **kw)
    assert out.dtype == q.dtype and out.shape == ref.shape
    torch.testing.assert_close(out.to(F64), ref, atol=atol, rtol=rtol)
    d_out = torch.randn(ref.shape, generator=torch.Generator().manual_seed(5), dtype=F64)
    grads = torch.autograd.grad(out, leaves, d_out.to(out.dtype))
    ref_grads = torch.autograd.grad(ref, ref_leaves, d_out)
    for got, want, leaf in zip(grads, ref_grads, leaves):
        assert got.dtype == leaf.dtype and got.shape == leaf.shape
        torch.testing.assert_close(got.to(F64), want, atol=atol, rtol=rtol)
    return out, grads


def _qkv(shape_q, shape_k, dv=None, dtype=F64, seed=0, spread=1.0):
    g = torch.Generator().manual_seed(seed)
    shape_v = shape_k if dv is None else (*shape_k[:-1], dv)
    return tuple(torch.randn(s, generator=g, dtype=F64).mul(spread).to(dtype) for s in (shape_q, shape_k, shape_v))


# (B, H, H_kv, T_q, T_k, d, d_v), causal, window, (block_size, block_q)
CASES = {
    "full, tiles 3x2": ((2, 2, 2, 5, 7, 4, 3), False, None, (3, 2)),
    "full, one key a tile": ((1, 3, 3, 4, 6, 5, 2), False, None, (1, 3)),
    "full, one query a tile": ((1, 2, 2, 4, 5, 4, 3), False, None, (2, 1)),
    "full, one big tile": ((2, 2, 2, 5, 7, 4, 3), False, None, None),
    "causal, 1x1 tiles": ((2, 2, 2, 7, 7, 4, 3), True, None, (1, 1)),
    "causal, tiles 3x2": ((1, 2, 2, 8, 8, 4, 5), True, None, (3, 2)),
    "causal, tiles 2x3": ((1, 2, 2, 9, 9, 3, 2), True, None, (2, 3)),
    "causal, KV cache": ((2, 2, 2, 3, 10, 4, 3), True, None, (4, 2)),
    "causal, KV cache 1x1": ((1, 2, 2, 3, 7, 4, 3), True, None, (1, 1)),
    "causal, more queries than keys": ((1, 2, 2, 6, 3, 4, 3), True, None, (2, 4)),
    "causal, more queries than keys 1x1": ((1, 2, 2, 5, 3, 4, 3), True, None, (1, 1)),
    "window 3, tiles 2x3": ((1, 2, 2, 11, 11, 4, 3), True, 3, (2, 3)),
    "window 1, 1x1 tiles": ((1, 2, 2, 6, 6, 4, 3), True, 1, (1, 1)),
    "window 4, tiles 3x5": ((2, 2, 2, 13, 13, 4, 3), True, 4, (3, 5)),
    "window 2, tiles 3x1": ((1, 2, 2, 9, 9, 4, 3), True, 2, (3, 1)),
    "window 5, KV cache": ((1, 2, 2, 4, 12, 4, 3), True, 5, (2, 2)),
    "window 2, more queries than keys": ((1, 2, 2, 7, 4, 4, 3), True, 2, (2, 3)),
    "window wider than the keys": ((1, 2, 2, 6, 6, 4, 3), True, 9, (4, 4)),
    "GQA 6/2, causal": ((2, 6, 2, 5, 7, 4, 3), True, None, (3, 2)),
    "MQA 4/1, window": ((1, 4, 1, 8, 8, 4, 3), True, 3, (2, 2)),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_matches_the_float64_reference(case):
    (b, h, h_kv, t_q, t_k, d, dv), causal, window, blocks = case
    q, k, v = _qkv((b, h, t_q, d), (b, h_kv, t_k, d), dv)
    _compare(q, k, v, blocks, causal=causal, window=window)


def _masks(b, h, t_q, t_k):
    g = torch.Generator().manual_seed(1)
    bool_mask = torch.rand(b, 1, t_q, t_k, generator=g) < 0.6
    bool_mask[0, 0, 2] = False  # a row that sees nothing
    per_head = torch.rand(b, h, t_q, t_k, generator=g) < 0.6
    additive = torch.randn(b, h, t_q, t_k, generator=g, dtype=F64)
    additive[..., 1, :3] = float("-inf")
    rows = torch.ones(b, 1, t_q, 1, dtype=torch.bool)  # one flag per query, broadcast over the keys
    rows[..., 3, :] = False
    padding = torch.ones(b, 1, 1, t_k, dtype=torch.bool)  # one flag per key, broadcast over the queries
    padding[-1, ..., 4:] = False
    return {
        "bool": bool_mask,
        "per-head bool": per_head,
        "additive": additive,
        "per-query": rows,
        "padding": padding,
        "2-D": bool_mask[0, 0],
    }


@pytest.mark.parametrize("kind", ["bool", "per-head bool", "additive", "per-query", "padding", "2-D"])
@pytest.mark.parametrize(
    "causal,blocks",
    [(False, (3, 2)), (True, (2, 3)), (True, (1, 1)), (False, None)],
    ids=["full", "causal", "1x1", "1 tile"],
)
def test_masks_of_every_shape(kind, causal, blocks):
    q, k, v = _qkv((2, 2, 6, 4), (2, 2, 7, 4), 3)
    _compare(q, k, v, blocks, causal=causal, mask=_masks(2, 2, 6, 7)[kind])


@pytest.mark.parametrize("kind", ["bool", "per-head bool", "additive", "per-query", "2-D"])
def test_grouped_heads_with_masks(kind):
    q, k, v = _qkv((2, 6, 6, 4), (2, 2, 7, 4), 3, seed=1)
    masks = _masks(2, 6, 6, 7)
    _compare(q, k, v, (3, 2), causal=True, mask=masks[kind])
    _compare(q[0], k[0], v[0], (2, 4), mask=masks[kind][0] if masks[kind].dim() == 4 else masks[kind])  # (H, T, d)


def test_inputs_without_heads_and_a_given_scale():
    q, k, v = _qkv((6, 4), (8, 4), 3)  # (T, d)
    _compare(q, k, v, (3, 2), causal=True, scale=0.7)
    _compare(q, k, v, (3, 2), causal=True, window=2)
    q, k, v = _qkv((3, 5, 6), (3, 7, 6), 2)  # (H, T, d), d = 6 differs from H = 3: the default scale is 6 ** -0.5
    _compare(q, k, v, (2, 2), causal=True)
    _compare(q, k, v, (2, 2), scale=2.5)


def test_no_keys_at_all_gives_zeros():
    q, k, v = _qkv((1, 2, 3, 4), (1, 2, 0, 4))
    out, grads = _compare(q, k, v, (2, 2))
    assert torch.equal(out, torch.zeros_like(out)) and torch.equal(grads[0], torch.zeros_like(q))


def test_rows_that_see_nothing_give_zeros_and_zero_gradients():
    q, k, v = _qkv((1, 2, 6, 4), (1, 2, 3, 4))  # causal, 6 queries, 3 keys: the first three see nothing
    mask = torch.ones(6, 3, dtype=torch.bool)
    mask[4] = False  # and a fifth row masked out
    for blocks in ((1, 1), (2, 4), (3, 2)):
        out, (dq, _, _) = _compare(q, k, v, blocks, causal=True, mask=mask)
        dead = torch.tensor([True, True, True, False, True, False])
        assert torch.equal(out[..., dead, :], torch.zeros(1, 2, 4, 4, dtype=F64))
        assert torch.equal(dq[..., dead, :], torch.zeros(1, 2, 4, 4, dtype=F64))
    out, _ = _compare(q[..., :1, :], k, v, (2, 2), mask=torch.zeros(1, 3, dtype=torch.bool))  # one row, no key
    assert torch.equal(out, torch.zeros_like(out))


@pytest.mark.parametrize("order", ["rising", "falling"])
def test_large_scores_across_tiles_stay_finite(order):
    """Scores of several thousand: exp() overflows unless each tile's running maximum is subtracted,
    and the sums kept so far must be rescaled whenever a later tile raises the maximum."""
    g = torch.Generator().manual_seed(2)
    q = torch.randn(1, 2, 6, 4, generator=g).abs() * 30 + 20
    k = torch.linspace(-3, 3, 9).repeat(4, 1).T.reshape(1, 1, 9, 4).expand(1, 2, 9, 4).contiguous() * 20
    k = k if order == "rising" else k.flip(-2)
    v = torch.randn(1, 2, 9, 3, generator=g)
    for blocks in ((2, 3), (1, 1), (4, 6)):
        _compare(q, k, v, blocks, atol=1e-5, rtol=1e-5)
        _compare(q, k, v, blocks, atol=1e-5, rtol=1e-5, causal=True)
        _compare(q.double(), k.double(), v.double(), blocks, causal=True, window=3)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_inputs_accumulate_in_float32(dtype):
    """Entries around 100 over 16 dimensions: fp16 products reach past its largest number, 65504, so
    the kernel forms the scores, and keeps its sums, in float32; outputs and gradients come back in
    the inputs' dtype."""
    q, k, v = (t.requires_grad_() for t in _qkv((1, 2, 40, 16), (1, 2, 40, 16), 8, dtype=dtype, seed=3, spread=100.0))
    tol = 2e-2 if dtype == torch.bfloat16 else 3e-3
    for blocks in ((16, 8), (7, 5)):
        out = chunked_attention(q, k, v, causal=True, block_size=blocks[0], block_q=blocks[1])
        assert out.dtype == dtype
        torch.testing.assert_close(out.to(F64), _reference(q, k, v, causal=True), atol=tol * 100, rtol=tol)
        # the gradients of so peaked a softmax magnify rounding near ties: here only their finiteness
        assert all(torch.isfinite(g).all() for g in torch.autograd.grad(out.sum(), (q, k, v)))
    q, k, v = _qkv((1, 2, 40, 16), (1, 2, 40, 16), 8, dtype=dtype, seed=4)
    _compare(q, k, v, (7, 5), atol=tol, rtol=tol, causal=True, window=9)


def _visited_tiles(t_q, t_k, block_q, block_k, causal, window):
    """(rows, cols) of each query tile × key tile that holds at least one visible pair."""
    ok = _allowed(t_q, t_k, causal, window)
    return [
        (min(block_q, t_q - i0), min(block_k, t_k - j0))
        for i0 in range(0, t_q, block_q)
        for j0 in range(0, t_k, block_k)
        if ok[i0 : i0 + block_q, j0 : j0 + block_k].any()
    ]


@pytest.mark.parametrize(
    "t_q,t_k,causal,window,blocks",
    [
        (7, 7, False, None, (3, 2)),
        (9, 9, True, None, (2, 3)),
        (9, 9, True, None, (1, 1)),
        (4, 11, True, None, (3, 2)),
        (8, 5, True, None, (2, 2)),
        (8, 3, True, None, (1, 1)),
        (12, 12, True, 3, (2, 2)),
        (12, 12, True, 1, (1, 1)),
        (13, 13, True, 4, (3, 5)),
        (5, 16, True, 4, (3, 2)),
        (16, 5, True, 2, (2, 3)),
        (300, 300, True, None, None),  # the default tiles: 256 × 256
    ],
)
def test_tiles_outside_the_causal_band_and_the_window_are_skipped(t_q, t_k, causal, window, blocks):
    """FLOPs of the products: QKᵀ and PV per visited tile forward; QKᵀ, PᵀdO, dO Vᵀ, dS K, dSᵀQ backward."""
    d, dv, heads = 4, 3, 2
    q, k, v = (t.requires_grad_() for t in _qkv((1, heads, t_q, d), (1, heads, t_k, d), dv))
    tiles = {} if blocks is None else {"block_size": blocks[0], "block_q": blocks[1]}
    with FlopCounterMode(display=False) as forward:
        out = chunked_attention(q, k, v, causal=causal, window=window, **tiles)
    with FlopCounterMode(display=False) as backward:
        out.backward(torch.ones_like(out))
    block_k, block_q = (256, 256) if blocks is None else blocks
    visited = _visited_tiles(t_q, t_k, block_q, block_k, causal, window)
    assert forward.get_total_flops() == sum(2 * heads * r * c * (d + dv) for r, c in visited)
    assert backward.get_total_flops() == sum(2 * heads * r * c * (3 * d + 2 * dv) for r, c in visited)


def test_default_query_tile_is_the_key_tile():
    q, k, v = _qkv((1, 1, 12, 4), (1, 1, 12, 4))
    with FlopCounterMode(display=False) as flops:
        chunked_attention(q, k, v, causal=True, block_size=4)
    assert flops.get_total_flops() == sum(2 * r * c * 8 for r, c in _visited_tiles(12, 12, 4, 4, True, None))


def test_stays_on_the_inputs_device():
    # the meta device (shapes only) stands in for a GPU: a statistic or position table made on the
    # default device instead of the inputs' one fails to combine with them
    meta = {"device": "meta", "dtype": F64}
    q = torch.empty(1, 4, 6, 8, **meta, requires_grad=True)
    k, v = (torch.empty(1, 2, 9, 8, **meta, requires_grad=True) for _ in range(2))
    mask = torch.ones(1, 4, 6, 9, dtype=torch.bool, device="meta")
    for kw in ({"causal": True, "window": 3}, {"mask": mask}, {"mask": mask[:, :1], "causal": True}):
        out = chunked_attention(q, k, v, block_size=2, block_q=4, **kw)
        assert out.device.type == "meta" and out.shape == (1, 4, 6, 8)
        grads = torch.autograd.grad(out.sum(), (q, k, v))
        assert all(g.device.type == "meta" for g in grads)


def test_backward_keeps_its_sums_on_the_inputs_device():
    """A CPU tile buffer that meta tensors are added into in place stays a silent CPU zero; fake CUDA
    tensors (device and shape, no data, no GPU needed) refuse the mix as a real GPU does."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        q, k, v = (torch.empty(1, 2, t, 8, device="cuda", requires_grad=True) for t in (6, 9, 9))
        mask = torch.ones(1, 1, 6, 9, dtype=torch.bool, device="cuda")
        out = chunked_attention(q, k, v, causal=True, mask=mask, window=4, block_size=2, block_q=4)
        # the kernel's own backward, called directly: the autograd engine would want a real GPU
        grads = out.grad_fn.apply(torch.ones_like(out))[:3]
    assert out.device.type == "cuda" and [g.device.type for g in grads] == ["cuda"] * 3
    assert [g.shape for g in grads] == [q.shape, k.shape, v.shape]


def test_bad_tiles_and_arguments_are_refused():
    q = torch.randn(1, 2, 3, 4)
    for tiles in ({"block_size": 0}, {"block_q": 0}, {"block_size": -1, "block_q": 2}):
        with pytest.raises(ValueError, match="block sizes must be >= 1"):
            chunked_attention(q, q, q, **tiles)
    with pytest.raises(TypeError, match="causal must be True or False"):
        chunked_attention(q, q, q, causal=1)
    with pytest.raises(ValueError, match="mask"):
        chunked_attention(q, q, q, mask=torch.ones(2, 2, dtype=torch.bool))


@pytest.mark.parametrize("tiles", [{"block_size": 2.0}, {"block_q": 4.0}, {"block_size": True}, {"block_size": "4"}])
def test_a_float_bool_or_string_tile_size_is_refused_by_name(tiles):
    (name, size), q = next(iter(tiles.items())), torch.randn(1, 2, 3, 4)
    with pytest.raises(ValueError, match=rf"block sizes must be >= 1 and of type int, got {name}={size!r}"):
        chunked_attention(q, q, q, **tiles)
