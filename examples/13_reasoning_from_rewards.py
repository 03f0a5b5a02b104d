"""Example 13 — reasoning from rewards: a chain of thought sharpened by a program that checks the answer.

Report §1.2.2-1 step 3 with a verifiable reward (DeepSeek-R1, 2025), beside §1.2.2-3's chain of thought:
  1. SFT a small GPT on a little digit-by-digit chain of thought for 2–3-digit sums
     ("58+67=" → "8+7=15,5+6+1=12;125"): it learns the format, and gets some sums right;
  2. from that start, RL with a reward of 1 when the number after ";" is the sum, for each member of the
     policy-gradient family (REINFORCE, with a baseline, GRPO, Dr. GRPO, DAPO: rlhf/policy_gradient.py);
  3. on held-out sums: accuracy (pass@1 at temperature 1), pass@k for k = 1…8, reply length, EOS fraction,
     and, on the SFT model, the inference-time alternatives at 8 samples: majority vote and best-of-8.

    python examples/13_reasoning_from_rewards.py            # ~8 min on 2 CPU cores, every loss
    python examples/13_reasoning_from_rewards.py --quick    # ~2 min: GRPO only, smaller

Prints the diagnostics of every RL stage (all-equal groups, truncated replies, clip fraction, KL,
entropy) and a table; a full run writes results/examples/13.json.
"""

from __future__ import annotations

import argparse
import copy
import random
import sys
import time
from pathlib import Path

import torch

from minillm import GPT, GPTConfig
from minillm.rlhf.policy_gradient import LOSS_VARIANTS
from minillm.rlhf.rlvr import RLVRConfig, RLVRTrainer
from minillm.rlhf.sft import SFTConfig, SFTTrainer
from minillm.rlhf.verifiable import AdditionTask, evaluate

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: tools/ is not the library
from tools.results import write_results


def sft_model(task: AdditionTask, args) -> tuple[GPT, list[str]]:
    """A GPT fine-tuned on ``args.sft_examples`` chain-of-thought sums; returns it and the SFT prompts."""
    rng = random.Random(args.seed)
    pairs = [task.pair(*task.operands(rng)) for _ in range(args.sft_examples)]
    torch.manual_seed(args.seed)
    config = GPTConfig(vocab_size=task.tokenizer.vocab_size, block_size=args.block_size, n_layer=args.n_layer,
                       n_head=4, n_embd=args.n_embd)  # fmt: skip
    model = GPT(config)
    SFTTrainer(model, pairs, task.tokenizer, task.eos_id,
               SFTConfig(max_steps=args.sft_steps, batch_size=32, lr=args.sft_lr, lr_schedule="constant", seed=args.seed)).train()  # fmt: skip
    return model, [p for p, _ in pairs]


