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
``ptx_batch`` (e.g. the SFT data) to keep the original skills.
"""

from __future__ import annotations

import copy
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from minillm.generation import generate
from minillm.models.gpt import GPT
from minillm.rlhf.losses import gae, masked_mean, ppo_policy_loss, ppo_value_loss, whiten
from minillm.rlhf.reward import RewardModel

__all__ = ["PPOConfig", "PPOTrainer", "Critic", "sequence_logprobs"]


@dataclass
class PPOConfig:
    iterations: int = 40
    batch_size: int = 64  # prompts per rollout
    max_new_tokens: int = 8
    temperature: float = 1.0
    ppo_epochs: int = 4
    minibatch_size: int = 16
    lr: float = 3e-4
    critic_lr: float = 1e-3
    clip_eps: float = 0.2
    value_clip: float = 0.2
    gamma: float = 1.0
    lam: float = 0.95
    kl_coef: float = 0.1  # β; 0 switches the penalty off (the reward-hacking demo)
    target_kl: float | None = 2.0  # per-sequence KL the controller aims for; None = fixed β
    kl_horizon: int = 2000
    ptx_coef: float = 0.0
    seed: int = 0

    def __post_init__(self):
        if self.kl_coef < 0:
            raise ValueError(f"kl_coef (β) must be >= 0, got {self.kl_coef}")
        if self.clip_eps <= 0 or self.value_clip <= 0:
            raise ValueError(f"clip_eps and value_clip must be > 0, got {self.clip_eps}, {self.value_clip}")
        for name in ("iterations", "batch_size", "max_new_tokens", "ppo_epochs", "minibatch_size"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.target_kl is not None and self.target_kl <= 0:
            raise ValueError(f"target_kl must be > 0 or None, got {self.target_kl}")


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


def sequence_logprobs(model: GPT, seq: Tensor) -> tuple[Tensor, Tensor]:
    """log p(seq[t+1] | seq[≤t]) and the entropy of that distribution, both (B, T-1)."""
    logits = model(seq[:, :-1])[0].float()  # (B, T-1, V)
    logp = F.log_softmax(logits, dim=-1)
    token_logp = logp.gather(-1, seq[:, 1:, None]).squeeze(-1)  # (B, T-1)
    entropy = -(logp.exp() * logp).sum(-1)  # (B, T-1)
    return token_logp, entropy


class PPOTrainer:
    """RLHF step 3. ``train()`` returns one dict of statistics per iteration (also JSONL if ``log_path``)."""

    def __init__(
        self,
        policy: GPT,
        reward_model: RewardModel,
        prompt_sampler: Callable[[random.Random], str],
        encode: Callable[[str], list[int]],
        decode: Callable[[list[int]], str],
        eos_id: int,
        pad_id: int,
        config: PPOConfig | None = None,
        critic: Critic | None = None,
        score_fn: Callable[[str, str], float] | None = None,
        ptx_batch: Callable[[], tuple[Tensor, Tensor]] | None = None,
        log_path: str | Path | None = None,
    ):
        self.config = c = config or PPOConfig()
        if reward_model.trunk.config.vocab_size != policy.config.vocab_size:
            raise ValueError(
                f"reward model vocabulary ({reward_model.trunk.config.vocab_size}) differs from the "
                f"policy's ({policy.config.vocab_size}): they must read the same tokens"
            )
        if c.ptx_coef > 0 and ptx_batch is None:
            raise ValueError("ptx_coef > 0 needs a ptx_batch function that returns (inputs, targets)")
        self.policy, self.rm = policy, reward_model
        self.ref = copy.deepcopy(policy).eval().requires_grad_(False)  # frozen π_ref
        self.rm.eval().requires_grad_(False)
        self.critic = critic or Critic.from_reward_model(reward_model)
        self.prompt_sampler, self.encode, self.decode = prompt_sampler, encode, decode
        self.eos_id, self.pad_id, self.score_fn, self.ptx_batch = eos_id, pad_id, score_fn, ptx_batch
        self.opt = torch.optim.AdamW(policy.parameters(), lr=c.lr, weight_decay=0.0)
        self.critic_opt = torch.optim.AdamW(self.critic.parameters(), lr=c.critic_lr, weight_decay=0.0)
        self.kl_coef = c.kl_coef
        self.rng = random.Random(c.seed)
        self.gen = torch.Generator().manual_seed(c.seed)
        self.log_path = Path(log_path) if log_path else None
        prompt = prompt_sampler(random.Random(0))
        if len(encode(prompt)) + c.max_new_tokens > policy.config.block_size:
            raise ValueError(
                f"prompt ({len(encode(prompt))} tokens) + max_new_tokens={c.max_new_tokens} exceed "
                f"block_size={policy.config.block_size}"
            )

    # -- (1) rollouts --------------------------------------------------------------------------
    @torch.no_grad()
    def rollout(self) -> dict:
        """Sample replies; return right-padded sequences and per-token masks (B, T)."""
        c = self.config
        prompts = [self.prompt_sampler(self.rng) for _ in range(c.batch_size)]
        by_len: dict[int, list[int]] = {}
        for i, p in enumerate(prompts):
            by_len.setdefault(len(self.encode(p)), []).append(i)
        rows: list[list[int] | None] = [None] * len(prompts)
        resp_len = [0] * len(prompts)
        for n, idxs in by_len.items():  # equal-length prompts generate together
            batch = torch.tensor([self.encode(prompts[i]) for i in idxs])
            out = generate(
                self.policy, batch, c.max_new_tokens, temperature=c.temperature, eos_id=self.eos_id, generator=self.gen
            )
            for row, i in zip(out.tolist(), idxs):
                reply = row[n:]
                if self.eos_id in reply:
                    reply = reply[: reply.index(self.eos_id) + 1]
                rows[i], resp_len[i] = row[:n] + reply, len(reply)
        t = max(len(r) for r in rows)
        seq = torch.full((len(rows), t), self.pad_id, dtype=torch.long)
        action_mask = torch.zeros(len(rows), t - 1, dtype=torch.bool)  # token t+1 is a reply token
        for i, r in enumerate(rows):
            seq[i, : len(r)] = torch.tensor(r)
            action_mask[i, len(r) - 1 - resp_len[i] : len(r) - 1] = True
        lengths = torch.tensor([len(r) for r in rows])
        return {"prompts": prompts, "seq": seq, "mask": action_mask, "lengths": lengths, "resp_len": resp_len}

    # -- (2) + (3) rewards and advantages -----------------------------------------------------
    @torch.no_grad()
    def score(self, roll: dict) -> dict:
        seq, mask = roll["seq"], roll["mask"]
        logp, _ = sequence_logprobs(self.policy, seq)
        ref_logp, _ = sequence_logprobs(self.ref, seq)
        values = self.critic(seq)[:, :-1]  # V of the state before each next token
        rm_score = self.rm(seq, roll["lengths"])  # (B,)
        kl = (logp - ref_logp) * mask  # (B, T-1) k1 per reply token
        rewards = -self.kl_coef * kl
        last = mask.long().cumsum(1).argmax(1)  # position of each row's last reply token
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
    def update(self, batch: dict) -> dict:
        c = self.config
        stats = {"policy_loss": [], "value_loss": [], "clip_frac": [], "approx_kl": [], "entropy": []}
        self.policy.train()
        self.critic.train()
        n = len(batch["seq"])
        for _ in range(c.ppo_epochs):
            order = torch.randperm(n, generator=self.gen)
            for start in range(0, n, c.minibatch_size):
                mb = order[start : start + c.minibatch_size]
                seq, mask = batch["seq"][mb], batch["mask"][mb]
                logp, entropy = sequence_logprobs(self.policy, seq)
                loss, s = ppo_policy_loss(logp, batch["logp"][mb], batch["advantages"][mb], mask, c.clip_eps)
                if c.ptx_coef > 0:
                    x, y = self.ptx_batch()
                    loss = loss + c.ptx_coef * self.policy(x, y)[1]
                self.opt.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(self.policy.parameters(), 1.0)
                self.opt.step()
                values = self.critic(seq)[:, :-1]
                v_loss = ppo_value_loss(values, batch["values"][mb], batch["returns"][mb], mask, c.value_clip)
                self.critic_opt.zero_grad(set_to_none=True)
                v_loss.backward()
                nn.utils.clip_grad_norm_(self.critic.parameters(), 1.0)
                self.critic_opt.step()
                stats["policy_loss"].append(loss.item())
                stats["value_loss"].append(v_loss.item())
                stats["clip_frac"].append(s["clip_frac"])
                stats["approx_kl"].append(s["approx_kl"])
                stats["entropy"].append(masked_mean(entropy.detach(), mask).item())
        return {k: sum(v) / len(v) for k, v in stats.items()}

    def _adapt_kl(self, kl: float) -> None:
        c = self.config
        if c.target_kl is None or self.kl_coef == 0:
            return
        error = max(-0.2, min(0.2, kl / c.target_kl - 1.0))
        self.kl_coef *= 1.0 + error * c.batch_size / c.kl_horizon

    def train(self) -> list[dict]:
        history = []
        for it in range(self.config.iterations):
            batch = self.score(self.rollout())
            stats = self.update(batch)
            mask = batch["mask"]
            ret, val = batch["returns"][mask], batch["values"][mask]
            explained = 1.0 - ((ret - val).var() / ret.var().clamp_min(1e-8)).item()
            row = {
                "iteration": it,
                "rm_score": batch["rm_score"].mean().item(),
                "kl": batch["kl"].mean().item(),
                "kl_coef": self.kl_coef,
                "reply_len": sum(batch["resp_len"]) / len(batch["resp_len"]),
                "explained_variance": explained,
                **stats,
            }
            if self.score_fn is not None:
                row["true_score"] = self.mean_true_score(batch)
            self._adapt_kl(row["kl"])
            history.append(row)
            if self.log_path:
                self.log_path.parent.mkdir(parents=True, exist_ok=True)
                with self.log_path.open("a") as f:
                    f.write(json.dumps(row) + "\n")
        return history

    def mean_true_score(self, batch: dict) -> float:
        scores = []
        for prompt, row, length, n in zip(
            batch["prompts"], batch["seq"].tolist(), batch["lengths"].tolist(), batch["resp_len"]
        ):
            reply = self.decode(row[length - n : length])
            scores.append(self.score_fn(prompt, reply))
        return sum(scores) / len(scores)
