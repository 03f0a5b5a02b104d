"""Loads the exercise files being graded (yours in exercises/, or the reference solutions), and fails
them with messages that name the likely mistake.

pytest exercises/                                        # grades your files
MINILLM_EXERCISES_DIR=exercises/solutions pytest exercises/   # the reference solutions
"""

import importlib.util
import os
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

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


# -- teaching failures ------------------------------------------------------------------------------
# A failing exercise should say *why*, not only "not close". Each test passes the wrong answers that
# the usual mistakes produce on the same input; when yours equals one of them, the failure names it.


def _same(got, want, atol: float, rtol: float) -> bool:
    if isinstance(want, torch.Tensor):
        if not isinstance(got, torch.Tensor) or got.shape != want.shape:
            return False
        if want.dtype == torch.bool or got.dtype == torch.bool:
            return got.dtype == want.dtype and torch.equal(got, want)
        return torch.allclose(got.double(), want.double(), atol=atol, rtol=rtol, equal_nan=True)
    return got == want


def _describe(got, want) -> str:
    if isinstance(want, torch.Tensor):
        if not isinstance(got, torch.Tensor):
            return f"expected a tensor, got {type(got).__name__}"
        if got.shape != want.shape:
            return f"expected shape {tuple(want.shape)}, got {tuple(got.shape)}"
        if got.dtype != want.dtype and torch.bool in (got.dtype, want.dtype):
            return f"expected dtype {want.dtype}, got {got.dtype}"
        if want.dtype == torch.bool:
            return f"expected\n{want.int()}\ngot\n{got.int()}"
        diff = (got.double() - want.double()).abs().nan_to_num(float("inf"))
        where = tuple(int(i) for i in torch.unravel_index(diff.argmax(), diff.shape))
        return f"largest difference {diff.max().item():.4g} at index {where}: expected {want[where].item():.6g}, got {got[where].item():.6g}"
    return f"expected {want!r}, got {got!r}"


def expect(
    got,
    want,
    what: str,
    mistakes: dict | None = None,
    atol: float = 1e-5,
    rtol: float = 1e-5,
    properties: list[tuple[bool, str]] | None = None,
) -> None:
    """Pass if ``got`` equals ``want`` (tensors: within atol/rtol; bool tensors and other values: exactly).
    Otherwise fail with one message: the named mistake whose wrong answer ``got`` equals, if any; else
    the first property the right answer has and ``got`` lacks; else where and by how much it differs.
    ``mistakes`` maps a hint to the answer that mistake gives; ``properties`` is a list of
    (``got`` has it, what the right answer does), e.g. (rows sum to 1, "each row of weights sums to 1")."""
    if _same(got, want, atol, rtol):
        return
    for hint, wrong in (mistakes or {}).items():
        if not _same(wrong, want, atol, rtol) and _same(got, wrong, atol, rtol):
            fail(f"{what}: wrong. Likely mistake: {hint}")
    for holds, rule in properties or []:
        if not holds:
            fail(f"{what}: wrong. {rule}")
    fail(f"{what}: wrong, {_describe(got, want)}")


def fail(message: str) -> None:
    """Fail the test with ``message`` alone: no traceback through the grader."""
    pytest.fail(message, pytrace=False)


def shapes(*tensors) -> str:
    """'(2, 3, 5, 8), (2, 5)': the shapes of the arguments, for a message that says what was called."""
    return ", ".join(str(tuple(t.shape)) if isinstance(t, torch.Tensor) else repr(t) for t in tensors)


def call(what: str, fn, *args, hint: str = "", **kwargs):
    """Return ``fn(*args, **kwargs)``. If your code raises, fail with one message that says what was
    called (``what``), what it raised and, in ``hint``, the usual cause on this input, instead of a
    traceback through your code."""
    try:
        return fn(*args, **kwargs)
    except FusedKernelUsed:
        raise
    except Exception as error:  # noqa: BLE001 - any error in the student's code becomes a message
        if any(isinstance(e, NotImplementedError) for e in _chain(error)):  # Triton's interpreter wraps it
            fail(f"{what}: not written yet (replace `raise NotImplementedError` with your code)")
        text = str(error).strip().splitlines()
        said = f"{type(error).__name__}: {text[0][:300]}" if text else type(error).__name__
        fail(f"{what} raised {said}" + (f". Likely mistake: {hint}" if hint else ""))


def _chain(error: BaseException):
    """The error and the ones it was raised from or during."""
    seen = []
    while error is not None and error not in seen:
        seen.append(error)
        error = error.__cause__ or error.__context__
    return seen


class FusedKernelUsed(AssertionError):
    """Raised when an exercise that asks for attention by hand calls a library's attention instead."""


@contextmanager
def by_hand(module, exercise: str):
    """Run ``module``'s code with every fused or library attention replaced by a refusal: torch's
    scaled_dot_product_attention and multi-head attention, and minillm's attention entry points,
    also where the exercise file imported them by name."""
    import minillm
    import minillm.kernels
    import minillm.kernels.chunked
    import minillm.kernels.naive
    import minillm.nn.attention

    targets = [
        (F, "scaled_dot_product_attention"),
        (F, "multi_head_attention_forward"),
        (torch._C._nn, "scaled_dot_product_attention"),
        (minillm, "scaled_dot_product_attention"),
        (minillm.kernels, "attention"),
        (minillm.kernels.naive, "scaled_dot_product_attention"),
        (minillm.kernels.chunked, "chunked_attention"),
        (minillm.nn.attention, "scaled_dot_product_attention"),
    ]

    def refuse(name):
        def refused(*args, **kwargs):
            raise FusedKernelUsed(
                f"{exercise} asks you to write this by hand, but your code called the library's {name}: "
                "compute it from matrix products, exp/softmax and sums yourself"
            )

        return refused

    targets += [
        (minillm.kernels, name) for name in ("chunked_attention", "sdpa_attention") if hasattr(minillm.kernels, name)
    ]
    originals = {id(getattr(owner, name)): name for owner, name in targets}
    patched = [(owner, name, getattr(owner, name)) for owner, name in targets]
    patched += [(module, k, v) for k, v in vars(module).items() if id(v) in originals]  # `from ... import sdpa`
    try:
        for owner, name, value in patched:
            setattr(owner, name, refuse(originals[id(value)]))
        yield
    except FusedKernelUsed as error:
        pytest.fail(str(error), pytrace=False)
    finally:
        for owner, name, value in patched:
            setattr(owner, name, value)
