"""`minillm demo`: the report's §3.2 claims beside numbers measured on this machine."""

import json
import re

from minillm.commands.cli import main
from minillm.rlhf import PipelineConfig


def test_demo_prints_claims_beside_measurements(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--lengths", "64,128,256"]) == 0
    out = capsys.readouterr().out
    assert "32^2 = 1,024x" in out and "400 GB" in out and "1.6 TB" in out
    predicted, measured = re.search(r"4x context \(64 -> 256\), sdpa fwd time\s+(\d+)x\s+([\d.,]+)x", out).groups()
    assert predicted == "16" and float(measured.replace(",", "")) > 0  # a measured ratio is printed; no timing claim
    assert "FlashAttention algorithm (chunked)" in out and "quadratic-cost.md" in out
    rows = json.loads((tmp_path / "bench_attention.json").read_text())["rows"]
    assert {r["T"] for r in rows} == {64, 128, 256}


def test_demo_rlhf_runs_the_quick_pipeline(tmp_path, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr("minillm.rlhf.run_pipeline", lambda config: calls.append(config) or {"evaluation": {}})
    monkeypatch.setattr("minillm.rlhf.evaluate.summary_table", lambda evaluation: "TABLE")
    assert main(["demo", "rlhf", "--quick", "--out", str(tmp_path)]) == 0
    assert calls == [PipelineConfig(quick=True, out_dir=str(tmp_path / "rlhf"))]
    out = capsys.readouterr().out
    assert "TABLE" in out and "rlhf.md" in out
