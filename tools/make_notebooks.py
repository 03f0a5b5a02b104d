"""Write notebooks/*.ipynb from their one source each, notebooks/src/*.py (percent format).

Every chapter's notebook is written as a plain Python file in the "percent" format that Jupytext,
VS Code and Spyder read: ``# %% [markdown]`` starts a prose cell (its lines are Markdown behind
``# ``), ``# %%`` starts a code cell. That file is the one source: ruff lints it, ``python`` can run
it, and this script turns it into the .ipynb students open in Jupyter or Colab, so the prose and the
code of a notebook cannot drift apart. tests/integration/test_notebooks.py checks that the committed .ipynb
files are exactly what this script writes, and runs their code in quick mode.

Two cells are added in front of every notebook, here and nowhere else: a title cell with the
"Open in Colab" link and a setup cell that installs minillm from its repository when it is missing
(the package called ``minillm`` on PyPI is an unrelated project, so never install that one).

    python tools/make_notebooks.py           # regenerate every notebook
    python tools/make_notebooks.py --check   # exit 1 if a committed notebook is stale
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "notebooks" / "src"
NOTEBOOKS = ROOT / "notebooks"

# The project's public GitHub repository (owner/name): the Colab links and the install cell use it.
# Change it here and regenerate; nothing else names it.
REPOSITORY = "minillm-course/minillm"
BRANCH = "main"
# The test suite sets this variable to run every notebook in its quick mode (a few seconds each).
QUICK_ENV = "MINILLM_NOTEBOOK_QUICK"

SETUP = f'''\
# Setup. In Colab (or any Python without minillm) this installs minillm from its repository.
# The PyPI package named minillm is an unrelated project: install this one from its repository only.
import importlib.util
import os
import subprocess
import sys

if importlib.util.find_spec("minillm") is None:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "git+https://github.com/{REPOSITORY}"])
QUICK = os.environ.get("{QUICK_ENV}") == "1"  # the test suite's short run; leave it False'''


def split_cells(text: str) -> list[tuple[str, str]]:
    """Percent-format text -> [(cell_type, source)], markdown with its ``# `` prefixes removed."""
    cells: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("# %%"):
            cells.append(("markdown" if "[markdown]" in line else "code", []))
        elif cells:
            cells[-1][1].append(line)
        elif line.strip() and not line.startswith("#"):  # the file's header comment may precede the first cell
            raise ValueError(f"code before the first '# %%' cell marker: {line!r}")
    out = []
    for kind, lines in cells:
        if kind == "markdown":
            bad = [ln for ln in lines if ln and not (ln == "#" or ln.startswith("# "))]
            if bad:
                raise ValueError(f"a markdown cell line must start with '# ': {bad[0]!r}")
            lines = [ln[2:] for ln in lines]
        source = "\n".join(lines).strip("\n")
        if source:
            out.append((kind, source))
    return out


def title_of(cells: list[tuple[str, str]], name: str) -> str:
    kind, source = cells[0]
    if kind != "markdown" or not source.startswith("# "):
        raise ValueError(f"{name}: the first cell must be markdown starting with a '# ' title")
    return source.splitlines()[0][2:]


def _cell(index: int, stem: str, kind: str, source: str) -> dict:
    cell = {
        "cell_type": kind,
        "id": f"{stem[:50]}-{index}",  # stable ids: regenerating gives the same file
        "metadata": {},
        "source": source.splitlines(keepends=True),
    }
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def build(source_path: Path) -> dict:
    """The notebook (nbformat 4.5, no outputs) for one percent-format source."""
    stem = source_path.stem
    cells = split_cells(source_path.read_text(encoding="utf-8"))
    title_of(cells, source_path.name)
    colab = f"https://colab.research.google.com/github/{REPOSITORY}/blob/{BRANCH}/notebooks/{stem}.ipynb"
    badge = f"[Open in Colab]({colab}) · generated from `notebooks/src/{stem}.py` by `tools/make_notebooks.py`"
    kind, first = cells[0]
    cells = [(kind, f"{first}\n\n{badge}"), ("code", SETUP), *cells[1:]]
    return {
        "cells": [_cell(i, stem, kind, src) for i, (kind, src) in enumerate(cells)],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
            "colab": {"provenance": []},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def render(notebook: dict) -> str:
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


def expected() -> dict[Path, str]:
    """Every notebook path -> the text this script writes there."""
    return {NOTEBOOKS / f"{src.stem}.ipynb": render(build(src)) for src in sorted(SOURCES.glob("*.py"))}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="report stale notebooks instead of writing them")
    args = p.parse_args(argv)
    want = expected()
    stale = [path for path, text in want.items() if not path.is_file() or path.read_text("utf-8") != text]
    stale += [path for path in sorted(NOTEBOOKS.glob("*.ipynb")) if path not in want]  # a source was removed
    if args.check:
        for path in stale:
            print(f"stale: {path.relative_to(ROOT)} (run python tools/make_notebooks.py)")
        return 1 if stale else 0
    for path, text in want.items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
