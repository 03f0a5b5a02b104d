"""The chapter notebooks: one per chapter, fresh (regenerating them from notebooks/src/ changes nothing),
well-formed for Jupyter and Colab, installing minillm only from its repository, and running in quick mode
without touching the network."""

import json
import os
import re
import socket
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import make_notebooks  # tools/ is not a package

CHAPTERS = {  # docs chapter -> its notebook
    "transformer.md": "01_transformer",
    "training.md": "02_training",
    "rlhf.md": "03_rlhf",
    "prompting.md": "04_prompting",
    "quadratic-cost.md": "05_quadratic_cost",
    "assistant.md": "06_assistant",
}
NOTEBOOKS = sorted(p.stem for p in make_notebooks.NOTEBOOKS.glob("*.ipynb"))


def _load(name: str) -> dict:
    return json.loads((make_notebooks.NOTEBOOKS / f"{name}.ipynb").read_text(encoding="utf-8"))


def _code_cells(name: str) -> list[str]:
    return ["".join(c["source"]) for c in _load(name)["cells"] if c["cell_type"] == "code"]


def test_every_chapter_has_a_notebook_and_every_notebook_a_source():
    assert sorted(CHAPTERS.values()) == NOTEBOOKS
    assert NOTEBOOKS == sorted(p.stem for p in make_notebooks.SOURCES.glob("*.py"))
    for chapter in CHAPTERS:
        assert (ROOT / "docs" / chapter).is_file(), chapter


def test_committed_notebooks_are_what_the_generator_writes():
    stale = [
        str(path.relative_to(ROOT))
        for path, text in make_notebooks.expected().items()
        if not path.is_file() or path.read_text(encoding="utf-8") != text
    ]
    assert not stale, f"stale notebooks {stale}: run python tools/make_notebooks.py"
    assert make_notebooks.main(["--check"]) == 0


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_well_formed_and_installs_from_the_repository(name):
    nb = _load(name)
    assert (nb["nbformat"], nb["nbformat_minor"]) == (4, 5)
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    ids = [c["id"] for c in nb["cells"]]
    assert len(set(ids)) == len(ids) and all(re.fullmatch(r"[A-Za-z0-9_-]{1,64}", i) for i in ids)
    for cell in nb["cells"]:
        assert cell["cell_type"] in ("markdown", "code") and isinstance(cell["metadata"], dict)
        assert all(isinstance(line, str) for line in cell["source"]) and cell["source"]
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None  # committed without outputs
    first, setup = nb["cells"][0], nb["cells"][1]
    assert first["cell_type"] == "markdown" and first["source"][0].startswith("# ")
    assert f"colab.research.google.com/github/{make_notebooks.REPOSITORY}/" in "".join(first["source"])
    assert setup["cell_type"] == "code" and f"git+https://github.com/{make_notebooks.REPOSITORY}" in "".join(
        setup["source"]
    )
    text = json.dumps(nb)
    # the PyPI project called minillm is someone else's: only the repository may be installed
    assert not re.search(r"pip install[^\"\\]*\bminillm\b", text), "a notebook installs minillm from PyPI"
    assert "%pip" not in text and "!pip" not in text  # plain Python cells: they also run outside IPython


def test_generator_refuses_a_malformed_source(tmp_path):
    src = tmp_path / "x.py"
    src.write_text("# %% [markdown]\nno hash here\n", encoding="utf-8")
    with pytest.raises(ValueError, match="must start with '# '"):
        make_notebooks.build(src)
    src.write_text("import os\n# %%\nx = 1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="code before the first"):
        make_notebooks.build(src)
    src.write_text("# %%\nx = 1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="title"):
        make_notebooks.build(src)


def _no_network(*args, **kwargs):
    raise AssertionError("a notebook tried to open a network connection")


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_in_quick_mode(name, tmp_path, monkeypatch, capsys):
    """Every code cell, in order, in one namespace, as Jupyter would run them (a fresh kernel per notebook)."""
    monkeypatch.setenv(make_notebooks.QUICK_ENV, "1")
    monkeypatch.chdir(tmp_path)  # anything a notebook writes lands here
    monkeypatch.setattr(socket.socket, "connect", _no_network)
    monkeypatch.setattr(socket, "create_connection", _no_network)
    namespace = {"__name__": "__main__"}
    with torch.random.fork_rng():
        for i, source in enumerate(_code_cells(name)):
            try:
                exec(compile(source, f"{name}.ipynb cell {i}", "exec"), namespace)  # noqa: S102  (running cells is the test)
            except Exception as error:  # noqa: BLE001  (any error: name the cell that raised it)
                pytest.fail(f"{name}.ipynb code cell {i} raised {error!r}:\n{source}")
    assert namespace["QUICK"] is True  # the setup cell read the quick switch
    assert os.environ.get(make_notebooks.QUICK_ENV) == "1"
    assert capsys.readouterr().out.strip()  # a notebook shows what it computed
