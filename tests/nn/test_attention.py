"""scaled_dot_product_attention and MultiHeadAttention against PyTorch's own implementations.

The causal rule is bottom-right everywhere (queries are the last T_q of the T_k positions); the
references below build that mask by hand, so they do not share code with minillm.
"""

import dataclasses
import re

import pytest
import torch
import torch.nn.functional as F
from einops import rearrange
from helpers.decoders import llama_attention
from helpers.torch_mha import copy_from_torch
from hypothesis import given, settings
from hypothesis import strategies as st

from minillm.adapt.lora import LoRALinear
from minillm.kernels import BACKENDS, attention
from minillm.models.llama import LlamaAttention, LlamaConfig
from minillm.nn.attention import MultiHeadAttention, causal_mask, padding_mask, scaled_dot_product_attention
from minillm.nn.kv_cache import KVCache


def _bottom_right(tq, tk):
    """Query i sees keys 0 … i + (T_k - T_q), written independently of minillm."""
    return torch.ones(tq, tk, dtype=torch.bool).tril(diagonal=tk - tq)


shapes = st.tuples(
    st.integers(1, 3),  # batch
    st.integers(1, 4),  # heads
    st.integers(1, 17),  # T_q
    st.integers(1, 17),  # T_k
    st.sampled_from([1, 4, 8, 16]),  # d
    st.sampled_from([1, 4, 8]),  # d_v
)


@given(shapes, st.integers(0, 2**31 - 1))
def test_matches_torch_sdpa_unmasked(shape, seed):
    b, h, tq, tk, d, dv = shape
    g = torch.Generator().manual_seed(seed)
    q, k, v = (
        torch.randn(b, h, tq, d, generator=g),
        torch.randn(b, h, tk, d, generator=g),
        torch.randn(b, h, tk, dv, generator=g),
    )
    ours = scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(ours, F.scaled_dot_product_attention(q, k, v), atol=1e-5, rtol=1e-5)


@given(shapes, st.integers(0, 2**31 - 1), st.sampled_from(["bool", "float", "causal"]))
def test_matches_torch_sdpa_masked(shape, seed, kind):
    b, h, tq, tk, d, dv = shape
    g = torch.Generator().manual_seed(seed)
    q, k, v = (
        torch.randn(b, h, tq, d, generator=g),
        torch.randn(b, h, tk, d, generator=g),
        torch.randn(b, h, tk, dv, generator=g),
    )
    if kind == "causal":  # torch given the explicit bottom-right mask (its is_causal is top-left)
        ours = scaled_dot_product_attention(q, k, v, causal=True)
        ref = F.scaled_dot_product_attention(q, k, v, attn_mask=_bottom_right(tq, tk))
        keep_rows = _bottom_right(tq, tk).any(-1)
        if tq == tk:  # square: the same as torch's own is_causal
            torch.testing.assert_close(ours, F.scaled_dot_product_attention(q, k, v, is_causal=True))
    else:
        allowed = torch.rand(b, 1, tq, tk, generator=g) < 0.7  # broadcast over heads
        mask = allowed if kind == "bool" else torch.zeros(allowed.shape).masked_fill(~allowed, float("-inf"))
        ours = scaled_dot_product_attention(q, k, v, mask=mask)
        ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        keep_rows = allowed.any(-1).expand(b, h, tq)
    # Rows with no visible key are defined as zeros in minillm (torch versions differ there).
    keep = keep_rows.expand(b, h, tq)
    torch.testing.assert_close(ours[keep], ref[keep], atol=1e-5, rtol=1e-5)
    assert torch.all(ours[~keep] == 0)


def test_custom_scale_and_weights_sum_to_one():
    q, k, v = torch.randn(2, 5, 8), torch.randn(2, 7, 8), torch.randn(2, 7, 3)
    out, w = scaled_dot_product_attention(q, k, v, scale=0.3, return_weights=True)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, scale=0.3), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 5))


def test_hand_computed_example():
    # Two keys; the query matches the first one: scores [1, 0]/√1 → weights [e/(e+1), 1/(e+1)].
    q = torch.tensor([[1.0]])
    k = torch.tensor([[1.0], [0.0]])
    v = torch.tensor([[10.0], [20.0]])
    out, w = scaled_dot_product_attention(q, k, v, return_weights=True)
    e = torch.e
    torch.testing.assert_close(w, torch.tensor([[e / (e + 1), 1 / (e + 1)]]))
    torch.testing.assert_close(out, torch.tensor([[10 * e / (e + 1) + 20 / (e + 1)]]))


