"""Benchmark: inside one GPT block, where does the time go as the context grows? (report §3.2)

    python benchmarks/bench_components.py              # GPT-2 small block (d = 768, 12 heads)
    python benchmarks/bench_components.py --quick      # T = 256 … 2048, ~20 s

For one block and T tokens it times, separately, the parts of a forward pass:

    projections  Q, K, V and output (4 · d × d matrices)        2 · T · 4d²   FLOPs   (linear in T)
    attention    softmax(Q Kᵀ / √d) V, the T × T part            2 · 2 · T² · d         (quadratic)
    feed-forward d → 4d → d                                      2 · T · 8d²            (linear)
    rest         two LayerNorms and the residual additions       (memory-bound, small)

and prints measured shares beside the analytic FLOP shares (``minillm.costs.block_flops``).
Analytically the T × T attention overtakes the block's linear layers (projections + feed-forward,
24·T·d²) at T = 6·d (4,608 for GPT-2 small); the measured crossover depends
on how fast this device runs each kind of work.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from minillm.commands.bench.attention import context_length_axis
from minillm.commands.bench.common import (
    device_info,
    positive_int,
    positive_ints,
    steady_allocator,
    time_call,
    write_json,
)
from minillm.costs.training import block_flops
from minillm.kernels import attention
from minillm.models.gpt import Block, GPTConfig
from minillm.utils.plotting import subplots

PARTS = ("projections", "attention", "feed-forward", "rest")


def measure(block: Block, t: int, device, repeats: int) -> dict:
    d, h = block.ln_1.normalized_shape[0], block.attn.n_head
    x = torch.randn(1, t, d, device=device)
    a = block.attn
    q, k, v = (torch.randn(1, h, t, d // h, device=device) for _ in range(3))
    proj = lambda: [lin(x) for lin in (a.qkv_proj, a.out_proj)]  # noqa: E731
    core = lambda: attention(q, k, v, backend="sdpa")  # noqa: E731
    ff = lambda: block.mlp(x)  # noqa: E731
    rest = lambda: (block.ln_1(x) + x, block.ln_2(x) + x)  # noqa: E731
    with torch.no_grad():
        return {name: time_call(fn, device, repeats) for name, fn in zip(PARTS, (proj, core, ff, rest))}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of ``minillm bench components`` (the CLI's dispatcher and ``main`` share them)."""
    p.add_argument("--n-embd", type=positive_int, default=768)
    p.add_argument("--n-head", type=positive_int, default=12)
    p.add_argument("--lengths", type=positive_ints, default=None, help="comma list of T (default 256 … 8192)")
    p.add_argument("--repeats", type=positive_int, default=3)
    p.add_argument("--out", default="out/bench_components", help="path prefix for .json and .png")
    p.add_argument("--quick", action="store_true", help="T = 256 … 2048, ~20 s")


def main(argv=None) -> int:
    """``python benchmarks/bench_components.py ...``: the same flags as ``minillm bench components``."""
    p = argparse.ArgumentParser(prog="minillm bench components", description=__doc__.splitlines()[0])
    add_arguments(p)
    return run(p.parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """Time each part of one block at each length; print, write JSON and a PNG."""
    if args.n_embd % args.n_head:
        raise ValueError(f"n_embd={args.n_embd} is not divisible by n_head={args.n_head}")
    lengths = [256, 512, 1024, 2048] if args.quick else [256, 512, 1024, 2048, 4096, 8192]
    if args.lengths:
        lengths = args.lengths
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    steady_allocator()
    info = device_info(device)
    block = Block(GPTConfig(n_embd=args.n_embd, n_head=args.n_head)).to(device).eval()
    d = args.n_embd
    where = f"{info['device_name']} ({info['threads']} threads)"
    print(f"one GPT block, d = {d}, {args.n_head} heads, fp32, forward, on {where}")
    print(f"analytic crossover (attention FLOPs = linear-layer FLOPs): T = 6·d = {6 * d:,}")
    print(f"{'T':>6} | " + " | ".join(f"{p_:>12}" for p_ in PARTS) + " | attention share: measured / FLOPs")
    rows = []
    for t in lengths:
        ms = measure(block, t, device, args.repeats)
        fl = {**block_flops(t, d), "rest": 0.0}  # norms and residuals: no matmuls
        share = ms["attention"] / sum(ms.values())
        flop_share = fl["attention"] / sum(fl.values())
        rows.append({"T": t, "seconds": ms, "flops": fl, "attention_share": share, "attention_flop_share": flop_share})
        cells = " | ".join(f"{1e3 * ms[p_]:>9.2f} ms" for p_ in PARTS)
        print(f"{t:>6} | {cells} | {share:>6.1%} / {flop_share:.1%}")
    path = write_json(
        Path(args.out).with_suffix(".json"), {"info": info, "n_embd": d, "n_head": args.n_head, "rows": rows}
    )
    print(f"JSON: {path}")
    png = plot(rows, d, Path(args.out).with_suffix(".png"))
    if png:
        print(f"plot: {png}")
    return 0


def plot(rows, d: int, path: Path):
    """Attention's share of the block's forward time beside its FLOP share, against T."""
    made = subplots(figsize=(6.4, 4))
    if made is None:
        return None
    fig, ax = made
    ts = [r["T"] for r in rows]
    ax.plot(ts, [r["attention_share"] for r in rows], "o-", label="attention, measured time share")
    ax.plot(ts, [r["attention_flop_share"] for r in rows], "k--", label="attention, FLOP share")
    ax.axvline(6 * d, color="gray", ls=":", label=f"T = 6·d = {6 * d:,}")
    context_length_axis(ax, ts)
    ax.set(ylabel="share of the block's forward", ylim=(0, 1), title=f"Where a GPT block's time goes (d = {d})")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path
