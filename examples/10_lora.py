"""Example 10 — LoRA fine-tuning beside full fine-tuning, after pre-training.

A 2-layer GPT first learns to *reverse* digit strings (the "pre-trained" base), then learns to
*sort* them (the task of example 06: "\\n3142>" → "1234\\n"), three ways from the same base:

  full SFT                every weight updated, two AdamW moments for each
  LoRA r=8, attention     rank-8 adapters on the attention projections (Hu et al. 2021), the rest frozen
  LoRA r=8, all linear    adapters on the feed-forward layers too (minillm/adapt/lora.py)

For each: the held-out loss on correct replies, the true score of sampled replies (share of places
right, minillm/rlhf/tasks.py), trainable weights, AdamW state bytes and time.

    python examples/10_lora.py            # ~1 min on 2 CPU cores
    python examples/10_lora.py --quick    # ~25 s smoke run

Prints one table and returns the figures. Docs: docs/adaptation.md.
"""

from __future__ import annotations

import argparse
import copy
import random
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from minillm import GPT
from minillm.adapt.lora import apply_lora, merge_lora
from minillm.costs import training_memory
from minillm.rlhf import PipelineConfig, SFTTrainer, SortTask
from minillm.rlhf.evaluate import clean_reply_loss, sampled_true_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: tools/ is not the library
from tools.results import write_results

LORA_LR = 1e-2  # adapters start at zero and are few: they take a larger step than full fine-tuning
ATTENTION, ALL_LINEAR = ("qkv_proj", "out_proj"), ("qkv_proj", "out_proj", "fc1", "fc2")


def scores(model: GPT, task: SortTask, held_out: list[str], seed: int) -> dict:
    return {"loss": clean_reply_loss(model, task, held_out), "true": sampled_true_score(model, task, held_out, seed)}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=600, help="SFT steps of the base and of each fine-tuning run")
    p.add_argument("--n-eval", type=int, default=300, help="held-out prompts")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="a smoke run: 300 steps, 150 held-out prompts")
    args = p.parse_args(argv)
    steps, n_eval = (300, 150) if args.quick else (args.steps, args.n_eval)
    c = PipelineConfig(sft_steps=steps, seed=args.seed)  # the policy and SFT settings of example 06
    task, rng = SortTask(3, 6), random.Random(c.seed)
    held_out = [task.sample_digits(random.Random(10_000 + i)) for i in range(n_eval)]
    digits = [task.sample_digits(rng) for _ in range(4000)]

    torch.manual_seed(c.seed)
    base = GPT(c.policy(task))
    reverse = [(task.prompt(d), d[::-1] + "\n") for d in digits]
    SFTTrainer(base, reverse, task.tokenizer, task.eos_id, c.sft()).train()  # the "pre-trained" base
    sort = [(task.prompt(d), task.demonstration(d, rng)) for d in digits]  # correct replies, no slips
    rows = {"base (reverses)": scores(base, task, held_out, c.seed)}
    for name, targets, lr in (
        ("full SFT", None, c.sft().lr),
        ("LoRA r=8, attention", ATTENTION, LORA_LR),
        ("LoRA r=8, all linear", ALL_LINEAR, LORA_LR),
    ):
        model = copy.deepcopy(base)
        if targets:
            apply_lora(model, r=8, alpha=16, targets=targets)
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        start = time.perf_counter()
        SFTTrainer(model, sort, task.tokenizer, task.eos_id, replace(c.sft(), lr=lr)).train()
        seconds = time.perf_counter() - start
        # AdamW: two float32 moments per trainable weight (minillm.costs.training_memory's fp32 optimizer term)
        adam = training_memory(model.config, 1, precision="fp32", n_params=trainable).optimizer
        model = merge_lora(model) if targets else model
        rows[name] = {**scores(model, task, held_out, c.seed), "trainable": trainable, "adam_bytes": adam}
        rows[name]["time_s"] = seconds

    full = rows["full SFT"]["trainable"]
    table = []
    for name, r in rows.items():
        cells = [name, f"{r['loss']:.3f}", f"{r['true']:.3f}"]
        if "time_s" in r:
            share = f" ({r['trainable'] / full:.0%})" if r["trainable"] < full else ""
            cells += [f"{r['trainable']:,}{share}", f"{r['adam_bytes'] / 1e3:.0f} kB", f"{r['time_s']:.1f} s"]
        table.append(cells + [""] * (6 - len(cells)))
    columns = ["model", "held-out loss", "true score", "trainable", "AdamW state", "time"]
    print(f"a base trained to reverse digits, then {steps} SFT steps on sorting; {n_eval} held-out prompts")
    for cells in [columns, *table]:
        print(f"{cells[0]:<22}" + "".join(f"{c:>15}" for c in cells[1:]))
    write_results("10", columns, table, seed=c.seed, quick=args.quick, figures=rows)  # docs/adaptation.md
    return rows


if __name__ == "__main__":
    main()
