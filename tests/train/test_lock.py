"""The run lock (minillm/train/lock.py): one run per output directory; a lock left by a dead process
is taken over, a live one on another host respected; under DDP only rank 0 takes it."""

import json
import os
import subprocess
import sys

import pytest
from helpers.corpus import prepared_data_dir

from minillm.train import TrainConfig, Trainer
from minillm.train.lock import LOCK_NAME, RunLock, RunLockedError

TEXT = "the quick brown fox jumps over the lazy dog, 自注意力.\n" * 60


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return prepared_data_dir(tmp_path_factory, TEXT)


FLAGS = {
    "n_layer": 1, "n_head": 2, "n_embd": 16, "block_size": 8, "batch_size": 4, "max_steps": 30,
    "log_interval": 3, "eval_interval": 10, "eval_iters": 1, "checkpoint_interval": 5, "keep_last": 2,
    "sample_tokens": 0, "dropout": 0.1,
}  # fmt: skip


def _config(data_dir, out_dir, **kw) -> TrainConfig:
    return TrainConfig.from_dict({"data_dir": str(data_dir), "out_dir": str(out_dir), "progress": False, **FLAGS, **kw})


def test_a_second_run_on_one_directory_is_refused(data_dir, tmp_path):
    first = Trainer(_config(data_dir, tmp_path), log=lambda *_: None)
    with pytest.raises(RunLockedError, match=f"in use by another minillm run \\(pid {os.getpid()}"):
        Trainer(_config(data_dir, tmp_path), log=lambda *_: None)
    assert not list(tmp_path.glob("ckpt-*"))  # the refused run wrote nothing
    first.close()
    assert not (tmp_path / LOCK_NAME).exists()


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    import socket

    (tmp_path / LOCK_NAME).write_text(json.dumps({"host": socket.gethostname(), "pid": int(dead.stdout)}))
    with RunLock(tmp_path) as lock:
        assert json.loads(lock.path.read_text())["pid"] == os.getpid()
    (tmp_path / LOCK_NAME).write_text('{"host": "elsewhere", "pid": 1')  # torn by a crash: stale too
    RunLock(tmp_path).acquire().release()


def test_a_live_lock_on_another_host_is_respected(tmp_path):
    (tmp_path / LOCK_NAME).write_text(json.dumps({"host": "other-machine", "pid": 1}))
    with pytest.raises(RunLockedError, match="pid 1 on other-machine"):
        RunLock(tmp_path).acquire()


def test_only_rank_0_takes_the_lock(data_dir, tmp_path, monkeypatch):
    from minillm.train import trainer as trainer_module
    from minillm.train.distributed import DistInfo

    (tmp_path / LOCK_NAME).write_text(json.dumps({"host": "other-machine", "pid": 1}))  # rank 0 holds it
    monkeypatch.setattr(trainer_module.dist_utils, "init_distributed", lambda _: DistInfo(1, 0, 2))
    with pytest.raises(ValueError, match="data-parallel processes x grad_accum"):  # rank 1 gets past the lock to its own checks
        Trainer(_config(data_dir, tmp_path, batch_size=3), log=lambda *_: None)
