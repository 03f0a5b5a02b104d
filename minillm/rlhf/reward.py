"""Reward model: a GPT trunk with a scalar head, trained on rankings (report §1.2.2-1, step 2).

Labelers rank K replies to each prompt; the reward model r(x, y) — a Transformer reading prompt
and reply, with one linear layer on the hidden state of the reply's *last* token — is trained so
that better-ranked replies score higher, over all K-choose-2 pairs of each ranking (InstructGPT,
Ouyang et al. 2022):

    loss = -1/C(K,2) · Σ_{y_w above y_l} log σ(r(x, y_w) - r(x, y_l))     (rlhf.losses)

Only differences of rewards are trained, so the scale's zero point is arbitrary.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from minillm.models.gpt import GPT
from minillm.rlhf.losses import pairwise_ranking_loss
from minillm.rlhf.stage import StageConfig, run_steps

__all__ = ["Ranking", "RewardConfig", "RewardModel", "RewardModelTrainer", "encode_rankings", "ranking_rewards"]


class RewardModel(nn.Module):
    """r(x, y): GPT trunk → hidden state at the last real token → Linear(n_embd, 1)."""

    def __init__(self, trunk: GPT):
        super().__init__()
        if not isinstance(trunk, GPT):
            raise TypeError(f"RewardModel needs a GPT trunk, got {type(trunk).__name__}")
        self.trunk = trunk
        self.head = nn.Linear(trunk.config.n_embd, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    @classmethod
    def from_policy(cls, policy: GPT) -> RewardModel:
        """Start from a copy of a (fine-tuned) language model, as InstructGPT does."""
        return cls(copy.deepcopy(policy))

    def forward(self, idx: Tensor, lengths: Tensor) -> Tensor:
        """idx: (B, T) right-padded token ids; lengths: (B,) real lengths → rewards (B,)."""
        if lengths.shape != idx.shape[:1] or bool((lengths < 1).any()) or bool((lengths > idx.shape[1]).any()):
            raise ValueError(f"lengths must be (B,) in [1, T={idx.shape[1]}], got {lengths.tolist()}")
        h = self.trunk.features(idx)  # (B, T, n_embd)
        last = h[torch.arange(idx.shape[0]), lengths - 1]  # (B, n_embd): the last real token
        return self.head(last).squeeze(-1)  # (B,)


@dataclass
class Ranking:
    """One labeled prompt: replies and their ranks (0 = best; ties allowed, not all tied)."""

    prompt: str
    replies: list[str]
    ranks: list[int]

    def __post_init__(self):
        if len(self.replies) < 2:
            raise ValueError(f"a ranking needs at least 2 replies, got {len(self.replies)} for {self.prompt!r}")
        if len(self.ranks) != len(self.replies):
            raise ValueError(f"{len(self.ranks)} ranks for {len(self.replies)} replies of {self.prompt!r}")
        if len(set(self.ranks)) < 2:
            raise ValueError(f"ranking of {self.prompt!r} has only ties")


def encode_rankings(
    rankings: Sequence[Ranking], encode: Callable[[str], list[int]], pad_id: int, block_size: int
) -> tuple[Tensor, Tensor, Tensor]:
    """(B·K, T) right-padded prompt+reply ids, (B·K,) lengths and (B, K) ranks; K must be equal."""
    k = len(rankings[0].replies)
    if any(len(r.replies) != k for r in rankings):
        raise ValueError("every ranking in a batch needs the same number of replies K")
    seqs = [encode(r.prompt + reply) for r in rankings for reply in r.replies]
    too_long = [len(s) for s in seqs if len(s) > block_size]
    if too_long:
        raise ValueError(f"prompt + reply of {max(too_long)} tokens exceeds the model's block_size={block_size}")
    idx = torch.full((len(seqs), max(len(s) for s in seqs)), pad_id, dtype=torch.long)
    for i, s in enumerate(seqs):
        idx[i, : len(s)] = torch.tensor(s)
    lengths = torch.tensor([len(s) for s in seqs])
    ranks = torch.tensor([r.ranks for r in rankings])
    return idx, lengths, ranks


def ranking_rewards(model: RewardModel, rankings: Sequence[Ranking], encode, pad_id: int) -> tuple[Tensor, Tensor]:
    """r(x, y) of every reply of every ranking, (B, K), beside the labelers' ranks, (B, K)."""
    idx, lengths, ranks = encode_rankings(rankings, encode, pad_id, model.trunk.config.block_size)
    return model(idx, lengths).view(ranks.shape), ranks


@dataclass
class RewardConfig(StageConfig):
    max_steps: int = 300
    batch_size: int = 16  # prompts per step (each with K replies)
    lr: float = 1e-3


class RewardModelTrainer:
    """Trains a RewardModel on rankings; ``accuracy`` measures held-out pairwise agreement."""

    def __init__(self, model: RewardModel, rankings: Sequence[Ranking], tokenizer, pad_id: int, config=None):
        if not rankings:
            raise ValueError("RewardModelTrainer needs a non-empty list of rankings")
        self.model, self.rankings, self.tokenizer, self.pad_id = model, list(rankings), tokenizer, pad_id
        self.config = config or RewardConfig()
        encode_rankings(self.rankings, tokenizer.encode, pad_id, model.trunk.config.block_size)  # validate now
        self.rng = random.Random(self.config.seed)

    def rewards(self, rankings: Sequence[Ranking]) -> tuple[Tensor, Tensor]:
        """Rewards (B, K) of the rankings' replies and their ranks (B, K)."""
        return ranking_rewards(self.model, rankings, self.tokenizer.encode, self.pad_id)

    def train(self) -> list[dict]:
        """``max_steps`` steps on random batches of rankings; one record per step."""
        c = self.config
        sample = lambda: [self.rng.choice(self.rankings) for _ in range(c.batch_size)]
        return run_steps(self.model, c, sample, lambda batch: pairwise_ranking_loss(*self.rewards(batch)))

    @torch.no_grad()
    def accuracy(self, rankings: Sequence[Ranking]) -> float:
        """Share of ordered pairs (i ranked above j) with r_i > r_j."""
        self.model.eval()
        right = total = 0
        for i in range(0, len(rankings), 64):
            rewards, ranks = self.rewards(rankings[i : i + 64])
            above = ranks[:, :, None] < ranks[:, None, :]
            right += int(((rewards[:, :, None] > rewards[:, None, :]) & above).sum())
            total += int(above.sum())
        return right / total
