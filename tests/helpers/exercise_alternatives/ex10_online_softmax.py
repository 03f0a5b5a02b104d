"""ex10 one query row at a time, keeping m, l and o as float64 per row."""

import math

import torch


def blocked_attention(q, k, v, block=64):
    out = torch.empty(q.shape[0], v.shape[1])
    for i in range(q.shape[0]):
        m, l, o = float("-inf"), 0.0, torch.zeros(v.shape[1], dtype=torch.float64)
        for j in range(0, k.shape[0], block):
            s = (k[j : j + block].double() @ q[i].double()) / math.sqrt(q.shape[1])  # (block,)
            m_new = max(m, s.max().item())
            p = torch.exp(s - m_new)
            c = math.exp(m - m_new)
            l = c * l + p.sum().item()
            o = c * o + p @ v[j : j + block].double()
            m = m_new
        out[i] = (o / l).float()
    return out
