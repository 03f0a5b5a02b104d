"""Loads the exercise files being graded: yours in exercises/, or the reference solutions.

pytest exercises/                                        # grades your files
MINILLM_EXERCISES_DIR=exercises/solutions pytest exercises/   # the reference solutions
"""

import importlib.util
import os
from pathlib import Path

HERE = Path(__file__).resolve().parent


def load(name: str):
    """Import ``<dir>/<name>.py`` fresh, where <dir> is $MINILLM_EXERCISES_DIR or exercises/."""
    directory = Path(os.environ.get("MINILLM_EXERCISES_DIR", HERE))
    path = directory / f"{name}.py"
    if not path.is_file():
        raise FileNotFoundError(f"no exercise file {path}")
    spec = importlib.util.spec_from_file_location(f"graded_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
