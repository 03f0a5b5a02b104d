"""Shared benchmark plumbing: device facts, timing, peak-memory measurement, JSON and plots.

Peak extra memory is *measured*, not estimated: on CUDA with torch.cuda's peak-allocation
counter, on Linux CPUs by resetting the process's peak resident set size (writing 5 to
/proc/self/clear_refs) and reading VmHWM after the call. Elsewhere memory is reported as None.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Callable

import torch

__all__ = [
    "available_memory",
    "device_info",
    "loglog_slope",
    "peak_extra_memory",
    "positive_int",
    "positive_ints",
    "steady_allocator",
    "time_call",
    "write_json",
]


def device_info(device: torch.device) -> dict:
    info = {
        "device": str(device),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
    }
    if device.type == "cuda":
        info["device_name"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
    else:
        info["device_name"] = _cpu_name()
        info["cpu_count"] = os.cpu_count()
    return info


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "cpu"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn: Callable[[], object], device: torch.device, repeats: int = 3, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in seconds, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def paired_ratio(
    fn_a: Callable[[], object], fn_b: Callable[[], object], device: torch.device, repeats: int = 5
) -> float:
    """Median over rounds of time(fn_a) / time(fn_b), the two called back to back in every round
    (A B A B …). Both see the same load in a round; a ratio of two medians taken minutes apart does
    not (on a shared 2-core machine the same cell measured 1.4× and 2.2× that way)."""
    fn_a(), fn_b()  # warm-up
    ratios = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        fn_a()
        sync(device)
        middle = time.perf_counter()
        fn_b()
        sync(device)
        ratios.append((middle - start) / (time.perf_counter() - middle))
    return statistics.median(ratios)


def _vm_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _mallopt(measuring: bool) -> None:
    """Switch glibc between "measure" and "time" settings (no-op elsewhere).

    By default glibc keeps freed memory for reuse, so a second measurement would reuse pages the
    first left resident and read ~0. While measuring we make every block > 256 KiB its own mmap
    (returned to the OS on free) and trim the heap first. Those settings would slow the *timed*
    runs with page faults, so afterwards we switch to keeping memory (as glibc's dynamic
    thresholds do in a long-running program).
    """
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    if measuring:
        libc.mallopt(m_mmap_threshold, 256 * 1024)
        libc.mallopt(m_trim_threshold, 128 * 1024)
        libc.malloc_trim(0)
    else:
        libc.mallopt(m_mmap_threshold, 32 * 2**20)
        libc.mallopt(m_trim_threshold, 2**30)


def steady_allocator() -> None:
    """Put glibc in the settings timed runs use (call once before timing)."""
    _mallopt(measuring=False)


def peak_extra_memory(fn: Callable[[], object], device: torch.device) -> int | None:
    """Bytes of memory ``fn()`` needs above what was in use before it (None if unmeasurable)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        fn()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - before
    _mallopt(measuring=True)
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset the peak RSS to the current RSS
        before = _vm_kib("VmRSS")
        fn()
        peak = _vm_kib("VmHWM")
    except OSError:
        return None
    finally:
        _mallopt(measuring=False)
    return None if before is None or peak is None else max(0, peak - before) * 1024


def available_memory(device: torch.device) -> int:
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free
    kib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                kib = int(line.split()[1])
    except OSError:
        pass
    return kib * 1024 if kib else 8 * 2**30  # unknown: assume a small laptop


def loglog_slope(xs: list[float], ys: list[float]) -> float | None:
    """Least-squares slope of log(y) against log(x): 2 means y ∝ x²."""
    import math

    pts = [(math.log(x), math.log(y)) for x, y in zip(xs, ys) if y and y > 0]
    if len(pts) < 2:
        return None
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    var = sum((p[0] - mx) ** 2 for p in pts)
    return sum((p[0] - mx) * (p[1] - my) for p in pts) / var if var else None


def write_json(path: str | Path, data: dict) -> Path:
    from minillm.utils.fileio import atomic_write

    return atomic_write(path, lambda tmp: tmp.write_text(json.dumps(data, indent=2)))  # never half a JSON


# -- argparse types: a bad value is argparse's one-line error, naming the flag --------------------
def positive_int(text: str) -> int:
    """``--repeats 3``: a positive integer."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def positive_ints(text: str) -> list[int]:
    """``--lengths 256,512,1024``: a comma list of positive integers."""
    try:
        return [positive_int(x.strip()) for x in text.split(",")]
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected a comma list of positive integers, got {text!r}") from None
