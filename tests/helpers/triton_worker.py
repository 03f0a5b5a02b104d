"""Run by tests/kernels/test_triton_attention.py in a fresh process (TRITON_INTERPRET must be set before triton is imported:
Triton's own tl.max/tl.sum are @triton.jit functions too). argv[1]: JSON list of checks, each
["case", t_q, t_k, causal, d, heads, kv_heads, dtype(, window)] or [name]; prints JSON {check id: "ok" or the failure}."""

import json
import sys
import traceback

import torch

from minillm.kernels import attention, resolve_backend, scaled_dot_product_attention

DTYPES = {"float32": torch.float32, "float16": torch.float16}


def case(t_q, t_k, causal, d, heads, kv_heads, dtype, window=None):
    """Output and dQ, dK, dV of the Triton kernel against the float64 explicit softmax (sliding ``window``)."""
    from minillm.kernels.triton_attention import triton_attention

    dtype = DTYPES[dtype]
    g = torch.Generator().manual_seed(t_q * 1000 + t_k * 10 + d)
    q = torch.randn(1, heads, t_q, d, generator=g, dtype=torch.float64)
    k, v = (torch.randn(1, kv_heads, t_k, d, generator=g, dtype=torch.float64) for _ in range(2))
    d_out = torch.randn(1, heads, t_q, d, generator=g, dtype=torch.float64)
    q, k, v, d_out = (t.to(dtype).double() for t in (q, k, v, d_out))  # the values the kernel sees
    ref = [t.clone().requires_grad_() for t in (q, k, v)]
    want = scaled_dot_product_attention(*ref, causal=causal, window=window)
    want_grads = torch.autograd.grad(want, ref, d_out)
    inputs = [t.to(dtype).requires_grad_() for t in (q, k, v)]
    got = triton_attention(*inputs, causal=causal, window=window)
    got_grads = torch.autograd.grad(got, inputs, d_out.to(dtype))
    tol = 1e-4 if dtype == torch.float32 else 2e-2
    for name, x, y in zip(("out", "dq", "dk", "dv"), (got, *got_grads), (want, *want_grads)):
        torch.testing.assert_close(x.double(), y, atol=tol, rtol=tol, msg=lambda m, n=name: f"{n}: {m}")


def registry():
    """backend="triton" through the one entry point: any leading dims, (T, d), (H, T, d), a custom scale."""
    g = torch.Generator().manual_seed(1)
    q, k, v = torch.randn(2, 3, 4, 9, 16, generator=g), *(torch.randn(2, 3, 2, 11, 16, generator=g) for _ in range(2))
    for args in ((q, k, v), (q[0, 0, 0], k[0, 0, 0], v[0, 0, 0]), (q[0, 0], k[0, 0], v[0, 0])):
        for causal, scale in ((True, None), (False, 0.3)):
            want = attention(*args, causal=causal, scale=scale, backend="naive")
            torch.testing.assert_close(attention(*args, causal=causal, scale=scale, backend="triton"), want)
    assert resolve_backend("auto", q) == "sdpa", "auto must never pick triton on CPU"


def window_skips():
    """Tiles outside every query's window are never read: NaN there cannot reach any output or gradient.

    32 queries at positions 168…199 with W = 17 see keys 152…199; the key tiles [0, 64) and
    [64, 128) lie wholly before every window. A kernel that visited them, even with the mask
    applied, would multiply 0 by NaN (0 · NaN = NaN); skipping them is what makes the cost O(T·W).
    """
    from minillm.kernels.triton_attention import triton_attention

    g = torch.Generator().manual_seed(2)
    q = torch.randn(1, 2, 32, 16, generator=g)
    k, v = (torch.randn(1, 2, 200, 16, generator=g) for _ in range(2))
    d_out = torch.randn(1, 2, 32, 16, generator=g)
    ref = [t.double().requires_grad_() for t in (q, k, v)]
    want = scaled_dot_product_attention(*ref, causal=True, window=17)
    want_grads = torch.autograd.grad(want, ref, d_out.double())
    k[..., :128, :], v[..., :128, :] = float("nan"), float("nan")  # the skipped tiles
    inputs = [t.clone().requires_grad_() for t in (q, k, v)]
    got = triton_attention(*inputs, causal=True, window=17)
    got_grads = torch.autograd.grad(got, inputs, d_out)
    for name, x, y in zip(("out", "dq", "dk", "dv"), (got, *got_grads), (want, *want_grads)):
        torch.testing.assert_close(x.double(), y, atol=1e-4, rtol=1e-4, msg=lambda m, n=name: f"{n}: {m}")


def _raises(match, fn):
    import re

    try:
        fn()
    except ValueError as err:
        assert re.search(match, str(err)), f"{err!r} does not match {match!r}"
        return
    raise AssertionError(f"no ValueError matching {match!r}")


def bad_input():
    q = torch.randn(1, 2, 8, 16)
    _raises(r"head size d=8 is not one of \(16, 32, 64, 128\)", lambda: attention(*[q[..., :8]] * 3, backend="triton"))
    _raises(
        "float32 or float16, not torch.bfloat16.*bf16 is wrong",
        lambda: attention(*[q.bfloat16()] * 3, backend="triton"),
    )
    _raises("float32 or float16", lambda: attention(*[q.double()] * 3, backend="triton"))
    _raises("no mask", lambda: attention(q, q, q, mask=torch.ones(8, 8, dtype=torch.bool), backend="triton"))
    _raises(r"d_v = d", lambda: attention(q, q, q[..., :8], backend="triton"))
    _raises("no attention dropout", lambda: attention(q, q, q, backend="triton", dropout_p=0.1))
    from minillm.kernels.triton_attention import triton_attention

    _raises("window=2 is a causal sliding window", lambda: triton_attention(q, q, q, window=2))
    _raises("integer >= 1, got 0", lambda: triton_attention(q, q, q, causal=True, window=0))


def no_interpreter():
    """Run without TRITON_INTERPRET: CPU tensors are refused with a message naming it."""
    q = torch.randn(1, 2, 8, 16)
    _raises("backend 'triton' cannot run.*set TRITON_INTERPRET=1", lambda: attention(q, q, q, backend="triton"))


results = {}
for check in json.loads(sys.argv[1]):
    key = "-".join(map(str, check))
    try:
        case(*check[1:]) if check[0] == "case" else globals()[check[0]]()
        results[key] = "ok"
    except Exception:  # noqa: BLE001  (report every failure, keep checking the rest)
        results[key] = traceback.format_exc(limit=3)[-2000:]
print(json.dumps(results))
