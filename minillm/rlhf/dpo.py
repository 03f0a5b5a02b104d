"""Direct preference optimisation (Rafailov et al. 2023): preferences without a reward model or RL.

The modern alternative to report §1.2.2-1's steps 2 + 3. DPO shows that the KL-constrained
reward maximisation PPO performs has a closed-form optimum, π*(y|x) ∝ π_ref(y|x) exp(r(x,y)/β);
solving for r and putting it into the ranking loss gives a loss on the policy directly:

    loss = -log σ(β [(log π_θ(y_w|x) - log π_ref(y_w|x)) - (log π_θ(y_l|x) - log π_ref(y_l|x))])

for each preferred reply y_w and dispreferred y_l (rlhf.losses.dpo_loss). log π(y|x) is the sum
of the reply tokens' log-probabilities; prompts are masked exactly as in SFT.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import Tensor, nn

from minillm.models.gpt import GPT
from minillm.rlhf.losses import dpo_loss
from minillm.rlhf.sft import sft_batch
from minillm.train.schedule import cosine_lr

__all__ = ["DPOConfig", "DPOTrainer", "reply_logprob"]


def reply_logprob(model: GPT, inputs: Tensor, targets: Tensor) -> Tensor:
    """Σ_t log p(target_t) over the non-ignored targets of each row → (B,)."""
    logits = model(inputs)[0].float()  # (B, T, V)
    keep = targets != -100
    logp = torch.log_softmax(logits, dim=-1).gather(-1, targets.clamp_min(0)[..., None]).squeeze(-1)  # (B, T)
    return (logp * keep).sum(-1)


@dataclass
class DPOConfig:
    steps: int = 300
    batch_size: int = 32  # preference pairs per step
    lr: float = 5e-4
    beta: float = 0.1
    seed: int = 0

    def __post_init__(self):
        if self.beta <= 0:
            raise ValueError(f"beta must be > 0, got {self.beta}")
        if self.steps <= 0 or self.batch_size <= 0 or self.lr <= 0:
            raise ValueError(f"steps, batch_size and lr must be positive, got {self}")


class DPOTrainer:
    """Trains ``policy`` on (prompt, chosen, rejected) triples against a frozen copy of itself."""

    def __init__(
        self,
        policy: GPT,
        triples: Sequence[tuple[str, str, str]],
        encode: Callable[[str], list[int]],
        pad_id: int,
        config: DPOConfig | None = None,
    ):
        if not triples:
            raise ValueError("DPOTrainer needs a non-empty list of (prompt, chosen, rejected) triples")
        self.policy, self.triples, self.encode, self.pad_id = policy, list(triples), encode, pad_id
        self.config = config or DPOConfig()
        self.ref = copy.deepcopy(policy).eval().requires_grad_(False)
        for p, w, l_ in self.triples[:1]:  # fail before training on a reply that does not fit
            sft_batch([(p, w), (p, l_)], encode, pad_id, policy.config.block_size)
        self.rng = random.Random(self.config.seed)

    def _logps(self, model: GPT, pairs) -> Tensor:
        return reply_logprob(model, *sft_batch(pairs, self.encode, self.pad_id, self.policy.config.block_size))

    def train(self) -> list[dict]:
        c = self.config
        opt = torch.optim.AdamW(self.policy.parameters(), lr=c.lr, weight_decay=0.0)
        history = []
        self.policy.train()
        for step in range(c.steps):
            for group in opt.param_groups:
                group["lr"] = cosine_lr(step, c.lr, c.steps, max(1, c.steps // 20), c.lr / 10)
            batch = [self.rng.choice(self.triples) for _ in range(c.batch_size)]
            chosen = [(p, w) for p, w, _ in batch]
            rejected = [(p, l_) for p, _, l_ in batch]
            with torch.no_grad():
                ref_w, ref_l = self._logps(self.ref, chosen), self._logps(self.ref, rejected)
            loss, margin = dpo_loss(
                self._logps(self.policy, chosen), self._logps(self.policy, rejected), ref_w, ref_l, c.beta
            )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(self.policy.parameters(), 1.0)
            opt.step()
            history.append({"step": step, "loss": loss.item(), "accuracy": (margin > 0).float().mean().item()})
        return history
