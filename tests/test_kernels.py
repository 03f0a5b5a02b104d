"""Every attention backend equals the naive one, on outputs and gradients (report §3.2 kernels)."""

import pytest
import torch

from minillm.kernels import BACKENDS, attention, chunked_attention

LENGTHS = [(1, 1), (7, 7), (129, 129), (1000, 1000), (1, 37), (5, 300)]  # (T_q, T_k); T_q < T_k = KV cache


def _inputs(tq, tk, dtype=torch.float32, d=16, dv=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    make = lambda *s: torch.randn(*s, generator=g).to(dtype).requires_grad_()  # noqa: E731
    return make(2, 2, tq, d), make(2, 2, tk, d), make(2, 2, tk, dv)


def _out_and_grads(backend, q, k, v, **kw):
    out = attention(q, k, v, backend=backend, **kw)
    weight = torch.linspace(-1, 1, out.numel()).reshape(out.shape).to(out.dtype)
    grads = torch.autograd.grad((out * weight).sum(), (q, k, v))
    return (out, *grads)


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
    q, k, v = _inputs(9, 11, dtype=torch.float64, d=4, dv=3)
    mask = torch.rand(1, 1, 9, 11, generator=torch.Generator().manual_seed(2)) < 0.7
    assert torch.autograd.gradcheck(
        lambda a, b, c: chunked_attention(a, b, c, causal=True, mask=mask, block_size=block_size, block_q=block_size),
        (q, k, v),
    )


def test_causal_kernels_put_queries_last():
    """T_q < T_k: the query block is the newest positions, as in decoding with a KV cache."""
    q, k, v = _inputs(10, 10)
    full = attention(q, k, v, causal=True, backend="naive")
    for backend in ("naive", "chunked", "sdpa"):
        tail = attention(q[..., 6:, :], k, v, causal=True, backend=backend)
        torch.testing.assert_close(tail, full[..., 6:, :], atol=1e-5, rtol=1e-5)


def test_bad_input_names_the_problem():
    q, k, v = _inputs(4, 4)
    with pytest.raises(ValueError, match="unknown backend 'flash'; supported: auto, naive, chunked, sdpa, triton"):
        attention(q, k, v, backend="flash")
    with pytest.raises(ValueError, match="needs CUDA"):
        attention(q, k, v, backend="triton")
    with pytest.raises(ValueError, match="head size"):
        attention(q, k[..., :8], v)
    with pytest.raises(ValueError, match="same length"):
        attention(q, k, v[..., :3, :])
    with pytest.raises(ValueError, match="leading dimensions"):
        attention(q, k[:1], v[:1])
    with pytest.raises(ValueError, match="does not broadcast"):
        attention(q, k, v, mask=torch.ones(3, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="block_size"):
        chunked_attention(q, k, v, block_size=0)
    assert "auto" in BACKENDS


@pytest.mark.gpu
def test_cuda_backends_match_naive():
    q, k, v = (t.detach().cuda().requires_grad_() for t in _inputs(257, 257))
    for backend in ("chunked", "sdpa"):
        for a, b in zip(_out_and_grads(backend, q, k, v, causal=True), _out_and_grads("naive", q, k, v, causal=True)):
            torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
