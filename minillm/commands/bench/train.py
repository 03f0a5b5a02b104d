"""Training throughput: tokens per second and model FLOPs utilisation (MFU) of ``minillm train``.

    MFU = (tokens/s × training FLOPs per token) / the device's peak FLOP/s

FLOPs per token come from the model's own cost formula (``minillm.costs.training_flops``: every
matmul of forward + backward, attention scores included, counted as if no work were skipped —
the convention of PaLM, Chowdhery et al. 2022, appendix B). The peak is looked up by device name
for the GPUs in PEAK_BF16 below (dense bf16 tensor-core numbers from NVIDIA's datasheets) or
passed with ``--peak-tflops``; for any other device (every CPU) it is *measured* by a short GEMM
probe (``minillm.commands.bench.peak``: the fastest 2048 × 2048 matmul in the training dtype), and the
output says which of the three it used.

The step timed is ``Trainer.train_step`` itself (AdamW, clipping, autocast, accumulation), on
random tokens: throughput does not depend on what the tokens say.

    minillm bench train                                  # CPU: a small GPT, eager and compiled
    minillm bench train --model gpt2 --batch-size 12 --block-size 1024   # GPU: nanoGPT's setup
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from minillm.commands.bench.common import device_info, positive_int, write_json
from minillm.commands.bench.peak import gemm_peak_flops
from minillm.costs.training import training_flops
from minillm.data.tokens import write_token_files
from minillm.models.gpt import GPTConfig
from minillm.models.presets import GPT2_SIZES
from minillm.train import TrainConfig, Trainer

__all__ = ["PEAK_BF16", "add_arguments", "main", "peak_flops", "run"]

# Dense bf16 tensor-core peak FLOP/s by device-name substring (most specific first).
PEAK_BF16 = [
    ("H100 PCIe", 756e12),
    ("H100 NVL", 835e12),
    ("H100", 989e12),  # SXM (e.g. "NVIDIA H100 80GB HBM3")
    ("H200", 989e12),
    ("A100", 312e12),
    ("L4", 121e12),
    ("A10G", 70e12),
]


def peak_flops(device_name: str, dtype: str, override_tflops: float | None) -> tuple[float | None, str]:
    """(peak FLOP/s, where the number came from); (None, why) when it is not known."""
    if override_tflops is not None:
        return override_tflops * 1e12, "--peak-tflops"
    if dtype != "bfloat16":
        return None, f"no table entry for {dtype}; pass --peak-tflops"
    for key, peak in PEAK_BF16:
        if key in device_name:
            return peak, f"PEAK_BF16[{key!r}] (NVIDIA datasheet, dense)"
    return None, f"device {device_name!r} not in the table; pass --peak-tflops"


def _random_data(directory: Path, vocab_size: int, n_tokens: int) -> None:
    ids = np.random.default_rng(0).integers(0, vocab_size, n_tokens)
    write_token_files(directory, ids, ids, vocab_size, tokenizer="none", sources=["random"])


def _measure(config: TrainConfig, steps: int, warmup: int) -> dict:
    trainer = Trainer(config, log=lambda *_: None)
    sync = torch.cuda.synchronize if trainer.device.type == "cuda" else (lambda: None)
    compile_start = time.perf_counter()
    for _ in range(warmup):  # the first steps compile (torch.compile) and warm the allocator
        trainer.train_step()
    sync()
    warm = time.perf_counter() - compile_start
    start = time.perf_counter()
    for _ in range(steps):
        loss = trainer.train_step()
    loss.item()
    sync()
    seconds = (time.perf_counter() - start) / steps
    return {
        "seconds_per_step": seconds,
        "tokens_per_s": config.batch_size * config.model.block_size / seconds,
        "warmup_seconds": warm,
        "device": trainer.device,
        "dtype": str(trainer.dtype or torch.float32),
    }


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of ``minillm bench train`` (the CLI's dispatcher and ``main`` share them)."""
    gpu = torch.cuda.is_available()
    p.add_argument(
        "--model",
        default="gpt2" if gpu else "small",
        choices=["small", *GPT2_SIZES],
        help="GPT-2 size, or 'small' (4 layers x 256, for CPUs)",
    )
    p.add_argument("--batch-size", type=positive_int, default=12 if gpu else 8)
    p.add_argument("--block-size", type=positive_int, default=1024 if gpu else 256)
    p.add_argument(
        "--vocab-size",
        type=positive_int,
        default=50304 if gpu else 8192,
        help="50304 = GPT-2's 50257 rounded up to a multiple of 64, as nanoGPT does",
    )
    p.add_argument("--grad-accum", type=positive_int, default=1)
    p.add_argument("--steps", type=positive_int, default=20 if gpu else 10, help="timed steps")
    p.add_argument("--warmup", type=int, default=5 if gpu else 2, help="untimed steps first")
    p.add_argument("--modes", default="eager,compiled", help="comma-separated: eager, compiled")
    p.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16"])
    p.add_argument("--attn-backend", default="sdpa")
    p.add_argument("--peak-tflops", type=float, default=None, help="the device's peak, if not in the table")
    p.add_argument("--out", default="benchmarks/results/train_" + ("gpu" if gpu else "cpu") + ".json")


