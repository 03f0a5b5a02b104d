"""Benchmark: attention time and memory against context length, for every backend (report §3.2).

    minillm bench attention --quick          # ≤ 2 min on a laptop CPU
    minillm bench attention                  # CPU: T = 128 … 8192; GPU: T = 512 … 32768
    python benchmarks/bench_attention.py --backends sdpa,chunked --causal true --mode fwd

For each backend, causal or not, forward or forward+backward, and context length T, it measures
the median time, the achieved TFLOP/s and the peak extra memory, then fits the log-log slope of
time against T (2 = quadratic). It prints a table, writes JSON (device, dtype, torch version,
every measurement) and a PNG: time vs T on log-log axes with a slope-2 guide, and memory vs T.

FLOPs come from ``minillm.costs.attention_flops``: forward 4·B·H·pairs·d (Q Kᵀ and P V; pairs = T²,
or T(T+1)/2 causal); forward+backward 3.5× forward (the backward has five T×T products to the
forward's two), the convention of the FlashAttention papers. The naive backend is skipped where
its T×T matrices would not fit. ``chunked`` is also timed against SDPA in interleaved rounds (A B A B
…), and the summary quotes the median of those round-by-round ratios.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from minillm.commands.bench.common import (
    available_memory,
    device_info,
    loglog_slope,
    paired_ratio,
    peak_extra_memory,
    positive_int,
    positive_ints,
    steady_allocator,
    time_call,
    write_json,
)
from minillm.costs.training import attention_flops
from minillm.kernels import attention, check_backend
from minillm.utils.plotting import subplots

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def naive_bytes(b: int, h: int, t: int, mode: str) -> int:
    """Rough peak of the naive path: a few fp32 T×T tensors (scores, exp, weights; more for backward)."""
    return (4 if mode == "fwd" else 7) * b * h * t * t * 4


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of ``minillm bench attention`` (the CLI's dispatcher and ``main`` share them)."""
    p.add_argument(
        "--backends",
        default=None,
        help="comma list of backend names, e.g. naive,chunked,sdpa,auto (default: naive,chunked,sdpa)",
    )
    p.add_argument(
        "--lengths", type=positive_ints, default=None, help="comma list of T (default: CPU 128..8192, GPU 512..32768)"
    )
    p.add_argument(
        "--batch", type=positive_int, default=None, help="default 1 on CPU; on GPU 16384 / T (FlashAttention-2 setup)"
    )
    p.add_argument("--heads", type=positive_int, default=None, help="default 8 on CPU, 16 on GPU")
    p.add_argument("--head-dim", type=positive_int, default=None, help="default 64 on CPU, 128 on GPU")
    p.add_argument("--dtype", choices=list(DTYPES), default=None, help="default fp32 on CPU, bf16 on GPU")
    p.add_argument("--causal", choices=["false", "true", "both"], default="both")
    p.add_argument("--mode", choices=["fwd", "fwd+bwd", "both"], default="both")
    p.add_argument("--repeats", type=positive_int, default=3)
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    p.add_argument("--out", default="out/bench_attention", help="path prefix for .json and .png")
    p.add_argument("--quick", action="store_true", help="class demo: T = 256..4096, non-causal, ≤ 2 min on a laptop")


def _settings(args) -> dict:
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    gpu = device.type == "cuda"
    if args.quick:
        lengths = [256, 512, 1024, 2048, 4096]
        causal, modes = [False], ["fwd", "fwd+bwd"]
    else:
        lengths = [512, 1024, 2048, 4096, 8192, 16384, 32768] if gpu else [128, 256, 512, 1024, 2048, 4096, 8192]
        causal = {"false": [False], "true": [True], "both": [False, True]}[args.causal]
        modes = {"fwd": ["fwd"], "fwd+bwd": ["fwd+bwd"], "both": ["fwd", "fwd+bwd"]}[args.mode]
    if args.lengths:
        lengths = args.lengths
    backends = args.backends.split(",") if args.backends else ["naive", "chunked", "sdpa"]
    for b in backends:
        check_backend(b)  # any registered name, "auto" included
    return dict(
        device=device,
        lengths=lengths,
        causal=causal,
        modes=modes,
        backends=backends,
        heads=args.heads or (16 if gpu else 8),
        head_dim=args.head_dim or (128 if gpu else 64),
        dtype=DTYPES[args.dtype or ("bf16" if gpu else "fp32")],
        batch=args.batch,
        gpu=gpu,
    )


