"""The benchmark machinery runs and records what it claims (no timing assertions here)."""

import json
from pathlib import Path

import pytest
import torch

from minillm.commands.bench import common
from minillm.commands.bench.attention import main
from minillm.commands.bench.common import loglog_slope, paired_ratio, peak_extra_memory

ROOT = Path(__file__).resolve().parents[3]


def test_attention_bench_writes_json_and_png(tmp_path, capsys):
    out = tmp_path / "bench"
    assert main(["--lengths", "32,64", "--repeats", "1", "--causal", "both", "--mode", "both", "--out", str(out)]) == 0
    data = json.loads(out.with_suffix(".json").read_text())
    assert data["info"]["torch"] == torch.__version__ and data["info"]["dtype"] == "float32"
    assert len(data["rows"]) == 3 * 2 * 2 * 2  # backends × causal × modes × lengths
    assert all(r["seconds"] > 0 and r["tflops"] > 0 for r in data["rows"])
    assert "naive causal=False fwd" in data["summary"]["slopes"]
    chunked = [r for r in data["rows"] if r["backend"] == "chunked"]
    assert all(r["paired_ratio_vs_sdpa"] > 0 for r in chunked)  # the interleaved ratio the summary quotes
    assert sum("x sdpa (interleaved)" in line for line in data["summary"]["ratios"]) == len(chunked)
    pytest.importorskip("matplotlib")
    assert out.with_suffix(".png").stat().st_size > 0
    assert "log-log slope" in capsys.readouterr().out


def test_bench_rejects_unknown_backend(tmp_path):
    with pytest.raises(ValueError, match="unknown backend 'flash'"):
        main(["--backends", "flash", "--lengths", "32", "--out", str(tmp_path / "x")])


def test_paired_ratio_is_the_median_of_round_by_round_ratios(monkeypatch):
    """A fake clock. Rounds (a, b): (2, 1), (2, 3), (6, 3), (6, 3) -> ratios 2, 0.67, 2, 2, median 2;
    the two medians (4 and 3) would say 1.33, pairing a quiet run of one with a loaded run of the other."""
    now, cost_a, cost_b = [0.0], iter([1, 2, 2, 6, 6]), iter([1, 1, 3, 3, 3])  # first of each: warm-up
    monkeypatch.setattr(common.time, "perf_counter", lambda: now[0])

    def tick(costs):
        now[0] += next(costs)

    assert paired_ratio(lambda: tick(cost_a), lambda: tick(cost_b), torch.device("cpu"), repeats=4) == 2.0


def test_slope_of_a_quadratic_is_two():
    assert loglog_slope([1, 2, 4, 8], [3, 12, 48, 192]) == pytest.approx(2.0)


def test_peak_memory_sees_a_large_allocation():
    got = peak_extra_memory(lambda: torch.ones(64 * 2**20 // 4).sum(), torch.device("cpu"))
    if got is None:
        pytest.skip("no /proc/self/clear_refs on this system")
    assert 0.9 * 64 * 2**20 <= got <= 1.5 * 64 * 2**20


def test_components_bench_runs(tmp_path):
    from minillm.commands.bench.components import main as components_main

    assert (
        components_main(
            ["--n-embd", "32", "--n-head", "4", "--lengths", "16,32", "--repeats", "1", "--out", str(tmp_path / "c")]
        )
        == 0
    )
    data = json.loads((tmp_path / "c.json").read_text())
    assert [r["T"] for r in data["rows"]] == [16, 32]
    assert all(0 < r["attention_share"] < 1 for r in data["rows"])
    with pytest.raises(ValueError, match="not divisible"):
        components_main(["--n-embd", "30", "--n-head", "4"])


def test_peak_flops_lookup_never_guesses():
    from minillm.commands.bench.train import peak_flops

    assert peak_flops("NVIDIA H100 80GB HBM3", "bfloat16", None)[0] == 989e12
    assert peak_flops("NVIDIA H100 PCIe", "bfloat16", None)[0] == 756e12
    assert peak_flops("AMD EPYC 7B13", "bfloat16", None)[0] is None
    assert peak_flops("NVIDIA H100 80GB HBM3", "float32", None)[0] is None  # no fp32 table: no silent guess
    assert peak_flops("AMD EPYC 7B13", "float32", 1.5) == (1.5e12, "--peak-tflops")


def test_train_bench_reports_tokens_per_second_and_mfu(tmp_path, capsys):
    from minillm.commands.bench.train import main as bench_train

    out = tmp_path / "train.json"
    args = [
        "--model",
        "small",
        "--batch-size",
        "2",
        "--block-size",
        "32",
        "--vocab-size",
        "128",
        "--steps",
        "2",
        "--warmup",
        "1",
        "--modes",
        "eager",
        "--out",
        str(out),
    ]
    assert bench_train(args) == 0
    r = json.loads(out.read_text())
    # by hand: forward 2 FLOPs per weight, 4 layers x 12 x 256^2 + the 128 x 256 head = 3,178,496 weights
    # -> 6,356,992; attention QK^T and AV over T = 32 keys: 2 x 2 x 4 layers x 32 x 256 = 131,072; training = 3x
    assert r["flops_per_token"] == 3 * (6_356_992 + 131_072) == 19_464_192
    row = r["rows"][0]
    assert row["mode"] == "eager" and row["tokens_per_s"] > 0
    assert r["peak_source"].startswith("measured") and r["peak_flops"] > 0  # CPU: the GEMM probe's peak
    assert row["mfu"] == pytest.approx(row["achieved_tflops"] * 1e12 / r["peak_flops"])
    assert bench_train([*args, "--peak-tflops", "1.0"]) == 0
    row = json.loads(out.read_text())["rows"][0]
    assert row["mfu"] == pytest.approx(row["achieved_tflops"] / 1.0)
    with pytest.raises(ValueError, match="--modes"):
        bench_train([*args[:-4], "--modes", "jit", "--out", str(out)])


def test_plots_leave_the_global_matplotlib_backend_alone(tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    from minillm.commands.bench.attention import plot
    from minillm.utils.plotting import pyplot, subplots

    before = matplotlib.get_backend()
    matplotlib.use("svg")  # stands in for a notebook's inline backend: anything but Agg
    try:
        rows = [
            {"backend": "sdpa", "causal": False, "mode": "fwd", "T": t, "seconds": t * 1e-6, "peak_extra_bytes": t}
            for t in (64, 128)
        ]
        info = {"device_name": "cpu", "dtype": "float32", "torch": torch.__version__}
        assert plot(rows, info, tmp_path / "a.png").stat().st_size > 0  # the benchmark's own plot
        fig, ax = subplots(1, 2, figsize=(4, 2))
        ax[0].plot([1, 2], [3, 4])
        fig.savefig(tmp_path / "b.png")
        pyplot().close(fig)
        assert (tmp_path / "b.png").read_bytes().startswith(b"\x89PNG")
        assert matplotlib.get_backend() == "svg"
        import matplotlib.pyplot as plt

        assert plt.get_fignums() == []  # no figure registered with pyplot, none left open
    finally:
        matplotlib.use(before)
