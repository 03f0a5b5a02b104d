"""Reference solution of ex12_reinforce_baseline.py."""

from __future__ import annotations

from torch import Tensor


def reinforce_baseline_token_loss(logprobs: Tensor, rewards: Tensor, group_size: int) -> Tensor:
    groups = rewards.view(-1, group_size)  # (P, G): a prompt's replies side by side
    advantages = (groups - groups.mean(dim=1, keepdim=True)).flatten()  # (B,)
    return -advantages[:, None] * logprobs  # (B, T)
