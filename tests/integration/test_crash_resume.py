"""Crash and resume: runs that crash or collide, and the CLI's one-line errors.

Crashes are injected at named points (tests/helpers/crash_at.py: ``mid-save@20`` runs ``minillm``
with the checkpoint writer wrapped so that the process SIGKILLs itself there) instead of hoping a
random kill lands in a millisecond window; a few random SIGKILLs are added. After each, the newest checkpoint must load, a resumed
run must end bit-identical to an uninterrupted one, and metrics.jsonl must hold each step once.
"""

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import safetensors.torch
import torch
from helpers.cli_flags import cli_flags
from helpers.corpus import prepared_data_dir

from minillm.commands.cli import main
from minillm.train.checkpoint import list_checkpoints, load_checkpoint
from minillm.train.lock import LOCK_NAME
from minillm.train.metrics import read_metrics

TEXT = "the quick brown fox jumps over the lazy dog, 自注意力.\n" * 60


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return prepared_data_dir(tmp_path_factory, TEXT)


FLAGS = {
    "n_layer": 1, "n_head": 2, "n_embd": 16, "block_size": 8, "batch_size": 4, "max_steps": 30,
    "log_interval": 3, "eval_interval": 10, "eval_iters": 1, "checkpoint_interval": 5, "keep_last": 2,
    "sample_tokens": 0, "dropout": 0.1,
}  # fmt: skip


# -- the lock -------------------------------------------------------------------------------------


# -- full disks and unwritable directories --------------------------------------------------------


# -- the CLI: one line, exit 2, before any work ----------------------------------------------------
@pytest.mark.parametrize(
    "argv, match",
    [
        (["sample", "--ckpt", "{tmp}/none", "--num-samples", "-1"], "--num-samples must be an integer >= 1, got -1"),
        (["sample", "--ckpt", "{tmp}/none", "--seed", "-1"], "--seed must be an integer >= 0, got -1"),
        (["sample", "--ckpt", "{tmp}/none", "--temperature", "nan"], "temperature must be a finite number"),
        (["train", "--data-dir", "{data}", "--out-dir", "{tmp}/o", "--seed", "-1"], "seed must be a non-negative"),
        (
            ["train", "--data-dir", "{data}", "--out-dir", "{tmp}/file"],
            "--out-dir .*file exists and is not a directory",
        ),
        (["prepare", "{tmp}/file", "--out", "{tmp}/file"], "--out .*file exists and is not a directory"),
        (["prepare", "{tmp}/file", "--out", "/proc/self/x"], "cannot write to --out /proc/self/x"),
    ],
)
def test_cli_errors_are_one_line_and_exit_2(argv, match, tmp_path, data_dir, capsys):
    (tmp_path / "file").write_text("some text")
    argv = [a.format(tmp=tmp_path, data=data_dir) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"minillm {argv[0]}: error: ")
    assert __import__("re").search(match, err), err


# -- crashes: deterministic fault points and random SIGKILLs (slow) -------------------------------
def _argv(data_dir, out_dir, *extra) -> list[str]:
    return ["train", f"--data-dir={data_dir}", f"--out-dir={out_dir}", "--no-progress", *cli_flags(FLAGS), *extra]


CRASH_AT = Path(__file__).resolve().parents[1] / "helpers" / "crash_at.py"


def _train(data_dir, out_dir, *extra, fault=None):
    """`minillm train` in its own process, to be killed (at ``fault`` by crash_at.py, or by the test)."""
    command = [str(CRASH_AT), fault] if fault else ["-m", "minillm"]
    argv = [sys.executable, *command, *_argv(data_dir, out_dir, *extra)]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _final_weights(out_dir):
    return safetensors.torch.load_file(str(list_checkpoints(out_dir)[-1] / "model.safetensors"))


@pytest.fixture(scope="module")
def straight(data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("straight")
    run = _train(data_dir, out)
    assert run.wait(300) == 0, run.stderr.read()
    return out


def _check_resumes_exactly(data_dir, out, straight):
    # The resume runs in this process: it starts from the files alone, like a new process, and skips
    # the 4 s a fresh interpreter spends importing torch and building its first optimizer.
    assert "crash_at" not in sys.modules  # no fault is wrapped around this process's run
    assert main(_argv(data_dir, out, "--resume")) == 0
    assert not list(out.glob(".tmp-*")) and not list(out.glob(".trash-*")) and not (out / LOCK_NAME).exists()
    mine, theirs = _final_weights(out), _final_weights(straight)
    assert mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in mine)
    steps = [r["step"] for r in read_metrics(out / "metrics.jsonl") if "loss" in r]
    assert steps == sorted(set(steps)) and steps[-1] == FLAGS["max_steps"]
    assert steps == [r["step"] for r in read_metrics(straight / "metrics.jsonl") if "loss" in r]


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["mid-step@13", "mid-save@10", "after-rename@15", "mid-cleanup@15", "mid-metrics@12"])
def test_fault_point_then_resume_is_bit_identical(fault, data_dir, tmp_path, straight):
    run = _train(data_dir, tmp_path, fault=fault)
    assert run.wait(300) == -signal.SIGKILL
    for ckpt in list_checkpoints(tmp_path):  # every listed checkpoint is complete and checks out
        load_checkpoint(ckpt)
    _check_resumes_exactly(data_dir, tmp_path, straight)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(3))
def test_random_sigkill_then_resume_is_bit_identical(seed, data_dir, tmp_path, straight):
    run = _train(data_dir, tmp_path)
    deadline = time.monotonic() + 60
    while not list_checkpoints(tmp_path) and time.monotonic() < deadline:  # kill after the first checkpoint
        time.sleep(0.01)
    time.sleep(random.Random(seed).uniform(0.0, 0.5))
    run.kill()
    run.wait(60)
    if run.returncode == 0:
        pytest.skip("the run finished before the kill")
    _check_resumes_exactly(data_dir, tmp_path, straight)


@pytest.mark.slow
def test_two_concurrent_runs_one_refused_no_mixed_files(data_dir, tmp_path, straight, monkeypatch):
    release = tmp_path.parent / f"{tmp_path.name}-release"
    monkeypatch.setenv("CRASH_AT_RELEASE", str(release))
    first = _train(data_dir, tmp_path, fault="hold@5")  # holds its lock after step 5 until released
    deadline = time.monotonic() + 60
    while not (tmp_path / LOCK_NAME).exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    second = _train(data_dir, tmp_path)
    assert second.wait(300) == 2
    assert second.stderr.read().count("in use by another minillm run") == 1
    release.touch()
    assert first.wait(300) == 0
    mine, theirs = _final_weights(tmp_path), _final_weights(straight)
    assert all(torch.equal(mine[k], theirs[k]) for k in mine)
