"""ZeRO-1, FSDP2, tensor parallelism and both on a 2-D mesh (minillm/train/parallel.py): two CPU processes
(four for the mesh; gloo) under torchrun take the steps one process takes on the same global batch, write
the usual whole-tensor checkpoints, resume under another mode, exit 0, and a failing rank ends the run
with one line, not a hang.

One torchrun launch runs every two-process mode (tests/helpers/parallel_worker.py): start-up is paid once."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers.cli_flags import cli_flags
from helpers.corpus import prepared_data_dir
from safetensors.torch import load_file

from minillm.models.families import build_model
from minillm.models.llama import LlamaConfig
from minillm.models.loading import load
from minillm.train import TrainConfig, Trainer

HELPERS = Path(__file__).resolve().parents[1] / "helpers"
REPO = str(Path(__file__).resolve().parents[2])
MODES = ("zero1", "fsdp", "tp")
# Two processes reduce the gradients in another order than one backward over all rows, and tensor
# parallelism sums each row-parallel product in two halves: float32 rounding, compounded over 6 AdamW
# steps. Measured: losses within 1.3e-7 relative, weights within 8e-6 absolute (every mode, both families).
LOSS_TOL = {"rel": 1e-5, "abs": 1e-6}
WEIGHT_TOL = {"rtol": 1e-4, "atol": 1e-5}


def _env() -> dict:
    return {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([REPO, os.environ.get("PYTHONPATH", "")]),
    }


def _torchrun(script, *args, nproc=2, timeout=300):
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        str(script),
        *args,
    ]
    return subprocess.run(cmd, check=False, env=_env(), capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Every mode once (GPT-2 through the Trainer, the later family through train/parallel.py), a
    resume across modes, and the one-process references."""
    data = prepared_data_dir(tmp_path_factory, "attention is all you need; the report says so. " * 60)
    root = tmp_path_factory.mktemp("parallel")
    base = {
        "data_dir": str(data), "n_layer": 2, "n_head": 2, "n_embd": 32, "block_size": 16, "batch_size": 8,
        "grad_accum": 2, "max_steps": 6, "warmup_steps": 2, "lr": 3e-3, "log_interval": 1, "eval_interval": 6,
        "eval_iters": 2, "checkpoint_interval": 3, "sample_tokens": 0, "progress": False,
    }  # fmt: skip
    plan = {
        # tp also checkpoints its activations: both at once are the hardest case
        "runs": [
            {**base, "out_dir": str(root / m), "parallel": m, "activation_checkpointing": m == "tp"} for m in MODES
        ],
        # step-3 checkpoints continued under another mode, and fsdp's under fsdp
        "resume": [
            [str(root / "fsdp"), 3, {**base, "out_dir": str(root / "fsdp-then-tp"), "parallel": "tp", "resume": True}],
            [
                str(root / "tp"),
                3,
                {**base, "out_dir": str(root / "tp-then-zero1"), "parallel": "zero1", "resume": True},
            ],
            [
                str(root / "zero1"),
                3,
                {**base, "out_dir": str(root / "zero1-then-fsdp"), "parallel": "fsdp", "resume": True},
            ],
            [
                str(root / "fsdp"),
                3,
                {**base, "out_dir": str(root / "fsdp-then-fsdp"), "parallel": "fsdp", "resume": True},
            ],
        ],
        "llama": str(root),
    }
    (root / "plan.json").write_text(json.dumps(plan))
    run = _torchrun(HELPERS / "parallel_worker.py", str(root / "plan.json"), timeout=600)
    single = Trainer(TrainConfig.from_dict({**base, "out_dir": str(root / "single")}), log=lambda *_: None)
    single.train()
    (root / "base.json").write_text(json.dumps(base))
    return root, run, single


@pytest.fixture(scope="module")
def mesh_runs(runs):
    """tp+fsdp on a 2 x 2 mesh of four processes (checkpointing its activations), then its step-3
    checkpoint continued under fsdp on the same four."""
    root, _, single = runs
    base = json.loads((root / "base.json").read_text())
    plan = {
        "runs": [{**base, "out_dir": str(root / "tp+fsdp"), "parallel": "tp+fsdp", "activation_checkpointing": True}],
        "resume": [[str(root / "tp+fsdp"), 3, {**base, "out_dir": str(root / "mesh-then-fsdp"), "parallel": "fsdp",
                                                "resume": True}]],
        "llama": str(root), "llama_modes": ["tp+fsdp"],  # QK-norm gains replicated over a 2 x 2 mesh
    }  # fmt: skip
    (root / "plan4.json").write_text(json.dumps(plan))
    run = _torchrun(HELPERS / "parallel_worker.py", str(root / "plan4.json"), nproc=4, timeout=600)
    return root, run, single


@pytest.mark.slow
def test_every_mode_exits_cleanly(runs):
    _, run, _ = runs
    assert run.returncode == 0, run.stderr[-3000:]
    assert "terminate called" not in run.stderr and "SIGABRT" not in run.stderr


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_gpt_mode_matches_one_process(runs, mode):
    root, run, single = runs
    assert run.returncode == 0, run.stderr[-3000:]
    losses = json.loads((root / mode / "losses.json").read_text())
    assert losses == pytest.approx(single.loss_history, **LOSS_TOL)
    # the checkpoint is the usual file: whole tensors, GPT-2's Q/K/V row order, loaded by one process
    model, _ = load(root / mode / "ckpt-0000006")
    for name, p in single.model.state_dict().items():
        torch.testing.assert_close(model.state_dict()[name], p, **WEIGHT_TOL, msg=name)


