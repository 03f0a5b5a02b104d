"""The Triton FlashAttention kernels (minillm/kernels/triton_attention.py), on CPU under Triton's interpreter.

Outputs and dQ, dK, dV are compared with the explicit softmax in float64 (fp32 ≤ 1e-4, fp16 ≤ 2e-2)
over a grid of T in {1, 17, 64, 129, 200}, causal (bottom-right) and not, T_q ≠ T_k, d in
{16, 64, 128}, grouped K/V and sliding windows narrower than, equal to and wider than a tile. The default run samples the grid (≤ 60 s on 2 cores); the full grid is
slow. TRITON_INTERPRET must be set before triton itself is imported (Triton's own tl.max and tl.sum
are @triton.jit functions), so the interpreter checks run in a fresh process
(tests/helpers/triton_worker.py) and this process is never changed.
"""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from minillm.kernels import attention, scaled_dot_product_attention

pytest.importorskip("triton")

LENGTHS = (1, 17, 64, 129, 200)
ROOT = Path(__file__).resolve().parents[2]


def _worker(checks: list[list], interpret: bool = True) -> dict[str, str]:
    """Run tests/helpers/triton_worker.py in a fresh process: {check id: "ok" or the failure}."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"} | {"PYTHONPATH": str(ROOT)}
    if interpret:
        env["TRITON_INTERPRET"] = "1"
    cmd = [sys.executable, str(ROOT / "tests/helpers/triton_worker.py"), json.dumps(checks)]
    done = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


# (t_q, t_k, causal, d, heads, kv_heads, dtype): every length on both sides, both causal settings,
# every head size, grouped K/V, T_q < T_k (a KV cache), T_q > T_k (rows that see no key), fp16.
SAMPLE = [
    (1, 1, True, 16, 2, 2, "float32"),
    (17, 17, False, 64, 2, 1, "float32"),
    (64, 200, True, 16, 4, 2, "float32"),
    (129, 64, True, 64, 2, 2, "float32"),
    (200, 129, False, 128, 2, 1, "float32"),
    (1, 129, True, 128, 4, 1, "float32"),
    (129, 129, True, 64, 4, 2, "float16"),
    (17, 200, False, 16, 2, 2, "float16"),
    # sliding windows (the 8th field): inside one tile, one tile wide, spanning tiles; a KV cache; empty rows
    (129, 129, True, 64, 4, 2, "float32", 17),
    (64, 200, True, 16, 2, 1, "float32", 40),
    (200, 200, True, 16, 2, 2, "float32", 64),
    (200, 129, True, 16, 2, 2, "float16", 1),
]
# The full grid uses 2 query heads sharing 1 K/V head: grouped K/V stays covered, and the interpreter
# (one Python program instance per head and tile) runs it in half the time of 4 heads; SAMPLE varies heads.
FULL = [
    (t_q, t_k, causal, d, 2, 1, dtype)
    for t_q, t_k in itertools.product(LENGTHS, LENGTHS)
    for causal in (False, True)
    for d, dtype in ((16, "float32"), (64, "float16"), (128, "float32"))
    if (t_q, t_k, causal, d, 2, 1, dtype) not in SAMPLE
] + [  # every length pair once with a window, the windows taking turns
    (t_q, t_k, True, 16, 2, 1, "float32", (1, 17, 64, 100)[i % 4])
    for i, (t_q, t_k) in enumerate(itertools.product(LENGTHS, LENGTHS))
]


def _key(check) -> str:
    return "-".join(map(str, check))


@pytest.fixture(scope="module")
def sample_results():
    return _worker([["case", *c] for c in SAMPLE] + [["registry"], ["bad_input"], ["window_skips"]])


@pytest.fixture(scope="module")
def full_results():
    return _worker([["case", *c] for c in FULL])


@pytest.mark.parametrize("case", SAMPLE, ids=_key)
def test_matches_float64_reference(sample_results, case):
    assert sample_results[_key(["case", *case])] == "ok"


@pytest.mark.slow
@pytest.mark.parametrize("case", FULL, ids=_key)
def test_matches_float64_reference_full_grid(full_results, case):
    assert full_results[_key(["case", *case])] == "ok"


def test_registry_leading_dims_and_scale(sample_results):
    """backend="triton" through attention(): any leading dims, (T, d), a custom scale; auto stays sdpa."""
    assert sample_results["registry"] == "ok"


def test_tiles_outside_every_window_are_never_read(sample_results):
    """NaN keys and values wholly before every query's window reach no output or gradient (the O(T·W) skip)."""
    assert sample_results["window_skips"] == "ok"


def test_bad_input_names_what_is_supported(sample_results):
    """Head size, bf16 / fp64 under the interpreter, a mask, d_v != d, dropout: one ValueError each."""
    assert sample_results["bad_input"] == "ok"


def test_cpu_without_the_interpreter_names_it():
    assert _worker([["no_interpreter"]], interpret=False) == {"no_interpreter": "ok"}


def test_without_triton_installed_names_it(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "triton" else real(name, *a))
    q = torch.randn(1, 2, 8, 16)
    with pytest.raises(ValueError, match="triton is not installed"):
        attention(q, q, q, backend="triton")
    torch.testing.assert_close(attention(q, q, q), attention(q, q, q, backend="naive"))  # auto still works


def test_importing_minillm_does_not_import_triton():
    code = "import sys, minillm, minillm.kernels, minillm.commands.cli; print('triton' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------------ on a GPU (skipped without CUDA)
@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("d", [64, 128])
def test_gpu_matches_float64_reference(dtype, causal, d):
    from minillm.kernels.triton_attention import triton_attention

    g = torch.Generator().manual_seed(d)
    for t_q, t_k in ((1000, 1000), (333, 1024)):
        q = torch.randn(2, 8, t_q, d, generator=g, dtype=torch.float64)
        k, v = (torch.randn(2, 2, t_k, d, generator=g, dtype=torch.float64) for _ in range(2))
        d_out = torch.randn(2, 8, t_q, d, generator=g, dtype=torch.float64)
        ref = [t.to(dtype).double().requires_grad_() for t in (q, k, v)]
        want = scaled_dot_product_attention(*ref, causal=causal)
        want_grads = torch.autograd.grad(want, ref, d_out.to(dtype).double())
        inputs = [t.to(dtype).cuda().requires_grad_() for t in (q, k, v)]
        got = triton_attention(*inputs, causal=causal)
        got_grads = torch.autograd.grad(got, inputs, d_out.to(dtype).cuda())
        for x, y in zip((got, *got_grads), (want, *want_grads)):
            torch.testing.assert_close(x.double().cpu(), y, atol=2e-2, rtol=2e-2)


@pytest.mark.gpu
def test_gpu_refuses_float32():
    q = torch.randn(1, 2, 64, 64, device="cuda")
    with pytest.raises(ValueError, match="float16 or bfloat16.*TF32"):
        attention(q, q, q, backend="triton")
