"""The Triton kernels' tile table and their ahead-of-time compile for sm_90 / sm_80 (no GPU needed).

minillm/commands/triton_compile.py lowers each kernel of minillm/kernels/triton_kernels.py to PTX
and runs the ptxas bundled with Triton: every variant (kernel × head size × dtype × no mask,
causal, causal with a sliding window) must fit its registers without spilling and use tensor
cores. A file of its own so that pytest-xdist runs it beside the interpreter grid of test_triton.py.
"""

from __future__ import annotations

import itertools
import os

import pytest

pytest.importorskip("triton")
needs_compiled_kernels = pytest.mark.skipif(
    os.environ.get("TRITON_INTERPRET") == "1", reason="TRITON_INTERPRET=1 is set: nothing to compile"
)


def test_config_table_covers_every_variant():
    from minillm.kernels.triton_attention import CONFIGS, HEAD_DIMS, WINDOW_CONFIGS

    for arch, kernel, d in itertools.product(("sm90", "sm80", "interpreter"), ("fwd", "dkdv", "dq"), HEAD_DIMS):
        for cfg in (CONFIGS[(arch, kernel, d)], WINDOW_CONFIGS.get((arch, kernel, d), CONFIGS[(arch, kernel, d)])):
            for block in (cfg.block_m, cfg.block_n):
                assert block >= 16 and block & (block - 1) == 0  # tl.dot and tl.arange need powers of two ≥ 16


# ------------------------------------------------------------------ ahead-of-time compile (no GPU needed)
@needs_compiled_kernels
def test_compile_one_kernel_record():
    from minillm.commands.triton_compile import compile_kernel

    r = compile_kernel("fwd", 64, "bf16", True, arch="sm_90")
    types = {"kernel": str, "head_dim": int, "dtype": str, "causal": bool, "registers": int, "spills": int}
    types |= {"shared_kb": float, "tensor_cores": bool}
    assert {k: type(r[k]) for k in types} == types
    assert (r["kernel"], r["head_dim"], r["dtype"], r["causal"]) == ("fwd", 64, "bf16", True)
    assert r["mma"] == "wgmma" and r["spills"] == 0 and 0 < r["shared_kb"] <= 227 and 0 < r["registers"] <= 255


@pytest.mark.slow
@needs_compiled_kernels
@pytest.mark.parametrize("arch", ["sm_90", "sm_80"])
def test_every_variant_compiles_without_spills_on_tensor_cores(arch):
    from minillm.commands.triton_compile import ARCHS, compile_report

    records = compile_report(arch)
    assert len(records) == 3 * 2 * 2 * 3  # kernel × head_dim × dtype × (none, causal, window)
    for r in records:
        assert r["spills"] == 0, r
        assert r["tensor_cores"] and r["mma"] == ("wgmma" if arch == "sm_90" else "mma.sync"), r
        assert r["shared_kb"] <= ARCHS[arch][1], r
