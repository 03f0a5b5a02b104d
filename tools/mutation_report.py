"""Per-module mutation score from mutmut's results, printed as a markdown table.

Run after `mutmut run` in the repository root (tests/MUTATION.md). mutmut keeps one
`mutants/<path>.py.meta` JSON file per mutated module, mapping each mutant to the exit code of
its test run; this script reads those files, so it needs neither mutmut nor torch.

    python tools/mutation_report.py              # the table
    python tools/mutation_report.py --survivors  # the table, then every mutant not killed
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

# mutmut 3's exit-code convention (mutmut/stats.py): 1 and 3 are pytest failures, 37 a type-check
# failure, the rest of the killing codes are timeouts (an infinite loop is caught, too).
KILLED = {1, 3, 37}
TIMEOUT = {36, 24, -24, 152, 255}
SURVIVED = {0}
NO_TESTS = {5, 33}
SKIPPED = {34}


def status(code: int | None) -> str:
    if code is None:
        return "not checked"
    for name, codes in (
        ("killed", KILLED),
        ("timeout", TIMEOUT),
        ("survived", SURVIVED),
        ("no tests", NO_TESTS),
        ("skipped", SKIPPED),
    ):
        if code in codes:
            return name
    return "suspicious"  # crashes and odd exits: shown, counted as not killed


def load(mutants_dir: Path) -> dict[str, dict[str, str]]:
    """{module path: {mutant name: status}} for every module mutmut mutated."""
    out = {}
    for meta in sorted(mutants_dir.rglob("*.py.meta")):
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        module = meta.relative_to(mutants_dir).as_posix().removesuffix(".meta")
        out[module] = {name: status(code) for name, code in codes.items()}
    return out


def table(results: dict[str, dict[str, str]], target: float) -> str:
    rows = [
        "| module | mutants | killed | timeout | survived | no tests | not checked | score |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    total = Counter()
    for module, statuses in results.items():
        c = Counter(statuses.values())
        c["mutants"] = len(statuses)
        total.update(c)
        rows.append(_row(f"`{module}`", c, target))
    rows.append(_row("**all**", total, target))
    return "\n".join(rows)


def _row(name: str, c: Counter, target: float) -> str:
    checked = c["mutants"] - c["not checked"] - c["skipped"]
    detected = c["killed"] + c["timeout"]
    score = f"{100 * detected / checked:.1f} %" if checked else "n/a"
    if checked and detected / checked < target:
        score += " (below target)"
    return (
        f"| {name} | {c['mutants']} | {c['killed']} | {c['timeout']} | {c['survived'] + c['suspicious']} "
        f"| {c['no tests']} | {c['not checked']} | {score} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutants", type=Path, default=Path("mutants"), help="mutmut's work folder")
    parser.add_argument("--target", type=float, default=0.90, help="score each module should reach")
    parser.add_argument("--survivors", action="store_true", help="also list every mutant not killed")
    args = parser.parse_args(argv)
    if not args.mutants.is_dir():
        print(f"no {args.mutants}/ folder: run `mutmut run` first", file=sys.stderr)
        return 1
    results = load(args.mutants)
    print(table(results, args.target))
    if args.survivors:
        for statuses in results.values():
            for name, s in statuses.items():
                if s not in ("killed", "timeout"):
                    print(f"{s:12} {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
