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


# The longest files, longest first. pytest-xdist (--dist loadfile) hands whole files to whichever
# worker is free, in collection order; alphabetical order left the Triton interpreter grid (2 min) for
# the end of the run, with one worker busy and the other idle. Longest-first keeps both busy.
LONGEST_FILES = (
    "test_examples_prompting.py",
    "test_triton.py",
    "test_examples.py",
    "test_reliability_runs.py",
    "test_grpo.py",
    "test_ddp.py",
    "test_exercises.py",
    "test_two_branches.py",
    "test_presets.py",
    "test_notebooks.py",
)


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: each file's order is kept
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
