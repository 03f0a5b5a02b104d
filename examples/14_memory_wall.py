"""Example 14 — past the memory wall (report §3.2): memory per rank under DDP, ZeRO-1, FSDP and tensor
parallelism, with and without activation checkpointing, measured on CPU and set beside the calculator.

The report: a 100 B-parameter model needs 400 GB for its weights and about 1.6 TB with gradients and
Adam, so no single GPU holds it. This script first prints the calculator's answer (how many 80 GB
GPUs each strategy needs, minillm/costs/sharding.py), then trains one AdamW step of a small GPT-2 under
``torchrun`` with N = 1, 2 and 4 CPU processes (gloo) in every mode of minillm/train/parallel.py (tp+fsdp on a 2 × 2 mesh at N = 4) and
measures what one rank holds:

    parameters   the bytes of this rank's parameters (a sharded DTensor counts its local shard)
    gradients    the bytes of this rank's .grad tensors after backward (after DDP's all-reduce or
                 FSDP's reduce-scatter)
    optimizer    the bytes of AdamW's exp_avg and exp_avg_sq this rank keeps, after the step
    activations  the unique storages autograd saves for backward (torch.autograd.graph.saved_tensors_hooks;
                 parameters excluded), plus, under checkpointing, each block's input, which the
                 checkpoint keeps for the recomputation

each against ``per_rank_memory`` (the model states) and ``minillm.costs.memory.activation_bytes`` (the
activations of minillm's own layers; split over the t ranks of a tensor-parallel group by Korthikanti
et al.'s share).
Activation checkpointing's saving is the activations column; its extra compute is counted with
torch.utils.flop_counter (the blocks run forward twice, the output layer once: under 4/3) and timed.

    python examples/14_memory_wall.py            # N = 1, 2, 4: 1-2 min on 2 CPU cores
    python examples/14_memory_wall.py --quick    # N = 1, 2: under 1 min

Docs: docs/quadratic-cost.md#past-the-memory-wall (en + zh).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch.distributed.tensor import DTensor
from torch.utils.flop_counter import FlopCounterMode

from minillm.commands.costs_report import memory_wall_report
from minillm.costs.memory import activation_bytes
from minillm.costs.sharding import per_rank_memory, tensor_parallel_size
from minillm.models.families import build_model
from minillm.models.gpt import GPTConfig
from minillm.train.parallel import apply_activation_checkpointing, data_rank, make_parallel_optimizer, shard_model

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: tools/ is not the library
from tools.results import write_results

CONFIG = GPTConfig(vocab_size=64, block_size=64, n_layer=4, n_head=4, n_embd=64)
BATCH = 8  # sequences of 64 tokens per step, the global batch
MODES = ("ddp", "zero1", "fsdp", "tp", "tp+fsdp")  # tp+fsdp needs N >= 4: a 2 x 2 mesh
PARTS = ("params", "grads", "optimizer", "activations")


def _local(t: torch.Tensor) -> torch.Tensor:
    return t.to_local() if isinstance(t, DTensor) else t


def _local_bytes(t: torch.Tensor) -> int:
    t = _local(t)
    return t.numel() * t.element_size()


def measure(mode: str, checkpointing: bool, rank: int, world: int) -> dict:
    """One AdamW step of CONFIG under ``mode``; the bytes this rank holds, part by part."""
    torch.manual_seed(0)
    model = build_model(CONFIG)
    if checkpointing:
        apply_activation_checkpointing(model)
    kept_inputs = []
    if checkpointing:
        for block in model.blocks:  # the checkpoint keeps each block's input for the recomputation
            block.register_forward_pre_hook(lambda _m, args: kept_inputs.append(args[0]))
    forward = shard_model(model, mode, world, torch.device("cpu")) if world > 1 else model
    optimizer = make_parallel_optimizer(model, mode if world > 1 else None, 1e-3, 0.1, (0.9, 0.95))
    rows = BATCH // data_rank(mode, rank, world, CONFIG)[1]  # a tensor-parallel group shares its slice
    idx = torch.randint(
        0, CONFIG.vocab_size, (rows, CONFIG.block_size + 1), generator=torch.Generator().manual_seed(rank)
    )
    x, y = idx[:, :-1], idx[:, 1:]

    weights = {_local(p).untyped_storage().data_ptr() for p in model.parameters()}
    saved: dict[int, torch.UntypedStorage] = {}

    def pack(t):  # FSDP saves the weights it gathered: parameters too, though not this rank's shards
        local = _local(t)
        ptr = local.untyped_storage().data_ptr()
        if ptr not in weights and not isinstance(t, torch.nn.Parameter):
            saved[ptr] = local.untyped_storage()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = forward(x, y)[1]
    for t in kept_inputs:
        saved[_local(t).untyped_storage().data_ptr()] = _local(t).untyped_storage()
    activations = sum(s.nbytes() for s in saved.values())  # after forward: FSDP has freed what it gathered
    loss.backward()
    grads = sum(_local_bytes(p.grad) for p in model.parameters() if p.grad is not None)
    optimizer.step()
    states = getattr(optimizer, "optim", optimizer).state  # ZeroRedundancyOptimizer: this rank's own AdamW
    opt = sum(_local_bytes(v) for s in states.values() for k, v in s.items() if k != "step")
    params = sum(_local_bytes(p) for p in model.parameters())
    return {"params": params, "grads": grads, "optimizer": opt, "activations": activations}


def estimate(mode: str, n: int, checkpointing: bool) -> dict:
    """The calculator's bytes per rank for the same step (fp32)."""
    t = tensor_parallel_size(CONFIG, mode, n)
    rows = BATCH // (n // t)
    m = per_rank_memory(CONFIG, CONFIG.block_size, rows, mode if n > 1 else "ddp", n, precision="fp32")
    whole = activation_bytes(CONFIG, CONFIG.block_size, rows)
    one_fewer = dataclasses.replace(CONFIG, n_layer=CONFIG.n_layer - 1)
    block = whole - activation_bytes(one_fewer, CONFIG.block_size, rows)  # one block's share
    outside = whole - CONFIG.n_layer * block
    if checkpointing:  # each block's input (B·T·d fp32) instead of its working set
        acts = outside + CONFIG.n_layer * 4 * rows * CONFIG.block_size * CONFIG.n_embd
    else:  # Korthikanti et al.: 24 of a block's 34 parts are split over t ranks
        acts = outside + CONFIG.n_layer * block * (10 + 24 / t) / 34
    return {"params": m.params, "grads": m.grads, "optimizer": m.optimizer, "activations": acts}


