"""REINFORCE with a group baseline, as a per-token loss (report §1.2.2, RL from verifiable rewards).

B = P·G replies: P prompts, G replies each, a prompt's G replies side by side (rows 0…G-1 are the
first prompt's). Each reply i has one reward r_i (rewards: (B,)) and per-token log-probabilities
log π(y_t) (logprobs: (B, T)). The baseline is the mean reward of the reply's own group:
    A_i = r_i - mean(r over i's group)
    loss[i, t] = -A_i · logprobs[i, t]           return this (B, T) tensor
Its gradient, -A_i per token, pushes up the replies that beat their siblings and down the others;
a group whose replies are all equally good teaches nothing. (Williams 1992; the group as the baseline:
Shao et al. 2024 and Kool et al. 2019.) minillm: rlhf/policy_gradient.py.

Grade it: pytest exercises/test_ex12_reinforce_baseline.py
"""

from __future__ import annotations

from torch import Tensor


def reinforce_baseline_token_loss(logprobs: Tensor, rewards: Tensor, group_size: int) -> Tensor:
    raise NotImplementedError("ex12_reinforce_baseline: write this function")