def test_fully_masked_rows_are_zero_not_nan_with_finite_gradients():
    q, k, v = (torch.randn(1, 3, 4, requires_grad=True) for _ in range(3))
    mask = torch.tensor([[True, False, True], [False, False, False], [True, True, True]])
    out = scaled_dot_product_attention(q, k, v, mask=mask)
    assert torch.equal(out[0, 1], torch.zeros(4))
    out.sum().backward()
    assert all(torch.isfinite(t.grad).all() for t in (q, k, v))
    float_mask = torch.zeros(3, 3).masked_fill(~mask, float("-inf"))
    assert torch.equal(scaled_dot_product_attention(q, k, v, mask=float_mask)[0, 1], torch.zeros(4))


def test_gradcheck_float64():
    q, k, v = (torch.randn(2, 4, 3, dtype=torch.float64, requires_grad=True) for _ in range(3))
    mask = torch.tensor([[True, True, False, True]] * 4)
    assert torch.autograd.gradcheck(
        lambda a, b, c: scaled_dot_product_attention(a, b, c, mask=mask, causal=True), (q, k, v)
    )


def test_dropout_zeroes_weights_and_rescales():
    torch.manual_seed(1)
    q, k, v = torch.randn(1, 64, 8), torch.randn(1, 64, 8), torch.randn(1, 64, 8)
    _, w = scaled_dot_product_attention(q, k, v, dropout_p=0.5, return_weights=True)
    frac_zero = (w == 0).float().mean().item()
    assert 0.4 < frac_zero < 0.6
    _, w0 = scaled_dot_product_attention(q, k, v, return_weights=True)
    kept = w != 0
    torch.testing.assert_close(w[kept], 2 * w0[kept])


@pytest.mark.parametrize(
    "q_shape,k_shape,v_shape,match",
    [
        ((2, 5, 8), (2, 5, 4), (2, 5, 4), "head size"),
        ((2, 5, 8), (2, 5, 8), (2, 6, 8), "number of keys"),
        ((2, 2, 5, 8), (3, 2, 5, 8), (3, 2, 5, 8), "equal leading"),
        ((2, 5, 8), (5, 8), (5, 8), "same number of dimensions"),  # no broadcasting between q, k, v
        ((2, 5, 8), (3, 5, 8), (3, 5, 8), "divide the query head count"),  # dimension -3 = heads
        ((8,), (5, 8), (5, 8), r"\(\.\.\., T, d\)"),
    ],
)
def test_bad_shapes_raise_value_error(q_shape, k_shape, v_shape, match):
    with pytest.raises(ValueError, match=match):
        scaled_dot_product_attention(torch.randn(q_shape), torch.randn(k_shape), torch.randn(v_shape))


def test_bad_mask_shape_raises():
    q = torch.randn(2, 5, 8)
    with pytest.raises(ValueError, match="does not broadcast"):
        scaled_dot_product_attention(q, q, q, mask=torch.ones(4, 5, dtype=torch.bool))


# ---------------------------------------------------------------- MultiHeadAttention
@pytest.mark.parametrize("backend", ["naive", "sdpa", "chunked"])
@pytest.mark.parametrize("case", ["self", "cross", "cross_kdim", "causal", "padding"])
def test_mha_matches_torch_multihead_attention(case, backend):
    d, h, b, t, s = 32, 4, 3, 7, 5
    kdim = 12 if case == "cross_kdim" else None
    ref = torch.nn.MultiheadAttention(d, h, batch_first=True, kdim=kdim, vdim=kdim).eval()
    ours = MultiHeadAttention(d, h, kv_dim=kdim, attn_backend=backend).eval()
    copy_from_torch(ref, ours)
    x = torch.randn(b, t, d)
    mem = torch.randn(b, s, kdim or d)
    if case == "self":
        got, want = ours(x), ref(x, x, x, need_weights=False)[0]
    elif case.startswith("cross"):
        got, want = ours(x, mem, mem), ref(x, mem, mem, need_weights=False)[0]
    elif case == "causal":
        future = torch.ones(t, t, dtype=torch.bool).triu(1)  # torch: True = blocked
        got, want = ours(x, causal=True), ref(x, x, x, attn_mask=future, need_weights=False)[0]
    else:
        pad = torch.zeros(b, t, dtype=torch.bool)
        pad[0, 5:] = pad[2, 3:] = True  # torch: True = padding
        got = ours(x, mask=~pad[:, None, None, :])
        want = ref(x, x, x, key_padding_mask=pad, need_weights=False)[0]
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_mha_returns_head_weights_that_average_to_torchs():
    ref = torch.nn.MultiheadAttention(16, 2, batch_first=True).eval()
    ours = MultiHeadAttention(16, 2).eval()
    copy_from_torch(ref, ours)
    x = torch.randn(2, 6, 16)
    _, w = ours(x, need_weights=True)  # (B, H, T, T)
    _, w_ref = ref(x, x, x, need_weights=True, average_attn_weights=True)
    torch.testing.assert_close(w.mean(1), w_ref, atol=1e-6, rtol=1e-5)


