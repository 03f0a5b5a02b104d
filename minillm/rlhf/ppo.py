"""PPO with a KL penalty: report §1.2.2-1, step 3 (近端策略优化 proximal policy optimisation).

Each iteration: (1) the policy answers a batch of prompts (sampling with the KV cache); (2) the
reward model scores each full reply; every reply token pays β·KL(policy ‖ reference) so the
policy cannot drift far from the supervised model it started from; (3) GAE turns the per-token
rewards into advantages with a critic's values; (4) a few epochs of clipped PPO updates on
minibatches. β follows the adaptive controller of Ziegler et al. (2019):

    β ← β · (1 + clip(KL / KL_target - 1, -0.2, 0.2) · n / horizon)

Choices: the critic is a separate network (trunk + per-token scalar head) initialised from the
reward model, as in InstructGPT; the KL estimate is k1 = log π - log π_ref per token; advantages
are whitened per batch; "PPO-ptx" adds ``ptx_coef`` × a language-modelling loss on batches from
``ptx_batch`` (e.g. the SFT data) to keep the original skills. Policy and critic each update through
minillm/train/step.py; ``max_steps`` counts rollouts, and ``train()`` returns one record per rollout.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from minillm.models.gpt import GPT
from minillm.rlhf.diagnostics import rollout_diagnostics
from minillm.rlhf.losses import gae, masked_mean, ppo_policy_loss, ppo_value_loss, whiten
from minillm.rlhf.reward import RewardModel
from minillm.rlhf.sampling import check_rollout_setup, generate_replies, pack_replies, reply_token_logprobs
from minillm.rlhf.stage import StageConfig, Timer, make_step

__all__ = ["Critic", "PPOConfig", "PPOTrainer"]


@dataclass
class PPOConfig(StageConfig):
    max_steps: int = 40  # rollouts; each is followed by ppo_epochs passes of minibatch updates
    batch_size: int = 64  # prompts per rollout
    lr: float = 3e-4
    critic_lr: float = 1e-3
    lr_schedule: str = "constant"  # the rewards move as the policy does: no decay towards a fixed end
    max_new_tokens: int = 8
    temperature: float = 1.0
    ppo_epochs: int = 4
    minibatch_size: int = 16
    clip_eps: float = 0.2
    value_clip: float = 0.2
    gamma: float = 1.0
    lam: float = 0.95
    kl_coef: float = 0.1  # β; 0 switches the penalty off (the reward-hacking demo)
    target_kl: float = 2.0  # per-reply KL the β controller aims for; 0 = a fixed β
    kl_horizon: int = 2000
    ptx_coef: float = 0.0

    def __post_init__(self):
        super().__post_init__()
        if self.kl_coef < 0 or self.target_kl < 0 or self.ptx_coef < 0:
            raise ValueError(f"kl_coef (β), target_kl and ptx_coef must be >= 0, got {self.kl_coef}, {self.target_kl}")
        if self.clip_eps <= 0 or self.value_clip <= 0:
            raise ValueError(f"clip_eps and value_clip must be > 0, got {self.clip_eps}, {self.value_clip}")
        for name in ("max_new_tokens", "ppo_epochs", "minibatch_size", "kl_horizon", "critic_lr", "temperature"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")

    @property
    def updates(self) -> int:
        """Optimizer steps over the whole run (the learning-rate schedule spans them)."""
        return self.max_steps * self.ppo_epochs * -(-self.batch_size // self.minibatch_size)


class Critic(nn.Module):
    """V(prefix): a GPT trunk with a scalar head on every position → (B, T) values."""

    def __init__(self, trunk: GPT):
        super().__init__()
        self.trunk = trunk
        self.head = nn.Linear(trunk.config.n_embd, 1)

    @classmethod
    def from_reward_model(cls, rm: RewardModel) -> Critic:
        critic = cls(copy.deepcopy(rm.trunk))
        critic.head.load_state_dict(rm.head.state_dict())
        return critic

    def forward(self, idx: Tensor) -> Tensor:
        return self.head(self.trunk.features(idx)).squeeze(-1)  # (B, T)


class PPOTrainer:
    """RLHF step 3. ``score_fn(prompt, reply)`` (optional) adds the hidden true score to the records;
    ``ptx_batch()`` returns (inputs, targets) for the PPO-ptx term when ``ptx_coef > 0``."""

    def __init__(
        self,
        policy: GPT,
        reward_model: RewardModel,
        prompt_sampler: Callable[[random.Random], str],
        tokenizer,
        eos_id: int,
        config: PPOConfig | None = None,
        score_fn: Callable[[str, str], float] | None = None,
        ptx_batch: Callable[[], tuple[Tensor, Tensor]] | None = None,
    ):
        self.config = c = config or PPOConfig()
        if c.ptx_coef > 0 and ptx_batch is None:
            raise ValueError("ptx_coef > 0 needs a ptx_batch function that returns (inputs, targets)")
        check_rollout_setup(policy, reward_model, prompt_sampler, tokenizer, c.max_new_tokens)
        self.policy, self.rm = policy, reward_model
        self.ref = copy.deepcopy(policy).eval().requires_grad_(False)  # frozen π_ref
        self.rm.eval().requires_grad_(False)
        self.critic = Critic.from_reward_model(reward_model)  # InstructGPT: the critic starts as the RM
        self.prompt_sampler, self.tokenizer, self.eos_id = prompt_sampler, tokenizer, eos_id
        self.score_fn, self.ptx_batch = score_fn, ptx_batch
        self.policy_step = make_step(policy, c, max_steps=c.updates)
        self.critic_step = make_step(self.critic, c, lr=c.critic_lr, max_steps=c.updates)
        self.kl_coef = c.kl_coef
        self.rng = random.Random(c.seed)
        self.gen = torch.Generator().manual_seed(c.seed)
        self.updates_done = 0

    # -- (1) rollouts --------------------------------------------------------------------------
    @torch.no_grad()
    def rollout(self) -> dict:
        """Sample replies; return right-padded sequences (B, T) and reply-token masks (B, T-1)."""
        c = self.config
        prompts = [self.prompt_sampler(self.rng) for _ in range(c.batch_size)]
        prompt_ids = [self.tokenizer.encode(p) for p in prompts]
        replies = generate_replies(self.policy, prompt_ids, c.max_new_tokens, self.eos_id, c.temperature, self.gen)
        seq, mask, lengths = pack_replies(prompt_ids, replies, self.eos_id)  # (B, T), (B, T-1), (B,)
        resp_len = [len(r) for r in replies]
        return {
            "prompts": prompts,
            "replies": replies,
            "seq": seq,
            "mask": mask,
            "lengths": lengths,
            "resp_len": resp_len,
        }

    # -- (2) + (3) rewards and advantages -----------------------------------------------------
    @torch.no_grad()
    def score(self, roll: dict) -> dict:
        seq, mask = roll["seq"], roll["mask"]
        logp, _ = reply_token_logprobs(self.policy, seq, mask)  # (B, T-1)
        ref_logp, _ = reply_token_logprobs(self.ref, seq, mask)
        values = self.critic(seq)[:, :-1]  # (B, T-1): V of the state before each next token
        rm_score = self.rm(seq, roll["lengths"])  # (B,)
        kl = logp - ref_logp  # (B, T-1): k1 per reply token (0 elsewhere)
        rewards = -self.kl_coef * kl
        last = mask.long().cumsum(1).argmax(1)  # (B,): position of each row's last reply token
        rewards[torch.arange(len(seq)), last] += rm_score
        advantages, returns = gae(rewards, values, mask, self.config.gamma, self.config.lam)
        return {
            **roll,
            "logp": logp,
            "values": values,
            "rm_score": rm_score,
            "kl": kl.sum(1),
            "advantages": whiten(advantages, mask),
            "returns": returns,
        }

    # -- (4) PPO updates -----------------------------------------------------------------------
    def policy_loss(self, batch: dict, mb: Tensor) -> tuple[Tensor, dict]:
        c, seq, mask = self.config, batch["seq"][mb], batch["mask"][mb]
        logp, entropy = reply_token_logprobs(self.policy, seq, mask)
        loss, figures = ppo_policy_loss(logp, batch["logp"][mb], batch["advantages"][mb], mask, c.clip_eps)
        if c.ptx_coef > 0:
            x, y = self.ptx_batch()
            loss = loss + c.ptx_coef * self.policy(x, y)[1]
        return loss, {**figures, "entropy": masked_mean(entropy.detach(), mask)}

    def value_loss(self, batch: dict, mb: Tensor) -> Tensor:
        values = self.critic(batch["seq"][mb])[:, :-1]  # (b, T-1)
        old, returns, mask = batch["values"][mb], batch["returns"][mb], batch["mask"][mb]
        return ppo_value_loss(values, old, returns, mask, self.config.value_clip)

    def update(self, batch: dict) -> dict:
        """``ppo_epochs`` passes of minibatch updates of policy and critic; the mean figures."""
        c, n, sums, count = self.config, len(batch["seq"]), {}, 0
        self.policy.train()
        self.critic.train()
        for _ in range(c.ppo_epochs):
            order = torch.randperm(n, generator=self.gen)
            for start in range(0, n, c.minibatch_size):
                mb = order[start : start + c.minibatch_size]
                pol = self.policy_step(self.updates_done, [mb], lambda m: self.policy_loss(batch, m))
                val = self.critic_step(self.updates_done, [mb], lambda m: self.value_loss(batch, m))
                self.updates_done += 1
                figures = {"loss": pol.loss.item(), "value_loss": val.loss.item(), **pol.figures}
                sums = {k: sums.get(k, 0.0) + v for k, v in figures.items()}
                count += 1
        return {**{k: v / count for k, v in sums.items()}, "lr": pol.lr}

    def _adapt_kl(self, kl: float) -> None:
        c = self.config
        if c.target_kl == 0 or self.kl_coef == 0:
            return
        error = max(-0.2, min(0.2, kl / c.target_kl - 1.0))
        self.kl_coef *= 1.0 + error * c.batch_size / c.kl_horizon

    def train(self) -> list[dict]:
        records, clock = [], Timer()
        for s in range(self.config.max_steps):
            batch = self.score(self.rollout())
            figures = self.update(batch)
            mask = batch["mask"]
            ret, val = batch["returns"][mask], batch["values"][mask]
            row = {
                "step": s + 1,
                **figures,  # loss (policy), lr, value_loss, clip_frac, approx_kl, entropy
                "time_s": clock(),
                "rm_score": batch["rm_score"].mean().item(),
                "kl": batch["kl"].mean().item(),
                "kl_coef": self.kl_coef,
                "reply_len": sum(batch["resp_len"]) / len(batch["resp_len"]),
                "explained_variance": 1.0 - ((ret - val).var() / ret.var().clamp_min(1e-8)).item(),
                # replies cut at max_new_tokens and replies without EOS (no groups here: one reply per prompt)
                **rollout_diagnostics(None, batch["replies"], self.eos_id, self.config.max_new_tokens),
            }
            if self.score_fn is not None:
                row["true_score"] = self.mean_true_score(batch)
            self._adapt_kl(row["kl"])
            records.append(row)
        return records

    def mean_true_score(self, batch: dict) -> float:
        """Mean ``score_fn(prompt, reply text)`` over a scored rollout."""
        scores = []
        for prompt, row, length, n in zip(
            batch["prompts"], batch["seq"].tolist(), batch["lengths"].tolist(), batch["resp_len"]
        ):
            scores.append(self.score_fn(prompt, self.tokenizer.decode(row[length - n : length])))
        return sum(scores) / len(scores)
