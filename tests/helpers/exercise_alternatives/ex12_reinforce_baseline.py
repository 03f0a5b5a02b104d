"""ex12 with a loop over the groups and the baseline as the sum of the siblings' rewards divided by G."""

import torch


def reinforce_baseline_token_loss(logprobs, rewards, group_size):
    out = torch.empty_like(logprobs)
    for start in range(0, len(rewards), group_size):
        group = rewards[start : start + group_size].double()
        for i in range(group_size):
            advantage = group[i] - group.sum() / group_size
            out[start + i] = -(advantage * logprobs[start + i].double()).to(logprobs.dtype)
    return out
