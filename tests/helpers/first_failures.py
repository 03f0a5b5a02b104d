"""Run by tests/integration/test_exercises.py in a fresh process: grade many exercise folders in one
interpreter (torch and minillm imported once) and report the first failure of each.

argv[1]: JSON list of [folder, test file]. Each test file is imported fresh with MINILLM_EXERCISES_DIR set
to the folder, and its tests run in the order pytest runs them (file order, then parametrize order) until
one fails. Prints JSON: a list, per pair, of null (every test passed or was skipped) or the first failure
as pytest's summary gives it ("Failed: <message>", "AssertionError: <message>", ...).
"""

import importlib.util
import itertools
import json
import os
import sys
from pathlib import Path

EXERCISES = Path(__file__).resolve().parents[2] / "exercises"
os.environ["TRITON_INTERPRET"] = "1"  # before anything imports triton (exercises/conftest.py does the same)
sys.path.insert(0, str(EXERCISES))  # the graders' `from _grader import ...`

import pytest


def _cases(fn):
    """The keyword arguments of each parametrized case of ``fn``, in pytest's order ([{}] if none)."""
    grids = []
    for mark in getattr(fn, "pytestmark", []):
        if mark.name == "parametrize":
            names = [n.strip() for n in mark.args[0].split(",")] if isinstance(mark.args[0], str) else mark.args[0]
            grids.append([dict(zip(names, v if len(names) > 1 else (v,))) for v in mark.args[1]])
    return [{k: v for part in combo for k, v in part.items()} for combo in itertools.product(*grids)] or [{}]


def _said(error: BaseException) -> str:
    return f"{'Failed' if isinstance(error, pytest.fail.Exception) else type(error).__name__}: {error}"


def first_failure(folder: str, test_file: str) -> str | None:
    os.environ["MINILLM_EXERCISES_DIR"] = folder
    spec = importlib.util.spec_from_file_location(f"graded_{len(sys.modules)}", test_file)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except pytest.skip.Exception:
        return None
    except BaseException as error:  # noqa: BLE001 - an import error is that file's first failure
        return _said(error)
    tests = [fn for name, fn in vars(module).items() if name.startswith("test_") and callable(fn)]
    for fn in tests:
        for kwargs in _cases(fn):
            try:
                fn(**kwargs)
            except pytest.skip.Exception:
                continue
            except BaseException as error:  # noqa: BLE001 - the failure is the result
                return _said(error)
    return None


if __name__ == "__main__":
    print(json.dumps([first_failure(folder, test_file) for folder, test_file in json.loads(sys.argv[1])]))
