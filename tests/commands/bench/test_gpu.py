"""`minillm bench gpu` on a machine without a GPU: its arguments, the roofline by hand, target checks, the plot."""

from __future__ import annotations

import argparse

import pytest
import torch

from minillm.commands.bench import gpu
from minillm.commands.cli import main


def _args(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    gpu.add_arguments(p)
    return p.parse_args(argv)


def test_roofline_by_hand():
    # T = 16,384, batch 1, 16 heads x 128, forward: 4·T²·d·H FLOPs; Q, K, V, O in bf16 + one fp32 L per row.
    r = gpu.roofline(16384)
    assert r["flops"] == 4 * 16 * 16384**2 * 128
    assert r["hbm_bytes"] == 4 * 16 * 16384 * 128 * 2 + 16 * 16384 * 4
    assert r["bound_by"] == "compute" and r["bound_s"] == pytest.approx(r["flops"] / 989e12)
    # T = 512, batch 32: the same bytes, 1/32 of the FLOPs -> bound by HBM at 3.35 TB/s.
    r = gpu.roofline(512)
    assert r["batch"] == 32 and r["bound_by"] == "memory"
    assert r["bound_s"] == pytest.approx((4 * 32 * 16 * 512 * 128 * 2 + 32 * 16 * 512 * 4) / 3.35e12)
    # forward+backward: 3.5x the FLOPs; 12 bf16 tensors and 4 fp32 rows of traffic.
    r = gpu.roofline(512, mode="fwd+bwd")
    assert r["hbm_bytes"] == 12 * 32 * 16 * 512 * 128 * 2 + 4 * 32 * 16 * 512 * 4
    with pytest.raises(ValueError, match="no peak FLOP/s or HBM bandwidth for 'RTX 9999'"):
        gpu.roofline(512, device_name="RTX 9999")


def test_attention_cases_and_bad_lists():
    cases = gpu.attention_cases(_args("--lengths", "512,8192"))
    assert len(cases) == 2 * 2 * 2 * 4 - 2 * 2  # T × mode × causal × backend, chunked only up to 4096
    assert {c["backend"] for c in cases if c["T"] == 8192} == {"triton", "sdpa", "flex"}
    with pytest.raises(ValueError, match="--backends takes a comma list of triton, sdpa, flex, chunked"):
        gpu.attention_cases(_args("--backends", "triton,cudnn"))


def test_target_checks():
    rows = [
        {"backend": "triton", "mode": "fwd", "causal": False, "T": 4096, "ratio_to_sdpa": 0.9},
        {"backend": "triton", "mode": "fwd", "causal": False, "T": 8192, "ratio_to_sdpa": 0.85},
        {"backend": "triton", "mode": "fwd", "causal": False, "T": 512, "ratio_to_sdpa": 0.1},  # below min_T
        {"backend": "triton", "mode": "fwd+bwd", "causal": False, "T": 4096, "ratio_to_sdpa": 0.7},
    ]
    checks = {c["what"]: c for c in gpu.target_checks(rows)}
    assert set(checks) == {t["what"] for t in gpu.TARGETS}
    fwd, bwd, causal = (checks[k] for k in ("triton/sdpa fwd", "triton/sdpa fwd+bwd", "triton/sdpa causal fwd"))
    assert (fwd["measured"], fwd["met"]) == (0.85, True)
    assert (bwd["measured"], bwd["met"]) == (0.7, False)
    assert (causal["measured"], causal["met"]) == (None, None)
    assert {"what", "mode", "causal", "min_T", "target", "measured", "met"} <= set(fwd)


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    rows = [
        {"backend": b, "T": t, "mode": m, "causal": c, "tflops": 100.0 + t / 100}
        for b in ("triton", "sdpa")
        for t in (512, 1024)
        for m in ("fwd", "fwd+bwd")
        for c in (False, True)
    ]
    info = {"device_name": "NVIDIA H100 80GB HBM3", "torch": torch.__version__, "tokens": 16384}
    path = gpu._plot(rows, info, tmp_path / "attention.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_dry_run_and_errors(capsys):
    assert main(["bench", "gpu", "--dry-run", "--lengths", "512,4096", "--parts", "attention"]) == 0
    out = capsys.readouterr().out
    assert "Roofline on paper, H100" in out and "triton/sdpa fwd >= 0.8 at T >= 4096" in out
    assert "dry run: parts attention; 32 attention measurements; nothing run" in out
    assert main(["bench", "gpu", "--parts", "attention,fun"]) == 2
    assert "minillm bench gpu: error: --parts takes a comma list of attention, train, memory, pytest" in (
        capsys.readouterr().err
    )
    assert main(["bench", "gpu", "--lengths", "0"]) == 2


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message a machine without CUDA gets")
def test_cli_without_a_gpu_says_so(capsys):
    assert main(["bench", "gpu", "--parts", "pytest"]) == 2
    assert "needs an NVIDIA GPU" in capsys.readouterr().err
