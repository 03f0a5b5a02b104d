"""Tensor parallelism by hand: one feed-forward split over N devices (report §3.2, past the memory wall).

A feed-forward d → d_ff → d is too big for one device? Split it the way Megatron-LM does (Shoeybi et al.
2019, §3), so that the N devices talk only once:

``column_parallel(x, weight, bias, rank, world_size)``: device ``rank`` holds 1/N of the *output*
features of ``fc1`` — rows [rank·d_ff/N, (rank+1)·d_ff/N) of its (d_ff, d) weight and the same slice of
its bias — and returns its slice of ``x @ weight.T + bias``, shape (..., d_ff/N). No communication:
every device has the whole input x.

``row_parallel(h, weight, bias, rank, world_size)``: device ``rank`` holds 1/N of the *input* features
of ``fc2`` — columns [rank·d_ff/N, (rank+1)·d_ff/N) of its (d, d_ff) weight — and multiplies its own
slice ``h`` of the hidden units by them: a partial sum, shape (..., d). The N partial sums add up to
``fc2``'s output (the one all-reduce); the bias must be in that sum exactly once, so only rank 0 adds it.

``parallel_feed_forward(x, fc1, fc2, world_size, activation)``: the whole layer on N simulated devices:
each rank runs column_parallel, the activation (element-wise, so each rank applies it to its own slice),
row_parallel; then the partial sums are added. It must equal ``fc2(activation(fc1(x)))``.
Raise ValueError if d_ff is not divisible by world_size, or rank is not in 0 … world_size − 1.

Grade it: pytest exercises/test_ex13_tensor_parallel.py
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn


def column_parallel(x: Tensor, weight: Tensor, bias: Tensor | None, rank: int, world_size: int) -> Tensor:
    raise NotImplementedError("ex13_tensor_parallel: write this function")


def row_parallel(h: Tensor, weight: Tensor, bias: Tensor | None, rank: int, world_size: int) -> Tensor:
    raise NotImplementedError("ex13_tensor_parallel: write this function")


def parallel_feed_forward(
    x: Tensor, fc1: nn.Linear, fc2: nn.Linear, world_size: int, activation: Callable[[Tensor], Tensor]
) -> Tensor:
    raise NotImplementedError("ex13_tensor_parallel: write this function")
