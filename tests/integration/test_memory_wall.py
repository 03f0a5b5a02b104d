"""Example 14 (examples/14_memory_wall.py): memory per rank under every parallel mode, measured on CPU under
torchrun, within 0.9-1.1 of the calculator in every cell; activation checkpointing keeps less and costs FLOPs."""

import json

import pytest


@pytest.mark.slow
def test_example_14_quick_measures_what_the_calculator_says(tmp_path, load_example, capsys):
    rows = load_example("14_memory_wall.py")["main"](["--quick", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "100b (101.2 B parameters" in out and "Activation checkpointing (one process)" in out
    assert {(r["mode"], r["n"]) for r in rows} >= {("ddp", 1), ("ddp", 2), ("zero1", 2), ("fsdp", 2), ("tp", 2)}
    for r in rows:
        for part, measured in r["measured"].items():
            ratio = measured / r["estimate"][part]
            assert 0.9 <= ratio <= 1.1, (r["mode"], r["n"], r["checkpointing"], part, ratio)
    by = {(r["mode"], r["n"], r["checkpointing"]): r["measured"] for r in rows}
    assert by[("zero1", 2, False)]["optimizer"] == by[("ddp", 2, False)]["optimizer"] / 2  # ZeRO-1 halves Adam
    assert by[("fsdp", 2, False)]["params"] == by[("ddp", 2, False)]["params"] / 2  # FSDP halves every state
    for mode in ("ddp", "fsdp", "tp"):  # checkpointing keeps a fraction of the activations
        assert by[(mode, 2, True)]["activations"] < 0.3 * by[(mode, 2, False)]["activations"]
    results = json.loads((tmp_path / "results.json").read_text())
    assert 1.0 < results["checkpointing_flops"] < 4 / 3  # the blocks run forward twice, the output layer once
