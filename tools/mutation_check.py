"""Check mutmut's mutants in one pytest session: collect once, then run each mutant until a test fails.

tests/MUTATION.md, "Checking mutants on a busy machine". `mutmut run` forks a fresh pytest session
per mutant (about 10 s of collection each on two shared cores) and limits each run to 15 × the
measured test time, which a loaded machine turns into false timeouts. This loop does mutmut's own
per-mutant check (`pytest -x` with MUTANT_UNDER_TEST set) without either cost:

1. collect the given test files (or node ids) once;
2. run every item unmutated: all must pass, else every mutant would look killed; the items are
   then ordered by their time, fastest first, so a killed mutant usually costs one fast test;
3. for each mutant name read from stdin (or ``--names``), set MUTANT_UNDER_TEST — the switch
   mutmut's trampolines read at every call — and run the items until one fails.

Run it from the ``mutants/`` directory that ``mutmut run`` made (stop mutmut once the
``mutants/**/*.py.meta`` files exist: only its generation step is needed here)::

    mutmut results --all true | awk -F: '{print $1}' > names.txt     # or read the .meta files
    cd mutants && OMP_NUM_THREADS=1 nice -n 10 \\
        python /path/to/tools/mutation_check.py --names ../names.txt --merge-into .. \\
        tests/kernels/test_chunked.py tests/kernels/test_masks.py > ../results.txt

It prints one line per mutant, ``KILLED|SURVIVED|TIMEOUT <name> <seconds>s [the test that failed]``.
``--merge-into DIR`` writes the verdicts into ``DIR/mutants/**/*.py.meta`` afterwards (mutmut's exit codes: 1 killed,
0 survived, 36 timeout), so ``python tools/mutation_report.py`` run in DIR prints the table;
``--merge-only RESULTS...`` merges earlier result files (later files win) without running tests.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

EXIT_CODE = {"KILLED": 1, "SURVIVED": 0, "TIMEOUT": 36}  # as mutmut records them in its .meta files


class _Hang(Exception):
    """Raised by the alarm when one mutant's run passes --timeout (an infinite loop, say)."""


def _alarm(*_):
    raise _Hang()


class _Loop:
    """A pytest plugin that replaces the run loop: baseline first, then every mutant."""

    def __init__(self, names: list[str], timeout: int, out):
        self.names, self.timeout, self.out, self.verdicts = names, timeout, out, {}

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session):
        from _pytest.runner import runtestprotocol

        def failed(item) -> list:
            return [r for r in runtestprotocol(item, log=False, nextitem=None) if r.failed]

        os.environ["MUTANT_UNDER_TEST"] = ""
        took = {}
        for item in session.items:
            t0 = time.time()
            if failed(item):
                print(f"BASELINE FAILED {item.nodeid}", file=self.out, flush=True)
                session.shouldfail = "baseline failed"
                return True
            took[item.nodeid] = time.time() - t0
        items = sorted(session.items, key=lambda it: took[it.nodeid])
        print(f"BASELINE ok {len(items)} items {sum(took.values()):.1f}s", file=self.out, flush=True)

        import torch

        # One process runs every mutant, so a mutant that leaves torch's global state changed (say,
        # raising before a `finally` turns gradients back on) would fail the next mutants' tests and
        # count them as killed. Each mutant starts from the state the baseline ran in.
        state = (torch.is_grad_enabled(), torch.get_default_dtype(), torch.get_num_threads())
        signal.signal(signal.SIGALRM, _alarm)
        for name in self.names:
            torch.set_grad_enabled(state[0])
            torch.set_default_dtype(state[1])
            torch.set_num_threads(state[2])
            os.environ["MUTANT_UNDER_TEST"] = name
            verdict, t0, first = "SURVIVED", time.time(), ""
            signal.alarm(self.timeout)
            try:
                for item in items:
                    reports = failed(item)
                    if reports:  # the alarm may fire inside a test, which pytest reports as its failure
                        verdict = "TIMEOUT" if any("_Hang" in str(r.longrepr) for r in reports) else "KILLED"
                        first = item.nodeid
                        break
            except _Hang:
                verdict = "TIMEOUT"
            finally:
                signal.alarm(0)
            self.verdicts[name] = verdict
            print(f"{verdict} {name} {time.time() - t0:.1f}s {first}".rstrip(), file=self.out, flush=True)
        os.environ["MUTANT_UNDER_TEST"] = ""
        return True


def read_results(paths) -> dict[str, str]:
    """Verdicts from earlier runs' output (later files win)."""
    verdicts = {}
    for path in paths:
        for line in Path(path).read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] in EXIT_CODE:
                verdicts[parts[1]] = parts[0]
    return verdicts


def merge(directory: str | Path, verdicts: dict[str, str]) -> int:
    """Write the verdicts into DIR/mutants/**/*.py.meta (mutmut's own record); returns how many."""
    root = Path(directory) / "mutants"
    if not root.is_dir():
        raise SystemExit(f"mutation_check: error: {root} is not a directory (mutmut's mutants/)")
    merged = 0
    for meta in root.rglob("*.py.meta"):
        record = json.loads(meta.read_text())
        codes = record["exit_code_by_key"]
        hits = [name for name in codes if name in verdicts]
        for name in hits:
            codes[name] = EXIT_CODE[verdicts[name]]
        if hits:
            meta.write_text(json.dumps(record))
            merged += len(hits)
    return merged


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("tests", nargs="*", help="test files or node ids, relative to the mutants/ directory")
    p.add_argument("--names", help="file of mutant names, one a line (default: stdin)")
    p.add_argument("--timeout", type=int, default=120, help="seconds per mutant before TIMEOUT (default 120)")
    p.add_argument("--merge-into", metavar="DIR", help="write the verdicts into DIR/mutants/**/*.py.meta")
    p.add_argument("--merge-only", nargs="+", metavar="RESULTS", help="merge these result files; run nothing")
    args = p.parse_args(argv)

    if args.merge_only:
        if not args.merge_into:
            p.error("--merge-only needs --merge-into DIR")
        print(f"merged {merge(args.merge_into, read_results(args.merge_only))}")
        return 0
    if not args.tests:
        p.error("name the test files (or node ids) to run")
    text = Path(args.names).read_text() if args.names else sys.stdin.read()
    names = [line.split()[0] for line in text.splitlines() if line.strip()]

    sys.path.insert(0, os.getcwd())  # the mutated copy of the package, not the installed one
    out = sys.stdout
    loop = _Loop(names, args.timeout, out)
    options = ["--rootdir=.", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "-m", "not slow", "--tb=no"]
    if importlib.util.find_spec("xdist"):
        options += ["-n", "0"]  # one process: the loop runs in this session (overrides addopts' -n auto)
    with open(os.devnull, "w") as devnull:
        sys.stdout = devnull  # the tests' own output
        try:
            pytest.main(options + args.tests, plugins=[loop])
        finally:
            sys.stdout = out
    if args.merge_into and loop.verdicts:
        print(f"merged {merge(args.merge_into, loop.verdicts)}", file=out)
    return 0 if loop.verdicts or not names else 1


if __name__ == "__main__":
    sys.exit(main())
