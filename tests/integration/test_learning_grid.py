"""tools/learning_grid.py: the table a floor is set from, over cells of several runs (no pytest is run here)."""

import json

from tools.learning_grid import main, merge


def _write(path, cells):
    path.write_text(json.dumps({"caps": [], "threads": [], "seeds": [], "cells": cells}))
    return str(path)


def test_merge_joins_cells_and_the_table_takes_each_columns_minimum(tmp_path, capsys):
    a = _write(tmp_path / "a.json", {
        "avx2/1/0": {"t::x": {"outcome": "passed", "gain": 0.5, "time_s": 3.0}},
        "avx2/1/1": {"t::x": {"outcome": "passed", "gain": 0.3, "time_s": 3.0}},
    })  # fmt: skip
    b = _write(tmp_path / "b.json", {
        "avx2/1/1": {"u::y": {"outcome": "passed", "acc": 0.9, "time_s": 1.0}},  # same cell, another test
        "default/2/0": {"t::x": {"outcome": "passed", "gain": 0.7, "time_s": 3.0}},
    })  # fmt: skip
    cells = merge([a, b])
    assert set(cells) == {"avx2/1/0", "avx2/1/1", "default/2/0"}
    assert set(cells["avx2/1/1"]) == {"t::x", "u::y"}  # joined, not replaced
    assert main(["--merge", a, b]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("t::x :: gain"))
    assert row.split()[-3:] == ["0.300", "0.700", "0.300"]  # avx2/1 min over seeds, default/2, grid min
    assert "t::x: 3" in out and "u::y: 1" in out  # cells each test ran in


def test_merge_reports_a_failed_cell(tmp_path):
    a = _write(tmp_path / "a.json", {"avx2/1/0": {"t::x": {"outcome": "failed", "time_s": 1.0}}})
    assert main(["--merge", a]) == 1
