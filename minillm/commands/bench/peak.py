"""A measured peak for MFU where no datasheet number applies: the speed of one large matmul.

Report §3.2 (what limits training speed). MFU divides the FLOP/s a training step achieves by the
device's peak. A GPU's peak is on its datasheet (``minillm.commands.bench.train.PEAK_BF16``); a CPU's
depends on its cores, vector units, clock and the threads torch may use, so instead of guessing
one we *measure* it: the best of a few square matrix products in the training dtype, with the
threads torch has now. That is what the BLAS library can reach on this machine — the ceiling a
transformer's matmuls could hope for — so MFU against it reads as "how close training comes to
the machine's own GEMM speed".

    probe FLOP/s = 2 · n³ / (fastest time of an n × n by n × n matmul)
"""

from __future__ import annotations

import time

import torch

from minillm.commands.bench.common import sync

__all__ = ["gemm_peak_flops"]


def gemm_peak_flops(device: torch.device, dtype: torch.dtype = torch.float32, n: int = 2048, repeats: int = 5) -> float:
    """The FLOP/s of the fastest of ``repeats`` (n × n) @ (n × n) products (after one warm-up)."""
    if n < 1 or repeats < 1:
        raise ValueError(f"n and repeats must be positive, got n={n}, repeats={repeats}")
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    a @ b  # warm-up: BLAS thread pools, GPU kernels selected
    sync(device)
    best = float("inf")
    for _ in range(repeats):  # the fastest run is the least disturbed by other work on the machine
        start = time.perf_counter()
        a @ b
        sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best
