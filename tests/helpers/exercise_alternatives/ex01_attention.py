"""ex01 by loops: one query at a time, a float64 softmax written out with max, exp and sum."""

import math

import torch


def attention(q, k, v, mask=None):
    t_q, t_k = q.shape[-2], k.shape[-2]
    if mask is None:
        mask = torch.ones(t_q, t_k, dtype=torch.bool)
    lead = torch.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2], mask.shape[:-2])
    q, k, v = q.expand(*lead, *q.shape[-2:]), k.expand(*lead, *k.shape[-2:]), v.expand(*lead, *v.shape[-2:])
    mask = mask.expand(*lead, t_q, t_k)
    weights = torch.zeros(*lead, t_q, t_k, dtype=torch.float64)
    for i in range(t_q):
        scores = torch.einsum("...d,...kd->...k", q[..., i, :].double(), k.double()) / math.sqrt(q.shape[-1])
        scores = torch.where(mask[..., i, :], scores, torch.tensor(float("-inf"), dtype=torch.float64))
        e = torch.exp(scores - scores.max(dim=-1, keepdim=True).values)
        weights[..., i, :] = e / e.sum(dim=-1, keepdim=True)
    weights = weights.float()
    return weights @ v, weights
