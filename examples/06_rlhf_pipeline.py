"""Example 06 — the report's three RLHF steps (§1.2.2-1) on a laptop CPU, plus DPO, GRPO and reward hacking.

Task: reply to "\\n3142>" with the digits sorted, "1234\\n". A synthetic labeler stands in for
humans: it writes demonstrations (a share of them with a slip: two digits swapped, one dropped or
doubled) and ranks replies by a hidden true score — the share of places right — plus noise
(minillm/rlhf/tasks.py). Because the true score is known, we can see what each stage really
achieved, not only what the reward model believes.

  1. SFT: a small GPT imitates the labeler's demonstrations, slips included (prompt tokens masked out
     of the loss).
  2. Reward model: the SFT policy samples K = 4 replies per prompt, the labeler ranks them, and a
     copy of the policy with a scalar head learns the ranking (all K-choose-2 pairs).
  3. PPO: starting from SFT, sample, score with the reward model, pay β·KL to the SFT reference.
  +  the same PPO with β = 0 (no KL leash: reward hacking); DPO on the best-vs-worst pairs of the
     rankings; GRPO (no value model: each reply is compared with 3 siblings to the same prompt) with
     as many rollouts as PPO, against the reward model and against the task's own checker (a rule
     reward, as DeepSeek-R1's).

    python examples/06_rlhf_pipeline.py            # ~2 min on 2 CPU cores
    python examples/06_rlhf_pipeline.py --quick    # ~1 min smoke run

Every flag is a field of minillm.rlhf.PipelineConfig (``minillm rlhf`` runs the same stages through
``run_pipeline``). Prints two tables (true score, reward-model score and KL to SFT of each policy on
held-out prompts; time and bytes held by PPO and GRPO); writes each stage's weights (safetensors,
atomically, as each stage succeeds), the PPO and GRPO records as JSONL and their curves as a PNG
next to ``--out``.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import sys
import time
from pathlib import Path

import torch

from minillm import GPT
from minillm.adapt.quantize import weight_bytes
from minillm.rlhf import (
    DPOTrainer,
    GRPOTrainer,
    PipelineConfig,
    PPOTrainer,
    RewardModel,
    RewardModelTrainer,
    SFTTrainer,
    SortTask,
    SyntheticLabeler,
)
from minillm.rlhf.evaluate import (
    POLICY_LABELS,
    demonstration_score,
    evaluate_policy,
    summary_table,
    true_pair_accuracy,
)
from minillm.rlhf.pipeline import make_rankings, preference_pairs, save_stage
from minillm.utils.configs import add_config_arguments, config_from_args
from minillm.utils.plotting import pyplot

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: tools/ is not the library
from tools.results import write_results


def state_bytes(trainer) -> int:
    """Bytes of the weights and AdamW moments a PPO or GRPO trainer holds (each tensor once): policy,
    reference, a learned reward model, PPO's critic."""
    held = [trainer.policy, trainer.ref] + ([trainer.rm] if isinstance(trainer.rm, RewardModel) else [])
    optimizers = [trainer.policy_step.optimizer]
    if hasattr(trainer, "critic"):  # PPO's value model and its optimizer
        held, optimizers = held + [trainer.critic], optimizers + [trainer.critic_step.optimizer]
    moments = sum(t.numel() * t.element_size() for o in optimizers for s in o.state.values() for t in s.values())
    return sum(weight_bytes(m) for m in held) + moments


