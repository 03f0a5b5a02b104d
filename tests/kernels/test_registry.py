"""Every attention backend equals the naive one and torch's SDPA, on outputs and gradients (report §3.2 kernels).

Also: one causal rule (bottom-right) in every backend, grouped-query K/V in every backend, one
validator and one registry ("auto" resolves to "sdpa"; "triton" is registered but unavailable).
"""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from minillm.kernels import (
    AUTO_ORDER,
    BACKEND_NAMES,
    BACKENDS,
    attention,
    check_backend,
    chunked_attention,
    resolve_backend,
    scaled_dot_product_attention,
    sdpa_attention,
)
from minillm.models.gpt import GPTConfig
from minillm.models.transformer import TransformerConfig
from minillm.nn.attention import MultiHeadAttention

LENGTHS = [(1, 1), (7, 7), (129, 129), (1000, 1000), (1, 37), (5, 300)]  # (T_q, T_k); T_q < T_k = KV cache
RUNNABLE = ["naive", "chunked", "sdpa", "auto"]


def _inputs(tq, tk, dtype=torch.float32, d=16, dv=16, seed=0, heads=2, kv_heads=None, batch=2):
    g = torch.Generator().manual_seed(seed)
    make = lambda *s: torch.randn(*s, generator=g).to(dtype).requires_grad_()
    kv_heads = heads if kv_heads is None else kv_heads
    return make(batch, heads, tq, d), make(batch, kv_heads, tk, d), make(batch, kv_heads, tk, dv)


def _out_and_grads(backend, q, k, v, **kw):
    out = attention(q, k, v, backend=backend, **kw)
    weight = torch.linspace(-1, 1, out.numel()).reshape(out.shape).to(out.dtype)
    grads = torch.autograd.grad((out * weight).sum(), (q, k, v))
    return (out, *grads)


def _bottom_right(tq, tk):
    """The causal rule written independently of minillm: query i sees keys 0 … i + (T_k - T_q)."""
    return torch.ones(tq, tk, dtype=torch.bool).tril(diagonal=tk - tq)


@pytest.mark.parametrize("backend", ["chunked", "sdpa", "auto"])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("tq,tk", LENGTHS)
def test_backend_matches_naive_fp32(backend, causal, tq, tk):
    q, k, v = _inputs(tq, tk)
    for got, want in zip(
        _out_and_grads(backend, q, k, v, causal=causal), _out_and_grads("naive", q, k, v, causal=causal)
    ):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("backend", ["chunked", "sdpa"])
@pytest.mark.parametrize("kind", ["bool", "float", "padding"])
def test_backend_matches_naive_with_masks(backend, kind):
    q, k, v = _inputs(33, 33)
    g = torch.Generator().manual_seed(1)
    if kind == "bool":
        mask = torch.rand(2, 1, 33, 33, generator=g) < 0.6
        mask[0, 0, 3] = False  # one query row sees nothing: must give zeros, not NaN
    elif kind == "float":
        mask = torch.randn(2, 2, 33, 33, generator=g)
    else:
        mask = torch.ones(2, 1, 1, 33, dtype=torch.bool)
        mask[1, ..., 20:] = False
    for causal in (False, True):
        got = _out_and_grads(backend, q, k, v, causal=causal, mask=mask)
        want = _out_and_grads("naive", q, k, v, causal=causal, mask=mask)
        for a, b in zip(got, want):
            assert torch.isfinite(a).all()
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("backend", ["chunked", "sdpa"])
def test_backend_matches_naive_bf16(backend):
    q, k, v = _inputs(300, 300, dtype=torch.bfloat16)
    q64, k64, v64 = (t.detach().double().requires_grad_() for t in (q, k, v))
    want = _out_and_grads("naive", q64, k64, v64, causal=True)
    for a, b in zip(_out_and_grads(backend, q, k, v, causal=True), want):
        assert a.dtype == torch.bfloat16
        torch.testing.assert_close(a.double(), b, atol=2e-2, rtol=2e-2)


