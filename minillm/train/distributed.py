"""Data-parallel training (DDP): N processes, one model copy each, gradients averaged every step.

Launched with ``torchrun --nproc_per_node=N``, which sets RANK, LOCAL_RANK and WORLD_SIZE in each
process's environment. Every process draws the same global batch, keeps its own 1/N slice of the
rows, and DistributedDataParallel all-reduces (averages) the gradients during backward, so N
processes take exactly the step one process would take on the whole batch — up to the order of
floating-point additions. Rank 0 alone logs and writes checkpoints. Backend: gloo on CPU, NCCL on
CUDA.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["DistInfo", "all_reduce_mean", "barrier", "init_distributed", "resolve_device", "shutdown"]


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device_type: str) -> DistInfo:
    """Join the process group when launched by torchrun; a single process otherwise."""
    if "WORLD_SIZE" not in os.environ or int(os.environ["WORLD_SIZE"]) == 1:
        return DistInfo()
    info = DistInfo(int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", 0)), int(os.environ["WORLD_SIZE"]))
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return info


def resolve_device(name: str, local_rank: int) -> torch.device:
    """The device a run's ``device`` setting names; "auto" is this process's GPU under torchrun, else the CPU."""
    if name == "auto":  # one GPU per process under torchrun
        name = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available")
    return torch.device(name)


def all_reduce_mean(x: torch.Tensor, info: DistInfo) -> torch.Tensor:
    if info.enabled:
        x = x.clone()
        dist.all_reduce(x, op=dist.ReduceOp.SUM)
        x /= info.world_size
    return x


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def shutdown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
