"""The exercises grade correctly: the reference solutions pass every test, the untouched stubs fail every test,
and a solution with a typical mistake fails with a message that names that mistake."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXERCISES = ROOT / "exercises"


def _pytest(directory: Path, *paths: Path) -> str:
    # COLUMNS: pytest's short summary keeps each failure's whole first line (the named mistake)
    env = {**os.environ, "MINILLM_EXERCISES_DIR": str(directory), "PYTHONPATH": str(ROOT), "COLUMNS": "10000"}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", *map(str, paths or [EXERCISES]), "-q", "-rf", "-p", "no:cacheprovider"]
        + ["-o", "addopts="],
        check=False,  # failing exercises are what some runs expect
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return run.stdout


def _grade(directory: Path) -> tuple[int, int]:
    summary = _pytest(directory).strip().splitlines()[-1]
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


# (exercise, [(text in the reference solution, what a student might write instead)], words the failure must say)
MISTAKES = [
    ("ex01_attention", [(" / math.sqrt(q.shape[-1])", "")], "the 1/√d scale is missing"),
    ("ex01_attention", [("masked_fill(~mask", "masked_fill(mask")], "the mask is inverted"),
    ("ex01_attention", [("dim=-1)  # each row", "dim=-2)  # each row")], "the softmax runs over the queries"),
    (  # the fused output beside unscaled weights once passed every test
        "ex01_attention",
        [
            (" / math.sqrt(q.shape[-1])", ""),
            ("return weights @ v, weights", "return F.scaled_dot_product_attention(q, k, v, attn_mask=mask), weights"),
            ("import torch\n", "import torch\nimport torch.nn.functional as F\n"),
        ],
        "asks you to write this by hand",
    ),
    ("ex02_causal_mask", [("<= q_pos", ">= q_pos")], "the mask points the wrong way"),
    ("ex02_causal_mask", [(" + (t_k - t_q)", "")], "aligned top-left"),
    ("ex02_causal_mask", [("<= q_pos", "< q_pos")], "the diagonal is hidden"),
    (
        "ex03_heads",
        [(".view(b, t, n_head, d // n_head).transpose(1, 2)", ".reshape(b, n_head, t, d // n_head)")],
        "reshaped straight to (B, h, T, d/h)",
    ),
    (
        "ex03_heads",
        [("x.transpose(1, 2).reshape(b, t, h * hd)", "x.reshape(b, t, h * hd)")],
        "merged without moving the heads back",
    ),
    (
        "ex04_sinusoidal",
        [
            ("torch.sin(pos * freq)", "SIN"),
            ("torch.cos(pos * freq)", "torch.sin(pos * freq)"),
            ("SIN", "torch.cos(pos * freq)"),
        ],
        "sin and cos are swapped",
    ),
    ("ex04_sinusoidal", [("10000.0 ** (-", "10000.0 ** (")], "the exponent's sign"),
    ("ex05_top_p", [("before >= p", "before + probs >= p")], "the token that crosses p was dropped"),
    ("ex06_bpe_merge", [("i += 2", "i += 1")], "skip *both* of its ids"),
    ("ex06_bpe_merge", [("while i < len(ids):", "while i < len(ids) - 1:")], "off by one at the end"),
    ("ex07_ranking_loss", [("margin[:, better]", "-margin[:, better]")], "the margin's sign"),
    ("ex08_gae", [("gamma * lam * next_adv", "gamma * next_adv")], "λ is missing"),
    (
        "ex08_gae",
        [("return advantages, advantages + values", "return advantages, advantages")],
        "the returns are the advantages plus the values",
    ),
    ("ex09_ppo_clip", [("torch.minimum", "torch.maximum")], "max instead of min"),
    ("ex10_online_softmax", [("o = correction * o + p", "o = o + p")], "the running output o is not rescaled"),
    ("ex10_online_softmax", [(".T * scale", ".T")], "the 1/√d scale is missing"),
]


def _rounds():
    """Group the mistakes so that no round holds two of one exercise (one file per exercise per folder)."""
    rounds: list[list] = []
    for mistake in MISTAKES:
        slot = next((r for r in rounds if all(m[0] != mistake[0] for m in r)), None)
        if slot is None:
            rounds.append([mistake])
        else:
            slot.append(mistake)
    return rounds


@pytest.mark.slow
@pytest.mark.parametrize("round_", _rounds(), ids=lambda r: "+".join(m[0][:4] for m in r))
def test_a_typical_mistake_fails_with_its_name(round_, tmp_path):
    for name, edits, _ in round_:
        text = (EXERCISES / "solutions" / f"{name}.py").read_text(encoding="utf-8")
        for old, new in edits:
            assert old in text, (name, old)  # the mistake table follows the reference solution
            text = text.replace(old, new)
        (tmp_path / f"{name}.py").write_text(text, encoding="utf-8")
    out = _pytest(tmp_path, *(EXERCISES / f"test_{name}.py" for name, _, _ in round_))
    for name, _, words in round_:
        failures = [line for line in out.splitlines() if line.startswith("FAILED") and f"test_{name}.py" in line]
        assert failures, f"{name} with the mistake '{words}' passed:\n{out[-3000:]}"
        assert any(words in line for line in failures), f"{name}: no failure says '{words}':\n" + "\n".join(failures)
