"""Example 10 — after pre-training, the 2026 way: LoRA fine-tuning, GRPO beside PPO, int8/int4 weights.

All on the synthetic sort task of example 06 ("\\n3142>" → "1234\\n", a hidden true score per reply):

  1. LoRA vs full SFT: a base model that learned to *reverse* digits is taught to *sort* them, once by
     updating every weight, once through rank-8 adapters (minillm/adapt/lora.py). Quality, trainable
     parameters, AdamW state bytes, time.
  2. GRPO vs PPO: from the full-SFT policy, against the same reward model, the same number of rollouts
     of 64 replies (PPO: 64 prompts; GRPO: 16 prompts × G = 4). True score, RM score, KL to SFT, wall
     time, bytes of weights + optimizer state held (no value model), and each with β = 0.
     Plus GRPO against the task's own checker instead of a reward model (DeepSeek-R1's rule rewards).
  3. int8 / int4 weights of the full-SFT policy (minillm/adapt/quantize.py): bytes, held-out loss, true
     score, CPU decode tokens/s.
  4. The same formats at 0.5B / 1.5B / 7B parameters (minillm.costs.inference.on_device_table).

    python examples/10_adapt_align_quantize.py            # a few minutes on 2 CPU cores
    python examples/10_adapt_align_quantize.py --quick    # ~1-2 min smoke run

Flags are PipelineConfig's (--sft-steps, --ppo-steps, --n-eval, --seed, --quick ...). Prints one table
per part and returns the figures. Docs: docs/adaptation.md.
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
from minillm.adapt.quantize import quantize_int4, quantize_int8, weight_bytes
from minillm.costs import training_memory
from minillm.costs.inference import on_device_table
from minillm.decoding.generation import generate
from minillm.rlhf import (
    GRPOConfig,
    GRPOTrainer,
    PipelineConfig,
    PPOTrainer,
    RewardModel,
    RewardModelTrainer,
    SFTTrainer,
    SortTask,
    SyntheticLabeler,
)
from minillm.rlhf.evaluate import evaluate_policy, sample_replies
from minillm.rlhf.pipeline import make_rankings
from minillm.rlhf.sft import sft_batch
from minillm.rlhf.tasks import true_score
from minillm.utils.configs import add_config_arguments, config_from_args

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: tools/ is not the library
from tools.results import write_results

LORA_LR = 1e-2  # adapters start at zero and are few: they take a larger step than full fine-tuning
ALL_LINEAR = ("qkv_proj", "out_proj", "fc1", "fc2")


def optimizer_bytes(optimizer: torch.optim.Optimizer) -> int:
    """Bytes of AdamW's state (two moments per trainable weight, and a step counter)."""
    return sum(t.numel() * t.element_size() for s in optimizer.state.values() for t in s.values() if torch.is_tensor(t))


def held_out_scores(model: GPT, task: SortTask, digits: list[str], seed: int) -> tuple[float, float]:
    """(loss on the clean sorted replies, mean true score of replies sampled at temperature 1)."""
    model.eval()
    pairs = [(task.prompt(d), "".join(sorted(d)) + "\n") for d in digits]
    with torch.no_grad():
        loss = model(*sft_batch(pairs, task.tokenizer.encode, task.eos_id, model.config.block_size))[1].item()
    replies = sample_replies(model, task, digits, torch.Generator().manual_seed(seed))
    return loss, sum(true_score(d, task.parse_reply(r)) for d, r in zip(digits, replies)) / len(digits)


def part1_lora(c: PipelineConfig, task: SortTask, held_out: list[str]) -> tuple[dict, GPT]:
    """Full SFT and two LoRA variants from one base; returns the table rows and the full-SFT policy."""
    rng = random.Random(c.seed)
    digits = [task.sample_digits(rng) for _ in range(4000)]
    torch.manual_seed(c.seed)
    base = GPT(c.policy(task))
    reverse = [(task.prompt(d), d[::-1] + "\n") for d in digits]
    SFTTrainer(base, reverse, task.tokenizer, task.eos_id, c.sft()).train()  # the "pre-trained" base
    sort = [(task.prompt(d), task.demonstration(d, rng, c.error_rate)) for d in digits]
    rows, models = {"base (reverses)": dict(zip(("loss", "true"), held_out_scores(base, task, held_out, c.seed)))}, {}
    attention = ("qkv_proj", "out_proj")
    for name, targets, lr in (
        ("full SFT", None, c.sft().lr),
        ("LoRA r=8, attention", attention, LORA_LR),
        ("LoRA r=8, all linear", ALL_LINEAR, LORA_LR),
    ):
        model = copy.deepcopy(base)
        if targets:
            apply_lora(model, r=8, alpha=16, targets=targets)
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        start = time.perf_counter()
        SFTTrainer(model, sort, task.tokenizer, task.eos_id, replace(c.sft(), lr=lr)).train()
        seconds = time.perf_counter() - start
        models[name] = merge_lora(model) if targets else model
        loss, true = held_out_scores(model, task, held_out, c.seed)
        # AdamW: two float32 moments per trainable weight (minillm.costs.training_memory's fp32 optimizer term)
        adam = training_memory(model.config, 1, precision="fp32", n_params=trainable).optimizer
        rows[name] = {"loss": loss, "true": true, "trainable": trainable, "adam_bytes": adam, "time_s": seconds}
    print(f"\n[1] LoRA vs full SFT: a base trained to reverse, then {c.sft_steps} SFT steps on sorting")
    print(f"{'model':<22} {'held-out loss':>13} {'true score':>10} {'trainable':>10} {'Adam state':>11} {'time':>7}")
    for name, r in rows.items():
        extra = f" {r['trainable']:>10,} {r['adam_bytes'] / 1e3:>8.1f} kB {r['time_s']:>6.1f}s" if "time_s" in r else ""
        print(f"{name:<22} {r['loss']:>13.3f} {r['true']:>10.3f}{extra}")
    return rows, models["full SFT"]


