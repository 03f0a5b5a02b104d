"""Run the learning-outcome tests on other machines' numerics: CPU capability × threads × seeds.

A floor set "at the measured minimum" on one CPU fails on another: AVX-512, AVX2 and plain C++
kernels add up floating-point numbers in different orders, and a small training run amplifies
those last-bit differences into different trajectories. ``ATEN_CPU_CAPABILITY`` makes PyTorch
use the kernels of a lesser CPU on this one, so one machine can stand in for several.

Every test marked ``@pytest.mark.learning`` takes its seed from the ``seed`` fixture
(``MINILLM_TEST_SEED``, default 0) and records what it measured with ``record_property``, each
figure oriented so that larger is better (a gain, a gap, a loss's distance below a baseline). This
tool runs them once per cell and prints, per test and figure, the minimum over seeds in each cell
and over the whole grid: the number a floor is set from (minus a stated margin).

    python tools/learning_grid.py                            # the full grid: hours on 2 cores
    python tools/learning_grid.py -k ppo --threads 1 tests/rlhf/test_pipeline.py
    python tools/learning_grid.py --caps default avx2 -m "learning and not slow"
    python tools/learning_grid.py --merge out/a.json out/b.json   # one table from several runs

Writes ``out/learning_grid.json`` (every cell's figures and outcomes) beside the printed table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def native_capability() -> str:
    out = subprocess.run(
        [sys.executable, "-c", "import torch; print(torch.backends.cpu.get_cpu_capability())"],
        capture_output=True,
        text=True,
        check=True,
        env={k: v for k, v in os.environ.items() if k != "ATEN_CPU_CAPABILITY"},
    )
    return out.stdout.strip().lower()


def run_cell(cap: str, threads: int, seed: int, marker: str, keyword: str | None, paths: list[str]) -> dict:
    """One pytest run (no xdist: the thread count is the cell's) → {test: {"outcome", figures...}}."""
    env = dict(os.environ, ATEN_CPU_CAPABILITY=cap, MINILLM_TEST_SEED=str(seed))
    env |= {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / "junit.xml"
        cmd = [sys.executable, "-m", "pytest", "-n", "0", "-q", "-p", "no:cacheprovider", "-m", marker]
        cmd += ["--junitxml", str(xml), *(["-k", keyword] if keyword else []), *paths]
        subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, check=False)
        if not xml.is_file():
            raise SystemExit(f"learning_grid: error: pytest wrote no report for cap={cap} threads={threads}")
        cases = {}
        for case in ET.parse(xml).getroot().iter("testcase"):
            name = f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}"
            failed = case.find("failure") is not None or case.find("error") is not None
            row = {"outcome": "skipped" if case.find("skipped") is not None else ("failed" if failed else "passed")}
            for prop in case.iter("property"):
                row[prop.get("name")] = float(prop.get("value"))
            row["time_s"] = float(case.get("time", 0))
            cases[name] = row
        return cases


def print_table(cells: dict) -> None:
    """Per test and figure: the minimum over seeds in each capability/threads column, and over all cells."""
    table: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    for cell, cases in cells.items():
        cap, threads, _ = cell.split("/")
        for name, row in cases.items():
            for fig, value in row.items():
                if fig not in ("outcome", "time_s"):
                    key, col = (name, fig), f"{cap}/{threads}"
                    table[key][col] = min(value, table[key].get(col, value))
    columns = list(dict.fromkeys(cell.rsplit("/", 1)[0] for cell in sorted(cells)))
    seeds = sorted({int(cell.rsplit("/", 1)[1]) for cell in cells})
    print(f"\nminimum over seeds {seeds} per capability/threads, and over the grid")
    print(f"{'test :: figure':<70} " + " ".join(f"{c:>11}" for c in columns) + f" {'grid min':>9}")
    for (name, fig), mins in sorted(table.items()):
        cells_text = " ".join(f"{mins[c]:>11.3f}" if c in mins else f"{'-':>11}" for c in columns)
        print(f"{(name + ' :: ' + fig)[-70:]:<70} {cells_text} {min(mins.values()):>9.3f}")
    runs = defaultdict(set)  # which cells each test ran in: a gap in the grid shows here
    for cell, cases in cells.items():
        for name in cases:
            runs[name].add(cell)
    print("\ncells per test (capability/threads/seed):")
    for name, where in sorted(runs.items()):
        print(f"  {name}: {len(where)}")


def merge(paths: list[str]) -> dict:
    """The cells of several ``--out`` files in one dict; a test run twice in one cell keeps the later run."""
    cells: dict[str, dict] = defaultdict(dict)
    for path in paths:
        for cell, cases in json.loads(Path(path).read_text())["cells"].items():
            cells[cell].update(cases)
    return dict(cells)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--caps", nargs="+", help="ATEN_CPU_CAPABILITY values (default: default, avx2 and this CPU's own)")
    p.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("-m", dest="marker", default="learning", help="pytest marker expression")
    p.add_argument("-k", dest="keyword", help="pytest -k expression")
    p.add_argument("--out", default="out/learning_grid.json")
    p.add_argument("--merge", nargs="+", metavar="JSON", help="run nothing: print the table of earlier --out files")
    p.add_argument("paths", nargs="*", help="test files (default: all; naming them saves collecting the rest)")
    args = p.parse_args(argv)
    if args.merge:
        cells = merge(args.merge)
        print_table(cells)
        return 1 if any(r["outcome"] == "failed" for c in cells.values() for r in c.values()) else 0
    caps = args.caps or list(dict.fromkeys(["default", "avx2", native_capability()]))
    cells = {}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for cap in caps:
        for threads in args.threads:
            for seed in args.seeds:
                cells[f"{cap}/{threads}/{seed}"] = cases = run_cell(
                    cap, threads, seed, args.marker, args.keyword, args.paths
                )
                record = {"caps": caps, "threads": args.threads, "seeds": args.seeds, "cells": cells}
                out.write_text(json.dumps(record, indent=1))  # after every cell: a stopped grid keeps what ran
                failed = [name for name, row in cases.items() if row["outcome"] == "failed"]
                print(
                    f"{cap:>8} threads={threads} seed={seed}: {len(cases)} tests, failed: {failed or 'none'}",
                    flush=True,
                )
    print_table(cells)
    print(f"\nevery cell: {out}")
    return 1 if any(r["outcome"] == "failed" for c in cells.values() for r in c.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