def test_mha_causal_no_future_leak():
    mha = MultiHeadAttention(16, 4).eval()
    x = torch.randn(1, 10, 16)
    y = x.clone()
    y[:, 6:] = torch.randn(1, 4, 16)  # change only the future of position 5
    torch.testing.assert_close(mha(x, causal=True)[:, :6], mha(y, causal=True)[:, :6])
    assert not torch.allclose(mha(x, causal=True)[:, 6:], mha(y, causal=True)[:, 6:])


def test_mha_gradcheck_float64():
    mha = MultiHeadAttention(8, 2, attn_backend="naive").double()
    x = torch.randn(2, 4, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a: mha(a, causal=True), (x,))


@pytest.mark.parametrize("backend", ["naive", "sdpa", "chunked"])
def test_kv_cache_decoding_equals_full_causal_pass(backend):
    mha = MultiHeadAttention(16, 4, attn_backend=backend).eval()
    x = torch.randn(2, 9, 16)
    full = mha(x, causal=True)
    cache = KVCache(block_size=16)
    parts = [mha(x[:, :4], causal=True, kv_cache=cache)]  # prefill 4 tokens
    for i in range(4, 9):  # then one token at a time
        parts.append(mha(x[:, i : i + 1], causal=True, kv_cache=cache))
    torch.testing.assert_close(torch.cat(parts, 1), full, atol=1e-5, rtol=1e-5)
    assert cache.length == 9


@settings(max_examples=15)  # each example runs nine entry points
@given(st.integers(1, 10), st.integers(1, 10), st.sampled_from([4, 2, 1]), st.integers(0, 2**31 - 1))
def test_three_causal_entry_points_agree(tq, tk, n_kv, seed):
    """scaled_dot_product_attention(causal), kernels.attention(causal), MultiHeadAttention
    (cross-attention, and self-attention with a KV cache) and LlamaAttention (n_kv grouped K/V
    heads and RoPE; with a KV cache) put the queries at the last T_q positions."""
    torch.manual_seed(seed)
    gqa = llama_attention(n_embd=16, n_head=4, n_kv_head=n_kv, bias=True)  # biases everywhere, as mha's
    mha = MultiHeadAttention(16, 4).eval()
    _copy_repeating_kv_heads(gqa, mha)  # the same projections, each K/V head repeated for its group
    x, xq = torch.randn(2, tk, 16), torch.randn(2, tq, 16)
    heads = lambda t, h: t.unflatten(-1, (h, 4)).transpose(1, 2)
    q, k, v = heads(gqa.q_proj(xq), 4), heads(gqa.k_proj(x), n_kv), heads(gqa.v_proj(x), n_kv)
    merge = lambda o: gqa.out_proj(o.transpose(1, 2).flatten(2))

    want = F.scaled_dot_product_attention(q, k, v, attn_mask=_bottom_right(tq, tk), enable_gqa=True)
    want = merge(want * _bottom_right(tq, tk).any(-1, keepdim=True))  # rows that see nothing are 0
    got = {"reference": merge(scaled_dot_product_attention(q, k, v, causal=True))}
    for backend in ("naive", "chunked", "sdpa", "auto"):
        got[backend] = merge(attention(q, k, v, causal=True, backend=backend))
    got["module, cross"] = mha(xq, x, x, causal=True)
    if tq <= tk:  # the cache holds the T_k - T_q earlier positions; the queries are the newest
        cache = KVCache(block_size=tk)
        if tk > tq:
            mha(x[:, : tk - tq], causal=True, kv_cache=cache)
        got["module, cache"] = mha(x[:, tk - tq :], causal=True, kv_cache=cache)
        got["module, full pass"] = mha(x, causal=True)[:, tk - tq :]
        want_self = merge(scaled_dot_product_attention(heads(gqa.q_proj(x[:, tk - tq :]), 4), k, v, causal=True))
        for name in ("module, cache", "module, full pass"):
            torch.testing.assert_close(got.pop(name), want_self, atol=1e-5, rtol=1e-5, msg=name)
        # LlamaAttention (always causal) rotates the queries at positions tk - tq … tk - 1, the keys at 0 … tk - 1
        cache = KVCache(block_size=tk)
        if tk > tq:
            gqa(x[:, : tk - tq], kv_cache=cache)
        rotated = {"llama, cache": gqa(x[:, tk - tq :], kv_cache=cache), "llama, full pass": gqa(x)[:, tk - tq :]}
        q_rot = gqa.rope(heads(gqa.q_proj(x[:, tk - tq :]), 4), offset=tk - tq)
        want_rot = merge(scaled_dot_product_attention(q_rot, gqa.rope(k), v, causal=True))
        for name, out in rotated.items():
            torch.testing.assert_close(out, want_rot, atol=1e-5, rtol=1e-5, msg=name)
    for name, out in got.items():
        torch.testing.assert_close(out, want, atol=1e-5, rtol=1e-5, msg=name)


