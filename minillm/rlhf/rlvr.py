"""Reinforcement learning from verifiable rewards (RLVR): GRPO's loop with any member of the family.

Report §1.2.2-1 step 3, with the reward model replaced by a program that checks the answer (DeepSeek-R1,
2025). The loop is ``GRPOTrainer``'s (rlhf/grpo.py: G replies per prompt, rewards, advantages within
the group, ``epochs`` passes of minibatch updates); what changes is the loss, named by ``loss``:

    "reinforce"           -Â log π, Â = r                         (no baseline)
    "reinforce_baseline"  -Â log π, Â = r - mean_group r
    "grpo"                clipped ratio, Â standardised in the group, per-reply mean
    "dr_grpo"             clipped ratio, Â = r - mean, sum / max_new_tokens (no length bias)
    "dapo"                clipped ratio with ε_high = 0.28, Â standardised, token mean

(rlhf/policy_gradient.py has each piece). ``kl_coef`` defaults to 0 here: a checked answer cannot be
hacked the way a learned reward model can, and Dr. GRPO and DAPO drop the term. Every rollout's record
carries the diagnostics of rlhf/diagnostics.py; ``train()`` prints them every ``log_every`` rollouts
and warns, at the end, when the last rollouts show why the stage learns nothing.
Docs: docs/rlhf.md#reasoning-from-rewards. Example: examples/13_reasoning_from_rewards.py.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from minillm.rlhf.diagnostics import format_diagnostics, rollout_diagnostics, stuck_reasons
from minillm.rlhf.grpo import GRPOConfig, GRPOTrainer
from minillm.rlhf.losses import kl_penalty, masked_mean
from minillm.rlhf.policy_gradient import (
    LOSS_VARIANTS,
    aggregate,
    group_advantages,
    grpo_clip_token_loss,
    reinforce_token_loss,
)
from minillm.rlhf.sampling import reply_token_logprobs
from minillm.rlhf.stage import Timer

__all__ = ["RLVRConfig", "RLVRTrainer"]


@dataclass
class RLVRConfig(GRPOConfig):
    loss: str = "grpo"  # one of LOSS_VARIANTS
    kl_coef: float = 0.0
    # AdamW's decay moves the weights even when every advantage is 0 (a rollout with nothing to learn):
    # measured, 25 such rollouts at lr 1e-3 drifted the policy by 130 nats of KL and lengthened its replies
    weight_decay: float = 0.0
    max_new_tokens: int = 40
    log_every: int = 0  # print the diagnostics every this many rollouts; 0: silent

    def __post_init__(self):
        super().__post_init__()
        if self.loss not in LOSS_VARIANTS:
            raise ValueError(f"unknown loss {self.loss!r}; choose one of {sorted(LOSS_VARIANTS)}")
        if self.log_every < 0:
            raise ValueError(f"log_every must be >= 0, got {self.log_every}")


class RLVRTrainer(GRPOTrainer):
    """``GRPOTrainer`` with ``config.loss`` choosing the member of the family; ``reward_model`` is the
    checker ``reward(prompt, reply text) -> float`` (a RewardModel works too)."""

    config: RLVRConfig

    def __init__(
        self,
        policy,
        reward_model,
        prompt_sampler,
        tokenizer,
        eos_id: int,
        config: RLVRConfig | None = None,
        log: Callable[[str], None] = print,
    ):
        config = config or RLVRConfig()
        if not isinstance(config, RLVRConfig):
            raise TypeError(f"config must be an RLVRConfig, got {type(config).__name__}")
        super().__init__(policy, reward_model, prompt_sampler, tokenizer, eos_id, config)
        self.variant, self.log = LOSS_VARIANTS[config.loss], log

    @torch.no_grad()
    def rollout(self) -> dict:
        batch = super().rollout()
        v = self.variant
        batch["advantages"] = group_advantages(batch["rewards"], v.baseline, v.normalize_by_std).flatten()  # (B·G,)
        return batch

    def loss(self, batch: dict, mb: Tensor) -> tuple[Tensor, dict]:
        c, v = self.config, self.variant
        seq, mask, adv = batch["seq"][mb], batch["mask"][mb], batch["advantages"][mb]
        logp, entropy = reply_token_logprobs(self.policy, seq, mask)  # (b, T-1) each
        if v.token_loss == "reinforce":
            token_loss = reinforce_token_loss(logp, adv)  # (b, T-1)
        else:
            token_loss = grpo_clip_token_loss(logp, batch["logp"][mb], adv, c.clip_eps, v.clip_eps_high)
        kl = kl_penalty(logp, batch["ref_logp"][mb], "k3")  # (b, T-1)
        if c.kl_coef:
            token_loss = token_loss + c.kl_coef * kl
        loss = aggregate(token_loss, mask, v.aggregation, constant=c.max_new_tokens)
        with torch.no_grad():
            ratio = torch.exp(logp - batch["logp"][mb])
            high = c.clip_eps if v.clip_eps_high is None else v.clip_eps_high
            clipped = ((ratio < 1 - c.clip_eps) | (ratio > 1 + high)).float()
            figures = {
                "clip_frac": masked_mean(clipped, mask).item(),
                "kl_k3": masked_mean(kl, mask, dim=1).mean().item(),
                "entropy": masked_mean(entropy, mask).item(),
            }
        return loss, figures

    def train(self) -> list[dict]:
        c, records, clock = self.config, [], Timer()
        for s in range(c.max_steps):
            batch = self.rollout()
            figures = self.update(batch)  # loss, lr, clip_frac, kl_k3, entropy
            row = {
                "step": s + 1,
                **figures,
                "time_s": clock(),
                "reward": batch["rewards"].mean().item(),
                "kl": (batch["logp"] - batch["ref_logp"]).sum(1).mean().item(),
                "reply_len": batch["mask"].sum(1).float().mean().item(),
                **rollout_diagnostics(batch["rewards"], batch["replies"], self.eos_id, c.max_new_tokens),
            }
            records.append(row)
            if c.log_every and (s + 1) % c.log_every == 0:
                self.log(f"rollout {s + 1:>4}  {format_diagnostics(row)}")
        last = {k: sum(r[k] for r in records[-3:]) / len(records[-3:]) for k in records[-1]}  # the last 3 rollouts
        for reason in stuck_reasons(last):
            warnings.warn(f"RLVR ({c.loss}) may be learning nothing: {reason}", stacklevel=2)
        return records
