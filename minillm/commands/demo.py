"""``minillm demo``: the instructor's one command for report §3.2 (and ``minillm demo rlhf`` for §1.2.2).

    minillm demo                 # ≤ 2 min on a laptop CPU: claims, the quick attention benchmark,
                                 # the claims beside the measured numbers, the plots, the chapter
    minillm demo rlhf --quick    # SFT → reward model → PPO / DPO on a tiny GPT, ≈ 1 min

The §3.2 demo first prints what the report claims and what the formulas in ``minillm.costs``
give, then measures attention on this machine (``minillm bench attention --quick``: T = 256 …
4096, i.e. 16× the context) and prints, side by side, the predicted growth (16² = 256×) and the
measured one, the fitted log-log slope, and the memory that the FlashAttention algorithm saves.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from minillm.commands.bench.common import positive_ints

__all__ = ["add_arguments", "main", "quadratic_cost", "run"]

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _chapter(name: str) -> str:
    local = DOCS / name
    return str(local) if local.is_file() else f"docs/{name} in the minillm repository"


def _row(rows: list[dict], backend: str, t: int, mode: str) -> dict | None:
    for r in rows:
        if (r["backend"], r["T"], r["mode"], r["causal"]) == (backend, t, mode, False) and "skipped" not in r:
            return r
    return None


def quadratic_cost(out: Path, lengths: str | None = None) -> dict:
    from minillm.commands.bench.attention import main as bench_attention
    from minillm.costs.training import report_numbers

    start = time.time()
    r = report_numbers()
    print("=" * 78)
    print("Report §3.2: attention compute grows with the SQUARE of the context length.")
    print(
        f"  claim: 32x the context -> more than 1000x the compute.   formula: 32^2 = {r['attention_flops_ratio']:,.0f}x"
    )
    print(
        f"  whole GPT-2 forward pass, 1,024 -> 32,768 tokens: x{r['whole_model_flops_ratio']:,.0f} "
        f"(the linear layers grow only x{r['linear_flops_ratio']:.0f})"
    )
    print("Report §3.2: 100 B parameters need 400 GB just for the weights.")
    print(
        f"  formula: 100e9 x 4 bytes = {r['params_100b_fp32_bytes'] / 1e9:,.0f} GB; with gradients and Adam "
        f"(16 bytes/param) = {r['params_100b_mixed_adam_bytes'] / 1e12:.1f} TB"
    )
    print("=" * 78)
    print(f"Measuring attention on this machine (quick sweep, T = {lengths or '256 ... 4096'}) ...\n")
    prefix = out / "bench_attention"
    bench_attention(["--quick", "--out", str(prefix)] + (["--lengths", lengths] if lengths else []))
    rows = json.loads(prefix.with_suffix(".json").read_text())["rows"]
    lengths = sorted({row["T"] for row in rows})
    t0, t1 = lengths[0], lengths[-1]
    naive1, chunk1 = _row(rows, "naive", t1, "fwd"), _row(rows, "chunked", t1, "fwd")
    print()
    print("=" * 78)
    print(f"{'report §3.2':<44}{'predicted':>16}{'measured':>18}")
    ratios = {}
    for t_from in dict.fromkeys([t0, max(t0, t1 // 4)]):  # the whole sweep, and the last 4x (less overhead)
        a, b = _row(rows, "sdpa", t_from, "fwd"), _row(rows, "sdpa", t1, "fwd")
        if a and b and t_from < t1:
            ratios[(t_from, t1)] = b["seconds"] / a["seconds"]
            label = f"{t1 // t_from}x context ({t_from} -> {t1}), sdpa fwd time"
            print(f"{label:<44}{(t1 / t_from) ** 2:>15,.0f}x{ratios[(t_from, t1)]:>17,.1f}x")
    slope = json.loads(prefix.with_suffix(".json").read_text()).get("summary", {}).get("slopes", {})
    key = next((k for k in slope if k.startswith("sdpa") and k.endswith(" fwd")), None)
    if key:
        fitted = "n/a (T < 1024)" if slope[key] is None else f"{slope[key]:.2f}"
        print(f"{'log-log slope of time vs T >= 1024':<44}{'2.00':>16}{fitted:>18}")
    if naive1 and chunk1 and naive1.get("peak_extra_bytes") and chunk1.get("peak_extra_bytes") is not None:
        share = chunk1["peak_extra_bytes"] / naive1["peak_extra_bytes"]
        print(
            f"{f'extra memory at T = {t1}: naive (T x T scores)':<44}{'O(T^2)':>16}"
            f"{naive1['peak_extra_bytes'] / 2**20:>14,.0f} MiB"
        )
        print(
            f"{'  ... FlashAttention algorithm (chunked)':<44}{'O(T)':>16}"
            f"{chunk1['peak_extra_bytes'] / 2**20:>14,.0f} MiB ({share:.1%} of naive)"
        )
    print("=" * 78)
    print("(short contexts carry fixed per-call overheads, so the measured growth starts below T^2)")
    print(f"plots: {prefix.with_suffix('.png')}")
    print(f"the chapter: {_chapter('quadratic-cost.md')}  (中文: {_chapter('zh/quadratic-cost.md')})")
    print(f"full sweep: minillm bench attention   (demo took {time.time() - start:.0f} s)")
    return {"ratios": ratios, "rows": rows}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of ``minillm demo`` (the CLI's dispatcher and ``main`` share them)."""
    p.add_argument(
        "topic",
        nargs="?",
        default="cost",
        choices=["cost", "rlhf"],
        help="cost = report §3.2 (default); rlhf = report §1.2.2",
    )
    p.add_argument("--out", default="out/demo", help="where JSON and plots go")
    p.add_argument("--quick", action="store_true", help="rlhf: the ~1-minute version")
    p.add_argument(
        "--lengths", type=positive_ints, default=None, help="cost: comma list of T instead of 256,512,1024,2048,4096"
    )


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="minillm demo", description=__doc__.splitlines()[0])
    add_arguments(p)
    return run(p.parse_args(argv))


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if args.topic == "rlhf":
        from minillm.rlhf import PipelineConfig, run_pipeline
        from minillm.rlhf.evaluate import summary_table

        result = run_pipeline(PipelineConfig(quick=args.quick, out_dir=str(out / "rlhf")))
        print(summary_table(result["evaluation"]))
        print(f"the chapter: {_chapter('rlhf.md')}  (中文: {_chapter('zh/rlhf.md')})")
        return 0
    quadratic_cost(out, ",".join(map(str, args.lengths)) if args.lengths else None)
    return 0
