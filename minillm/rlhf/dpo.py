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
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from minillm.models.gpt import GPT
from minillm.rlhf.losses import dpo_loss
from minillm.rlhf.sampling import token_logprobs
from minillm.rlhf.sft import sft_batch
from minillm.rlhf.stage import StageConfig, run_steps

__all__ = ["DPOConfig", "DPOTrainer"]


@dataclass
class DPOConfig(StageConfig):
    max_steps: int = 300
    batch_size: int = 32  # preference pairs per step
    lr: float = 5e-4
    beta: float = 0.1  # how far the policy may move from the reference (smaller β: further)

    def __post_init__(self):
        super().__post_init__()
        if self.beta <= 0:
            raise ValueError(f"beta must be > 0, got {self.beta}")


class DPOTrainer:
    """Trains ``policy`` on (prompt, chosen, rejected) triples against a frozen copy of itself."""

    def __init__(
        self,
        policy: GPT,
        triples: Sequence[tuple[str, str, str]],
        tokenizer,
        pad_id: int,
        config: DPOConfig | None = None,
    ):
        if not triples:
            raise ValueError("DPOTrainer needs a non-empty list of (prompt, chosen, rejected) triples")
        self.policy, self.triples, self.tokenizer, self.pad_id = policy, list(triples), tokenizer, pad_id
        self.config = config or DPOConfig()
        self.ref = copy.deepcopy(policy).eval().requires_grad_(False)
        for p, w, l_ in self.triples[:1]:  # fail before training on a reply that does not fit
            sft_batch([(p, w), (p, l_)], tokenizer.encode, pad_id, policy.config.block_size)
        self.rng = random.Random(self.config.seed)

    def reply_logprob(self, model: GPT, pairs: Sequence[tuple[str, str]]) -> Tensor:
        """log π(reply | prompt) of each (prompt, reply) pair → (B,)."""
        inputs, targets = sft_batch(pairs, self.tokenizer.encode, self.pad_id, self.policy.config.block_size)
        return token_logprobs(model, inputs, targets)[0].sum(-1)  # (B,)

    def loss(self, batch: Sequence[tuple[str, str, str]]) -> tuple[Tensor, dict]:
        chosen = [(p, w) for p, w, _ in batch]
        rejected = [(p, l_) for p, _, l_ in batch]
        with torch.no_grad():
            ref_w, ref_l = self.reply_logprob(self.ref, chosen), self.reply_logprob(self.ref, rejected)
        pol_w, pol_l = self.reply_logprob(self.policy, chosen), self.reply_logprob(self.policy, rejected)
        loss, margin = dpo_loss(pol_w, pol_l, ref_w, ref_l, self.config.beta)
        return loss, {"accuracy": (margin > 0).float().mean()}  # share of pairs the policy now prefers right

    def train(self) -> list[dict]:
        """``max_steps`` steps on random batches of triples; one record per step (with ``accuracy``)."""
        c = self.config
        sample = lambda: [self.rng.choice(self.triples) for _ in range(c.batch_size)]
        return run_steps(self.policy, c, sample, self.loss)
