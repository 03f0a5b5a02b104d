"""The exercises grade correctly: the reference solutions pass every test, the untouched stubs fail every test,
correct answers written differently pass, and a solution with a typical mistake fails, its first failure
naming that mistake."""

import importlib.util
import json
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
    assert len(stubs) == 13
    assert stubs == sorted(p.stem for p in (EXERCISES / "solutions").glob("ex*.py"))
    assert stubs == sorted(p.stem.removeprefix("test_") for p in EXERCISES.glob("test_ex*.py"))


@pytest.mark.slow
def test_solutions_pass_and_stubs_fail():
    passed, failed = _grade(EXERCISES / "solutions")
    assert failed == 0 and passed >= 20, (passed, failed)
    stub_passed, stub_failed = _grade(EXERCISES)
    assert stub_passed == 0 and stub_failed == passed, (stub_passed, stub_failed)


# (exercise, [(text in the reference solution, what a student might write instead)], words the first failure
# must say). An edit whose old text is None appends its new text: a second `def` that replaces the first.
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
    (
        "ex01_attention",
        [
            ('        scores = scores.masked_fill(~mask, float("-inf"))\n', "        pass\n"),
            (
                "    return weights @ v, weights",
                "    if mask is not None:\n        weights = weights.masked_fill(~mask, 0.0)\n    return weights @ v, weights",
            ),
        ],
        "the mask was applied after the softmax",
    ),
    ("ex01_attention", [('float("-inf")', "0.0")], "set to 0, not -inf"),
    ("ex01_attention", [("math.sqrt(q.shape[-1])", "math.sqrt(v.shape[-1])")], "the scale uses v's width"),
    ("ex01_attention", [("q @ k.transpose(-2, -1)", "q @ k")], "kᵀ = k.transpose(-2, -1)"),
    ("ex01_attention", [("k.transpose(-2, -1)", "k.T")], "k.T reverses *every* axis"),
    ("ex02_causal_mask", [("<= q_pos", ">= q_pos")], "the mask points the wrong way"),
    ("ex02_causal_mask", [(" + (t_k - t_q)", "")], "aligned top-left"),
    ("ex02_causal_mask", [("<= q_pos", "< q_pos")], "the diagonal is hidden"),
    ("ex02_causal_mask", [(" + (t_k - t_q)", " - (t_k - t_q)")], "the offset has the wrong sign"),
    (
        "ex02_causal_mask",
        [
            (
                "return torch.arange(t_k)[None, :] <= q_pos",
                'return torch.zeros(t_q, t_k).masked_fill(torch.arange(t_k)[None, :] > q_pos, float("-inf"))',
            )
        ],
        "an additive mask",
    ),
    (
        "ex02_causal_mask",
        [("return torch.arange(t_k)[None, :] <= q_pos", "return (torch.arange(t_k)[None, :] <= q_pos).float()")],
        "not boolean",
    ),
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
        "ex03_heads",
        [("    if d % n_head:\n        raise ValueError", "    if False:\n        raise ValueError")],
        "no divisibility check",
    ),
    (
        "ex03_heads",
        [
            (
                '    if d % n_head:\n        raise ValueError(f"d={d} is not divisible by n_head={n_head}")\n',
                "    assert d % n_head == 0\n",
            )
        ],
        "an assert is not a ValueError",
    ),
    (
        "ex03_heads",
        [("x.transpose(1, 2).reshape(b, t, h * hd)", "x.transpose(1, 2).view(b, t, h * hd)")],
        "no longer contiguous",
    ),
    (
        "ex03_heads",
        [(".view(b, t, n_head, d // n_head).transpose(1, 2)", ".view(b, t, d // n_head, n_head).permute(0, 3, 1, 2)")],
        "round-robin",
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
    ("ex04_sinusoidal", [("torch.cos(pos * freq)[:, : n_embd // 2]", "torch.cos(pos * freq)")], "n_embd = 7 is odd"),
    (
        "ex04_sinusoidal",
        [
            (
                "-torch.arange(0, n_embd, 2, dtype=torch.float64) / n_embd",
                "-torch.arange(0, (n_embd + 1) // 2, dtype=torch.float64) / n_embd",
            )
        ],
        "the exponent is i/d, not 2i/d",
    ),
    ("ex04_sinusoidal", [("return table.float()", "return table")], "not float32"),
    (
        "ex04_sinusoidal",
        [
            ("    table[:, 0::2] = torch.sin(pos * freq)\n", ""),
            (
                "    table[:, 1::2] = torch.cos(pos * freq)[:, : n_embd // 2]\n",
                "    table = torch.cat([torch.sin(pos * freq), torch.cos(pos * freq)], dim=-1)[:, :n_embd]\n",
            ),
        ],
        "halves were concatenated",
    ),
    (
        "ex04_sinusoidal",
        [("torch.arange(block_size, dtype", "torch.arange(1, block_size + 1, dtype")],
        "the positions start at 1",
    ),
    ("ex05_top_p", [("before >= p", "before + probs >= p")], "the token that crosses p was dropped"),
    (
        "ex05_top_p",
        [
            (
                "sorted_logits, order = torch.sort(logits, dim=-1, descending=True)",
                "sorted_logits, order = logits, torch.arange(logits.shape[-1]).expand_as(logits)",
            )
        ],
        "the cumulative sum was taken without sorting",
    ),
    ("ex05_top_p", [("descending=True", "descending=False")], "sorted ascending"),
    (
        "ex05_top_p",
        [("torch.zeros_like(before, dtype=torch.bool).scatter(-1, order, before >= p)", "before >= p")],
        "left in sorted order",
    ),
    ("ex05_top_p", [("sorted_logits.double()", "sorted_logits")], "p = 1 must keep every token"),
    ("ex05_top_p", [("before >= p", "before > p")], "not > p"),
    (
        "ex05_top_p",
        [("return logits.masked_fill(", "return torch.softmax(logits, -1).masked_fill(")],
        "probabilities were returned",
    ),
    ("ex06_bpe_merge", [("i += 2", "i += 1")], "skip *both* of its ids"),
    ("ex06_bpe_merge", [("while i < len(ids):", "while i < len(ids) - 1:")], "off by one at the end"),
    (
        "ex06_bpe_merge",
        [
            (
                None,
                '\n\ndef merge(ids, pair, new_id):\n    text = " ".join(map(str, ids)).replace(f"{pair[0]} {pair[1]}", str(new_id))\n    return [int(x) for x in text.split()]\n',
            )
        ],
        "matched as text",
    ),
    (
        "ex06_bpe_merge",
        [
            (
                None,
                "\n\n_merge = merge\n\n\ndef merge(ids, pair, new_id):\n    return _merge(ids[::-1], pair[::-1], new_id)[::-1]\n",
            )
        ],
        "merged from the right",
    ),
    (
        "ex06_bpe_merge",
        [("max(counts, key=counts.get)", "sorted(counts, key=counts.get)[-1]")],
        "ties: keep the pair seen *first*",
    ),
    ("ex07_ranking_loss", [("margin[:, better]", "-margin[:, better]")], "the margin's sign"),
    (
        "ex07_ranking_loss",
        [("-F.logsigmoid(margin[:, better]).mean()", "-(F.logsigmoid(margin) * better).mean()")],
        "averaged over all K×K entries",
    ),
    (
        "ex07_ranking_loss",
        [("-F.logsigmoid(margin[:, better]).mean()", "-F.logsigmoid(rewards[:, :-1] - rewards[:, 1:]).mean()")],
        "only neighbouring replies",
    ),
    (
        "ex07_ranking_loss",
        [("-F.logsigmoid(margin[:, better])", "-torch.sigmoid(margin[:, better])")],
        "the log is missing",
    ),
    ("ex07_ranking_loss", [("[:, better]).mean()", "[:, better]).sum()")], "summed instead of averaged"),
    ("ex07_ranking_loss", [("return -F.logsigmoid", "return F.logsigmoid")], "the minus sign is missing"),
    ("ex08_gae", [("gamma * lam * next_adv", "gamma * next_adv")], "λ is missing"),
    (
        "ex08_gae",
        [("return advantages, advantages + values", "return advantages, advantages")],
        "the returns are the advantages plus the values",
    ),
    (
        "ex08_gae",
        [("rewards[t] + gamma * next_value", "rewards[t] + lam * next_value")],
        "γ and λ are swapped in the TD error",
    ),
    (
        "ex08_gae",
        [
            (
                "return advantages, advantages + values",
                "returns, g = torch.zeros_like(rewards), 0.0\n    for t in reversed(range(len(rewards))):\n        g = rewards[t] + gamma * g\n        returns[t] = g\n    return advantages, returns",
            )
        ],
        "discounted reward-to-go",
    ),
    (
        "ex08_gae",
        [
            (
                "for t in reversed(range(len(values))):\n",
                "for t in range(len(values)):\n        next_value = values[t + 1] if t + 1 < len(values) else 0.0\n",
            ),
            ("        next_value = values[t]\n", ""),
        ],
        "the loop runs forward",
    ),
    ("ex08_gae", [("gamma * lam * next_adv", "lam * next_adv")], "γ is missing from the recursion"),
    (
        "ex08_gae",
        [("gamma * next_value - values[t]", "gamma * values[t + 1] - values[t]")],
        "V after the last step is 0",
    ),
    ("ex09_ppo_clip", [("torch.minimum", "torch.maximum")], "max instead of min"),
    (
        "ex09_ppo_clip",
        [("-torch.minimum(ratio * advantages, clipped * advantages)", "-(torch.minimum(ratio, clipped) * advantages)")],
        "the advantage's sign is ignored",
    ),
    (
        "ex09_ppo_clip",
        [("torch.clamp(ratio, 1 - eps, 1 + eps)", "torch.clamp(ratio, max=1 + eps)")],
        "only the upper side of the clip",
    ),
    (
        "ex09_ppo_clip",
        [("torch.clamp(ratio, 1 - eps, 1 + eps)", "torch.clamp(ratio, min=1 - eps)")],
        "only the lower side of the clip",
    ),
    ("ex09_ppo_clip", [("torch.clamp(ratio, 1 - eps, 1 + eps)", "torch.clamp(ratio, 0.8, 1.2)")], "eps is ignored"),
    (
        "ex09_ppo_clip",
        [("-torch.minimum(ratio * advantages, clipped * advantages)", "-(clipped * advantages)")],
        "the clipped term alone",
    ),
    (
        "ex09_ppo_clip",
        [("torch.exp(logp_new - logp_old)", "(logp_new - logp_old)")],
        "the difference of log-probabilities",
    ),
    (
        "ex13_tensor_parallel",
        [("if bias is not None and rank == 0", "if bias is not None")],
        "every rank added the bias",
    ),
    (
        "ex13_tensor_parallel",
        [("return out if bias is None else out + bias[rows]", "return out")],
        "bias slice is missing",
    ),
    (
        "ex13_tensor_parallel",
        [("rows = _span(weight.shape[0], rank, world_size)", "rows = slice(rank, None, world_size)")],
        "round-robin",
    ),
    (
        "ex13_tensor_parallel",
        [
            ("h = activation(column_parallel(", "h = (column_parallel("),
            ("return sum(partials)  # the all-reduce", "return activation(sum(partials))"),
        ],
        "the activation was applied after adding the partial sums",
    ),
    ("ex13_tensor_parallel", [("return sum(partials)  # the", "return sum(partials) / world_size  # the")], "averaged"),
    (
        "ex13_tensor_parallel",
        [("x @ weight[rows].T", "x @ weight[:, rows]")],
        "which are *rows* of the (d_ff, d) weight",
    ),
    ("ex10_online_softmax", [("o = correction * o + p", "o = o + p")], "the running output o is not rescaled"),
    ("ex10_online_softmax", [(".T * scale", ".T")], "the 1/√d scale is missing"),
    (
        "ex10_online_softmax",
        [("range(0, k.shape[0], block)", "range(0, k.shape[0] - block + 1, block)")],
        "the last, partial block",
    ),
    ("ex10_online_softmax", [("l = correction * l + ", "l = l + ")], "the running sum ℓ is not rescaled"),
    (
        "ex10_online_softmax",
        [
            ("        correction = torch.exp(m - m_new)  # rescales what was summed under the old maximum\n", ""),
            ("        m = m_new\n", ""),
            (
                "        p = torch.exp(s - m_new)\n",
                "        p = torch.exp(s - m_new)\n        m = m_new\n        correction = torch.exp(m - m_new)\n",
            ),
        ],
        "neither o nor ℓ is rescaled",
    ),
    ("ex10_online_softmax", [("        m = m_new\n", "")], "m is never updated"),
    ("ex10_online_softmax", [("return o / l", "return o")], "without dividing by ℓ"),
    ("ex11_triton_forward", [("tl.dot(q, tl.trans(k)) * scale", "tl.dot(q, tl.trans(k))")], "the scale is missing"),
    (
        "ex11_triton_forward",
        [('        s = tl.where(cols[None, :] < T_k, s, float("-inf"))  # padded keys get weight 0\n', "")],
        "the padded key columns",
    ),
    ("ex11_triton_forward", [("l_i = alpha * l_i", "l_i = l_i")], "the running sum l is not rescaled"),
    ("ex11_triton_forward", [("acc = alpha[:, None] * acc", "acc = acc")], "the accumulator acc is not rescaled"),
    (
        "ex11_triton_forward",
        [("range(0, T_k, BLOCK_N)", "range(0, T_k - BLOCK_N + 1, BLOCK_N)")],
        "the last, partial tile",
    ),
    ("ex11_triton_forward", [("tl.dot(q, tl.trans(k))", "tl.dot(q, k)")], "tl.dot(q, tl.trans(k))"),
    ("ex12_reinforce_baseline", [("(groups - groups.mean(dim=1, keepdim=True))", "groups")], "no baseline"),
    ("ex12_reinforce_baseline", [("groups.mean(dim=1, keepdim=True)", "rewards.mean()")], "the whole batch's mean"),
    (
        "ex12_reinforce_baseline",
        [
            ("rewards.view(-1, group_size)", "rewards.view(group_size, -1)"),
            ("groups.mean(dim=1, keepdim=True)", "groups.mean(dim=0, keepdim=True)"),
        ],
        "the groups are strided",
    ),
    (
        "ex12_reinforce_baseline",
        [
            (
                "(groups - groups.mean(dim=1, keepdim=True)).flatten()",
                "((groups - groups.mean(dim=1, keepdim=True)) / groups.std(dim=1, keepdim=True)).flatten()",
            )
        ],
        "divided by the group's std",
    ),
    ("ex12_reinforce_baseline", [("return -advantages[:, None]", "return advantages[:, None]")], "the minus sign"),
    ("ex12_reinforce_baseline", [("* logprobs  # (B, T)", "* logprobs.exp()  # (B, T)")], "probabilities instead"),
    (
        "ex12_reinforce_baseline",
        [("advantages[:, None] * logprobs", "(advantages[:, None] * logprobs).mean(1)")],
        "one loss per token",
    ),
]
if importlib.util.find_spec("triton") is None:  # without triton exercise 11 is skipped, so it cannot fail
    MISTAKES = [m for m in MISTAKES if m[0] != "ex11_triton_forward"]


