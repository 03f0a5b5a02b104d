"""Reference solution of exercises/ex13_tensor_parallel.py (tensor parallelism of a feed-forward by hand)."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn


def _span(size: int, rank: int, world_size: int) -> slice:
    if size % world_size:
        raise ValueError(f"{size} features cannot be split evenly over world_size={world_size}")
    if not 0 <= rank < world_size:
        raise ValueError(f"rank={rank} is not in 0 … {world_size - 1}")
    part = size // world_size
    return slice(rank * part, (rank + 1) * part)


def column_parallel(x: Tensor, weight: Tensor, bias: Tensor | None, rank: int, world_size: int) -> Tensor:
    rows = _span(weight.shape[0], rank, world_size)  # this rank's output features
    out = x @ weight[rows].T  # (..., d_ff / N)
    return out if bias is None else out + bias[rows]


def row_parallel(h: Tensor, weight: Tensor, bias: Tensor | None, rank: int, world_size: int) -> Tensor:
    cols = _span(weight.shape[1], rank, world_size)  # this rank's input features
    partial = h @ weight[:, cols].T  # (..., d): one of N partial sums
    return partial + bias if bias is not None and rank == 0 else partial  # the bias once, in the sum


def parallel_feed_forward(
    x: Tensor, fc1: nn.Linear, fc2: nn.Linear, world_size: int, activation: Callable[[Tensor], Tensor]
) -> Tensor:
    partials = []
    for rank in range(world_size):  # each iteration is what one device computes, with no communication
        h = activation(column_parallel(x, fc1.weight, fc1.bias, rank, world_size))  # (..., d_ff / N)
        partials.append(row_parallel(h, fc2.weight, fc2.bias, rank, world_size))  # (..., d)
    return sum(partials)  # the all-reduce
