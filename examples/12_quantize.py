"""Example 12 — int8 and int4 weights: bytes, quality and decode speed, and what they mean at 0.5B-7B.

The SFT policy of example 06 (a 2-layer GPT that sorts digits: "\\n3142>" → "1234\\n") is stored four
ways (minillm/adapt/quantize.py): float32, int8 with one scale per output row, int4 with one scale per
group of 32 or 64 inputs. For each: bytes of the weights, held-out loss on correct replies, true score
of sampled replies (minillm/rlhf/tasks.py) and greedy decode tokens/s at batch 1 (as on a phone).
Then the same formats at 0.5B / 1.5B / 7B parameters (minillm.costs.inference.on_device_table).

    python examples/12_quantize.py            # ~30 s on 2 CPU cores
    python examples/12_quantize.py --quick    # ~15 s smoke run

Prints two tables and returns the figures. Docs: docs/adaptation.md.
"""

from __future__ import annotations

import argparse
import copy
import random
import sys
import time
from pathlib import Path

import torch

from minillm import GPT
from minillm.adapt.quantize import quantize_int4, quantize_int8, weight_bytes
from minillm.costs.inference import on_device_table
from minillm.decoding.generation import generate
from minillm.rlhf import PipelineConfig, SFTTrainer, SortTask
from minillm.rlhf.evaluate import clean_reply_loss, sampled_true_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: tools/ is not the library
from tools.results import write_results

FORMATS = {
    "float32": lambda m: m,
    "int8 per channel": quantize_int8,
    "int4, groups of 32": lambda m: quantize_int4(m, group_size=32),
    "int4, groups of 64": lambda m: quantize_int4(m, group_size=64),
}


@torch.no_grad()
def decode_tokens_per_s(model: GPT, task: SortTask, digits: list[str], new_tokens: int = 12) -> float:
    """Greedy decoding with the KV cache, one prompt at a time (batch 1, as on a phone)."""
    prompts = [torch.tensor([task.tokenizer.encode(task.prompt(d))]) for d in digits]
    counts = [min(new_tokens, model.config.block_size - p.shape[1]) for p in prompts]
    generate(model, prompts[0], 2, temperature=0.0)  # warm-up
    start = time.perf_counter()
    for p, n in zip(prompts, counts):
        generate(model, p, n, temperature=0.0)
    return sum(counts) / (time.perf_counter() - start)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=600, help="SFT steps of the float32 policy")
    p.add_argument("--n-eval", type=int, default=300, help="held-out prompts")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="a smoke run: 300 steps, 150 held-out prompts")
    args = p.parse_args(argv)
    steps, n_eval = (300, 150) if args.quick else (args.steps, args.n_eval)
    c = PipelineConfig(sft_steps=steps, seed=args.seed)  # the policy and SFT settings of example 06
    task, rng = SortTask(3, 6), random.Random(c.seed)
    held_out = [task.sample_digits(random.Random(10_000 + i)) for i in range(n_eval)]
    torch.manual_seed(c.seed)
    sft = GPT(c.policy(task))
    demos = [(task.prompt(d), task.demonstration(d, rng)) for d in (task.sample_digits(rng) for _ in range(4000))]
    SFTTrainer(sft, demos, task.tokenizer, task.eos_id, c.sft()).train()

    rows = {}
    for name, quantize in FORMATS.items():
        model = quantize(copy.deepcopy(sft).eval())
        rows[name] = {
            "bytes": weight_bytes(model),
            "loss": clean_reply_loss(model, task, held_out),
            "true": sampled_true_score(model, task, held_out, c.seed),
            "tokens_s": decode_tokens_per_s(model, task, held_out[:20]),
        }
    try:
        quantize_int4(copy.deepcopy(sft), group_size=128)
        refused = "not refused"
    except ValueError as e:  # n_embd = 64: a group of 128 inputs does not exist
        refused = str(e)
    f32 = rows["float32"]["loss"]
    table = [
        [name, f"{r['bytes']:,}", f"{r['loss']:.4f}", f"{r['loss'] - f32:.4f}" if name != "float32" else ""]
        + [f"{r['true']:.3f}", f"{r['tokens_s']:.0f}"]
        for name, r in rows.items()
    ]
    columns = ["weights", "bytes", "held-out loss", "Δ loss", "true score", "decode tokens/s (batch 1)"]
    params = sum(p.numel() for p in sft.parameters())
    print(f"the SFT policy ({params:,} parameters; embeddings and the tied output layer stay float32)")
    for cells in [columns, *table]:
        print(f"{cells[0]:<20}" + "".join(f"{x:>14}" for x in cells[1:-1]) + f"{cells[-1]:>27}")
    print(f"int4, groups of 128: refused — {refused}")

    on_device = on_device_table()
    print("\nweights alone, GB (int4: one float32 scale per 128 weights)")
    print(f"{'model':>6} {'fp32':>7} {'bf16':>7} {'int8':>7} {'int4':>7}")
    for r in on_device:
        print(f"{r['params'] / 1e9:>5.1f}B {r['fp32']:>7.2f} {r['bf16']:>7.2f} {r['int8']:>7.2f} {r['int4']:>7.2f}")
    write_results("12", columns, table, seed=c.seed, quick=args.quick, figures=rows)  # docs/adaptation.md
    return {"quantize": rows, "on_device": on_device}


if __name__ == "__main__":
    main()
