"""Regenerate the results tables in README.md and docs/ (en + zh) from results/examples/*.json.

A table between ``<!-- results:06 -->`` and ``<!-- /results:06 -->`` is written from
results/examples/06.json (one cell: ``<!-- results:06 "row" "column" -->0.674<!-- /results -->``), which
``--run 06`` writes from full runs of example 06 (seeds, torch version, machine, CPU capability and the
figures it printed; tools/results.py). tests/integration/test_results_tables.py fails when a
marked table and its results file disagree.

    python tools/update_tables.py                 # rewrite every marked table from the results files
    python tools/update_tables.py --check         # exit 1 naming each stale table; writes nothing
    python tools/update_tables.py --run 06 07     # run those examples in full, seeds 0, 1, 2, then rewrite
    python tools/update_tables.py --run all       # every numbered example (hours on a CPU)
    python tools/update_tables.py --run 06 --seeds 0 1 2 3 4

An example run alone writes out/results/ (never a tracked file); ``--run`` runs it once per seed into a
temporary directory and writes the merged file (mean and min–max per figure) to results/examples/.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tools.results import INLINE, MARKER, RESULTS_DIR, merge_seeds, update_text


def marked_files() -> list[Path]:
    """README.md and every docs page (en + zh) that holds at least one results marker (table or inline)."""
    candidates = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return [p for p in candidates if any(m.search(p.read_text(encoding="utf-8")) for m in (MARKER, INLINE))]


def examples(keys: list[str]) -> list[Path]:
    scripts = sorted((ROOT / "examples").glob("[0-9][0-9]_*.py"))
    if keys == ["all"]:
        return scripts
    chosen = [s for s in scripts if s.name[:2] in keys]
    missing = set(keys) - {s.name[:2] for s in chosen}
    if missing:
        raise SystemExit(f"update_tables: error: no example numbered {', '.join(sorted(missing))}")
    return chosen


def run_seeds(script: Path, seeds: list[int]) -> None:
    """Run ``script`` once per seed (an example without ``--seed`` once) and write its merged results."""
    name = script.relative_to(ROOT).as_posix()
    usage = subprocess.run([sys.executable, name, "--help"], cwd=ROOT, capture_output=True, text=True).stdout
    with tempfile.TemporaryDirectory() as tmp:
        runs: dict[str, list[dict]] = {}
        for seed in seeds if "--seed" in usage else [None]:
            flags = [] if seed is None else ["--seed", str(seed)]
            print(f"running {' '.join([name, *flags])} ...", flush=True)
            env = dict(os.environ, MINILLM_RESULTS_DIR=str(Path(tmp) / f"seed{seed}"))
            subprocess.run([sys.executable, name, *flags], cwd=ROOT, env=env, check=True)
            for path in sorted((Path(tmp) / f"seed{seed}").glob("*.json")):  # example 06 writes two tables (06, 06-cost)
                runs.setdefault(path.stem, []).append(json.loads(path.read_text(encoding="utf-8")))
        for key, key_runs in runs.items():
            text = json.dumps(merge_seeds(key_runs), indent=2, ensure_ascii=False) + "\n"
            (RESULTS_DIR / f"{key}.json").write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="exit 1 if a marked table is stale; write nothing")
    p.add_argument("--run", nargs="+", metavar="NN", help="run these examples in full first ('all': every one)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="seeds each --run example runs with")
    args = p.parse_args(argv)
    for script in examples(args.run) if args.run else []:
        run_seeds(script, args.seeds)
    stale = []
    for path in marked_files():
        text = path.read_text(encoding="utf-8")
        try:
            new = update_text(text)
        except ValueError as err:
            print(f"update_tables: error: {path.relative_to(ROOT)}: {err}", file=sys.stderr)
            return 2
        if new != text:
            stale.append(path.relative_to(ROOT).as_posix())
            if not args.check:
                path.write_text(new, encoding="utf-8")
    verb = "stale" if args.check else "updated"
    print(f"{verb}: {', '.join(stale)}" if stale else "every marked table matches its results file")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
