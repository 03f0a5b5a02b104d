"""Example 05 — the instructor demo for report §3.2: attention cost grows with the square of context.

The report (§3.2): with today's architecture, attention compute rises quadratically with the
context length, so 32× more context can mean more than 1000× more compute; and a model with
100 billion parameters needs 400 GB just to hold its fp32 parameters.

This script prints the prediction (from minillm.costs), then measures attention on this machine
for T = 256 … 8192 (32×) and prints the measured ratio beside the predicted 1024×.

    python examples/05_quadratic_cost.py            # ~10 s on 2 CPU cores
    python examples/05_quadratic_cost.py --quick    # ~2 s (T = 256 … 2048)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from minillm.commands.bench.attention import context_length_axis
from minillm.commands.bench.common import device_info, loglog_slope, steady_allocator, time_call
from minillm.costs import report_numbers
from minillm.kernels import BACKEND_NAMES, attention
from minillm.utils.plotting import subplots

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: tools/ is not the library
from tools.results import write_results


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", default="sdpa", choices=list(BACKEND_NAMES))
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--head-dim", type=int, default=64)
    p.add_argument("--out", default="out/05_quadratic_cost.png")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    start = time.time()
    lengths = [256, 512, 1024, 2048] if args.quick else [256, 512, 1024, 2048, 4096, 8192]
    scale = lengths[-1] // lengths[0]

    r = report_numbers()
    print("Report §3.2: attention compute grows with the square of the context;")
    print("             32x the context can cost more than 1000x the compute.")
    print(f"Predicted (minillm.costs): 32x context -> attention FLOPs x{r['attention_flops_ratio']:.0f} (= 32^2);")
    print(
        f"             a whole GPT-2 forward pass x{r['whole_model_flops_ratio']:.0f}, "
        "because its linear layers grow only 32x."
    )
    print(
        f"Memory: 100 B parameters x 4 bytes = {r['params_100b_fp32_bytes'] / 1e9:.0f} GB (report: 400 GB); "
        f"with gradients and mixed-precision Adam, 16 bytes each = {r['params_100b_mixed_adam_bytes'] / 1e12:.1f} TB."
    )

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    steady_allocator()
    info = device_info(device)
    print(
        f"\nMeasuring attention ({args.backend}, {args.heads} heads x {args.head_dim}, fp32, forward) on "
        f"{info['device_name']} with {info['threads']} threads:"
    )
    print(f"{'T':>6} {'time ms':>10} {'x vs T=' + str(lengths[0]):>12} {'predicted':>10}")
    times = []
    for t in lengths:
        q, k, v = (torch.randn(1, args.heads, t, args.head_dim, device=device) for _ in range(3))
        with torch.no_grad():
            sec = time_call(lambda: attention(q, k, v, backend=args.backend), device, repeats=3)
        times.append(sec)
        print(f"{t:>6} {1e3 * sec:>10.2f} {sec / times[0]:>12.0f} {(t / lengths[0]) ** 2:>10.0f}")
    measured = times[-1] / times[0]
    slope = loglog_slope(lengths[2:], times[2:])
    print(
        f"\n{scale}x context: measured x{measured:.0f}, predicted x{scale**2} "
        f"(log-log slope over T >= {lengths[2]}: {slope:.2f}; 2 = quadratic)."
    )
    print("Small T is dominated by fixed overheads, so the measured ratio is usually below the prediction;")
    print("run `minillm bench attention` for the full table, memory, and every backend.")
    png = _plot(lengths, times, args.out, info)
    if png:
        print(f"plot: {png}")
    print(f"done in {time.time() - start:.0f} s")
    result = {"lengths": lengths, "seconds": times, "measured_ratio": measured, "slope": slope}
    rows = [
        [t, f"{1e3 * sec:.2f}", f"{sec / times[0]:.0f}", f"{(t / lengths[0]) ** 2:.0f}"]
        for t, sec in zip(lengths, times)
    ]
    rows.append([f"{scale}x context", "", f"x{measured:.0f} (slope {slope:.2f})", f"x{scale**2}"])
    columns = ["T", "time ms", f"x vs T={lengths[0]}", "predicted (T²)"]
    write_results("05", columns, rows, seed=0, quick=args.quick, figures=result)  # tools/update_tables.py
    return result


def _plot(lengths, times, out, info):
    made = subplots(figsize=(5.8, 4.2))
    if made is None:
        return None
    fig, ax = made
    ax.plot(lengths, times, "o-", label="measured attention time")
    ax.plot(lengths, [times[0] * (t / lengths[0]) ** 2 for t in lengths], "k--", label="T² (report §3.2)")
    ax.plot(lengths, [times[0] * (t / lengths[0]) for t in lengths], ":", color="gray", label="T (linear)")
    context_length_axis(ax, lengths)
    ax.set(yscale="log", ylabel="seconds", title="Attention cost is quadratic in context")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left")
    fig.text(0.01, 0.01, f"{info['device_name']} · torch {info['torch']}", fontsize=7)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    return out


if __name__ == "__main__":
    main()