@pytest.mark.parametrize("block_size", [1, 3, 64])
def test_chunked_gradcheck_float64_across_blocks(block_size):
    q, k, v = _inputs(9, 11, dtype=torch.float64, d=4, dv=3, batch=1)  # batch 1: gradcheck time grows with size
    mask = torch.rand(1, 1, 9, 11, generator=torch.Generator().manual_seed(2)) < 0.7
    assert torch.autograd.gradcheck(
        lambda a, b, c: chunked_attention(a, b, c, causal=True, mask=mask, block_size=block_size, block_q=block_size),
        (q, k, v),
    )


@pytest.mark.parametrize("mask_heads", [1, 6])
def test_chunked_gqa_gradcheck_float64(mask_heads):
    """The custom backward sums dK and dV over the query heads that share a K/V head."""
    q, k, v = _inputs(5, 7, dtype=torch.float64, d=4, dv=3, heads=6, kv_heads=2, batch=1)
    mask = torch.rand(1, mask_heads, 5, 7, generator=torch.Generator().manual_seed(3)) < 0.7
    assert torch.autograd.gradcheck(
        lambda a, b, c: chunked_attention(a, b, c, causal=True, mask=mask, block_size=3, block_q=2), (q, k, v)
    )


# ---------------------------------------------------------------- one causal rule, grouped-query K/V
gqa_shapes = st.tuples(
    st.integers(1, 2),  # batch
    st.integers(1, 3),  # K/V heads
    st.sampled_from([1, 2, 4]),  # query heads per K/V head
    st.integers(1, 12),  # T_q
    st.integers(1, 12),  # T_k
    st.sampled_from([1, 4, 8]),  # d
    st.sampled_from([1, 5]),  # d_v
)


@given(gqa_shapes, st.sampled_from(RUNNABLE), st.sampled_from([None, "shared", "per-head"]), st.integers(0, 2**31 - 1))
def test_every_backend_matches_torch_gqa_with_the_bottom_right_mask(shape, backend, masked, seed):
    """Outputs and gradients equal torch SDPA (enable_gqa=True) given the explicit bottom-right mask."""
    b, h_kv, group, tq, tk, d, dv = shape
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(b, h_kv * group, tq, d, generator=g, dtype=torch.float64, requires_grad=True)
    k = torch.randn(b, h_kv, tk, d, generator=g, dtype=torch.float64, requires_grad=True)
    v = torch.randn(b, h_kv, tk, dv, generator=g, dtype=torch.float64, requires_grad=True)
    mask_heads = h_kv * group if masked == "per-head" else 1
    mask = torch.rand(b, mask_heads, tq, tk, generator=g) < 0.8 if masked else None
    allowed = _bottom_right(tq, tk) if mask is None else _bottom_right(tq, tk) & mask  # (.., T_q, T_k)
    keep = allowed.any(-1, keepdim=True).expand(b, h_kv * group, tq, 1)  # rows that see a key; others are 0
    # torch's output for a row that sees nothing varies by version: let those rows see every key
    # in the reference and zero them afterwards, which also keeps their gradients at zero
    safe = allowed | ~keep

    got = attention(q, k, v, causal=True, mask=mask, backend=backend)
    want = F.scaled_dot_product_attention(q, k, v, attn_mask=safe, enable_gqa=True) * keep
    torch.testing.assert_close(got, want, atol=1e-10, rtol=1e-8)

    # gradients against an independent expansion: repeat_interleave copies each K/V head per group
    k_rep, v_rep = k.repeat_interleave(group, dim=-3), v.repeat_interleave(group, dim=-3)
    ref = F.scaled_dot_product_attention(q, k_rep, v_rep, attn_mask=safe) * keep
    torch.testing.assert_close(ref, want, atol=1e-10, rtol=1e-8)
    grads = torch.autograd.grad(got.sin().sum(), (q, k, v))
    ref_grads = torch.autograd.grad(ref.sin().sum(), (q, k, v))
    for a, r in zip(grads, ref_grads):
        torch.testing.assert_close(a, r, atol=1e-10, rtol=1e-8)