def train_timed(trainer) -> tuple[list[dict], float]:
    start = time.perf_counter()
    records = trainer.train()
    return records, time.perf_counter() - start


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_config_arguments(p, PipelineConfig)  # --sft-steps, --kl-coef, --quick, ... one per field
    p.add_argument("--out", default="out/06_rlhf", help="prefix of the files written")
    args = p.parse_args(argv)
    c = config_from_args(PipelineConfig, args)
    start = time.time()
    torch.manual_seed(c.seed)
    rng, task = random.Random(c.seed), SortTask(3, 6)
    labeler, tok, eos = SyntheticLabeler(noise=0.05, seed=c.seed), task.tokenizer, task.eos_id

    # 1. Supervised policy: imitate the labeler's demonstrations.
    digits = (task.sample_digits(rng) for _ in range(4000))  # drawn one by one, each then demonstrated
    demos = [(task.prompt(d), task.demonstration(d, rng, c.error_rate)) for d in digits]
    policy = GPT(c.policy(task))
    SFTTrainer(policy, demos, tok, eos, c.sft()).train()
    sft = copy.deepcopy(policy).eval()
    save_stage(sft, f"{args.out}_sft.safetensors")
    print(f"[1] SFT on {len(demos)} demonstrations ({c.error_rate:.0%} with a slip): {time.time() - start:.0f} s")

    # 2. Reward model from the labeler's rankings of the SFT policy's own samples.
    n_rank = c.rm_prompts + c.rm_test_prompts  # the last rm_test_prompts are held out
    rankings = make_rankings(sft, task, labeler, [task.sample_digits(rng) for _ in range(n_rank)], c.seed)
    train_r, test_r = rankings[: c.rm_prompts], rankings[c.rm_prompts :]
    rm = RewardModel.from_policy(sft)
    rm_trainer = RewardModelTrainer(rm, train_r, tok, eos, c.reward())
    rm_trainer.train()
    rm.eval()
    rm_acc, rm_true_acc = rm_trainer.accuracy(test_r), true_pair_accuracy(rm, test_r, task)
    save_stage(rm, f"{args.out}_reward_model.safetensors")
    print(f"[2] reward model: held-out pairwise accuracy {rm_acc:.1%} vs labels, {rm_true_acc:.1%} vs true score")

    # 3. PPO against the reward model, with the KL leash to SFT (β > 0) and without it (β = 0); GRPO with as
    #    many rollouts, against the reward model and against the task's own checker (a rule reward).
    sample = task.sample_prompt
    trainers = {
        "ppo": PPOTrainer(copy.deepcopy(sft), rm, sample, tok, eos, c.ppo(c.kl_coef, c.target_kl), task.score),
        "ppo_beta0": PPOTrainer(copy.deepcopy(sft), rm, sample, tok, eos, c.ppo(0.0, 0.0), task.score),
        "grpo": GRPOTrainer(copy.deepcopy(sft), rm, sample, tok, eos, c.grpo(), task.score),
        "grpo_rule": GRPOTrainer(copy.deepcopy(sft), task.score, sample, tok, eos, c.grpo(), task.score),
    }
    records, seconds = {}, {}
    for name, trainer in trainers.items():
        records[name], seconds[name] = train_timed(trainer)
        save_stage(trainer.policy, f"{args.out}_{name}.safetensors")
        lines = "".join(json.dumps(r) + "\n" for r in records[name])
        Path(f"{args.out}_{name}.jsonl").write_text(lines, encoding="utf-8")
    print(f"[3] PPO (β={c.kl_coef}, target KL {c.target_kl}), PPO with β = 0, GRPO: {time.time() - start:.0f} s")

    # +. DPO on the best and worst reply of each training ranking: no reward model, no sampling.
    dpo = copy.deepcopy(sft)
    triples = preference_pairs(train_r)
    DPOTrainer(dpo, triples, tok, eos, c.dpo()).train()
    save_stage(dpo, f"{args.out}_dpo.safetensors")
    print(f"[+] DPO on {len(triples)} preference pairs: {time.time() - start:.0f} s")

    # Held-out evaluation: replies sampled at temperature 1 on prompts no stage saw.
    held_out = [task.sample_digits(random.Random(10_000 + i)) for i in range(c.n_eval)]
    policies = {"sft": sft, "dpo": dpo} | {name: t.policy for name, t in trainers.items()}
    evaluation = {name: evaluate_policy(m, sft, rm, task, held_out, seed=c.seed + 7) for name, m in policies.items()}
    evaluation |= {
        "demos_true": demonstration_score(task, held_out, c.error_rate),
        "rm_accuracy": rm_acc,
        "rm_true_accuracy": rm_true_acc,
    }
    cost = {name: {"time_s": seconds[name], "state_bytes": state_bytes(trainers[name])} for name in trainers}
    evaluation["cost"] = cost
    print(f"\nheld-out prompts: {len(held_out)}, replies sampled at temperature 1, seed {c.seed}")
    print(summary_table(evaluation))
    print(f"final β of the PPO run: {trainers['ppo'].kl_coef:.3f}")
    print(f"\n{'trainer':<18} {'time':>7} {'weights + Adam':>15}")
    cost_rows = []
    for name in ("ppo", "grpo", "grpo_rule"):
        label, wall, size = POLICY_LABELS[name], cost[name]["time_s"], cost[name]["state_bytes"] / 1e6
        print(f"{label:<18} {wall:>6.1f}s {size:>12.2f} MB")
        cost_rows.append([label, f"{size:.2f} MB"])  # the time is printed, not tabled: on a shared CPU it is the load
    print(f"total {time.time() - start:.0f} s")
    rows = [["labeler demos", f"{evaluation['demos_true']:.3f}", "", ""]]
    rows += [
        [label, f"{r['true']:.3f}", f"{r['rm']:.2f}", f"{r['kl']:.2f}"]
        for k, label in POLICY_LABELS.items()
        for r in [evaluation[k]]
    ]
    accuracy = f"{evaluation['rm_accuracy']:.1%} (labels), {evaluation['rm_true_accuracy']:.1%} (true)"
    rows.append([f"reward model accuracy: {accuracy}", "", "", ""])
    columns = ["policy", "true score", "RM score", "KL to SFT"]  # docs/rlhf.md's tables (tools/update_tables.py)
    write_results("06", columns, rows, seed=c.seed, quick=c.quick, figures=evaluation)
    write_results("06-cost", ["trainer", "weights + Adam"], cost_rows, seed=c.seed, quick=c.quick, figures=cost)
    plot(records, f"{args.out}.png")
    return evaluation


def plot(records: dict, out: str) -> None:
    """Reward-model score, true score and KL per rollout of PPO (β > 0 and β = 0) and GRPO."""
    plt = pyplot()
    if plt is None:  # it has said why
        return
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
    for name in ("ppo", "ppo_beta0", "grpo"):
        steps = [r["step"] for r in records[name]]
        for ax, key in zip(axes, ("rm_score", "true_score", "kl")):
            ax.plot(steps, [r[key] for r in records[name]], label=POLICY_LABELS[name])
    for ax, title in zip(axes, ["reward-model score", "true score (hidden)", "KL to SFT per reply"]):
        ax.set(title=title, xlabel="rollout (64 replies each)")
        ax.legend()
    fig.tight_layout()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    print(f"plot: {out}")


if __name__ == "__main__":
    main()
