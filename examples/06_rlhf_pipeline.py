"""Example 06 — the report's three RLHF steps (§1.2.2-1) on a laptop CPU, plus DPO and reward hacking.

Task: reply to "\\n3142>" with the digits sorted, "1234\\n". A synthetic labeler stands in for
humans: it writes demonstrations (with occasional slips) and ranks replies by a hidden true score
plus noise (minillm/rlhf/tasks.py). Because the true score is known, we can see what each stage
really achieved, not only what the reward model believes.

  1. SFT: a small GPT imitates the labeler's demonstrations (prompt tokens masked out of the loss).
  2. Reward model: the SFT policy samples K = 4 replies per prompt, the labeler ranks them, and a
     copy of the policy with a scalar head learns the ranking (all K-choose-2 pairs).
  3. PPO: starting from SFT, sample, score with the reward model, pay β·KL to the SFT reference.
  +  the same PPO with β = 0 (no KL leash), and DPO on the best-vs-worst pairs of the rankings.

    python examples/06_rlhf_pipeline.py            # ~1 min on 2 CPU cores
    python examples/06_rlhf_pipeline.py --quick    # ~35 s smoke run

Every flag is a field of minillm.rlhf.PipelineConfig (``minillm rlhf`` runs the same stages through
``run_pipeline``). Prints one table (true score, reward-model score and KL to SFT of each policy on
held-out prompts); writes each stage's weights (safetensors, atomically, as each stage succeeds),
the PPO records as JSONL and the PPO curves as a PNG next to ``--out``.
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
from minillm.rlhf import (
    DPOTrainer,
    PipelineConfig,
    PPOTrainer,
    RewardModel,
    RewardModelTrainer,
    SFTTrainer,
    SortTask,
    SyntheticLabeler,
)
from minillm.rlhf.evaluate import demonstration_score, evaluate_policy, summary_table, true_pair_accuracy
from minillm.rlhf.pipeline import make_rankings, preference_pairs, save_stage
from minillm.utils.configs import add_config_arguments, config_from_args
from minillm.utils.plotting import pyplot

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: tools/ is not the library
from tools.results import write_results


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
    rm_acc, rm_true_acc = rm_trainer.accuracy(test_r), true_pair_accuracy(rm, test_r, task)
    save_stage(rm, f"{args.out}_reward_model.safetensors")
    print(f"[2] reward model: held-out pairwise accuracy {rm_acc:.1%} vs labels, {rm_true_acc:.1%} vs true score")

    # 3. PPO against the reward model, with the KL leash to SFT (β > 0) and without it (β = 0).
    ppo = PPOTrainer(copy.deepcopy(sft), rm, task.sample_prompt, tok, eos, c.ppo(c.kl_coef, c.target_kl), task.score)
    ppo_records = ppo.train()
    hacked = PPOTrainer(copy.deepcopy(sft), rm, task.sample_prompt, tok, eos, c.ppo(0.0, 0.0), task.score)
    hacked_records = hacked.train()
    for name, trainer, records in (("ppo", ppo, ppo_records), ("ppo_beta0", hacked, hacked_records)):
        save_stage(trainer.policy, f"{args.out}_{name}.safetensors")
        lines = "".join(json.dumps(r) + "\n" for r in records)
        Path(f"{args.out}_{name}.jsonl").write_text(lines, encoding="utf-8")
    print(f"[3] PPO (β={c.kl_coef}, target KL {c.target_kl}) and PPO with β = 0: {time.time() - start:.0f} s")

    # +. DPO on the best and worst reply of each training ranking: no reward model, no sampling.
    dpo = copy.deepcopy(sft)
    triples = preference_pairs(train_r)
    DPOTrainer(dpo, triples, tok, eos, c.dpo()).train()
    save_stage(dpo, f"{args.out}_dpo.safetensors")
    print(f"[+] DPO on {len(triples)} preference pairs: {time.time() - start:.0f} s")

    # Held-out evaluation: replies sampled at temperature 1 on prompts no stage saw.
    held_out = [task.sample_digits(random.Random(10_000 + i)) for i in range(c.n_eval)]
    policies = {"sft": sft, "ppo": ppo.policy, "dpo": dpo, "ppo_beta0": hacked.policy}
    evaluation = {name: evaluate_policy(m, sft, rm, task, held_out, seed=c.seed + 7) for name, m in policies.items()}
    evaluation |= {
        "demos_true": demonstration_score(task, held_out, c.error_rate),
        "rm_accuracy": rm_acc,
        "rm_true_accuracy": rm_true_acc,
    }
    print(f"\nheld-out prompts: {len(held_out)}, replies sampled at temperature 1, seed {c.seed}")
    print(summary_table(evaluation))
    print(f"final β of the PPO run: {ppo.kl_coef:.3f}; total {time.time() - start:.0f} s")
    labels = {"sft": "SFT (reference)", "ppo": "PPO", "dpo": "DPO", "ppo_beta0": "PPO, β = 0"}
    rows = [["labeler demos", f"{evaluation['demos_true']:.3f}", "", ""]]
    rows += [
        [label, f"{r['true']:.3f}", f"{r['rm']:.2f}", f"{r['kl']:.2f}"]
        for k, label in labels.items()
        for r in [evaluation[k]]
    ]
    rows.append(
        [
            f"reward model accuracy: {evaluation['rm_accuracy']:.1%} (labels), {evaluation['rm_true_accuracy']:.1%} (true)",
            "",
            "",
            "",
        ]
    )
    columns = ["policy", "true score", "RM score", "KL to SFT"]  # the README's table (tools/update_tables.py)
    write_results("06", columns, rows, seed=c.seed, quick=c.quick, figures=evaluation)
    plot(ppo_records, hacked_records, f"{args.out}.png")
    return evaluation


def plot(records, records_beta0, out: str) -> None:
    """Reward-model score, true score and KL per PPO step, with and without the KL penalty."""
    plt = pyplot()
    if plt is None:  # it has said why
        return
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
    for recs, label in ((records, "PPO, β > 0"), (records_beta0, "PPO, β = 0")):
        steps = [r["step"] for r in recs]
        for ax, key in zip(axes, ("rm_score", "true_score", "kl")):
            ax.plot(steps, [r[key] for r in recs], label=label)
    for ax, title in zip(axes, ["reward-model score", "true score (hidden)", "KL to SFT per reply"]):
        ax.set(title=title, xlabel="PPO step (one rollout each)")
        ax.legend()
    fig.tight_layout()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    print(f"plot: {out}")


if __name__ == "__main__":
    main()
