"""DDP: two CPU processes (gloo) under torchrun take the same steps as one process on the same global batch."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers.cli_flags import cli_flags
from safetensors.torch import load_file

from minillm.data.tokens import prepare_tokens
from minillm.train import TrainConfig, Trainer

WORKER = Path(__file__).resolve().parents[1] / "helpers" / "ddp_worker.py"


@pytest.mark.slow
def test_two_processes_match_one(tmp_path):
    (tmp_path / "text.txt").write_text("attention is all you need; the report says so. " * 60)
    prepare_tokens([str(tmp_path / "text.txt")], tmp_path / "data")
    cfg = {
        "data_dir": str(tmp_path / "data"),
        "n_layer": 2,
        "n_head": 2,
        "n_embd": 32,
        "block_size": 16,
        "batch_size": 8,
        "grad_accum": 2,
        "max_steps": 8,
        "warmup_steps": 2,
        "lr": 3e-3,
        "log_interval": 1,
        "eval_interval": 8,
        "eval_iters": 2,
        "checkpoint_interval": 8,
        "sample_tokens": 0,
        "progress": False,
    }
    repo = str(Path(__file__).resolve().parents[2])  # the worker imports minillm even without an install
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([repo, os.environ.get("PYTHONPATH", "")]),
    }
    flags = cli_flags(cfg)
    ddp = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(WORKER)]
    run = subprocess.run(
        [*cmd, *flags, f"--out-dir={ddp}"], check=False, env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.count("done: step 8") == 1  # the CLI under torchrun: rank 0 reports, once

    rank0, rank1 = (load_file(ddp / f"rank{r}.safetensors") for r in (0, 1))
    for name in rank0:  # DDP keeps the replicas identical, bit for bit
        assert torch.equal(rank0[name], rank1[name]), name

    single = Trainer(TrainConfig.from_dict({**cfg, "out_dir": str(tmp_path / "single")}), log=lambda *_: None)
    single.train()
    # Same global batch and the same averaged gradient; only the order of float additions differs
    # (all-reduce vs one backward over all rows), so agreement is to float32 rounding, not bitwise.
    ddp_losses = json.loads((ddp / "losses.json").read_text())
    assert ddp_losses == pytest.approx(single.loss_history, rel=1e-5, abs=1e-6)
    for name, p in single.model.state_dict().items():
        if name in rank0:
            torch.testing.assert_close(rank0[name], p, rtol=1e-4, atol=1e-5, msg=name)
    assert [p.name for p in ddp.iterdir() if p.name.startswith("ckpt-")] == ["ckpt-0000008"]
