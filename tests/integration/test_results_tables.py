"""Numbers that stay true: every marked results table in README.md and docs/ is what its results file
generates (tools/results.py, tools/update_tables.py), and the writer/renderer behave as documented."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tools.results import (
    INLINE,
    MARKER,
    RESULTS_DIR,
    figure_cell,
    load_results,
    render_table,
    update_text,
    write_results,
)

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
BLOCKS = [
    pytest.param(page, m.group(1), m.group(0), id=f"{page.relative_to(ROOT).as_posix()}:{m.group(1)}")
    for page in PAGES
    for m in MARKER.finditer(page.read_text(encoding="utf-8"))
]
CELLS = [
    pytest.param(m, id=f"{page.relative_to(ROOT).as_posix()}:{m.group(1)}:{m.group(2)}:{m.group(3)}")
    for page in PAGES
    for m in INLINE.finditer(page.read_text(encoding="utf-8"))
]


def test_some_table_is_generated():
    assert BLOCKS, "no <!-- results:NN --> table in README.md or docs/"


@pytest.mark.parametrize(("page", "key", "block"), BLOCKS)
def test_marked_table_matches_its_results_file(page, key, block):
    expected = f"<!-- results:{key} -->\n{render_table(load_results(key))}\n<!-- /results:{key} -->"
    assert block == expected, f"{page.name}: table results:{key} is stale; run python tools/update_tables.py"


@pytest.mark.parametrize("match", CELLS)
def test_marked_figure_matches_its_results_file(match):
    key, row, column, shown = match.group(1, 2, 3, 4)
    assert shown == figure_cell(load_results(key), row, column), f"results:{key} {row!r} {column!r} is stale"


@pytest.mark.parametrize("path", sorted(RESULTS_DIR.glob("*.json")), ids=lambda p: p.name)
def test_results_files_say_how_they_were_made(path):
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["key"] == path.stem
    assert isinstance(data["seed"], int) and data["torch"] and data["machine"] and data["command"].startswith("python ")
    assert all(len(row) == len(data["columns"]) for row in data["rows"]) and data["rows"]


def _write(tmp_path, value="0.674", **kw):
    kw = {"seed": 3, "results_dir": tmp_path} | kw
    return write_results("06", ["policy", "true score"], [["PPO, β = 0", value]], figures={"x": 0.5}, **kw)


def test_write_render_update_round_trip(tmp_path):
    path = _write(tmp_path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert (data["seed"], data["rows"], data["figures"]) == (3, [["PPO, β = 0", "0.674"]], {"x": 0.5})
    table = render_table(data)
    assert table.splitlines()[:3] == ["| policy | true score |", "|---|---|", "| PPO, β = 0 | 0.674 |"]
    assert "seed 3" in table and f"torch {data['torch']}" in table and data["machine"] in table
    page = "intro\n<!-- results:06 -->\n| old | 0.750 |\n<!-- /results:06 -->\nafter\n"
    new = update_text(page, tmp_path)
    assert "0.674" in new and "0.750" not in new and new.startswith("intro\n") and new.endswith("after\n")
    assert update_text(new, tmp_path) == new  # regenerating an up-to-date page changes nothing
    _write(tmp_path, value="0.700")  # a new run: the same page is now stale
    assert update_text(new, tmp_path) != new


def test_inline_figure_round_trip(tmp_path):
    _write(tmp_path)
    page = 'PPO at <!-- results:06 "PPO, β = 0" "true score" -->0.750<!-- /results --> (was 0.750).\n'
    new = update_text(page, tmp_path)
    assert new == 'PPO at <!-- results:06 "PPO, β = 0" "true score" -->0.674<!-- /results --> (was 0.750).\n'
    assert update_text(new, tmp_path) == new
    assert update_text('<!-- results:06 "#1" "true score" --><!-- /results -->', tmp_path).count("0.674") == 1
    with pytest.raises(ValueError, match="no row '#2'"):
        update_text('<!-- results:06 "#2" "true score" --><!-- /results -->', tmp_path)
    with pytest.raises(ValueError, match="no row 'DPO'"):
        update_text('<!-- results:06 "DPO" "true score" --><!-- /results -->', tmp_path)
    with pytest.raises(ValueError, match="no column 'KL'"):
        update_text('<!-- results:06 "PPO, β = 0" "KL" --><!-- /results -->', tmp_path)


def test_quick_runs_and_tests_write_nothing(tmp_path, monkeypatch):
    assert _write(tmp_path, quick=True) is None and not list(tmp_path.iterdir())
    monkeypatch.delenv("MINILLM_RESULTS_DIR", raising=False)
    assert write_results("zz-test", ["a"], [["1"]], seed=0) is None  # under pytest, without a directory
    assert not (RESULTS_DIR / "zz-test.json").exists()


def test_bad_input_is_refused(tmp_path):
    with pytest.raises(ValueError, match="one per column"):
        write_results("06", ["a", "b"], [["only one"]], seed=0, results_dir=tmp_path)
    with pytest.raises(ValueError, match="results key"):
        write_results("../06", ["a"], [["1"]], seed=0, results_dir=tmp_path)
    with pytest.raises(ValueError, match="does not exist"):
        update_text("<!-- results:77 -->\n<!-- /results:77 -->", tmp_path)


def test_pipe_in_a_cell_does_not_split_the_row(tmp_path):
    path = write_results("01", ["what", "max |diff|"], [["a|b", "1e-7"]], seed=0, results_dir=tmp_path)
    header, _, row = render_table(json.loads(path.read_text(encoding="utf-8"))).splitlines()[:3]
    assert len(re.findall(r"(?<!\\)\|", header)) == len(re.findall(r"(?<!\\)\|", row)) == 3


def test_update_tables_check_passes_on_the_repository():
    run = subprocess.run(
        [sys.executable, "tools/update_tables.py", "--check"], check=False, cwd=ROOT, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize("script", sorted((ROOT / "examples").glob("[0-9][0-9]_*.py")), ids=lambda p: p.name)
def test_every_example_records_its_figures(script):
    """A full run of every numbered example leaves a results file (quick runs pass ``quick=``)."""
    text = script.read_text(encoding="utf-8")
    assert "from tools.results import write_results" in text and "write_results(" in text.split("def main", 1)[-1]
