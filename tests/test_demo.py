"""`minillm demo`: the report's §3.2 claims beside numbers measured on this machine."""

import json
import re

from minillm import demo
from minillm.cli import main


def test_demo_prints_claims_beside_measurements(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--lengths", "64,128,256"]) == 0
    out = capsys.readouterr().out
    assert "32^2 = 1,024x" in out and "400 GB" in out and "1.6 TB" in out
    predicted, measured = re.search(r"4x context \(64 -> 256\), sdpa fwd time\s+(\d+)x\s+([\d.,]+)x", out).groups()
    assert predicted == "16" and float(measured.replace(",", "")) > 1  # timing itself is the benchmark's business
    assert "FlashAttention algorithm (chunked)" in out and "quadratic-cost.md" in out
    rows = json.loads((tmp_path / "bench_attention.json").read_text())["rows"]
    assert {r["T"] for r in rows} == {64, 128, 256}


def test_demo_rlhf_runs_the_quick_pipeline(tmp_path, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr("minillm.rlhf.pipeline.main", lambda argv: calls.append(argv))
    assert demo.main(["rlhf", "--quick", "--out", str(tmp_path)]) == 0
    assert calls == [["--quick", "--out", str(tmp_path / "rlhf")]]
    assert "rlhf.md" in capsys.readouterr().out
