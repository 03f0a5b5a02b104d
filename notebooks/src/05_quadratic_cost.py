# Notebook source (percent format): tools/make_notebooks.py writes notebooks/05_quadratic_cost.ipynb from it.
# ruff: noqa: F821  (QUICK is defined by the setup cell that tools/make_notebooks.py puts first)

# %% [markdown]
# # §3.2 The quadratic cost of attention
#
# The report: attention's cost grows with the *square* of the context length. Every query scores
# every key, so T tokens make T² scores. We count them, time them, and then compute attention
# without ever holding the T × T matrix, as FlashAttention does. The chapter:
# [docs/quadratic-cost.md](../docs/quadratic-cost.md); exercise 10 asks you to write the blocked softmax.

# %% [markdown]
# ## Counting: pairs, FLOPs and the memory of the score matrix

# %%
from minillm.costs import attention_pairs

print(f"{'T':>6} {'pairs':>14} {'causal pairs':>14} {'scores in fp32 (12 heads)':>26}")
for t in (1024, 2048, 4096, 32768):
    mib = attention_pairs(t, t) * 12 * 4 / 2**20
    print(f"{t:>6} {attention_pairs(t, t):>14,} {attention_pairs(t, t, causal=True):>14,} {mib:>22,.0f} MiB")
print("doubling T multiplies the pairs by", attention_pairs(2048, 2048) / attention_pairs(1024, 1024))

# %% [markdown]
# ## Measured: time against context length
#
# minillm's explicit kernel builds the T × T scores; the chunked kernel walks over blocks of keys;
# PyTorch's fused kernel does the same in C++. The time per call grows about 4× per doubling of T
# once T is large enough (on a busy machine the numbers are noisy; the trend is the point).

# %%
import time

import torch

from minillm.kernels import attention


def seconds(backend: str, t: int, repeats: int = 3) -> float:
    q, k, v = (torch.randn(1, 4, t, 32) for _ in range(3))  # (B, heads, T, head_dim)
    attention(q, k, v, causal=True, backend=backend)  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        attention(q, k, v, causal=True, backend=backend)
    return (time.perf_counter() - start) / repeats


lengths = (128, 256, 512) if QUICK else (256, 512, 1024, 2048)
print(f"{'T':>6}" + "".join(f"{b:>12}" for b in ("naive", "chunked", "sdpa")))
for t in lengths:
    print(f"{t:>6}" + "".join(f"{seconds(b, t) * 1e3:>10.2f}ms" for b in ("naive", "chunked", "sdpa")))

# %% [markdown]
# ## Attention without the T × T matrix: the online softmax
#
# Walk over the keys in blocks. For every query keep a running maximum m, a running sum ℓ of
# exp(s − m) and a running output o; when a block raises the maximum, rescale what was summed so
# far by exp(m_old − m_new). At the end o / ℓ is exactly softmax(QKᵀ/√d)V: only one block of
# scores ever exists.

# %%
import math

import torch.nn.functional as F


def blocked_attention(q, k, v, block: int):
    m = torch.full((q.shape[0], 1), float("-inf"))  # running row maximum
    l = torch.zeros(q.shape[0], 1)  # running sum of exp(s - m)
    o = torch.zeros(q.shape[0], v.shape[-1])  # running, unnormalised output
    for j in range(0, k.shape[0], block):
        s = q @ k[j : j + block].T / math.sqrt(q.shape[-1])  # (T_q, block): one block of scores
        m_new = torch.maximum(m, s.max(dim=-1, keepdim=True).values)
        p = torch.exp(s - m_new)
        correction = torch.exp(m - m_new)  # rescales what was summed under the old maximum
        l = correction * l + p.sum(dim=-1, keepdim=True)
        o = correction * o + p @ v[j : j + block]
        m = m_new
    return o / l


q, k, v = torch.randn(100, 16), torch.randn(300, 16), torch.randn(300, 8)
for block in (1, 7, 64, 300):
    torch.testing.assert_close(blocked_attention(q, k, v, block), F.scaled_dot_product_attention(q, k, v))
print("blocked attention equals the full softmax for every block size")

# %% [markdown]
# The same idea, with the backward pass, is minillm's `chunked` backend
# (`minillm/kernels/chunked.py`), and on a GPU the Triton kernel.
#
# **Next:** [docs/quadratic-cost.md](../docs/quadratic-cost.md) (memory of training, the measured
# plots), and `python examples/05_quadratic_cost.py`.