def _copy_repeating_kv_heads(gqa: LlamaAttention, full: LlamaAttention | MultiHeadAttention) -> None:
    """Load ``gqa``'s weights into a full-head layer, each grouped K/V head repeated (repeat_interleave)
    for the n_head / n_kv_head query heads that read it."""
    hd = gqa.q_proj.out_features // gqa.n_head
    group = gqa.n_head // gqa.n_kv_head
    with torch.no_grad():
        for name in ("q_proj", "out_proj"):
            getattr(full, name).load_state_dict(getattr(gqa, name).state_dict())
        for name in ("k_proj", "v_proj"):
            src, dst = getattr(gqa, name), getattr(full, name)
            w = src.weight.unflatten(0, (gqa.n_kv_head, hd))  # (H_kv, hd, n_embd)
            dst.weight.copy_(w.repeat_interleave(group, 0).flatten(0, 1))
            dst.bias.copy_(src.bias.unflatten(0, (gqa.n_kv_head, hd)).repeat_interleave(group, 0).flatten())


@pytest.mark.parametrize("backend", ["naive", "sdpa", "chunked"])
@pytest.mark.parametrize("n_kv_heads", [1, 2])
def test_grouped_query_attention_equals_repeated_kv_heads(backend, n_kv_heads):
    gqa = llama_attention(n_embd=32, n_head=4, n_kv_head=n_kv_heads, bias=True, attn_backend=backend)
    assert gqa.k_proj.weight.shape == (n_kv_heads * 8, 32)
    full = llama_attention(n_embd=32, n_head=4, bias=True, attn_backend=backend)
    assert full.k_proj.weight.shape == (4 * 8, 32)
    _copy_repeating_kv_heads(gqa, full)
    x = torch.randn(2, 7, 32)
    mask = torch.rand(2, 1, 7, 7) < 0.8
    torch.testing.assert_close(gqa(x, mask=mask), full(x, mask=mask))  # LlamaAttention is always causal
    cache = KVCache(block_size=7)
    steps = [gqa(x[:, :3], kv_cache=cache)] + [gqa(x[:, i : i + 1], kv_cache=cache) for i in range(3, 7)]
    assert cache.k.shape[1] == n_kv_heads  # the cache stores only the shared K/V heads
    torch.testing.assert_close(torch.cat(steps, 1), full(x), atol=1e-5, rtol=1e-5)


def test_causal_mask_bottom_right():
    assert torch.equal(causal_mask(2, 4), torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]], dtype=torch.bool))
    assert torch.equal(causal_mask(3, 3), torch.ones(3, 3, dtype=torch.bool).tril())


def test_padding_mask():
    m = padding_mask(torch.tensor([[5, 6, 0], [7, 0, 0]]), pad_id=0)
    assert m.shape == (2, 1, 1, 3)
    assert m[:, 0, 0].tolist() == [[True, True, False], [True, False, False]]


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(n_embd=30, n_head=4), "n_embd=30 is not divisible by n_head=4"),
        (dict(n_embd=32, n_head=4, attn_backend="cuda"), "unknown attn_backend 'cuda'"),
        (dict(n_embd=0, n_head=1), "must be positive"),
        (dict(n_embd=32, n_head=4, dropout=1.0), "dropout"),
        (dict(n_embd=32, n_head=4, dropout=0.1, attn_backend="chunked"), "'chunked' has no attention dropout"),
    ],
)
def test_mha_bad_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MultiHeadAttention(**kwargs)


