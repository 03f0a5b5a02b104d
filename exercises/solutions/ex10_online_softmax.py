"""Attention in blocks with an online softmax (report §3.2, how FlashAttention helps).

Compute softmax(Q Kᵀ/√d) V for q (T_q, d), k (T_k, d), v (T_k, d_v) *without* ever holding the
T_q × T_k score matrix: walk over the keys in blocks of ``block`` columns, and keep for every
query row a running maximum m, a running sum ℓ of exp(s - m), and a running output o:
    m_new = max(m, rowmax(S_blk));  P = exp(S_blk - m_new)
    ℓ = exp(m - m_new) ℓ + rowsum(P);  o = exp(m - m_new) o + P V_blk;  m = m_new
and return o / ℓ at the end. (Milakov & Gimelshein 2018; Dao et al. 2022, Algorithm 1.)

Grade it: pytest exercises/test_ex10_online_softmax.py
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def blocked_attention(q: Tensor, k: Tensor, v: Tensor, block: int = 64) -> Tensor:
    scale = 1.0 / math.sqrt(q.shape[-1])
    m = torch.full((q.shape[0], 1), float("-inf"))  # running row maximum
    l = torch.zeros(q.shape[0], 1)  # running sum of exp(s - m)
    o = torch.zeros(q.shape[0], v.shape[-1])  # running, unnormalised output
    for j in range(0, k.shape[0], block):
        s = q @ k[j : j + block].T * scale  # (T_q, block): only one block of scores at a time
        m_new = torch.maximum(m, s.max(dim=-1, keepdim=True).values)
        p = torch.exp(s - m_new)
        correction = torch.exp(m - m_new)  # rescales what was summed under the old maximum
        l = correction * l + p.sum(dim=-1, keepdim=True)
        o = correction * o + p @ v[j : j + block]
        m = m_new
    return o / l
