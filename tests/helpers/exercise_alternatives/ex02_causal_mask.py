"""ex02 by loops: fill the mask one entry at a time."""

import torch


def causal_mask(t_q, t_k):
    mask = torch.zeros(t_q, t_k, dtype=torch.bool)
    for i in range(t_q):
        for j in range(t_k):
            mask[i, j] = j <= i + (t_k - t_q)
    return mask