@pytest.mark.parametrize(
    "fields,match",
    [
        (dict(n_kv_head=3), "n_head=4 is not divisible by n_kv_head=3; use a divisor"),
        (dict(n_kv_head=0), "n_kv_head must be None or a positive integer, got 0"),
    ],
)
def test_grouped_query_bad_config(fields, match):
    """Grouped-query attention is LlamaConfig's (n_kv_head); the 2017 MultiHeadAttention has none."""
    with pytest.raises(ValueError, match=match):
        LlamaConfig(n_embd=32, n_head=4, **fields)


@pytest.mark.parametrize(
    "removed",
    [
        dict(n_kv_heads=2),
        dict(head_dim=8),
        dict(qkv_bias=False),
        dict(qk_norm=True),
        dict(norm_eps=1e-6),
        dict(rope=None),
        dict(window=4),
    ],
)
def test_mha_refuses_the_later_models_options(removed):
    """These are LlamaConfig fields (run by LlamaAttention, models/llama.py), not MultiHeadAttention arguments."""
    with pytest.raises(TypeError, match=f"unexpected keyword argument '{next(iter(removed))}'"):
        MultiHeadAttention(32, 4, **removed)


def test_mha_bad_inputs():
    mha = MultiHeadAttention(16, 4)
    with pytest.raises(ValueError, match=r"query must be \(B, T, n_embd=16\)"):
        mha(torch.randn(2, 5, 12))
    with pytest.raises(ValueError, match="query must be"):
        mha(torch.randn(5, 16))
    with pytest.raises(ValueError, match="batch sizes differ"):
        mha(torch.randn(2, 5, 16), torch.randn(3, 4, 16), torch.randn(3, 4, 16))
    with pytest.raises(ValueError, match="key and value lengths differ"):
        mha(torch.randn(2, 5, 16), torch.randn(2, 4, 16), torch.randn(2, 3, 16))
    with pytest.raises(ValueError, match="both key and value"):
        mha(torch.randn(2, 5, 16), torch.randn(2, 4, 16))
    with pytest.raises(ValueError, match="does not broadcast"):
        mha(torch.randn(2, 5, 16), mask=torch.ones(5, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="overflow"):
        mha(torch.randn(1, 5, 16), kv_cache=KVCache(4))


# ---------------------------------------------------------------- bad input: sizes and dtypes
@pytest.mark.parametrize(
    "kwargs,named",
    [
        (dict(n_embd=64.0, n_head=4), "n_embd=64.0 (float)"),
        (dict(n_embd=64, n_head=4.0), "n_head=4.0 (float)"),
        (dict(n_embd=64, n_head=True), "n_head=True (bool)"),
        (dict(n_embd=64, n_head=4, kv_dim=32.0), "kv_dim=32.0 (float)"),
    ],
)
def test_mha_sizes_must_be_ints(kwargs, named):
    with pytest.raises(ValueError, match=rf"must be positive and of type int, got {re.escape(named)}"):
        MultiHeadAttention(**kwargs)


@pytest.mark.parametrize(
    "fields,named",
    [
        (dict(head_dim=16.0), "head_dim=16.0 is not a valid int | None (got float)"),
        (dict(n_kv_head=2.0), "n_kv_head=2.0 is not a valid int | None (got float)"),
        (dict(n_kv_head=True), "n_kv_head=True is not a valid int | None (got bool)"),
    ],
)
def test_llama_attention_sizes_must_be_ints(fields, named):
    """head_dim and n_kv_head are LlamaConfig fields: its type checks name the field, value and type."""
    with pytest.raises(ValueError, match=re.escape(named)):
        LlamaConfig(n_embd=64, n_head=4, **fields)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_mha_input_of_another_dtype_names_both_dtypes(dtype):
    mha = MultiHeadAttention(16, 4)
    with pytest.raises(ValueError, match=rf"query is {dtype} but this layer's weights are torch.float32"):
        mha(torch.randn(2, 5, 16, dtype=dtype))
    cross = MultiHeadAttention(16, 4, kv_dim=8)
    with pytest.raises(ValueError, match=rf"key is {dtype} but this layer's weights are torch.float32"):
        cross(torch.randn(2, 5, 16), torch.randn(2, 3, 8, dtype=dtype), torch.randn(2, 3, 8, dtype=dtype))


@pytest.mark.parametrize("backend", ["naive", "sdpa", "chunked"])
def test_mha_mixed_dtypes_are_fine_under_autocast(backend):
    mha = MultiHeadAttention(16, 4, attn_backend=backend)
    x = torch.randn(2, 5, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = mha(x.bfloat16(), causal=True)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), mha(x, causal=True), atol=5e-2, rtol=5e-2)


