"""Numbers that stay true: each example's figures in a results file, the docs tables generated from them.

    example's full run → out/results/<key>.json (figures, seed, torch, machine; never a tracked file)
    ``python tools/update_tables.py --run NN`` runs it once per seed (0, 1, 2) and merges the runs
                       → results/examples/<key>.json: each figure as mean (min–max) over the seeds
                       → the block between
                         ``<!-- results:<key> -->`` and ``<!-- /results:<key> -->`` in README.md / docs

One figure inside a sentence or a table cell is marked inline, by its row (first cell) and column:

    <!-- results:06 "PPO, β = 0" "true score" -->0.674<!-- /results -->

A number in the README is therefore a number some run printed, with the run's seed, torch version and
machine beside it; ``tests/integration/test_results_tables.py`` fails when a marked table and its file disagree.
Quick (smoke) runs, and runs inside pytest unless given a directory, write nothing, so a test never
overwrites a real result. Results are written
atomically (``minillm.utils.fileio.atomic_write``): an interrupted run leaves the previous file whole.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

__all__ = [
    "INLINE",
    "MARKER",
    "RESULTS_DIR",
    "figure_cell",
    "load_results",
    "merge_seeds",
    "render_table",
    "results_path",
    "update_text",
    "write_results",
]

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "results" / "examples"  # what the docs quote: written by tools/update_tables.py only
OUT_DIR = ROOT / "out" / "results"  # where an example run alone writes (gitignored)
# <!-- results:06 --> ... <!-- /results:06 -->  (key: letters, digits, '_' and '-')
MARKER = re.compile(r"<!-- results:([\w-]+) -->\n(.*?)<!-- /results:\1 -->", re.DOTALL)
# <!-- results:06 "PPO, β = 0" "true score" -->0.674<!-- /results -->  (one cell, on one line)
INLINE = re.compile(r'<!-- results:([\w-]+) "([^"\n]+)" "([^"\n]+)" -->([^\n]*?)<!-- /results -->')
_KEY = re.compile(r"[\w-]+")


def _machine() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({platform.machine()})"
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def results_path(key: str, results_dir: str | Path | None = None, default: Path = RESULTS_DIR) -> Path:
    """``default/<key>.json`` (``MINILLM_RESULTS_DIR`` or ``results_dir`` moves it)."""
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise ValueError(f"results key must be letters, digits, '_' or '-', got {key!r}")
    base = results_dir or os.environ.get("MINILLM_RESULTS_DIR") or default
    return Path(base) / f"{key}.json"


def write_results(
    key: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    seed: int,
    quick: bool = False,
    figures: dict | None = None,
    results_dir: str | Path | None = None,
) -> Path | None:
    """Record a full run's table (cells formatted as the example prints them); quick runs write nothing.

    ``figures`` keeps the raw numbers beside the formatted table (floats, not strings) for later use.
    """
    from minillm.utils.fileio import atomic_write

    columns = [str(c) for c in columns]
    rows = [[str(cell) for cell in row] for row in rows]
    if not columns or any(len(row) != len(columns) for row in rows):
        raise ValueError(f"results {key!r}: every row needs {len(columns)} cells (one per column)")
    path = results_path(key, results_dir, default=OUT_DIR)
    under_test = "PYTEST_CURRENT_TEST" in os.environ and results_dir is None and "MINILLM_RESULTS_DIR" not in os.environ
    if quick or under_test:  # smoke runs and tests never replace a full run's numbers
        return None
    script = f"example {key}"
    if sys.argv and sys.argv[0].endswith(".py"):  # the command as typed in the repository root
        path_run = Path(sys.argv[0]).resolve()
        script = (path_run.relative_to(ROOT) if path_run.is_relative_to(ROOT) else path_run).as_posix()
    data = {
        "key": key,
        "command": " ".join(["python", script, *sys.argv[1:]]) if script.endswith(".py") else script,
        "seed": seed,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": _machine(),
        "capability": torch.backends.cpu.get_cpu_capability(),  # the vector kernels that ran (ATEN_CPU_CAPABILITY)
        "threads": torch.get_num_threads(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
        "columns": columns,
        "rows": rows,
        "figures": figures or {},
    }
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def render_table(data: dict) -> str:
    """The Markdown table of one results file, with the run's provenance on the line below."""
    esc = lambda cell: str(cell).replace("|", "\\|")
    lines = ["| " + " | ".join(esc(c) for c in data["columns"]) + " |"]
    lines.append("|" + "---|" * len(data["columns"]))
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in data["rows"]]
    lines.append("")
    seeds = data.get("seeds", [data["seed"]])
    runs = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {', '.join(map(str, seeds))}: mean (min–max)"
    where = ", ".join(x for x in (data["machine"], data.get("capability", "")) if x)
    lines.append(
        f"<sub>`{data['command']}` · {runs} · torch {data['torch']} · {where}, "
        f"{data['threads']} thread{'' if data['threads'] == 1 else 's'} · {data['date']} · generated by "
        f"`python tools/update_tables.py` "
        f"from `results/examples/{data['key']}.json`</sub>"
    )
    return "\n".join(lines)


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _merge_cell(cells: list[str]) -> str:
    """One table cell over seeds: every number that differs becomes "mean (min–max)" in the first run's
    format ("62.0%", "58.0%", "66.0%" -> "62.0% (58.0–66.0%)"); text and equal numbers stay as they are."""
    shapes = {_NUMBER.sub("#", c) for c in cells}
    if len(shapes) != 1 or len(set(cells)) == 1:
        return cells[0] if len(set(cells)) == 1 else " / ".join(cells)  # different words: show each run's
    columns = list(zip(*(_NUMBER.findall(c) for c in cells)))  # one tuple per number position
    pieces, at = [], 0
    for match, values in zip(_NUMBER.finditer(cells[0]), columns):
        pieces.append(cells[0][at : match.start()])
        at = match.end()
        unit = "%" if cells[0][at : at + 1] == "%" else ""
        at += len(unit)
        decimals = len(values[0].split(".")[1]) if "." in values[0] else 0
        nums = [float(v) for v in values]
        fmt = lambda x: f"{x:.{decimals}f}{unit}"
        mean = sum(nums) / len(nums)
        pieces.append(fmt(nums[0]) if len(set(nums)) == 1 else f"{fmt(mean)} ({fmt(min(nums))}–{fmt(max(nums))})")
    return "".join(pieces) + cells[0][at:]


