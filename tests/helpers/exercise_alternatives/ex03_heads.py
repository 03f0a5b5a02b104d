"""ex03 by slicing: head i is the channel slice [i·d/h, (i+1)·d/h), stacked; merging concatenates them."""

import torch


def split_heads(x, n_head):
    d = x.shape[-1]
    if d % n_head != 0:
        raise ValueError(f"{d} channels do not split into {n_head} heads")
    size = d // n_head
    return torch.stack([x[..., i * size : (i + 1) * size] for i in range(n_head)], dim=1)


def merge_heads(x):
    return torch.cat([x[:, i] for i in range(x.shape[1])], dim=-1)