# -- edges --
# MultiHeadAttention's wiring at its edges (written against mutmut survivors, tests/MUTATION.md;
# formerly tests/test_mutants_attention.py).
#
# References are torch.nn.MultiheadAttention (masks written by hand, True = blocked there) and the
# registry's own kernels, spied on to see which one a layer runs.


def _pair(d=16, h=2, **kw):
    """Our layer and torch's with the same weights (eval mode)."""
    ref = torch.nn.MultiheadAttention(d, h, batch_first=True).eval()
    ours = MultiHeadAttention(d, h, **kw).eval()
    copy_from_torch(ref, ours)
    return ours, ref


def _torch_out(ref, x, blocked):
    return ref(x, x, x, attn_mask=blocked, need_weights=False)[0]


@pytest.mark.parametrize("backend", ["naive", "sdpa", "chunked"])
@pytest.mark.parametrize("h,t", [(1, 5), (2, 2), (2, 3)])  # one head; two queries
def test_causal_with_one_head_or_two_queries(backend, h, t):
    ours, ref = _pair(h=h, attn_backend=backend)
    x = torch.randn(2, t, 16)
    future = torch.ones(t, t, dtype=torch.bool).triu(1)
    torch.testing.assert_close(ours(x, causal=True), _torch_out(ref, x, future), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("backend", ["naive", "sdpa", "chunked"])
def test_a_per_row_mask_of_three_dims_applies_to_every_head(backend):
    ours, ref = _pair(attn_backend=backend)
    x = torch.randn(2, 5, 16)
    allowed = torch.rand(2, 5, 5) < 0.6
    allowed[..., 0] = True  # every query sees at least one key
    blocked = (~allowed).repeat_interleave(2, dim=0)  # torch: (B·H, T, T), True = blocked
    torch.testing.assert_close(ours(x, mask=allowed), _torch_out(ref, x, blocked), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("need_weights", [False, True])
@pytest.mark.parametrize("backend", ["naive", "sdpa"])
def test_window_holds_on_the_explicit_path_and_its_weights(backend, need_weights):
    """The window reaches the kernel: LlamaAttention (models/llama.py, the layer with a window) on the
    explicit and a fused backend, and the explicit kernel's weights, against torch's SDPA with the
    window written out as a mask on the same rotated q, k."""
    attn = llama_attention(n_embd=16, n_head=2, window=2, attn_backend=backend)
    x = torch.randn(1, 6, 16)
    i = torch.arange(6)
    blocked = (i[None] > i[:, None]) | (i[None] <= i[:, None] - 2)  # key j visible to query p iff p-2 < j <= p
    heads = lambda t: rearrange(t, "b t (h d) -> b h t d", h=2)
    q, k, v = attn.rope(heads(attn.q_proj(x))), attn.rope(heads(attn.k_proj(x))), heads(attn.v_proj(x))
    want = F.scaled_dot_product_attention(q, k, v, attn_mask=~blocked)  # (B, H, T, hd)
    with torch.no_grad():
        merged = attn.out_proj(rearrange(want, "b h t d -> b t (h d)"))  # (B, T, n_embd)
        torch.testing.assert_close(attn(x), merged, atol=1e-5, rtol=1e-5)
        if need_weights:  # the explicit softmax(QKᵀ/√d)V: same output, weights zero exactly outside the window
            out, weights = scaled_dot_product_attention(q, k, v, causal=True, return_weights=True, window=2)
            torch.testing.assert_close(out, want, atol=1e-5, rtol=1e-5)
            assert torch.equal(weights[0, 0] > 0, ~blocked) and torch.equal(weights[0, 1] > 0, ~blocked)


@pytest.mark.parametrize("backend", ["naive", "sdpa"])
def test_dropout_runs_in_training_only(backend):
    torch.manual_seed(0)
    mha = MultiHeadAttention(16, 2, dropout=0.5, attn_backend=backend)
    plain = MultiHeadAttention(16, 2, attn_backend=backend).eval()
    plain.load_state_dict(mha.state_dict())
    x = torch.randn(2, 6, 16)
    mha.eval()
    torch.testing.assert_close(mha(x, causal=True), plain(x, causal=True))  # eval: no dropout
    mha.train()
    a, b = mha(x, causal=True), mha(x, causal=True)
    assert not torch.allclose(a, plain(x, causal=True), atol=1e-3)  # training: weights dropped ...
    assert not torch.allclose(a, b, atol=1e-3)  # ... at random


@pytest.mark.parametrize("backend", ["sdpa", "chunked"])
def test_the_named_backend_is_the_kernel_that_runs(backend, monkeypatch):
    calls = []
    kernel = BACKENDS[backend]

    def spy(*args, **options):
        calls.append(backend)
        return kernel.fn(*args, **options)

    monkeypatch.setitem(BACKENDS, backend, dataclasses.replace(kernel, fn=spy))
    mha = MultiHeadAttention(16, 2, attn_backend=backend).eval()
    mha(torch.randn(1, 4, 16), causal=True)
    assert calls == [backend]


def test_lora_projections_are_not_stacked_in_training():
    """With gradients on, plain projections run as one stacked product; LoRA layers must not (their
    update is outside ``weight``). Reference: the same layer with the adapters merged."""
    torch.manual_seed(0)
    mha = MultiHeadAttention(16, 2)
    merged = MultiHeadAttention(16, 2)
    merged.load_state_dict(mha.state_dict())
    for name in ("q_proj", "k_proj", "v_proj"):
        lora = LoRALinear(getattr(mha, name), r=2, alpha=4.0)
        with torch.no_grad():
            lora.lora_B.normal_()  # a non-zero update
        setattr(mha, name, lora)
        setattr(merged, name, lora.merged())
    x = torch.randn(2, 5, 16)
    assert torch.is_grad_enabled()
    torch.testing.assert_close(mha(x, causal=True), merged(x, causal=True), atol=1e-5, rtol=1e-5)


def test_mha_bias_false_reaches_all_four_projections():
    mha = MultiHeadAttention(12, 3, bias=False, kv_dim=6)
    assert [n for n, _ in mha.named_parameters() if n.endswith("bias")] == []
    assert sorted(n for n, _ in MultiHeadAttention(12, 3).named_parameters() if n.endswith("bias")) == [
        "k_proj.bias",
        "out_proj.bias",
        "q_proj.bias",
        "v_proj.bias",
    ]
    assert type(mha.head_dim) is int and mha.head_dim == 4  # a size, not 4.0


def test_mha_with_only_int8_weights_runs():
    """Quantized without biases the layer has no floating-point parameter left to compare dtypes with: it
    runs (the int8 weights are dequantized to the input's dtype) instead of failing on the check."""
    from minillm.adapt.quantize import quantize_int8

    torch.manual_seed(0)
    mha = MultiHeadAttention(16, 2, bias=False).eval()
    x = torch.randn(2, 5, 16)
    want = mha(x, causal=True)
    quantized = quantize_int8(mha)
    assert not any(p.is_floating_point() for p in quantized.parameters())
    torch.testing.assert_close(quantized(x, causal=True), want, atol=2e-2, rtol=0)


def test_mha_value_of_another_dtype_is_named():
    cross = MultiHeadAttention(16, 4, kv_dim=8)
    with pytest.raises(ValueError, match=r"^value is torch.float64 but this layer's weights are torch.float32"):
        cross(torch.randn(2, 5, 16), torch.randn(2, 3, 8), torch.randn(2, 3, 8, dtype=torch.float64))


def test_mha_accepts_a_cache_whose_window_keeps_every_key():
    """A sliding cache as long as the context drops nothing: accepted, and it decodes as a plain cache does."""
    torch.manual_seed(0)
    mha = MultiHeadAttention(16, 2).eval()
    x = torch.randn(1, 6, 16)
    plain, sliding = KVCache(6), KVCache(6, window=6)
    for t in range(6):
        torch.testing.assert_close(
            mha(x[:, t : t + 1], causal=True, kv_cache=sliding), mha(x[:, t : t + 1], causal=True, kv_cache=plain)
        )
