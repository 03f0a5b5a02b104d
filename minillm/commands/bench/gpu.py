"""Everything GPU in one command (report §3.2 on real hardware): ``minillm bench gpu``, ≤ 10 min on an H100.

    minillm bench gpu                 # a machine with an NVIDIA GPU: one JSON, two PNGs, a table
    minillm bench gpu --dry-run       # anywhere: the plan, the roofline bound and the targets

(a) attention: triton vs sdpa vs FlexAttention (torch.compile'd) vs chunked in the FlashAttention-2
    paper's setup (batch · T = 16,384 tokens, 16 heads × d 128, bf16, T 512 … 16,384), forward and
    forward+backward, causal and not: TFLOP/s and the ratio to SDPA;
(b) GPT-2 124M training tokens/s and MFU at B = 12, T = 1024, bf16, eager and compiled (bench/train.py);
(c) ``costs.training_memory`` against ``torch.cuda.max_memory_allocated`` for real training steps;
(d) ``pytest -m gpu``.
Each measured ratio is printed beside its target (TARGETS). The roofline is the bound on paper:
time ≥ max(FLOPs / peak FLOP/s, HBM bytes / bandwidth), with FLOPs from ``costs.attention_flops``
and the compulsory HBM traffic of a fused kernel (Q, K, V read once, O written once; the
backward reads Q, K, V, O, dO and writes dQ, dK, dV).

Docs: docs/quadratic-cost.md#the-same-algorithm-on-a-gpu.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from minillm.commands.bench import train as bench_train
from minillm.commands.bench.attention import run_one
from minillm.commands.bench.common import device_info, positive_int, positive_ints, time_call, write_json
from minillm.costs.training import attention_flops, training_memory

__all__ = ["HBM_BANDWIDTH", "SDPA_ANCHORS", "TARGETS", "add_arguments", "roofline", "roofline_table", "run"]

# HBM bandwidth (bytes/s) by device-name substring, most specific first (NVIDIA datasheets).
HBM_BANDWIDTH = [("H100 PCIe", 2.0e12), ("H100 NVL", 3.9e12), ("H100", 3.35e12), ("H200", 4.8e12), ("A100", 2.0e12)]
# torch SDPA measured on one H100 80GB (torch 2.11, bf16, the FA2 setup), TFLOP/s: (mode, causal) -> {T: ...}.
SDPA_ANCHORS = {
    ("fwd", False): {512: 508, 4096: 666, 8192: 677},
    ("fwd+bwd", False): {512: 256, 4096: 546, 8192: 575},
    ("fwd", True): {512: 331, 8192: 623},
    ("fwd+bwd", True): {512: 143, 8192: 561},
}
# Triton / SDPA at T ≥ 4096 (PyTorch's own Triton FlexAttention measured 0.67-0.77; causal fwd 0.61).
TARGETS = [
    {"what": "triton/sdpa fwd", "mode": "fwd", "causal": False, "min_T": 4096, "target": 0.80},
    {"what": "triton/sdpa fwd+bwd", "mode": "fwd+bwd", "causal": False, "min_T": 4096, "target": 0.80},
    {"what": "triton/sdpa causal fwd", "mode": "fwd", "causal": True, "min_T": 4096, "target": 0.75},
]
TRAIN_TARGETS = {"eager": 344.6e3, "compiled": 447.5e3}  # nanoGPT's tokens/s, GPT-2 124M B12 T1024 bf16
MFU_TARGET = 0.45  # nanoGPT compiled: 38.7 %
PARTS = ("attention", "train", "memory", "pytest")
BACKENDS = ("triton", "sdpa", "flex", "chunked")
CHUNKED_MAX_T = 4096  # its Python loop over tiles launches thousands of small kernels beyond this


def _lookup(table, device_name: str):
    return next((value for key, value in table if key in device_name), None)


def roofline(t: int, heads: int = 16, head_dim: int = 128, causal: bool = False, mode: str = "fwd",
             tokens: int = 16384, device_name: str = "H100", dtype_bytes: int = 2) -> dict:  # fmt: skip
    """The lower bound on one attention call's time on ``device_name``: max(compute, HBM traffic)."""
    peak, _ = bench_train.peak_flops(device_name, "bfloat16", None)
    bandwidth = _lookup(HBM_BANDWIDTH, device_name)
    if peak is None or bandwidth is None:
        raise ValueError(f"no peak FLOP/s or HBM bandwidth for {device_name!r} in PEAK_BF16 / HBM_BANDWIDTH")
    batch = max(1, tokens // t)
    flops = attention_flops(batch, heads, t, t, head_dim, causal, mode)
    tensor = batch * heads * t * head_dim * dtype_bytes  # one of Q, K, V, O, dO, dQ, dK, dV
    rows = batch * heads * t * 4  # one fp32 value per query row: L (and D in the backward)
    hbm = 4 * tensor + rows if mode == "fwd" else 4 * tensor + rows + 8 * tensor + 3 * rows
    bound = max(flops / peak, hbm / bandwidth)
    return {"T": t, "batch": batch, "mode": mode, "causal": causal, "flops": flops, "hbm_bytes": hbm,
            "bound_s": bound, "bound_tflops": flops / bound / 1e12,
            "bound_by": "compute" if flops / peak >= hbm / bandwidth else "memory"}  # fmt: skip


def roofline_table(lengths=(512, 1024, 2048, 4096, 8192, 16384), device_name: str = "H100") -> str:
    """The roofline bound beside the measured SDPA anchors (H100, FA2 setup: 16 heads × 128, bf16)."""
    lines = [
        f"Roofline on paper, {device_name} (989 TFLOP/s dense bf16, 3.35 TB/s), 16 heads x d 128, batch·T = 16,384:",
        (
            f"{'mode':<8} {'causal':<6} {'T':>6} {'GFLOP':>8} {'HBM MB':>7} {'bound ms':>9} {'bound TF/s':>10} "
            f"{'by':<7} {'SDPA TF/s':>9} {'of bound':>8}"
        ),
    ]
    for (mode, causal), anchors in SDPA_ANCHORS.items():
        for t in lengths:
            r = roofline(t, causal=causal, mode=mode, device_name=device_name)
            sdpa = anchors.get(t)
            share = f"{sdpa / r['bound_tflops']:.0%}" if sdpa else ""
            lines.append(
                f"{mode:<8} {causal!s:<6} {t:>6} {r['flops'] / 1e9:>8.1f} {r['hbm_bytes'] / 1e6:>7.1f} "
                f"{1e3 * r['bound_s']:>9.3f} {r['bound_tflops']:>10.0f} {r['bound_by']:<7} {sdpa or '':>9} {share:>8}"
            )
    return "\n".join(lines)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--parts", default=",".join(PARTS), help=f"comma list of {', '.join(PARTS)}")
    p.add_argument("--backends", default=",".join(BACKENDS), help=f"comma list of {', '.join(BACKENDS)}")
    p.add_argument("--lengths", type=positive_ints, default=[512, 1024, 2048, 4096, 8192, 16384])
    p.add_argument("--tokens", type=positive_int, default=16384, help="batch · T (the FA2 paper's setup)")
    p.add_argument("--heads", type=positive_int, default=16)
    p.add_argument("--head-dim", type=positive_int, default=128)
    p.add_argument("--repeats", type=positive_int, default=5)
    p.add_argument("--out", default="benchmarks/results/gpu", help="path prefix for .json and the PNGs")
    p.add_argument("--dry-run", action="store_true", help="print the plan, the roofline and the targets; run nothing")


def _choices(text: str, allowed, flag: str) -> list[str]:
    chosen = [x.strip() for x in text.split(",") if x.strip()]
    bad = [x for x in chosen if x not in allowed]
    if not chosen or bad:
        raise ValueError(f"{flag} takes a comma list of {', '.join(allowed)}; got {text!r}")
    return chosen


def attention_cases(args) -> list[dict]:
    """Every (backend, T, mode, causal) the attention part measures."""
    backends = _choices(args.backends, BACKENDS, "--backends")
    return [
        {"backend": b, "T": t, "mode": mode, "causal": causal}
        for t in args.lengths
        for mode in ("fwd", "fwd+bwd")
        for causal in (False, True)
        for b in backends
        if not (b == "chunked" and t > CHUNKED_MAX_T)
    ]


def _flex_row(t, causal, mode, s, repeats) -> dict:
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention

    flex = torch.compile(flex_attention)
    b, h, d, device = max(1, s["tokens"] // t), s["heads"], s["head_dim"], s["device"]
    block_mask = create_block_mask(lambda b, h, q, k: q >= k, None, None, t, t, device=device) if causal else None
    q, k, v = (torch.randn(b, h, t, d, device=device, dtype=s["dtype"], requires_grad=mode != "fwd") for _ in range(3))

    def step():
        if mode == "fwd":
            with torch.no_grad():
                return flex(q, k, v, block_mask=block_mask)
        return torch.autograd.grad(flex(q, k, v, block_mask=block_mask), (q, k, v), torch.ones_like(q))

    seconds = time_call(step, device, repeats=repeats, warmup=2)
    flops = attention_flops(b, h, t, t, d, causal, mode)
    return {"backend": "flex", "T": t, "causal": causal, "mode": mode, "batch": b, "seconds": seconds,
            "tflops": flops / seconds / 1e12}  # fmt: skip


def _attention(args, device) -> list[dict]:
    s = {"device": device, "dtype": torch.bfloat16, "heads": args.heads, "head_dim": args.head_dim, "gpu": True,
         "batch": None, "tokens": args.tokens}  # fmt: skip
    rows = []
    for c in attention_cases(args):
        s["batch"] = max(1, args.tokens // c["T"])
        try:
            if c["backend"] == "flex":
                row = _flex_row(c["T"], c["causal"], c["mode"], s, args.repeats)
            else:
                row = run_one(c["backend"], c["T"], c["causal"], c["mode"], s, args.repeats)
        except (RuntimeError, ValueError) as err:  # one failing kernel must not cost the whole run
            row = {**c, "skipped": f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"}
        rows.append(row)
        print(f"  {c['backend']:>8} T={c['T']:>6} {c['mode']:<8} causal={c['causal']!s:<5} "
              f"{row.get('tflops', 0):7.1f} TFLOP/s {row.get('skipped', '')}", flush=True)  # fmt: skip
    sdpa = {(r["T"], r["mode"], r["causal"]): r.get("tflops") for r in rows if r["backend"] == "sdpa"}
    for r in rows:
        base = sdpa.get((r["T"], r["mode"], r["causal"]))
        r["ratio_to_sdpa"] = r["tflops"] / base if base and r.get("tflops") else None
    return rows


def target_checks(rows: list[dict]) -> list[dict]:
    """Each target with the worst measured triton/sdpa ratio at T ≥ min_T (None when not measured)."""
    out = []
    for t in TARGETS:
        ratios = [r["ratio_to_sdpa"] for r in rows if r["backend"] == "triton" and r["mode"] == t["mode"]
                  and r["causal"] == t["causal"] and r["T"] >= t["min_T"] and r.get("ratio_to_sdpa")]  # fmt: skip
        worst = min(ratios) if ratios else None
        out.append({**t, "measured": worst, "met": None if worst is None else worst >= t["target"]})
    return out


def _train(args, out: Path) -> list[dict]:
    p = argparse.ArgumentParser()
    bench_train.add_arguments(p)
    ns = p.parse_args(["--model", "gpt2", "--batch-size", "12", "--block-size", "1024", "--dtype", "bfloat16",
                       "--out", str(out.with_name(out.name + "_train.json"))])  # fmt: skip
    bench_train.run(ns)
    import json

    rows = json.loads(Path(ns.out).read_text())["rows"]
    for r in rows:
        r["target_tokens_per_s"], r["target_mfu"] = TRAIN_TARGETS[r["mode"]], MFU_TARGET
    return rows


def _memory(device) -> list[dict]:
    """costs.training_memory (mixed precision) against the measured CUDA peak of real training steps."""
    import numpy as np

    from minillm.data.tokens import write_token_files
    from minillm.models.gpt import GPTConfig
    from minillm.train import TrainConfig, Trainer

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ids = np.random.default_rng(0).integers(0, 50304, 1 << 17)
        write_token_files(tmp, ids, ids, 50304, tokenizer="none", sources=["random"])
        for batch in (4, 12):
            model = GPTConfig(vocab_size=50304, block_size=1024)
            cfg = TrainConfig(data_dir=tmp, out_dir=f"{tmp}/out", model=model, batch_size=batch, max_steps=4,
                              warmup_steps=0, sample_tokens=0, progress=False, dtype="bfloat16")  # fmt: skip
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
            trainer = Trainer(cfg, log=lambda *_: None)
            for _ in range(3):
                trainer.train_step()
            measured = torch.cuda.max_memory_allocated(device)
            estimate = training_memory(model, 1024, batch_size=batch, precision="mixed").total
            rows.append({"batch": batch, "T": 1024, "estimate_bytes": estimate, "measured_bytes": measured,
                         "ratio": measured / estimate})  # fmt: skip
            del trainer
    return rows


def _pytest_gpu() -> dict:
    cmd = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", "tests"]
    done = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=300)
    return {"command": " ".join(cmd[1:]), "returncode": done.returncode, "summary": done.stdout.strip()[-300:]}


def _plot(rows, info, path: Path):
    from minillm.utils.plotting import subplots

    fig, axes = subplots(2, 2, figsize=(11, 8))
    colors = {"triton": "tab:purple", "sdpa": "tab:blue", "flex": "tab:orange", "chunked": "tab:green"}
    for ax, (mode, causal) in zip(axes.flat, SDPA_ANCHORS):
        for b, color in colors.items():
            pts = sorted((r["T"], r["tflops"]) for r in rows if (r["backend"], r["mode"], r["causal"]) ==
                         (b, mode, causal) and r.get("tflops"))  # fmt: skip
            if pts:
                ax.semilogx(*zip(*pts), marker="o", color=color, label=b)
        ts = sorted({r["T"] for r in rows})
        ax.semilogx(ts, [roofline(t, causal=causal, mode=mode, tokens=info["tokens"], device_name=info["device_name"])
                         ["bound_tflops"] for t in ts], "k:", label="roofline")  # fmt: skip
        ax.semilogx(*zip(*sorted(SDPA_ANCHORS[(mode, causal)].items())), "x", color="tab:blue", label="SDPA (issue)")
        ax.set(xlabel="T", ylabel="TFLOP/s", title=f"{mode}{' causal' if causal else ''}")
        ax.legend(fontsize=7)
    fig.suptitle(f"{info['device_name']} · bf16 · torch {info['torch']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def run(args: argparse.Namespace) -> int:
    parts = _choices(args.parts, PARTS, "--parts")
    cases = attention_cases(args) if "attention" in parts else []
    print(roofline_table(args.lengths))
    print()
    print("targets: " + "; ".join(f"{t['what']} >= {t['target']} at T >= {t['min_T']}" for t in TARGETS))
    print(f"GPT-2 124M tokens/s: eager >= {TRAIN_TARGETS['eager']:,.0f}, compiled >= {TRAIN_TARGETS['compiled']:,.0f},"
          f" MFU >= {MFU_TARGET:.0%}")  # fmt: skip
    if args.dry_run:
        print(f"dry run: parts {', '.join(parts)}; {len(cases)} attention measurements; nothing run")
        return 0
    if not torch.cuda.is_available():
        raise ValueError(
            "minillm bench gpu needs an NVIDIA GPU (torch.cuda.is_available() is False); --dry-run shows the plan"
        )
    device = torch.device("cuda")
    info = {**device_info(device), "tokens": args.tokens, "heads": args.heads, "head_dim": args.head_dim}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {"benchmark": "gpu", **info, "parts": parts}
    if "attention" in parts:
        result["attention"] = _attention(args, device)
        result["targets"] = target_checks(result["attention"])
        result["png"] = str(_plot(result["attention"], info, out.with_name(out.name + "_attention.png")))
        for t in result["targets"]:
            print(f"{t['what']:<24} measured {t['measured'] or float('nan'):.2f}  target {t['target']:.2f}  "
                  f"{'met' if t['met'] else 'MISSED' if t['met'] is False else 'not measured'}")  # fmt: skip
    if "train" in parts:
        result["train"] = _train(args, out)
    if "memory" in parts:
        result["memory"] = _memory(device)
        for r in result["memory"]:
            print(f"memory B={r['batch']}: estimate {r['estimate_bytes'] / 2**30:.2f} GiB, "
                  f"measured {r['measured_bytes'] / 2**30:.2f} GiB (x{r['ratio']:.2f})")  # fmt: skip
    if "pytest" in parts:
        result["pytest"] = _pytest_gpu()
        print(f"pytest -m gpu: {result['pytest']['summary'].splitlines()[-1] if result['pytest']['summary'] else '?'}")
    print(f"wrote {write_json(out.with_name(out.name + '.json'), result)}")
    return 0
