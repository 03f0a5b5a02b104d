"""Data parallelism's plumbing (minillm/train/distributed.py) without a second process: what torchrun's
variables make of a process, the device a run's setting names, and the collectives, with torch's
process-group calls patched to record what they were asked. Two real processes against one:
tests/integration/test_ddp.py and test_parallel.py (slow)."""

import pytest
import torch

from minillm.train import distributed as dist_utils
from minillm.train.distributed import DistInfo, all_reduce_mean, barrier, init_distributed, resolve_device, shutdown

TORCHRUN = ("WORLD_SIZE", "RANK", "LOCAL_RANK")


@pytest.fixture
def calls(monkeypatch):
    """torch.distributed's calls as a list of (name, argument), none of them run; no group exists."""
    seen = []
    monkeypatch.setattr(dist_utils.dist, "is_initialized", lambda: any(c[0] == "init" for c in seen))
    monkeypatch.setattr(dist_utils.dist, "init_process_group", lambda backend: seen.append(("init", backend)))
    monkeypatch.setattr(dist_utils.dist, "barrier", lambda: seen.append(("barrier", None)))
    monkeypatch.setattr(dist_utils.dist, "destroy_process_group", lambda: seen.append(("destroy", None)))

    def all_reduce(x, op):  # as if every rank held the same tensor: the sum is world_size times it
        seen.append(("all_reduce", op))
        x.mul_(3)

    monkeypatch.setattr(dist_utils.dist, "all_reduce", all_reduce)
    for name in TORCHRUN:
        monkeypatch.delenv(name, raising=False)
    return seen


@pytest.mark.parametrize("env", [{}, {"WORLD_SIZE": "1", "RANK": "0"}])
def test_one_process_is_rank_0_of_1_and_joins_no_group(env, calls, monkeypatch):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    info = init_distributed("cpu")
    assert info == DistInfo(rank=0, local_rank=0, world_size=1) and info.is_main and not info.enabled
    x = torch.tensor([1.0, 2.0])
    assert all_reduce_mean(x, info) is x  # nothing to average
    barrier(info)
    shutdown(info)
    assert calls == []


@pytest.mark.parametrize("device_type, backend", [("cpu", "gloo"), ("cuda", "nccl")])
def test_under_torchrun_the_variables_name_the_process(device_type, backend, calls, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "3")
    monkeypatch.setenv("RANK", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    info = init_distributed(device_type)
    assert info == DistInfo(rank=2, local_rank=1, world_size=3) and info.enabled and not info.is_main
    assert calls == [("init", backend)]
    init_distributed(device_type)
    assert calls == [("init", backend)]  # a second call joins no second group


def test_collectives_average_and_leave_the_callers_tensor_alone(calls):
    info = DistInfo(rank=1, local_rank=1, world_size=3)
    x = torch.tensor([3.0, -6.0])
    mean = all_reduce_mean(x, info)
    assert calls == [("all_reduce", dist_utils.dist.ReduceOp.SUM)]
    torch.testing.assert_close(mean, x)  # (3 copies of x) / 3
    assert mean is not x and x.tolist() == [3.0, -6.0]
    barrier(info)
    shutdown(info)  # no group was joined: nothing to destroy
    assert calls[1:] == [("barrier", None)]
    calls.append(("init", "gloo"))  # now one was
    shutdown(info)
    assert calls[-1] == ("destroy", None)


@pytest.mark.parametrize("cuda", [False, True])
def test_the_device_a_setting_names(cuda, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    assert resolve_device("auto", 1) == torch.device("cuda:1" if cuda else "cpu")  # one GPU per local rank
    assert resolve_device("cpu", 1) == torch.device("cpu")
    if cuda:
        assert resolve_device("cuda:0", 1) == torch.device("cuda:0")
    else:
        with pytest.raises(ValueError, match="device 'cuda:0' requested but CUDA is not available"):
            resolve_device("cuda:0", 0)