def _first_failures(pairs: list[tuple[Path, Path]]) -> list:
    """The first failure (or None) of each (folder, test file), all graded in one child process."""
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tests" / "helpers" / "first_failures.py"),
            json.dumps([[str(d), str(t)] for d, t in pairs]),
        ],
        check=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    return json.loads(run.stdout.strip().splitlines()[-1])


def _with_mistake(name: str, edits) -> str:
    text = (EXERCISES / "solutions" / f"{name}.py").read_text(encoding="utf-8")
    for old, new in edits:
        if old is None:
            text += new
            continue
        assert old in text, (name, old)  # the mistake table follows the reference solution
        text = text.replace(old, new)
    return text


@pytest.mark.slow
def test_each_typical_mistake_fails_first_with_its_name(tmp_path):
    pairs = []
    for i, (name, edits, _) in enumerate(MISTAKES):
        (tmp_path / str(i)).mkdir()
        (tmp_path / str(i) / f"{name}.py").write_text(_with_mistake(name, edits), encoding="utf-8")
        pairs.append((tmp_path / str(i), EXERCISES / f"test_{name}.py"))
    firsts = _first_failures(pairs)
    wrong = [
        f"{name} with the mistake '{words}': " + (f"first failure {first}" if first else "passed")
        for (name, _, words), first in zip(MISTAKES, firsts)
        if first is None or words not in first
    ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.slow
def test_correct_answers_written_differently_pass():
    """Loops, float64 sums, other orders of operations (tests/helpers/exercise_alternatives/) all pass."""
    alternatives = ROOT / "tests" / "helpers" / "exercise_alternatives"
    names = sorted(p.stem for p in alternatives.glob("ex*.py"))
    assert len(names) >= 11 and set(names) <= {p.stem for p in EXERCISES.glob("ex*.py")}, names
    firsts = _first_failures([(alternatives, EXERCISES / f"test_{name}.py") for name in names])
    assert firsts == [None] * len(names), dict(zip(names, firsts))


@pytest.mark.slow
def test_the_in_process_grader_sees_what_pytest_sees():
    """first_failures.py runs the tests itself: the stubs fail first with "not written yet", the solutions pass."""
    names = sorted(p.stem for p in EXERCISES.glob("ex*.py"))
    firsts = _first_failures(
        [(EXERCISES, EXERCISES / f"test_{n}.py") for n in names]
        + [(EXERCISES / "solutions", EXERCISES / f"test_{n}.py") for n in names]
    )
    stubs, solutions = firsts[: len(names)], firsts[len(names) :]
    skipped = {"ex11_triton_forward"} if importlib.util.find_spec("triton") is None else set()
    assert all(f and "not written yet" in f for n, f in zip(names, stubs) if n not in skipped), stubs
    assert solutions == [None] * len(names), solutions