def main(argv=None) -> int:
    """``python benchmarks/bench_train.py ...``: the same flags as ``minillm bench train``."""
    p = argparse.ArgumentParser(prog="minillm bench train", description=__doc__.splitlines()[0])
    add_arguments(p)
    return run(p.parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """Time eager and/or compiled training steps; print the table and write the JSON."""
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or any(m not in ("eager", "compiled") for m in modes):
        raise ValueError(f"--modes must list 'eager' and/or 'compiled', got {args.modes!r}")
    size = {"n_layer": 4, "n_head": 4, "n_embd": 256} if args.model == "small" else GPT2_SIZES[args.model]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        _random_data(Path(tmp), args.vocab_size, max(4 * args.block_size, 1 << 16))
        for mode in modes:
            model = GPTConfig(**size, block_size=args.block_size, attn_backend=args.attn_backend)
            config = TrainConfig(
                data_dir=tmp,
                out_dir=str(Path(tmp) / "out"),
                model=model,
                batch_size=args.batch_size,
                grad_accum=args.grad_accum,
                max_steps=args.warmup + args.steps + 1,
                warmup_steps=0,
                sample_tokens=0,
                progress=False,
                dtype=args.dtype,
                compile=mode == "compiled",
            )
            r = _measure(config, args.steps, args.warmup)
            rows.append({"mode": mode, **{k: v for k, v in r.items() if k != "device"}})
            device = r["device"]
    info = device_info(device)
    dtype_name = "bfloat16" if "bfloat16" in rows[0]["dtype"] else "float32"
    peak, peak_source = peak_flops(info["device_name"], dtype_name, args.peak_tflops)
    if peak is None:  # no datasheet number: measure what one large matmul reaches here
        peak = gemm_peak_flops(device, torch.bfloat16 if dtype_name == "bfloat16" else torch.float32)
        peak_source = (
            f"measured: fastest 2048x2048 {dtype_name} matmul, {info['threads']} threads (minillm.commands.bench.peak)"
        )
    flops_per_token = (
        training_flops(GPTConfig(vocab_size=args.vocab_size, block_size=args.block_size, **size), args.block_size).total
        / args.block_size
    )
    print(
        f"{args.model} ({size}), batch {args.batch_size} x {args.block_size}, {dtype_name}, "
        f"{info['device_name']} ({device}); {flops_per_token / 1e9:.3f} GFLOP per token (forward + backward)"
    )
    print(f"peak: {peak / 1e12:.3g} TFLOP/s ({peak_source})")
    print(f"{'mode':>9} {'ms/step':>9} {'tokens/s':>11} {'TFLOP/s':>8} {'MFU':>7} {'warm-up s':>9}")
    for r in rows:
        achieved = r["tokens_per_s"] * flops_per_token
        r["achieved_tflops"] = achieved / 1e12
        r["mfu"] = achieved / peak if peak else None
        mfu = f"{100 * r['mfu']:.1f}%" if peak else "n/a"
        print(
            f"{r['mode']:>9} {1e3 * r['seconds_per_step']:>9.1f} {r['tokens_per_s']:>11,.0f} "
            f"{r['achieved_tflops']:>8.3f} {mfu:>7} {r['warmup_seconds']:>9.1f}"
        )
    result = {
        "benchmark": "train",
        **info,
        "model": args.model,
        "size": size,
        "batch_size": args.batch_size,
        "block_size": args.block_size,
        "vocab_size": args.vocab_size,
        "dtype": dtype_name,
        "attn_backend": args.attn_backend,
        "flops_per_token": flops_per_token,
        "peak_flops": peak,
        "peak_source": peak_source,
        "rows": rows,
    }
    print(f"wrote {write_json(args.out, result)}")
    return 0