def state_bytes(*modules, optimizers=()) -> float:
    """Bytes of the weights and optimizer states a trainer holds (each tensor once)."""
    return sum(weight_bytes(m) for m in modules) + sum(optimizer_bytes(o) for o in optimizers)


def part2_grpo(c: PipelineConfig, task: SortTask, sft: GPT, held_out: list[str]) -> dict:
    """PPO and GRPO (β > 0 and β = 0) from one SFT policy against one reward model, and GRPO on the rule."""
    rng, tok, eos = random.Random(c.seed + 1), task.tokenizer, task.eos_id
    labeler = SyntheticLabeler(noise=0.05, seed=c.seed)
    sft = sft.eval()
    rankings = make_rankings(sft, task, labeler, [task.sample_digits(rng) for _ in range(c.rm_prompts)], c.seed)
    rm = RewardModel.from_policy(sft)
    RewardModelTrainer(rm, rankings, tok, eos, c.reward()).train()
    rm.eval()
    grpo = lambda beta: GRPOConfig(max_steps=c.ppo_steps, kl_coef=beta, seed=c.seed)
    runs = {
        "PPO": lambda p: PPOTrainer(p, rm, task.sample_prompt, tok, eos, c.ppo(c.kl_coef, c.target_kl), task.score),
        "PPO, β = 0": lambda p: PPOTrainer(p, rm, task.sample_prompt, tok, eos, c.ppo(0.0, 0.0), task.score),
        "GRPO": lambda p: GRPOTrainer(p, rm, task.sample_prompt, tok, eos, grpo(0.04), task.score),
        "GRPO, β = 0": lambda p: GRPOTrainer(p, rm, task.sample_prompt, tok, eos, grpo(0.0), task.score),
        "GRPO, rule reward": lambda p: GRPOTrainer(p, task.score, task.sample_prompt, tok, eos, grpo(0.04), task.score),
    }
    rows = {"SFT (reference)": evaluate_policy(sft, sft, rm, task, held_out, seed=c.seed + 7)}
    for name, make in runs.items():
        torch.manual_seed(c.seed)
        trainer = make(copy.deepcopy(sft))
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
        held = [trainer.policy, trainer.ref] + ([rm] if isinstance(trainer.rm, RewardModel) else [])
        opts = [trainer.policy_step.optimizer]
        if hasattr(trainer, "critic"):  # PPO's value model and its optimizer
            held, opts = held + [trainer.critic], opts + [trainer.critic_step.optimizer]
        rows[name] = {
            **evaluate_policy(trainer.policy, sft, rm, task, held_out, seed=c.seed + 7),
            "time_s": seconds,
            "state_bytes": state_bytes(*held, optimizers=opts),
        }
    print(f"\n[2] GRPO vs PPO: {c.ppo_steps} rollouts of 64 replies each, held-out prompts: {len(held_out)}")
    print(
        f"{'policy':<18} {'true score':>10} {'RM score':>9} {'KL to SFT':>10} {'time':>7} {'weights+Adam':>13}   example"
    )
    for name, r in rows.items():
        extra = f" {r['time_s']:>6.1f}s {r['state_bytes'] / 1e6:>10.2f} MB" if "time_s" in r else " " * 22
        print(f"{name:<18} {r['true']:>10.3f} {r['rm']:>9.2f} {r['kl']:>10.2f}{extra}   {r['example']}")
    return rows


@torch.no_grad()
def decode_tokens_per_s(model: GPT, task: SortTask, digits: list[str], new_tokens: int = 12) -> float:
    """Greedy decoding with the KV cache, one prompt at a time (batch 1, as on a phone)."""
    prompts = [torch.tensor([task.tokenizer.encode(task.prompt(d))]) for d in digits]
    generate(model, prompts[0], 2, temperature=0.0)  # warm-up
    start = time.perf_counter()
    for p in prompts:
        generate(model, p, min(new_tokens, model.config.block_size - p.shape[1]), temperature=0.0)
    return sum(min(new_tokens, model.config.block_size - p.shape[1]) for p in prompts) / (time.perf_counter() - start)