def _step(backend, t, causal, mode, s):
    """(row, step): the row's settings and a call that runs one attention of that cell."""
    b = s["batch"] or (max(1, 16384 // t) if s["gpu"] else 1)
    h, d, device, dtype = s["heads"], s["head_dim"], s["device"], s["dtype"]
    row = dict(backend=backend, T=t, causal=causal, mode=mode, batch=b, heads=h, head_dim=d)
    q, k, v = (torch.randn(b, h, t, d, device=device, dtype=dtype, requires_grad=mode == "fwd+bwd") for _ in range(3))
    grad = torch.randn(b, h, t, d, device=device, dtype=dtype) if mode == "fwd+bwd" else None

    def step():
        if grad is None:
            with torch.no_grad():
                return attention(q, k, v, causal=causal, backend=backend)
        out = attention(q, k, v, causal=causal, backend=backend)
        return torch.autograd.grad(out, (q, k, v), grad)

    return row, step


def run_one(backend, t, causal, mode, s, repeats) -> dict:
    row, step = _step(backend, t, causal, mode, s)
    b, h, device = row["batch"], row["heads"], s["device"]
    if backend == "naive" and naive_bytes(b, h, t, mode) > 0.6 * available_memory(device):
        return {**row, "skipped": f"T×T scores need ~{naive_bytes(b, h, t, mode) / 2**30:.1f} GiB"}
    try:
        seconds = time_call(step, device, repeats=repeats)
        memory = peak_extra_memory(step, device)
    except torch.OutOfMemoryError:
        return {**row, "skipped": "out of memory"}
    flops = attention_flops(b, h, t, t, row["head_dim"], causal, mode)
    return {**row, "seconds": seconds, "tflops": flops / seconds / 1e12, "peak_extra_bytes": memory}


def main(argv=None) -> int:
    """``python benchmarks/bench_attention.py ...``: the same flags as ``minillm bench attention``."""
    p = argparse.ArgumentParser(prog="minillm bench attention", description=__doc__.splitlines()[0])
    add_arguments(p)
    return run(p.parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """Measure, print the table, write the JSON and the PNG."""
    s = _settings(args)
    steady_allocator()
    info = {**device_info(s["device"]), "dtype": str(s["dtype"]).replace("torch.", "")}
    print(
        f"attention benchmark on {info['device_name']} ({info['device']}, {info['threads']} threads), "
        f"torch {info['torch']}, {info['dtype']}, heads {s['heads']}, head dim {s['head_dim']}"
    )
    rows = []
    header = f"{'backend':>8} {'causal':>6} {'mode':>8} {'T':>6} {'time ms':>10} {'TFLOP/s':>8} {'extra MiB':>10}"
    print(header)
    for causal in s["causal"]:
        for mode in s["modes"]:
            for backend in s["backends"]:
                for t in s["lengths"]:
                    r = run_one(backend, t, causal, mode, s, args.repeats)
                    rows.append(r)
                    if "skipped" in r:
                        print(f"{backend:>8} {str(causal):>6} {mode:>8} {t:>6}   skipped: {r['skipped']}")
                        continue
                    mem = "n/a" if r["peak_extra_bytes"] is None else f"{r['peak_extra_bytes'] / 2**20:,.1f}"
                    print(
                        f"{backend:>8} {str(causal):>6} {mode:>8} {t:>6} {1e3 * r['seconds']:>10.2f} "
                        f"{r['tflops']:>8.3f} {mem:>10}"
                    )
    for r in rows:  # chunked against SDPA in interleaved rounds: the ratio the summary quotes
        if r["backend"] == "chunked" and "seconds" in r and {"sdpa", "chunked"} <= set(s["backends"]):
            ours, ref = (_step(name, r["T"], r["causal"], r["mode"], s)[1] for name in ("chunked", "sdpa"))
            r["paired_ratio_vs_sdpa"] = paired_ratio(ours, ref, s["device"], max(args.repeats, 5))
    summary = summarize(rows)
    print("\nlog-log slope of time vs T (2.0 = quadratic), fitted over T ≥ 1024:")
    for key, val in summary["slopes"].items():
        print(f"  {key:<28} {val:.2f}" if val is not None else f"  {key:<28} n/a")
    for line in summary["ratios"]:
        print("  " + line)
    out = Path(args.out)
    path = write_json(
        out.with_suffix(".json"),
        {"info": info, "settings": {k: str(v) for k, v in s.items()}, "rows": rows, "summary": summary},
    )
    print(f"\nJSON: {path}")
    png = plot(rows, info, out.with_suffix(".png"))
    if png:
        print(f"plot: {png}")
    return 0


def summarize(rows) -> dict:
    done = [r for r in rows if "seconds" in r]
    slopes, ratios = {}, []
    for key in sorted({(r["backend"], r["causal"], r["mode"]) for r in done}):
        pts = [(r["T"], r["seconds"]) for r in done if (r["backend"], r["causal"], r["mode"]) == key and r["T"] >= 1024]
        slopes[f"{key[0]} causal={key[1]} {key[2]}"] = loglog_slope([p[0] for p in pts], [p[1] for p in pts])
    by = {(r["backend"], r["causal"], r["mode"], r["T"]): r for r in done}
    for (backend, causal, mode, t), r in sorted(by.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][3])):
        if backend != "chunked":
            continue
        ref = by.get(("sdpa", causal, mode, t))
        naive = by.get(("naive", causal, mode, t))
        parts = [f"T={t} causal={causal} {mode}: chunked"]
        if "paired_ratio_vs_sdpa" in r:  # interleaved rounds (see run); else the two medians
            parts.append(f"time {r['paired_ratio_vs_sdpa']:.2f}x sdpa (interleaved)")
        elif ref:
            parts.append(f"time {r['seconds'] / ref['seconds']:.2f}x sdpa")
        if naive and naive.get("peak_extra_bytes") and r.get("peak_extra_bytes") is not None:
            parts.append(f"memory {r['peak_extra_bytes'] / naive['peak_extra_bytes']:.1%} of naive")
        if len(parts) > 1:
            ratios.append(", ".join(parts))
    return {"slopes": slopes, "ratios": ratios}


def context_length_axis(ax, lengths) -> None:
    """A log₂ x axis labelled at the measured context lengths only (256, 512, …): no minor-tick
    labels to collide, one tick per measurement."""
    lengths = sorted(set(lengths))
    ax.set_xscale("log", base=2)
    ax.set_xticks(lengths, labels=[f"{t:,}" if t < 10_000 else f"{t // 1024}k" for t in lengths])
    ax.minorticks_off()
    ax.set_xlabel("context length T")


COLORS = {"naive": "tab:red", "chunked": "tab:green", "sdpa": "tab:blue", "triton": "tab:purple"}


def plot(rows, info, path: Path):
    """Four panels — time and extra memory (rows) for the forward and forward+backward passes
    (columns) — so that no panel holds more than one line per backend and causal setting; one
    legend for the whole figure, below the panels, where it covers no data."""
    from matplotlib.lines import Line2D

    done = [r for r in rows if "seconds" in r]
    modes = [m for m in ("fwd", "fwd+bwd") if any(r["mode"] == m for r in done)] or ["fwd"]
    made = subplots(2, len(modes), figsize=(5.2 * len(modes), 7.4), sharey="row", squeeze=False)
    if made is None:
        return None
    fig, axes = made
    backends = sorted({r["backend"] for r in done})
    for col, mode in enumerate(modes):
        ax_t, ax_m = axes[0][col], axes[1][col]
        for backend in backends:
            for causal in (False, True):
                pts = sorted(
                    (r["T"], r["seconds"], r["peak_extra_bytes"])
                    for r in done
                    if (r["backend"], r["causal"], r["mode"]) == (backend, causal, mode)
                )
                if not pts:
                    continue
                style = {"color": COLORS.get(backend), "ls": "--" if causal else "-", "marker": "^" if causal else "o"}
                ax_t.plot([p[0] for p in pts], [p[1] for p in pts], ms=4, **style)
                if all(p[2] is not None for p in pts):
                    ax_m.plot([p[0] for p in pts], [max(p[2], 1) / 2**20 for p in pts], ms=4, **style)
        in_mode = [r for r in done if r["mode"] == mode]
        if in_mode:
            t0, t1 = min(r["T"] for r in in_mode), max(r["T"] for r in in_mode)
            y0 = min(r["seconds"] for r in in_mode if r["T"] == t0)
            ax_t.plot([t0, t1], [y0, y0 * (t1 / t0) ** 2], "k:", lw=1.5)
        label = "forward" if mode == "fwd" else "forward + backward"
        ax_t.set(yscale="log", title=f"time, {label}")
        ax_m.set(yscale="log", title=f"peak extra memory, {label}")
        for ax in (ax_t, ax_m):
            context_length_axis(ax, [r["T"] for r in in_mode] or [1])
            ax.grid(True, which="major", alpha=0.3)
    axes[0][0].set_ylabel("seconds")
    axes[1][0].set_ylabel("MiB")
    handles = [Line2D([], [], color=COLORS.get(b), lw=2, label=b) for b in backends]
    handles += [
        Line2D([], [], color="gray", ls="-", marker="o", ms=4, label="full (no mask)"),
        Line2D([], [], color="gray", ls="--", marker="^", ms=4, label="causal"),
        Line2D([], [], color="k", ls=":", lw=1.5, label="slope 2 (quadratic)"),
    ]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    fig.suptitle(
        f"Attention against context · {info['device_name']} · {info['dtype']} · torch {info['torch']}", fontsize=10
    )
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path
