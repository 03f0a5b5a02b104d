"""How good is a policy, really? Held-out figures for the RLHF pipeline (report §1.2.2-1).

The synthetic task knows the *true* score of every reply (rlhf/tasks.py), so besides what the
reward model believes we can measure what it was meant to stand for, and how far each policy
drifted from the SFT reference:

    true score   mean hidden quality of replies sampled at temperature 1
    RM score     the reward model's opinion of the same replies
    KL to SFT    Σ over reply tokens of log π(y_t) - log π_SFT(y_t), averaged over replies

A policy whose RM score rises while the true score falls is reward hacking.
"""

from __future__ import annotations

import random

import torch

from minillm.models.gpt import GPT
from minillm.rlhf.reward import Ranking, RewardModel, ranking_rewards
from minillm.rlhf.sampling import generate_replies, pack_replies, reply_token_logprobs
from minillm.rlhf.sft import sft_batch
from minillm.rlhf.tasks import SortTask, true_score

__all__ = [
    "POLICY_LABELS",
    "clean_reply_loss",
    "demonstration_score",
    "evaluate_policy",
    "sample_replies",
    "sampled_true_score",
    "summary_table",
    "true_pair_accuracy",
]

# run_pipeline's policies in the order the tables show them
POLICY_LABELS = {
    "sft": "SFT (reference)",
    "ppo": "PPO",
    "grpo": "GRPO",
    "grpo_rule": "GRPO, rule reward",
    "dpo": "DPO",
    "ppo_beta0": "PPO, β = 0",
}


def sample_replies(policy: GPT, task: SortTask, digits: list[str], gen, temperature: float = 1.0) -> list[str]:
    """One sampled reply text per prompt (ending in a newline if it finished within 8 tokens)."""
    prompts = [task.tokenizer.encode(task.prompt(d)) for d in digits]
    replies = generate_replies(policy, prompts, 8, task.eos_id, temperature, gen)
    return [task.tokenizer.decode(r) for r in replies]


@torch.no_grad()
def evaluate_policy(policy: GPT, ref: GPT, rm: RewardModel, task: SortTask, digits: list[str], seed: int) -> dict:
    """Mean true score, reward-model score and KL(policy ‖ ref) of replies sampled on ``digits``."""
    enc = task.tokenizer.encode
    replies = sample_replies(policy, task, digits, torch.Generator().manual_seed(seed))
    true = [true_score(d, task.parse_reply(r)) for d, r in zip(digits, replies)]
    prompt_ids = [enc(task.prompt(d)) for d in digits]
    reply_ids = [enc(task.prompt(d) + r)[len(p) :] for d, r, p in zip(digits, replies, prompt_ids)]
    idx, mask, lengths = pack_replies(prompt_ids, reply_ids, task.eos_id)  # (B, T), (B, T-1), (B,)
    kl = (reply_token_logprobs(policy, idx, mask)[0] - reply_token_logprobs(ref, idx, mask)[0]).sum(1)  # (B,)
    return {
        "true": sum(true) / len(true),
        "rm": rm(idx, lengths).mean().item(),
        "kl": kl.mean().item(),
        "example": f"{digits[0]}>{replies[0].strip()}",
    }


def sampled_true_score(policy: GPT, task: SortTask, digits: list[str], seed: int) -> float:
    """Mean true score of one reply per prompt, sampled at temperature 1."""
    replies = sample_replies(policy, task, digits, torch.Generator().manual_seed(seed))
    return sum(true_score(d, task.parse_reply(r)) for d, r in zip(digits, replies)) / len(digits)


@torch.no_grad()
def clean_reply_loss(model: GPT, task: SortTask, digits: list[str]) -> float:
    """Cross-entropy per reply token of the correct replies (the digits sorted, no slips)."""
    pairs = [(task.prompt(d), "".join(sorted(d)) + "\n") for d in digits]
    return model.eval()(*sft_batch(pairs, task.tokenizer.encode, task.eos_id, model.config.block_size))[1].item()


def demonstration_score(task: SortTask, digits: list[str], error_rate: float) -> float:
    """Mean true score of the labeler's own demonstrations (what SFT imitates)."""
    demos = [task.demonstration(d, random.Random(i), error_rate).strip() for i, d in enumerate(digits)]
    return sum(true_score(d, r) for d, r in zip(digits, demos)) / len(digits)


@torch.no_grad()
def true_pair_accuracy(rm: RewardModel, rankings: list[Ranking], task: SortTask) -> float:
    """Share of reply pairs with different true scores that the reward model orders correctly."""
    rm.eval()
    right = total = 0
    for r in rankings:
        truth = [task.score(r.prompt, x) for x in r.replies]
        scores = ranking_rewards(rm, [r], task.tokenizer.encode, task.eos_id)[0][0].tolist()
        for i in range(len(truth)):
            for j in range(len(truth)):
                if truth[i] > truth[j]:
                    total += 1
                    right += scores[i] > scores[j]
    return right / max(total, 1)


def summary_table(evaluation: dict) -> str:
    """The pipeline's result table: one row per policy (``run_pipeline``'s ``evaluation`` dict)."""
    lines = [f"{'policy':<18} {'true score':>10} {'RM score':>9} {'KL to SFT':>10}   example"]
    lines.append(f"{'labeler demos':<18} {evaluation['demos_true']:>10.3f}")
    for name, label in POLICY_LABELS.items():
        r = evaluation[name]
        lines.append(f"{label:<18} {r['true']:>10.3f} {r['rm']:>9.2f} {r['kl']:>10.2f}   {r['example']}")
    lines.append(
        f"reward model held-out accuracy: {evaluation['rm_accuracy']:.1%} (labels), "
        f"{evaluation['rm_true_accuracy']:.1%} (true score)"
    )
    return "\n".join(lines)
