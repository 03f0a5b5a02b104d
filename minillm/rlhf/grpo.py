"""GRPO: PPO without a value model, advantages from a group of replies (report §1.2.2-1, step 3).

DeepSeekMath (Shao et al. 2024), the algorithm behind DeepSeek-R1. PPO needs a critic V(s) — a
second network as big as the policy — to tell a good reply from a lucky one. GRPO asks the policy
for G replies to the *same* prompt and compares each with its siblings instead:

    rollout   P prompts × G replies, scored by the reward model
    advantage Â_i = (r_i - mean_group r) / (std_group r + 1e-4)   for every token of reply i
    loss      PPO's clipped surrogate + β · k3-KL(π ‖ π_ref) per token,
              mean over a reply's tokens, then over replies        (minillm.rlhf.losses.grpo_loss)

Differences from PPOTrainer (rlhf/ppo.py), each on purpose: no critic, no GAE, no per-token reward
shaping — the KL term sits in the loss (k3, always ≥ 0) with a fixed β, as in the paper; the reward
is one number per reply. ``max_steps`` counts rollouts; ``train()`` returns one record per rollout
with the same keys as PPO's where they mean the same thing (rm_score, kl, reply_len, true_score).
Docs: docs/adaptation.md.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from minillm.models.gpt import GPT
from minillm.rlhf.diagnostics import rollout_diagnostics
from minillm.rlhf.losses import grpo_advantages, grpo_loss
from minillm.rlhf.reward import RewardModel
from minillm.rlhf.sampling import check_rollout_setup, generate_replies, pack_replies, reply_token_logprobs
from minillm.rlhf.stage import StageConfig, Timer, make_step

__all__ = ["GRPOConfig", "GRPOTrainer"]


@dataclass
class GRPOConfig(StageConfig):
    max_steps: int = 40  # rollouts; each is followed by `epochs` passes of minibatch updates
    batch_size: int = 16  # prompts per rollout; each gets group_size replies (16 × 4 = PPO's 64 replies)
    group_size: int = 4  # G
    lr: float = 3e-4
    lr_schedule: str = "constant"  # as PPO: the rewards move as the policy does
    max_new_tokens: int = 8
    temperature: float = 1.0
    epochs: int = 4  # passes over each rollout (PPO's ppo_epochs)
    minibatch_size: int = 16  # replies per update
    clip_eps: float = 0.2
    kl_coef: float = 0.04  # β, fixed (DeepSeekMath's value); 0 switches the leash off

    def __post_init__(self):
        super().__post_init__()
        if self.group_size < 2:
            raise ValueError(f"GRPO needs group_size >= 2 replies per prompt to compare, got {self.group_size}")
        if self.kl_coef < 0 or self.clip_eps <= 0:
            raise ValueError(f"need kl_coef (β) >= 0 and clip_eps > 0, got {self.kl_coef}, {self.clip_eps}")
        for name in ("max_new_tokens", "epochs", "minibatch_size", "temperature"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")

    @property
    def updates(self) -> int:
        """Optimizer steps over the whole run."""
        return self.max_steps * self.epochs * -(-self.batch_size * self.group_size // self.minibatch_size)


class GRPOTrainer:
    """RLHF step 3 without a critic. Same arguments as ``PPOTrainer`` (no ptx term), except that the
    reward may also be a function ``reward(prompt, reply text) -> float`` instead of a reward model (a
    rule that checks the answer, as DeepSeek-R1's); ``score_fn(prompt, reply)`` (optional) adds the
    hidden true score to the records."""

    def __init__(
        self,
        policy: GPT,
        reward_model: RewardModel | Callable[[str, str], float],
        prompt_sampler: Callable[[random.Random], str],
        tokenizer,
        eos_id: int,
        config: GRPOConfig | None = None,
        score_fn: Callable[[str, str], float] | None = None,
    ):
        self.config = c = config or GRPOConfig()
        if not isinstance(reward_model, RewardModel) and not callable(reward_model):
            raise TypeError(
                f"reward_model must be a RewardModel or a function (prompt, reply) -> float, got {reward_model!r}"
            )
        check_rollout_setup(policy, reward_model, prompt_sampler, tokenizer, c.max_new_tokens)
        self.policy, self.rm = policy, reward_model
        self.ref = copy.deepcopy(policy).eval().requires_grad_(False)  # frozen π_ref
        if isinstance(reward_model, RewardModel):
            self.rm.eval().requires_grad_(False)
        self.prompt_sampler, self.tokenizer, self.eos_id, self.score_fn = prompt_sampler, tokenizer, eos_id, score_fn
        self.policy_step = make_step(policy, c, max_steps=c.updates)
        self.rng = random.Random(c.seed)
        self.gen = torch.Generator().manual_seed(c.seed)
        self.updates_done = 0

    @torch.no_grad()
    def rollout(self) -> dict:
        """G sampled replies to each of ``batch_size`` prompts, scored; advantages within each group."""
        c = self.config
        prompts = [p for p in (self.prompt_sampler(self.rng) for _ in range(c.batch_size)) for _ in range(c.group_size)]
        prompt_ids = [self.tokenizer.encode(p) for p in prompts]  # B·G rows, a group's rows side by side
        self.policy.eval()  # sampling without dropout
        replies = generate_replies(self.policy, prompt_ids, c.max_new_tokens, self.eos_id, c.temperature, self.gen)
        seq, mask, lengths = pack_replies(prompt_ids, replies, self.eos_id)
        logp, _ = reply_token_logprobs(self.policy, seq, mask)  # (B·G, T-1): π_old
        ref_logp, _ = reply_token_logprobs(self.ref, seq, mask)
        if isinstance(self.rm, RewardModel):
            rewards = self.rm(seq, lengths)  # (B·G,)
        else:  # a rule that checks the reply (DeepSeek-R1's "verifiable" rewards)
            rewards = torch.tensor([float(self.rm(p, self.tokenizer.decode(r))) for p, r in zip(prompts, replies)])
        rewards = rewards.view(c.batch_size, c.group_size)  # (B, G)
        return {
            "prompts": prompts,
            "replies": replies,
            "seq": seq,
            "mask": mask,
            "logp": logp,
            "ref_logp": ref_logp,
            "rewards": rewards,
            "advantages": grpo_advantages(rewards).flatten(),  # (B·G,)
        }

    def loss(self, batch: dict, mb: Tensor) -> tuple[Tensor, dict]:
        seq, mask = batch["seq"][mb], batch["mask"][mb]
        logp, _ = reply_token_logprobs(self.policy, seq, mask)  # (b, T-1)
        c = self.config
        return grpo_loss(
            logp, batch["logp"][mb], batch["ref_logp"][mb], batch["advantages"][mb], mask, c.clip_eps, c.kl_coef
        )

    def update(self, batch: dict) -> dict:
        """``epochs`` passes of minibatch updates over the rollout; the mean figures."""
        c, n, sums, count = self.config, len(batch["seq"]), {}, 0
        self.policy.train()
        for _ in range(c.epochs):
            order = torch.randperm(n, generator=self.gen)
            for start in range(0, n, c.minibatch_size):
                mb = order[start : start + c.minibatch_size]
                result = self.policy_step(self.updates_done, [mb], lambda m: self.loss(batch, m))
                self.updates_done += 1
                for k, v in {"loss": result.loss.item(), **result.figures}.items():
                    sums[k] = sums.get(k, 0.0) + v
                count += 1
        return {**{k: v / count for k, v in sums.items()}, "lr": result.lr}

    def train(self) -> list[dict]:
        records, clock = [], Timer()
        for s in range(self.config.max_steps):
            batch = self.rollout()
            figures = self.update(batch)  # loss, lr, kl_k3, clip_frac
            mask, rewards = batch["mask"], batch["rewards"]
            row = {
                "step": s + 1,
                **figures,
                "time_s": clock(),
                "rm_score": rewards.mean().item(),
                "kl": (batch["logp"] - batch["ref_logp"]).sum(1).mean().item(),  # k1 per reply, as PPO's records
                "reply_len": mask.sum(1).float().mean().item(),
                # groups with nothing to learn, replies cut at max_new_tokens, replies without EOS
                **rollout_diagnostics(rewards, batch["replies"], self.eos_id, self.config.max_new_tokens),
            }
            if self.score_fn is not None:
                decode = self.tokenizer.decode
                scores = [self.score_fn(p, decode(r)) for p, r in zip(batch["prompts"], batch["replies"])]
                row["true_score"] = sum(scores) / len(scores)
            records.append(row)
        return records