def rl_model(start: GPT, task: AdditionTask, loss: str, held_out: list[str], args) -> tuple[GPT, list[dict]]:
    policy = copy.deepcopy(start)
    config = RLVRConfig(
        loss=loss, max_steps=args.rollouts, batch_size=args.prompts, group_size=args.group_size, lr=args.rl_lr,
        max_new_tokens=task.max_reply_tokens() + 4, epochs=args.epochs, minibatch_size=args.prompts * args.group_size,
        seed=args.seed, log_every=max(1, args.rollouts // 4),
    )  # fmt: skip
    sampler = task.prompt_sampler(exclude=held_out)
    trainer = RLVRTrainer(policy, task.reward, sampler, task.tokenizer, task.eos_id, config,
                          log=lambda line: print(f"  [{loss}] {line}"))  # fmt: skip
    return policy, trainer.train()


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--losses", default=",".join(LOSS_VARIANTS), help=f"comma-separated, from {sorted(LOSS_VARIANTS)}")
    p.add_argument("--digits", type=int, default=2, help="digits per operand")
    p.add_argument("--sft-examples", type=int, default=2000)
    p.add_argument("--sft-steps", type=int, default=200, help="a little SFT: the format, and some sums right")
    p.add_argument("--sft-lr", type=float, default=3e-3)
    p.add_argument("--rollouts", type=int, default=40)
    p.add_argument("--prompts", type=int, default=16, help="prompts per rollout")
    p.add_argument("--group-size", type=int, default=8, help="replies per prompt (G)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--rl-lr", type=float, default=3e-4, help="at 1e-3 with 4 epochs GRPO collapsed to 0 %%")
    p.add_argument("--n-layer", type=int, default=2)
    p.add_argument("--n-embd", type=int, default=64)
    p.add_argument("--block-size", type=int, default=48)
    p.add_argument("--n-eval", type=int, default=200, help="held-out sums")
    p.add_argument("--samples", type=int, default=8, help="samples per held-out sum (pass@k, majority, best-of)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="a short run for smoke tests: GRPO only")
    args = p.parse_args(argv)
    losses = args.losses.split(",")
    if args.quick:
        losses, args.n_eval, args.rollouts = ["grpo"], 100, 30
    unknown = [name for name in losses if name not in LOSS_VARIANTS]
    if unknown:
        p.error(f"unknown loss {unknown[0]!r}; choose from {sorted(LOSS_VARIANTS)}")

    start = time.time()
    task = AdditionTask(min_digits=args.digits, max_digits=args.digits)
    print(f"task: {task.pair(58, 67)}; reward 1 when the number after {task.marker!r} is the sum")
    model, sft_prompts = sft_model(task, args)
    held_out = task.held_out(args.n_eval, seed=10_000 + args.seed, exclude=sft_prompts)
    evals = {"SFT (start)": evaluate(model, task, held_out, args.samples, seed=args.seed)}
    times = {"SFT (start)": time.time() - start}
    print(f"SFT: {args.sft_steps} steps on {args.sft_examples} sums, {time.time() - start:.0f} s; "
          f"accuracy {evals['SFT (start)']['accuracy']:.1%}")  # fmt: skip
    # the fair comparison for RL: the same number of updates of more SFT on reference chains (which RL never sees)
    t0, more = time.time(), copy.deepcopy(model)
    sample, rng = task.prompt_sampler(exclude=held_out), random.Random(args.seed + 1)
    pairs = [task.pair(*map(int, sample(rng).rstrip("=").split("+"))) for _ in range(args.sft_examples)]
    SFTTrainer(more, pairs, task.tokenizer, task.eos_id, SFTConfig(max_steps=args.rollouts * args.epochs, batch_size=32,
               lr=args.rl_lr, lr_schedule="constant", seed=args.seed + 1)).train()  # fmt: skip
    evals["SFT, continued"], times["SFT, continued"] = (
        evaluate(more, task, held_out, args.samples, seed=args.seed),
        time.time() - t0,
    )
    diagnostics = {}
    for loss in losses:
        t0 = time.time()
        policy, records = rl_model(model, task, loss, held_out, args)
        times[loss] = time.time() - t0
        evals[loss] = evaluate(policy, task, held_out, args.samples, seed=args.seed)
        last = records[-1]
        diagnostics[loss] = {k: last[k] for k in ("equal_groups", "truncated", "no_eos", "clip_frac", "kl", "entropy")}

    k_show = [k for k in (1, 2, 4, 8) if k <= args.samples]
    print(f"\nheld-out sums: {args.n_eval}, {args.samples} samples each at temperature 1 "
          f"({args.rollouts} rollouts × {args.prompts} prompts × {args.group_size} replies of RL)")  # fmt: skip
    header = f"{'policy':<20} | {'accuracy':>8} | " + " | ".join(f"pass@{k:<2}" for k in k_show)
    print(header + f" | {'length':>6} | {'EOS':>5} | {'time s':>6}")
    rows = []
    for name, e in evals.items():
        passes = [f"{e['pass_at_k'][k]:.1%}" for k in k_show]
        print(f"{name:<20} | {e['accuracy']:>8.1%} | " + " | ".join(f"{x:>7}" for x in passes)
              + f" | {e['reply_len']:>6.1f} | {e['eos_frac']:>5.0%} | {times[name]:>6.0f}")  # fmt: skip
        rows.append([name, f"{e['accuracy']:.1%}", *passes, f"{e['reply_len']:.1f}", f"{e['eos_frac']:.0%}"])
    sft = evals["SFT (start)"]
    print(f"\ninference-time alternatives on the SFT model, {args.samples} samples per sum:")
    print(f"  majority vote (self-consistency): {sft['majority']:.1%}    best-of-{args.samples} with the checker: "
          f"{sft['best_of_n']:.1%}    one sample: {sft['accuracy']:.1%}")  # fmt: skip
    for loss in losses:
        gain = evals[loss]["accuracy"] - sft["accuracy"]
        print(f"  RL ({loss}): one sample {evals[loss]['accuracy']:.1%} ({gain:+.1%} over SFT), majority "
              f"{evals[loss]['majority']:.1%}, best-of-{args.samples} {evals[loss]['best_of_n']:.1%}")  # fmt: skip
    print("\ndiagnostics of each RL stage's last rollout:")
    for loss, d in diagnostics.items():
        print(f"  {loss:<20} " + "  ".join(f"{k} {v:.3f}" for k, v in d.items()))
    print(f"seed {args.seed}; total {time.time() - start:.0f} s")
    columns = ["policy", "accuracy", *[f"pass@{k}" for k in k_show], "reply length", "EOS"]
    figures = {"evals": evals, "diagnostics": diagnostics, "times_s": times}
    write_results("13", columns, rows, seed=args.seed, quick=args.quick, figures=figures)
    return figures


if __name__ == "__main__":
    main()