def checkpointing_cost() -> dict:
    """FLOPs and seconds of one forward + backward, without and with activation checkpointing."""
    out = {}
    for ckpt in (False, True):
        torch.manual_seed(0)
        model = build_model(CONFIG)
        if ckpt:
            apply_activation_checkpointing(model)
        idx = torch.randint(0, CONFIG.vocab_size, (BATCH, CONFIG.block_size + 1))
        with FlopCounterMode(display=False) as counter:
            model(idx[:, :-1], idx[:, 1:])[1].backward()
        times = []
        for _ in range(5):
            start = time.perf_counter()
            model(idx[:, :-1], idx[:, 1:])[1].backward()
            times.append(time.perf_counter() - start)
        out[ckpt] = {"flops": counter.get_total_flops(), "seconds": sorted(times)[2]}
    return out


def worker(out: Path) -> None:
    """Under torchrun: every mode, without and with checkpointing; rank 0 writes the largest rank's bytes."""
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    dist.init_process_group("gloo")
    rows = []
    for mode in MODES if world >= 4 else MODES[:-1]:
        for ckpt in (False, True):
            mine = measure(mode, ckpt, rank, world)
            every = [None] * world
            dist.all_gather_object(every, mine)
            rows.append({"mode": mode, "n": world, "checkpointing": ckpt,
                         "measured": {k: max(r[k] for r in every) for k in PARTS}})  # fmt: skip
    if rank == 0:
        (out / f"n{world}.json").write_text(json.dumps(rows))
    dist.barrier()  # every rank done before any tears the group down (gloo aborts a peer that is still talking)
    dist.destroy_process_group()


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="N = 1, 2 only")
    p.add_argument("--out", default="out/14_memory_wall")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # the torchrun side of this script
    args = p.parse_args(argv)
    out = Path(args.out)
    if args.worker:
        worker(out)
        return []
    started = time.time()
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    print("The calculator (minillm costs report): per-GPU bytes and the smallest N of 80 GB GPUs")
    memory_wall_report()
    print()
    rows = [{"mode": "ddp", "n": 1, "checkpointing": c, "measured": measure("ddp", c, 0, 1)} for c in (False, True)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for n in (2,) if args.quick else (2, 4):
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}", __file__,
               "--worker", "--out", str(out)]  # fmt: skip
        run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=False)
        if run.returncode:
            raise SystemExit(f"torchrun with {n} processes failed:\n{run.stderr[-2000:]}")
        rows += json.loads((out / f"n{n}.json").read_text())
    for r in rows:
        r["estimate"] = estimate(r["mode"], r["n"], r["checkpointing"])

    cfg = CONFIG
    print(f"Measured on CPU (gloo), GPT-2 {cfg.n_layer} layers x {cfg.n_embd} wide, {BATCH} x {cfg.block_size} tokens")
    print("per step, fp32 AdamW: kB on the fullest rank, measured / calculator (ratio)")
    print(f"{'mode':<8}{'N':>2} {'ckpt':<5}" + "".join(f"{k:>24}" for k in PARTS))
    for r in rows:
        cells = []
        for k in PARTS:
            m, e = r["measured"][k], r["estimate"][k]
            cells.append(f"{m / 1e3:8.1f} / {e / 1e3:7.1f} ({m / e:4.2f})")
        print(
            f"{r['mode']:<8}{r['n']:>2} {'yes' if r['checkpointing'] else 'no':<5}" + "".join(f"{c:>24}" for c in cells)
        )
    cost = checkpointing_cost()
    flops, secs = cost[True]["flops"] / cost[False]["flops"], cost[True]["seconds"] / cost[False]["seconds"]
    plain, ckpt = rows[0]["measured"]["activations"], rows[1]["measured"]["activations"]
    print()
    print(f"Activation checkpointing (one process): activations {plain / 1e3:.0f} -> {ckpt / 1e3:.0f} kB "
          f"({ckpt / plain:.0%}); forward + backward FLOPs x{flops:.2f} (the blocks' forward twice), time x{secs:.2f}")  # fmt: skip
    (out / "results.json").write_text(
        json.dumps({"rows": rows, "checkpointing_flops": flops, "checkpointing_time": secs})
    )
    table = [
        [r["mode"], r["n"], "yes" if r["checkpointing"] else "no"]
        + [f"{r['measured'][k] / r['estimate'][k]:.2f}" for k in PARTS]
        for r in rows
    ]
    figures = {"checkpointing_flops": flops, "rows": rows}
    write_results("14", ["mode", "N", "ckpt", *(f"{k}: measured / calculator" for k in PARTS)], table,
                  seed=0, quick=args.quick, figures=figures)  # fmt: skip
    _plot(rows, out / "memory_per_rank.png")
    print(f"wrote {out}/results.json and memory_per_rank.png in {time.time() - started:.0f} s")
    return rows


def _plot(rows: list[dict], path: Path) -> None:
    from minillm.utils.plotting import subplots

    made = subplots(figsize=(8, 4))
    if made is None:  # matplotlib is an optional extra
        return
    fig, ax = made
    shown = [r for r in rows if not r["checkpointing"]]
    labels = [f"{r['mode']}\nN={r['n']}" for r in shown]
    bottom = [0.0] * len(shown)
    for k in PARTS:
        vals = [r["measured"][k] / 1e6 for r in shown]
        ax.bar(labels, vals, bottom=bottom, label=k)
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax.plot(labels, [sum(r["estimate"].values()) / 1e6 for r in shown], "k_", markersize=20, label="calculator")
    ax.set_ylabel("MB on the fullest rank")
    ax.set_title("One AdamW step of a small GPT-2 on CPU: what each rank holds")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