def merge_seeds(runs: list[dict]) -> dict:
    """The results of one example run with several seeds (same table shape) as one: every cell that
    differs between seeds reads "mean (min–max)", and each run's figures are kept under its seed."""
    if not runs or any(r["columns"] != runs[0]["columns"] or len(r["rows"]) != len(runs[0]["rows"]) for r in runs):
        raise ValueError("merge_seeds needs runs of one table: the same columns and number of rows")
    merged = dict(runs[0])
    merged["seeds"] = [r["seed"] for r in runs]
    merged["command"] = re.sub(r" --seed \S+", "", runs[0]["command"])
    merged["rows"] = [[_merge_cell(list(cells)) for cells in zip(*rows)] for rows in zip(*(r["rows"] for r in runs))]
    merged["figures"] = {f"seed {r['seed']}": r["figures"] for r in runs}
    return merged


def load_results(key: str, results_dir: str | Path | None = None) -> dict:
    path = results_path(key, results_dir)
    if not path.is_file():
        raise ValueError(f"a table is marked results:{key} but {path} does not exist (run the example in full)")
    return json.loads(path.read_text(encoding="utf-8"))


def figure_cell(data: dict, row: str, column: str) -> str:
    """The cell of ``data``'s table under ``column``, in the row whose first cell is ``row`` or, for
    ``row="#n"``, in the n-th row (1-based: a one-row table, or a row whose label holds numbers)."""
    key = data["key"]
    if column not in data["columns"]:
        raise ValueError(f"results:{key} has no column {column!r}; columns: {data['columns']}")
    if re.fullmatch(r"#\d+", row):
        n = int(row[1:])
        found = data["rows"][n - 1 : n] if n >= 1 else []
    else:
        found = [r for r in data["rows"] if r and r[0] == row]
    if not found:
        raise ValueError(f"results:{key} has no row {row!r}; rows: {[r[0] for r in data['rows'] if r]}")
    return found[0][data["columns"].index(column)]


def update_text(text: str, results_dir: str | Path | None = None) -> str:
    """``text`` with every marked block replaced by the table its results file generates, and every
    inline marker by its cell."""

    def block(match: re.Match) -> str:
        key = match.group(1)
        return f"<!-- results:{key} -->\n{render_table(load_results(key, results_dir))}\n<!-- /results:{key} -->"

    def inline(match: re.Match) -> str:
        key, row, column = match.group(1, 2, 3)
        cell = figure_cell(load_results(key, results_dir), row, column)
        return f'<!-- results:{key} "{row}" "{column}" -->{cell}<!-- /results -->'

    return INLINE.sub(inline, MARKER.sub(block, text))
