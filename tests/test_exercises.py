"""The exercises grade correctly: the reference solutions pass every test, the untouched stubs fail every test."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXERCISES = ROOT / "exercises"


def _grade(directory: Path) -> tuple[int, int]:
    env = {**os.environ, "MINILLM_EXERCISES_DIR": str(directory), "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", str(EXERCISES), "-q", "-p", "no:cacheprovider", "-o", "addopts="],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    summary = run.stdout.strip().splitlines()[-1]
    passed = int(m.group(1)) if (m := re.search(r"(\d+) passed", summary)) else 0
    failed = int(m.group(1)) if (m := re.search(r"(\d+) failed", summary)) else 0
    return passed, failed


def test_every_exercise_has_a_stub_a_solution_and_a_test():
    stubs = sorted(p.stem for p in EXERCISES.glob("ex*.py"))
    assert len(stubs) == 11
    assert stubs == sorted(p.stem for p in (EXERCISES / "solutions").glob("ex*.py"))
    assert stubs == sorted(p.stem.removeprefix("test_") for p in EXERCISES.glob("test_ex*.py"))


@pytest.mark.slow
def test_solutions_pass_and_stubs_fail():
    passed, failed = _grade(EXERCISES / "solutions")
    assert failed == 0 and passed >= 20, (passed, failed)
    stub_passed, stub_failed = _grade(EXERCISES)
    assert stub_passed == 0 and stub_failed == passed, (stub_passed, stub_failed)