@pytest.mark.slow
@pytest.mark.parametrize("run_dir", ["fsdp-then-tp", "tp-then-zero1", "zero1-then-fsdp"])
def test_resume_under_another_mode(runs, run_dir):
    root, run, single = runs
    assert run.returncode == 0, run.stderr[-3000:]
    model, _ = load(root / run_dir / "ckpt-0000006")
    for name, p in single.model.state_dict().items():  # the weights and AdamW moments travelled whole
        torch.testing.assert_close(model.state_dict()[name], p, **WEIGHT_TOL, msg=name)


@pytest.mark.slow
def test_resume_under_the_same_mode_is_bit_identical(runs):
    root, run, _ = runs
    assert run.returncode == 0, run.stderr[-3000:]
    straight, resumed = (load_file(root / d / "ckpt-0000006" / "model.safetensors") for d in ("fsdp", "fsdp-then-fsdp"))
    assert all(torch.equal(resumed[k], straight[k]) for k in straight)  # the same sums in the same order


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_llama_mode_matches_one_process(runs, mode):
    root, run, _ = runs
    assert run.returncode == 0, run.stderr[-3000:]
    sys.path.insert(0, str(HELPERS))
    from parallel_worker import LLAMA, train_llama

    state, losses = train_llama(mode, 1, 0, checkpointing=False)
    assert json.loads((root / f"llama-{mode}.json").read_text()) == pytest.approx(losses, **LOSS_TOL)
    got = load_file(root / f"llama-{mode}.safetensors")
    assert set(got) == set(state)
    for name, p in state.items():
        torch.testing.assert_close(got[name], p, **WEIGHT_TOL, msg=name)
    assert build_model(LlamaConfig(**LLAMA)).load_state_dict(got)  # the whole model, as one process has it


@pytest.mark.slow
def test_llama_on_a_tensor_by_fully_sharded_mesh_matches_one_process(mesh_runs):
    """Grouped-query, QK-norm, SwiGLU: the per-head norm gains are whole on every rank of the mesh and
    their gradient the sum over the tensor-parallel ranks (train/parallel.py)."""
    root, run, _ = mesh_runs
    assert run.returncode == 0, run.stderr[-3000:]
    sys.path.insert(0, str(HELPERS))
    from parallel_worker import train_llama

    state, losses = train_llama("tp+fsdp", 1, 0, checkpointing=False)
    assert json.loads((root / "llama-tp+fsdp.json").read_text()) == pytest.approx(losses, **LOSS_TOL)
    got = load_file(root / "llama-tp+fsdp.safetensors")
    assert set(got) == set(state)
    for name, p in state.items():
        torch.testing.assert_close(got[name], p, **WEIGHT_TOL, msg=name)


@pytest.mark.slow
@pytest.mark.parametrize("run_dir", ["tp+fsdp", "mesh-then-fsdp"])
def test_tensor_by_fully_sharded_mesh_matches_one_process(mesh_runs, run_dir):
    root, run, single = mesh_runs
    assert run.returncode == 0, run.stderr[-3000:]
    if run_dir == "tp+fsdp":
        losses = json.loads((root / run_dir / "losses.json").read_text())
        assert losses == pytest.approx(single.loss_history, **LOSS_TOL)
    model, _ = load(root / run_dir / "ckpt-0000006")
    for name, p in single.model.state_dict().items():
        torch.testing.assert_close(model.state_dict()[name], p, **WEIGHT_TOL, msg=name)


# -- runs that behave -------------------------------------------------------------------------
@pytest.mark.slow
def test_a_failing_rank_ends_the_run_with_one_line(tmp_path_factory):
    """Rank 1 fails at step 3 under fsdp: one error line, no hang; the step-2 checkpoint is whole and the
    run lock free, so one process resumes it (another mode, another number of processes)."""
    data = prepared_data_dir(tmp_path_factory, "a rank that fails must not hang the others. " * 40)
    out = tmp_path_factory.mktemp("fail") / "run"
    cfg = {"data_dir": str(data), "out_dir": str(out), "n_layer": 1, "n_head": 2, "n_embd": 16, "block_size": 8,
           "batch_size": 4, "max_steps": 6, "checkpoint_interval": 2, "eval_interval": 6, "eval_iters": 1,
           "sample_tokens": 0, "progress": False}  # fmt: skip
    run = _torchrun(HELPERS / "failing_rank.py", *cli_flags({**cfg, "parallel": "fsdp"}), timeout=120)
    assert run.returncode != 0
    lines = [s for s in run.stderr.splitlines() if s.startswith("minillm train: error:")]
    assert lines == ["minillm train: error: rank 1: simulated device failure at step 3"], run.stderr[-2000:]
    assert sorted(p.name for p in out.glob("ckpt-*")) == ["ckpt-0000002"]
    resumed = Trainer(TrainConfig.from_dict({**cfg, "resume": True}), log=lambda *_: None)
    assert resumed.step == 2
    assert resumed.train()["step"] == 6
