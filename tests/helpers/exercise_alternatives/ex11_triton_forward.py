"""ex11 with exp2 (log2 e folded into the scale) and the updates in another order.

The inner loop of a FlashAttention forward kernel in Triton (report §3.2, the same algorithm on a GPU).

One Triton *program* owns BLOCK_M query rows of q (T_q, d) and streams over the keys k, v (T_k, d)
in tiles of BLOCK_N rows, keeping per row a running maximum m, a running sum l and a running
output acc (the online softmax of ex10, now on tiles):
    s = q kᵀ · scale  (BLOCK_M × BLOCK_N; set columns ≥ T_k to -inf)
    m_new = max(m, rowmax(s));  p = exp(s - m_new)
    l = exp(m - m_new) · l + rowsum(p);  acc = exp(m - m_new) · acc + p v;  m = m_new
Write ``_inner_loop`` (tl.dot, tl.max, tl.sum, tl.exp, tl.where, tl.maximum); the kernel around it and
the launcher are given. It runs on CPU under Triton's interpreter (TRITON_INTERPRET=1, set by the
test before this file is imported). minillm's full kernel: minillm/kernels/triton_kernels.py.

Grade it: pytest exercises/test_ex11_triton_forward.py
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _inner_loop(acc, l_i, m_i, q, K, V, offs_n, offs_d, T_k, scale, BLOCK_N: tl.constexpr, D: tl.constexpr):
    # exp2 with log2(e) folded into the scale (as FlashAttention-2 does); m_i is kept in log2 units
    qk_scale = scale * 1.4426950408889634
    for start_n in range(0, T_k, BLOCK_N):
        cols = start_n + offs_n
        valid = cols < T_k
        k = tl.load(K + cols[:, None] * D + offs_d[None, :], mask=valid[:, None], other=0.0)  # (BLOCK_N, D)
        v = tl.load(V + cols[:, None] * D + offs_d[None, :], mask=valid[:, None], other=0.0)
        s = tl.where(valid[None, :], tl.dot(q, tl.trans(k)) * qk_scale, float("-inf"))  # (BLOCK_M, BLOCK_N)
        m_new = tl.maximum(m_i, tl.max(s, 1))
        alpha = tl.exp2(m_i - m_new)
        p = tl.exp2(s - m_new[:, None])
        acc = acc * alpha[:, None] + tl.dot(p, v)
        l_i = l_i * alpha + tl.sum(p, 1)
        m_i = m_new
    return acc, l_i, m_i


@triton.jit
def _forward_kernel(Q, K, V, O, T_q, T_k, scale, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, D: tl.constexpr):
    offs_m = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)  # this program's query rows
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, D)
    q = tl.load(Q + offs_m[:, None] * D + offs_d[None, :], mask=offs_m[:, None] < T_q, other=0.0)  # (BLOCK_M, D)
    m_i = tl.full((BLOCK_M,), float("-inf"), tl.float32)
    l_i = tl.zeros((BLOCK_M,), tl.float32)
    acc = tl.zeros((BLOCK_M, D), tl.float32)
    acc, l_i, m_i = _inner_loop(acc, l_i, m_i, q, K, V, offs_n, offs_d, T_k, scale, BLOCK_N, D)
    tl.store(O + offs_m[:, None] * D + offs_d[None, :], acc / l_i[:, None], mask=offs_m[:, None] < T_q)


def flash_forward(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, block_m: int = 16, block_n: int = 16):
    """softmax(q kᵀ/√d) v for q (T_q, d), k and v (T_k, d), fp32, d a power of two ≥ 16."""
    q, k, v = q.contiguous(), k.contiguous(), v.contiguous()
    out = torch.empty_like(q)  # (T_q, d)
    grid = (triton.cdiv(q.shape[0], block_m),)  # one program per BLOCK_M query rows
    _forward_kernel[grid](q, k, v, out, q.shape[0], k.shape[0], q.shape[1] ** -0.5, block_m, block_n, q.shape[1])
    return out
