"""Imports flow one way: no cycle inside minillm, each wing imports only the layers below it (LAYERS),
the kernels import nothing above them, and no module imports another module's private (``_``) name.

Walks every module under minillm/ with ``ast`` (no import is executed), collecting module-level
and function-level imports alike: a lazy import inside a function is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "minillm"


# Bottom to top. A wing imports itself and lower layers only; wings of one layer do not import each other.
LAYERS = {
    "kernels": 0,  # the compute: masks, the explicit reference, chunked, sdpa, triton
    "utils": 0,  # configs, file io, plotting
    "decoding": 0,  # generation and beam search take a model as a callable
    "prompting": 0,  # prompt builders (text only)
    "nn": 1,
    "tokenizers": 1,
    "adapt": 1,  # LoRA and quantization wrap any nn.Linear
    "data": 2,
    "models": 3,
    "costs": 4,
    "train": 4,
    "explain": 4,  # the explorer page: reads models and tokenizers
    "rlhf": 5,
    "__init__": 6,  # the package face re-exports the main names
    "commands": 7,  # the CLI and what only it needs
    "__main__": 8,
}


def _wing(module: str) -> str:
    """minillm.nn.attention -> "nn"; minillm.prompting -> "prompting"; minillm -> "__init__"."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """minillm modules that ``name`` imports anywhere in its file.

    A parent package that Python runs implicitly (importing minillm.a.b runs minillm/__init__.py)
    does not count, as in import-linter and similar tools: only what the code names.
    """
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            # `from pkg import mod` depends on pkg.mod; `from pkg import name` on pkg itself
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:  # minillm.a.b.func -> minillm.a.b
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component with more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _reaches(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for w in graph[todo.pop()] - seen:
            seen.add(w)
            todo.append(w)
    return seen


def test_the_walker_sees_what_it_should():
    """Guards the test itself: it finds the package, lazy imports and the known edges."""
    graph = _graph()
    assert len(graph) > 20 and "minillm.kernels.naive" in graph
    assert "minillm.kernels" in graph["minillm.nn.attention"]
    assert {"minillm.kernels.checks", "minillm.kernels.masks"} <= graph["minillm.kernels.naive"]
    toy = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(toy) == [["a", "b", "c"]]


def test_the_walker_counts_lazy_relative_and_from_imports(tmp_path):
    src = tmp_path / "naive.py"
    src.write_text("def f():\n    from minillm.kernels import masks\n    from . import checks\n    from .. import nn\n")
    known = {"minillm.kernels", "minillm.kernels.masks", "minillm.kernels.checks", "minillm.nn"}
    assert _imports("minillm.kernels.naive", src, known) == {
        "minillm.kernels.masks",
        "minillm.kernels.checks",
        "minillm.nn",
    }


def test_no_import_cycle_inside_minillm():
    cycles = _cycles(_graph())
    assert not cycles, "import cycles (each line one cycle):\n" + "\n".join(" <-> ".join(c) for c in cycles)


@pytest.mark.parametrize("above", ["minillm.nn", "minillm.models", "minillm.train", "minillm.rlhf"])
def test_kernels_import_nothing_above_them(above):
    graph = _graph()
    for name in (n for n in graph if n == "minillm.kernels" or n.startswith("minillm.kernels.")):
        bad = {m for m in _reaches(graph, name) if m == above or m.startswith(above + ".")}
        assert not bad, f"{name} reaches {sorted(bad)}"


def test_every_wing_has_a_layer():
    wings = {_wing(name) for name in _graph()}
    assert wings <= set(LAYERS), f"put {sorted(wings - set(LAYERS))} in LAYERS"


def test_nothing_imports_upward_or_sideways():
    graph = _graph()
    bad = sorted(
        f"{a} ({_wing(a)}, layer {LAYERS[_wing(a)]}) imports {b} ({_wing(b)}, layer {LAYERS[_wing(b)]})"
        for a, targets in graph.items()
        for b in targets
        if _wing(a) != _wing(b) and LAYERS[_wing(b)] >= LAYERS[_wing(a)]
    )
    assert not bad, "\n".join(bad)


def _private_imports(path: Path) -> list[str]:
    """``from minillm.x import _name`` anywhere in the file: a private name used outside its module."""
    return [
        f"{path.relative_to(PACKAGE.parent)}:{node.lineno} imports {alias.name} from {node.module}"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("minillm"))
        for alias in node.names
        if alias.name.startswith("_") and not alias.name.startswith("__")
    ]


def test_no_module_imports_a_private_name():
    bad = [line for path in sorted(PACKAGE.rglob("*.py")) for line in _private_imports(path)]
    assert not bad, "\n".join(bad)
