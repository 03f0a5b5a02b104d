import os
import runpy
from pathlib import Path

import pytest
import torch
from hypothesis import settings

# pytest-xdist runs the suite in N worker processes (`-n auto` in pyproject.toml); each worker and every
# subprocess a test starts gets its share of the cores, so N workers never run N x cores threads.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    _THREADS = max(1, (os.cpu_count() or 1) // _WORKERS)
    os.environ.setdefault("OMP_NUM_THREADS", str(_THREADS))
    torch.set_num_threads(_THREADS)

settings.register_profile("minillm", deadline=None, max_examples=40, derandomize=True)
settings.load_profile("minillm")


@pytest.fixture
def load_example():
    """``load_example("02_reverse.py")`` -> the example script's namespace (run with runpy: examples are
    scripts, not modules; ``run_name`` keeps their ``if __name__ == "__main__"`` block from running)."""
    examples = Path(__file__).resolve().parents[1] / "examples"
    return lambda name: runpy.run_path(str(examples / name), run_name="example")


# A test that asserts a learning outcome (marked `learning`) takes its seed from here: 0, or the
# MINILLM_TEST_SEED that tools/learning_grid.py sets when it runs them over seeds, CPU capabilities and
# thread counts. Their floors hold over that whole grid, not only on the machine that set them.
SEED = int(os.environ.get("MINILLM_TEST_SEED", "0"))


@pytest.fixture
def seed() -> int:
    return SEED


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(SEED)


# The longest files first. pytest-xdist (--dist loadfile) hands whole files to whichever worker is free,
# in collection order; a long file left for the end keeps one worker busy while the other idles. Each
# run records how long each file took in pytest's cache (.pytest_cache/); a file not measured yet is
# guessed from its size (about a second per 5 kB), until its first run.
FILE_SECONDS = "minillm/file-seconds"
_took: dict[str, float] = {}


def _file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def pytest_runtest_logreport(report):
    _took[_file_of(report.nodeid)] = _took.get(_file_of(report.nodeid), 0.0) + report.duration


def pytest_sessionfinish(session):
    cache = getattr(session.config, "cache", None)  # absent under -p no:cacheprovider (mutmut)
    if cache is None or hasattr(session.config, "workerinput") or not _took:  # the xdist controller writes
        return
    cache.set(FILE_SECONDS, {**cache.get(FILE_SECONDS, {}), **{f: round(t, 2) for f, t in _took.items()}})


def pytest_collection_modifyitems(config, items):
    cache = getattr(config, "cache", None)
    measured = cache.get(FILE_SECONDS, {}) if cache is not None else {}
    seconds = {}
    for item in items:
        name = _file_of(item.nodeid)
        if name not in seconds:
            seconds[name] = measured.get(name, item.path.stat().st_size / 5000)
    items.sort(key=lambda item: (-seconds[_file_of(item.nodeid)], _file_of(item.nodeid)))  # stable within a file
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
