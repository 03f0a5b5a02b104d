"""Results over several seeds: an example alone writes out/ (never a tracked file), and the table runner
merges one run per seed into "mean (min–max)" cells (tools/results.py, tools/update_tables.py)."""

import json

import pytest

from tools.results import OUT_DIR, RESULTS_DIR, merge_seeds, render_table, results_path, write_results


def _run(seed, rows, tmp_path):
    path = write_results("06", ["policy", "true score"], rows, seed=seed, results_dir=tmp_path / str(seed))
    return json.loads(path.read_text(encoding="utf-8"))


def test_an_example_alone_writes_under_out_not_the_tracked_results(monkeypatch):
    monkeypatch.delenv("MINILLM_RESULTS_DIR", raising=False)
    assert OUT_DIR.relative_to(RESULTS_DIR.parents[1]).as_posix() == "out/results"  # gitignored
    assert results_path("06", default=OUT_DIR) == OUT_DIR / "06.json"
    assert results_path("06") == RESULTS_DIR / "06.json"  # what the docs read


def test_cells_become_mean_and_range_over_seeds(tmp_path):
    runs = [
        _run(seed, [["PPO", f"{x:.3f}"], ["RM accuracy: 6" + y + "% (labels)", "0.5"], ["SFT", "0.700"]], tmp_path)
        for seed, x, y in ((0, 0.8, "3.6"), (1, 0.75, "0.0"), (2, 0.71, "1.2"))
    ]
    merged = merge_seeds(runs)
    assert merged["seeds"] == [0, 1, 2] and merged["seed"] == 0  # the first, as a single run records it
    assert merged["rows"] == [
        ["PPO", "0.753 (0.710–0.800)"],
        ["RM accuracy: 61.6% (60.0%–63.6%) (labels)", "0.5"],
        ["SFT", "0.700"],  # equal in every seed: one number
    ]
    assert merged["figures"] == {"seed 0": {}, "seed 1": {}, "seed 2": {}}
    assert "seeds 0, 1, 2: mean (min–max)" in render_table(merged) and "capability" in merged


def test_runs_of_different_tables_are_refused(tmp_path):
    a, b = _run(0, [["PPO", "0.8"]], tmp_path), _run(1, [["PPO", "0.8"], ["DPO", "0.7"]], tmp_path)
    with pytest.raises(ValueError, match="same columns and number of rows"):
        merge_seeds([a, b])