def part3_quantize(c: PipelineConfig, task: SortTask, sft: GPT, held_out: list[str]) -> dict:
    """The full-SFT policy in float32, int8 and int4 (groups of 32 and 64)."""
    variants = {
        "float32": lambda m: m,
        "int8 per channel": quantize_int8,
        "int4, groups of 32": lambda m: quantize_int4(m, group_size=32),
        "int4, groups of 64": lambda m: quantize_int4(m, group_size=64),
    }
    rows = {}
    for name, quantize in variants.items():
        model = quantize(copy.deepcopy(sft).eval())
        loss, true = held_out_scores(model, task, held_out, c.seed)
        rows[name] = {
            "bytes": weight_bytes(model),
            "loss": loss,
            "true": true,
            "tokens_s": decode_tokens_per_s(model, task, held_out[:20]),
        }
    try:
        quantize_int4(copy.deepcopy(sft), group_size=128)
    except ValueError as e:  # n_embd = 64: a group of 128 inputs does not exist
        refused = str(e)
    print(f"\n[3] weight quantization of the full-SFT policy ({sum(p.numel() for p in sft.parameters()):,} parameters)")
    print(f"{'weights':<20} {'bytes':>8} {'held-out loss':>13} {'Δ loss':>8} {'true score':>10} {'decode tok/s':>12}")
    for name, r in rows.items():
        delta = r["loss"] - rows["float32"]["loss"]
        print(
            f"{name:<20} {r['bytes']:>8,} {r['loss']:>13.4f} {delta:>+8.4f} {r['true']:>10.3f} {r['tokens_s']:>12.0f}"
        )
    print(f"int4, groups of 128: refused — {refused}")
    return rows


def part4_on_device() -> list[dict]:
    rows = on_device_table()
    print("\n[4] weights alone, GB (int4: one float32 scale per 128 weights)")
    print(f"{'model':>6} {'fp32':>7} {'bf16':>7} {'int8':>7} {'int4':>7}")
    for r in rows:
        print(f"{r['params'] / 1e9:>5.1f}B {r['fp32']:>7.2f} {r['bf16']:>7.2f} {r['int8']:>7.2f} {r['int4']:>7.2f}")
    return rows


def tables(lora: dict, grpo: dict, quant: dict) -> list[tuple[str, list[str], list[list[str]], dict]]:
    """Parts 1-3 as docs/adaptation.md shows them: (results key, columns, rows, figures) each."""
    full = lora["full SFT"]["trainable"]

    def lora_row(name: str, r: dict) -> list[str]:
        scores = [name, f"{r['loss']:.3f}", f"{r['true']:.3f}"]
        if "time_s" not in r:  # the base model: scores only
            return scores + ["", "", ""]
        share = f" ({r['trainable'] / full:.0%})" if r["trainable"] < full else ""
        return scores + [f"{r['trainable']:,}{share}", f"{r['adam_bytes'] / 1e3:.0f} kB", f"{r['time_s']:.1f} s"]

    rows = [lora_row(name, r) for name, r in lora.items()]
    columns = ["model (part 1)", "held-out loss", "true score", "trainable", "AdamW state", "time"]
    out = [("10-lora", columns, rows, lora)]
    rows = [
        [name, f"{r['true']:.3f}", f"{r['rm']:.2f}", f"{r['kl']:.2f}"]
        + ([f"{r['time_s']:.1f} s", f"{r['state_bytes'] / 1e6:.2f} MB"] if "time_s" in r else ["", ""])
        for name, r in grpo.items()
    ]
    columns = ["policy (part 2)", "true score", "RM score", "KL to SFT", "time", "weights + Adam"]
    out.append(("10", columns, rows, {"rl": grpo, "quantize": quant}))
    f32 = quant["float32"]["loss"]
    rows = [
        [name, f"{r['bytes']:,}", f"{r['loss']:.4f}", f"{r['loss'] - f32:+.4f}" if name != "float32" else ""]
        + [f"{r['true']:.3f}", f"{r['tokens_s']:.0f}"]
        for name, r in quant.items()
    ]
    columns = ["weights (part 3)", "bytes", "held-out loss", "Δ loss", "true score", "decode tokens/s (batch 1)"]
    return out + [("10-quantize", columns, rows, quant)]


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_config_arguments(p, PipelineConfig)  # --sft-steps, --ppo-steps, --quick, ... one per field
    c = config_from_args(PipelineConfig, p.parse_args(argv))
    start, task = time.time(), SortTask(3, 6)
    held_out = [task.sample_digits(random.Random(10_000 + i)) for i in range(c.n_eval)]
    lora, sft = part1_lora(c, task, held_out)
    grpo = part2_grpo(c, task, sft, held_out)
    quant = part3_quantize(c, task, sft, held_out)
    on_device = part4_on_device()
    print(f"\ntotal {time.time() - start:.0f} s")
    for key, columns, rows, figures in tables(lora, grpo, quant):  # docs/adaptation.md (tools/update_tables.py)
        write_results(key, columns, rows, seed=c.seed, quick=c.quick, figures=figures)  # --quick writes nothing
    return {"lora": lora, "rl": grpo, "quantize": quant, "on_device": on_device}


if __name__ == "__main__":
    main()