@given(st.integers(1, 9), st.sampled_from(RUNNABLE), st.integers(0, 2**31 - 1))
def test_square_causal_equals_torch_is_causal(t, backend, seed):
    q, k, v = _inputs(t, t, seed=seed)
    want = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    torch.testing.assert_close(attention(q, k, v, causal=True, backend=backend), want, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(scaled_dot_product_attention(q, k, v, causal=True), want, atol=1e-5, rtol=1e-5)


def test_causal_kernels_put_queries_last():
    """T_q < T_k: the query block is the newest positions, as in decoding with a KV cache."""
    q, k, v = _inputs(10, 10)
    full = attention(q, k, v, causal=True, backend="naive")
    for backend in RUNNABLE:
        tail = attention(q[..., 6:, :], k, v, causal=True, backend=backend)
        torch.testing.assert_close(tail, full[..., 6:, :], atol=1e-5, rtol=1e-5)


def test_two_queries_four_keys_by_hand():
    """The issue's example: 2 queries, 4 keys; the last query sees all 4 keys, the first 3."""
    q = torch.zeros(1, 2, 1)  # equal scores: the output is the mean of the visible values
    k, v = torch.zeros(1, 4, 1), torch.tensor([[[1.0], [2.0], [3.0], [10.0]]])
    want = torch.tensor([[[2.0], [4.0]]])  # mean(1, 2, 3), mean(1, 2, 3, 10)
    for backend in RUNNABLE:
        torch.testing.assert_close(attention(q, k, v, causal=True, backend=backend), want)
    torch.testing.assert_close(scaled_dot_product_attention(q, k, v, causal=True), want)


# ---------------------------------------------------------------- registry and validator
def test_registry_and_auto():
    assert BACKEND_NAMES == ("auto", "naive", "chunked", "sdpa", "triton")
    assert set(AUTO_ORDER) <= set(BACKENDS)
    q, _, _ = _inputs(3, 3)
    assert resolve_backend("auto", q) == "sdpa"
    assert resolve_backend("auto", q.double(), dropout_p=0.5) == "sdpa"
    assert resolve_backend("chunked", q) == "chunked"
    with pytest.raises(ValueError, match="'triton' cannot run.*TRITON_INTERPRET=1"):  # CPU tensors, no interpreter
        resolve_backend("triton", q)
    with pytest.raises(ValueError, match="'chunked' cannot run.*no attention dropout"):
        resolve_backend("chunked", q, dropout_p=0.1)
    with pytest.raises(ValueError, match="unknown attn_backend 'flash'; choose one of auto, naive, chunked"):
        check_backend("flash", "attn_backend")


@pytest.mark.parametrize("name", BACKEND_NAMES)
def test_every_registry_name_is_accepted_wherever_a_backend_is_named(name):
    assert GPTConfig(vocab_size=10, block_size=8, n_layer=1, n_head=2, n_embd=8, attn_backend=name)
    assert TransformerConfig(10, 10, n_embd=8, n_head=2, attn_backend=name)
    assert MultiHeadAttention(8, 2, attn_backend=name)


def _entry_points():
    yield "reference", lambda q, k, v, **kw: scaled_dot_product_attention(q, k, v, **kw)
    yield "chunked_attention", lambda q, k, v, **kw: chunked_attention(q, k, v, **kw)
    yield "sdpa_attention", lambda q, k, v, **kw: sdpa_attention(q, k, v, **kw)
    for b in RUNNABLE:
        yield b, lambda q, k, v, b=b, **kw: attention(q, k, v, backend=b, **kw)


@pytest.mark.parametrize("entry", [f for _, f in _entry_points()], ids=[n for n, _ in _entry_points()])
def test_one_validator_everywhere(entry):
    q, k, v = _inputs(4, 4)
    cases = [
        ((q, k[..., :8], v), "head size"),
        ((q, k, v[..., :3, :]), "number of keys"),
        ((q, k[:1], v[:1]), r"equal leading \(batch\) dimensions"),
        ((q, k[0], v[0]), "same number of dimensions"),
        ((q[:, :1], k, v), "divide the query head count"),
        ((q[0, 0, 0], k, v), r"\(\.\.\., T, d\)"),
        ((q.long(), k, v), "floating-point"),
        ((q, k.double(), v), "share a dtype"),
    ]
    for args, match in cases:
        with pytest.raises(ValueError, match=match):
            entry(*args)
    with pytest.raises(ValueError, match="does not broadcast"):
        entry(q, k, v, mask=torch.ones(3, 4, dtype=torch.bool))
    with pytest.raises(TypeError, match="q must be a torch.Tensor"):
        entry([1.0], k, v)


def test_bad_input_names_the_problem():
    q, k, v = _inputs(4, 4)
    with pytest.raises(ValueError, match="unknown backend 'flash'; choose one of auto, naive, chunked, sdpa, triton"):
        attention(q, k, v, backend="flash")
    with pytest.raises(ValueError, match="TRITON_INTERPRET=1"):
        attention(q, k, v, backend="triton")
    with pytest.raises(ValueError, match="no attention dropout"):
        attention(q, k, v, backend="chunked", dropout_p=0.1)
    with pytest.raises(ValueError, match="dropout_p"):
        attention(q, k, v, dropout_p=1.0)
    with pytest.raises(ValueError, match="block_size"):
        chunked_attention(q, k, v, block_size=0)


@pytest.mark.gpu
def test_cuda_backends_match_naive():
    q, k, v = (t.detach().cuda().requires_grad_() for t in _inputs(257, 257))
    for backend in ("chunked", "sdpa"):
        for a, b in zip(_out_and_grads(backend, q, k, v, causal=True), _out_and_grads("naive", q, k, v, causal=True)):
            torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_cuda_gqa_bottom_right_matches_torch(dtype):
    q, k, v = (t.detach().cuda().to(dtype) for t in _inputs(64, 200, heads=8, kv_heads=2))
    want = F.scaled_dot_product_attention(q, k, v, attn_mask=_bottom_right(64, 200).cuda(), enable_gqa=True)
    for backend in RUNNABLE:
        torch.testing.assert_close(attention(q, k, v, causal=True, backend=backend), want, atol=2e-2, rtol=2e-2)


# ---------------------------------------------------------------- bad input: dtypes, NaN
def test_mixed_dtypes_are_refused_naming_each_dtype():
    q, k, v = (t.detach() for t in _inputs(3, 3))
    for fn in (attention, chunked_attention, sdpa_attention, scaled_dot_product_attention):
        with pytest.raises(ValueError, match=r"q torch.float16, k torch.float32, v torch.float32.*autocast"):
            fn(q.half(), k, v)


@pytest.mark.parametrize("backend", ["naive", "chunked", "sdpa"])
@pytest.mark.parametrize("odd", ["q", "k", "v"])
def test_mixed_dtypes_under_autocast_run_in_the_autocast_dtype(backend, odd):
    """One of q, k, v in bf16, the others in fp32 (or the reverse): all three are cast to the autocast dtype,
    as torch's own kernel casts, whether q is the odd one or not (the kernels take their output dtype from q)."""
    q, k, v = (t.detach() for t in _inputs(5, 5))
    want = attention(q, k, v, causal=True, backend=backend)
    for low, high in ((torch.bfloat16, torch.float32), (torch.float32, torch.bfloat16)):
        args = [t.to(low if name == odd else high) for name, t in zip("qkv", (q, k, v))]
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = attention(*args, causal=True, backend=backend)
        assert out.dtype == torch.bfloat16
        torch.testing.assert_close(out.float(), want, atol=5e-2, rtol=5e-2)


@pytest.mark.parametrize("backend", ["naive", "chunked", "sdpa"])
def test_inputs_of_one_dtype_under_autocast_reach_the_kernel_as_they_are(backend):
    """attention() casts only mixed dtypes; fp32 inputs under autocast are the kernel's to handle (sdpa
    computes in bf16 as torch's kernel does, the explicit ones in fp32)."""
    q, k, v = (t.detach() for t in _inputs(5, 5))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = attention(q, k, v, causal=True, backend=backend)
        want = BACKENDS[backend].fn(q, k, v, causal=True)
    assert out.dtype == want.dtype == (torch.bfloat16 if backend == "sdpa" else torch.float32)
    torch.testing.assert_close(out, want, atol=0, rtol=0)


@pytest.mark.parametrize("backend", ["naive", "chunked", "sdpa"])
@pytest.mark.parametrize("leading", [(), (3,)], ids=["T,d", "H,T,d"])
def test_inputs_without_batch_or_heads(backend, leading):
    """(T, d) and (H, T, d) inputs give the rows of the (1, 1, T, d) result; a NaN query row stays NaN."""
    q, k, v = (t.detach()[0, 0].expand(*leading, -1, -1).clone() for t in _inputs(4, 6))  # (T, d) or (H, T, d)
    q[..., 2, 0] = float("nan")
    out = attention(q, k, v, causal=True, backend=backend)
    want = attention(
        q.reshape(1, -1, 4, 16), k.reshape(1, -1, 6, 16), v.reshape(1, -1, 6, 16), causal=True, backend=backend
    )
    assert out.shape == q.shape
    torch.testing.assert_close(out, want.reshape(q.shape), equal_nan=True)
    assert torch.equal(out.isnan().any(-1), torch.arange(4).expand_as(out[..., 0]) == 2)


def _nan_backends():
    q = torch.zeros(1, 1, 1, 16)
    return ["naive", "sdpa", "chunked", "auto"] + (["triton"] if BACKENDS["triton"].unavailable(q) is None else [])


# (T_q, T_k, causal, masked): plain, causal, a KV-cache step (T_q < T_k), one key only, a padding mask with a row
# that sees nothing, as bools and as a float mask (-inf = hidden)
NAN_CASES = [
    (6, 6, False, False),
    (6, 6, True, False),
    (3, 7, True, False),
    (4, 1, False, False),
    (6, 6, True, True),
    (6, 6, True, "float"),
]


@pytest.mark.parametrize("backend", _nan_backends())
@pytest.mark.parametrize("tq,tk,causal,masked", NAN_CASES)
def test_a_nan_query_row_stays_in_its_row(backend, tq, tk, causal, masked):
    """sdpa once returned 0 there: torch's CPU flash kernel treats a NaN row like a row with no key."""
    if backend == "triton" and masked:
        pytest.skip("triton takes no mask")
    q, k, v = (t.detach() for t in _inputs(tq, tk, heads=4, kv_heads=2))
    mask = None
    if masked:
        mask = torch.ones(2, 1, tq, tk, dtype=torch.bool)
        mask[1, :, 4] = False  # query 4 of row 1 sees no key: it stays 0 even with a NaN in it
        if masked == "float":
            mask = torch.zeros(mask.shape).masked_fill(~mask, float("-inf"))
    bad = q.clone()
    bad[1, 2, 1, 3] = float("nan")
    bad[1, 0, tq - 2, 0] = float("nan")  # in the dead row when masked
    ref = attention(q, k, v, causal=causal, mask=mask, backend=backend)
    out = attention(bad, k, v, causal=causal, mask=mask, backend=backend)
    want_nan = torch.zeros(2, 4, tq, dtype=torch.bool)
    want_nan[1, 2, 1] = True
    want_nan[1, 0, tq - 2] = not masked
    assert torch.equal(out.isnan().any(-1), want_nan) and out[want_nan].isnan().all()
    torch.testing.assert_close(out[~want_nan], ref[~want_nan])  # every other row finite and unchanged
    if masked:
        assert torch.equal(out[1, :, 4], torch.zeros_like(out[1, :, 4]))


@pytest.mark.parametrize("backend", ["naive", "sdpa", "chunked"])
def test_a_nan_key_reaches_exactly_the_rows_that_see_it(backend):
    q, k, v = (t.detach() for t in _inputs(6, 6))
    k[0, 1, 3, 0] = float("nan")
    out = attention(q, k, v, causal=True, backend=backend)
    want = torch.zeros(2, 2, 6, dtype=torch.bool)
    want[0, 1, 3:] = True  # queries 3, 4, 5 of that head may see key 3
    assert torch.equal(out.isnan().any(-1), want)


@pytest.mark.parametrize("backend", _nan_backends())
def test_no_keys_at_all_give_zeros_even_for_a_nan_query(backend):
    if backend == "triton":
        pytest.skip("triton needs keys")
    q, k = torch.randn(2, 4, 3, 8), torch.randn(2, 2, 0, 8)  # grouped-query, T_k = 0
    q[1, 2, 0, 5] = float("nan")
    assert torch.equal(attention(q, k, k, backend=backend), torch.zeros(2, 4, 3, 8))
