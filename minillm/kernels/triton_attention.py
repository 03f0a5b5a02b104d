"""FlashAttention-2 in Triton: the same algorithm as chunked.py, one GPU tile per program (backend "triton").

Report §3.2: attention's compute grows as T², but its memory need not. kernels/chunked.py shows
the algorithm in PyTorch; here it runs as a GPU kernel (Dao 2023, "FlashAttention-2"). One
program owns BLOCK_M query rows, keeps them and three running row statistics in registers and
streams the K/V tiles past them (Algorithm 1), in base 2 because exp2 is the GPU's native exp:

    S = Q Kᵀ · scale · log2(e)                 m_new = max(m, rowmax(S))      P = 2^(S - m_new)
    l = l · 2^(m - m_new) + rowsum(P)          acc = acc · 2^(m - m_new) + P V
    O = acc / l                                L = m + log2(l)  (kept for the backward)

The backward (Algorithm 2) recomputes P = 2^(S - L) tile by tile instead of storing it, with
D = rowsum(dO ∘ O):  dV = Pᵀ dO,  dP = dO Vᵀ,  dS = P ∘ (dP - D),  dQ = dS K · scale,
dK = dSᵀ Q · scale. It runs as two kernels instead of one with atomics: ``_dkdv_kernel`` owns a
K/V tile and walks the query tiles (and the query heads of its group, so grouped-query K/V need
no atomics either); ``_dq_kernel`` owns a query tile and walks the key tiles. Both are
deterministic; the price is computing S and P twice.

Causal is minillm's bottom-right rule: query i sees keys j ≤ i + (T_k - T_q); a sliding window W
(kernels/masks.py) also hides keys j ≤ i + (T_k - T_q) - W. Tiles wholly visible skip the mask
(the MASKED=False loop), tiles on the diagonal, on the window's edge or past T_k apply it, and
tiles wholly in the future or wholly before the window are never visited: causal halves the
work, and a window W makes it O(T·W) instead of O(T²). ``_key_tiles`` computes these bounds once
for the forward and dQ kernels; ``_dkdv_kernel`` has the transposed ones.

Tile sizes come from ``CONFIGS`` (per GPU generation, kernel and head size), not runtime
autotuning: autotune needs a driver, and a table is something a student can read. With
``TRITON_INTERPRET=1`` set before this module is imported, the kernels run on CPU through numpy
(fp32/fp16; bf16 comes back wrong there). The registry imports this module on the first
``backend="triton"`` call. Compile report: minillm/kernels/triton_compile.py.

Docs: docs/quadratic-cost.md#the-same-algorithm-on-a-gpu.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import triton
import triton.language as tl
from torch import Tensor

from minillm.kernels.checks import check_attention_inputs
from minillm.kernels.masks import check_window

__all__ = [
    "CONFIGS",
    "HEAD_DIMS",
    "INTERPRETED",
    "WINDOW_CONFIGS",
    "TileConfig",
    "config_for",
    "triton_attention",
    "unsupported",
]

HEAD_DIMS = (16, 32, 64, 128)  # tl.arange needs powers of two; tl.dot needs ≥ 16
GPU_DTYPES = (torch.float16, torch.bfloat16)  # fp32 would make tl.dot use TF32 silently
INTERPRETER_DTYPES = (torch.float32, torch.float16)  # bf16 is wrong under TRITON_INTERPRET=1


@dataclass(frozen=True)
class TileConfig:
    block_m: int  # query rows per tile
    block_n: int  # key rows per tile
    num_warps: int
    num_stages: int  # software-pipelining depth of the K/V (or Q/dO) loads


# (arch, kernel, head_dim) -> tiles. fp16 and bf16 share a row: both are 2 bytes. Chosen with
# `minillm kernels compile` (0 spills, shared memory within the limit); see the docs for timings.
_SM90 = {"fwd": (128, 64, 4, 3), "dkdv": (64, 128, 8, 3), "dq": (128, 64, 8, 3)}
_SM90_D128 = {"fwd": (128, 64, 8, 3), "dkdv": (32, 64, 8, 2), "dq": (128, 64, 8, 2)}
_SM80 = {"fwd": (128, 64, 8, 3), "dkdv": (32, 64, 8, 3), "dq": (64, 64, 8, 3)}  # 8 warps: 0 spills with a window too
_SM80_D128 = {"fwd": (128, 32, 8, 2), "dkdv": (32, 64, 8, 2), "dq": (64, 64, 8, 2)}
_INTERPRETER = {"fwd": (32, 64, 1, 1), "dkdv": (32, 64, 1, 1), "dq": (32, 64, 1, 1)}  # unequal: tests both
CONFIGS: dict[tuple[str, str, int], TileConfig] = {
    (arch, kernel, d): TileConfig(*table[kernel])
    for arch, small, big in (("sm90", _SM90, _SM90_D128), ("sm80", _SM80, _SM80_D128))
    for kernel in ("fwd", "dkdv", "dq")
    for d, table in ((16, small), (32, small), (64, small), (128, big))
} | {("interpreter", kernel, d): TileConfig(*_INTERPRETER[kernel]) for kernel in _INTERPRETER for d in HEAD_DIMS}


# A sliding window adds a third tile loop; on sm_90 with d ≤ 64 that spills at 4 warps (fwd) and 3 stages (dK/dV).
WINDOW_CONFIGS = {("sm90", "fwd", d): TileConfig(128, 64, 8, 3) for d in (16, 32, 64)} | {
    ("sm90", "dkdv", d): TileConfig(64, 128, 8, 2) for d in (16, 32, 64)
}


def config_for(arch: str, kernel: str, head_dim: int, window: bool = False) -> TileConfig:
    key = (arch, kernel, head_dim)
    return WINDOW_CONFIGS.get(key, CONFIGS[key]) if window else CONFIGS[key]


# --8<-- [start:triton-forward]
@triton.jit
def _fwd_tiles(acc, l_i, m_i, q, K, V, offs_m, offs_n, offs_d, lo, hi, T_k, offset, qk_scale,
               MASKED: tl.constexpr, CAUSAL: tl.constexpr, WINDOW: tl.constexpr, HEAD_DIM: tl.constexpr,
               BLOCK_N: tl.constexpr):  # fmt: skip
    """Algorithm 1's inner loop: fold key tiles lo, lo + BLOCK_N, … < hi into (acc, l, m)."""
    for start_n in range(lo, hi, BLOCK_N):
        cols = start_n + offs_n  # (BLOCK_N,) key positions
        k = tl.load(K + cols[None, :] * HEAD_DIM + offs_d[:, None], mask=cols[None, :] < T_k, other=0.0)  # (D, N)
        v = tl.load(V + cols[:, None] * HEAD_DIM + offs_d[None, :], mask=cols[:, None] < T_k, other=0.0)  # (N, D)
        s = tl.dot(q, k) * qk_scale  # (BLOCK_M, BLOCK_N) scores, log2 units
        if MASKED:  # only the diagonal, the window's edge and the tail tile pay for the mask
            visible = cols[None, :] < T_k
            if CAUSAL:
                diag = offs_m[:, None] + offset  # (BLOCK_M, 1) each row's own position
                visible = visible & (cols[None, :] <= diag)
                if WINDOW > 0:
                    visible = visible & (cols[None, :] > diag - WINDOW)
            s = tl.where(visible, s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, 1))  # (BLOCK_M,)
        m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)  # a row that saw no key yet: 2^-inf = 0, not NaN
        p = tl.math.exp2(s - m_safe[:, None])  # (BLOCK_M, BLOCK_N)
        alpha = tl.math.exp2(m_i - m_safe)  # rescales what was summed under the old maximum
        l_i = l_i * alpha + tl.sum(p, 1)
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)  # (BLOCK_M, D), tensor cores
        m_i = m_new
    return acc, l_i, m_i


@triton.jit
def _key_tiles(start_m, T_k, offset, CAUSAL: tl.constexpr, WINDOW: tl.constexpr,
               BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):  # fmt: skip
    """The key tiles of query rows start_m … start_m + BLOCK_M - 1: masked [lo, a), whole [a, b), masked [b, hi)."""
    if CAUSAL:
        hi = tl.minimum(T_k, start_m + BLOCK_M + offset)  # later keys are in every row's future
        if WINDOW > 0:
            lo = tl.maximum(start_m + offset - WINDOW + 1, 0) // BLOCK_N * BLOCK_N  # earlier: before every window
            # whole tiles every row sees: from the last row's window start to the first row's diagonal
            a = tl.minimum(tl.cdiv(tl.maximum(start_m + BLOCK_M + offset - WINDOW, lo), BLOCK_N) * BLOCK_N, hi)
        else:
            lo = 0
            a = 0
        b = tl.minimum(tl.maximum(tl.maximum(start_m + offset + 1, 0) // BLOCK_N * BLOCK_N, a), hi)
    else:
        lo = 0
        a = 0
        b = T_k // BLOCK_N * BLOCK_N  # whole tiles; the tail tile past T_k is masked
        hi = T_k
    return lo, a, b, hi


@triton.jit
def _fwd_kernel(Q, K, V, O, LSE, T_q, T_k, group, scale, CAUSAL: tl.constexpr, WINDOW: tl.constexpr,
                HEAD_DIM: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):  # fmt: skip
    start_m = tl.program_id(0) * BLOCK_M
    bh = tl.program_id(1)  # b · H + h; its K/V head is b · H_kv + h // group = bh // group
    Q += bh.to(tl.int64) * T_q * HEAD_DIM  # tensors are contiguous (B, H, T, D)
    O += bh.to(tl.int64) * T_q * HEAD_DIM
    K += (bh // group).to(tl.int64) * T_k * HEAD_DIM
    V += (bh // group).to(tl.int64) * T_k * HEAD_DIM
    offs_m = start_m + tl.arange(0, BLOCK_M)
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, HEAD_DIM)
    offset = T_k - T_q  # query i sits at position i + offset (bottom-right)
    q = tl.load(Q + offs_m[:, None] * HEAD_DIM + offs_d[None, :], mask=offs_m[:, None] < T_q, other=0.0)  # (M, D)
    m_i = tl.full((BLOCK_M,), float("-inf"), tl.float32)  # running max
    l_i = tl.zeros((BLOCK_M,), tl.float32)  # running denominator
    acc = tl.zeros((BLOCK_M, HEAD_DIM), tl.float32)  # running Σ P V
    qk_scale = scale * 1.4426950408889634  # log2(e): exp(x) = 2^(x · log2 e)
    lo, a, b, hi = _key_tiles(start_m, T_k, offset, CAUSAL, WINDOW, BLOCK_M, BLOCK_N)
    if WINDOW > 0:  # the window's trailing edge (without a window the loop would be empty: not compiled at all)
        acc, l_i, m_i = _fwd_tiles(acc, l_i, m_i, q, K, V, offs_m, offs_n, offs_d, lo, a, T_k, offset,
                                   qk_scale, True, CAUSAL, WINDOW, HEAD_DIM, BLOCK_N)  # fmt: skip
    acc, l_i, m_i = _fwd_tiles(acc, l_i, m_i, q, K, V, offs_m, offs_n, offs_d, a, b, T_k, offset, qk_scale,
                               False, CAUSAL, WINDOW, HEAD_DIM, BLOCK_N)  # fmt: skip
    acc, l_i, m_i = _fwd_tiles(acc, l_i, m_i, q, K, V, offs_m, offs_n, offs_d, b, hi, T_k, offset, qk_scale,
                               True, CAUSAL, WINDOW, HEAD_DIM, BLOCK_N)  # fmt: skip
    dead = l_i == 0.0  # no visible key (causal with T_q > T_k): output 0, like the naive path
    l_safe = tl.where(dead, 1.0, l_i)
    tl.store(O + offs_m[:, None] * HEAD_DIM + offs_d[None, :], (acc / l_safe[:, None]).to(O.dtype.element_ty),
             mask=offs_m[:, None] < T_q)  # fmt: skip
    lse = tl.where(dead, float("inf"), m_i + tl.math.log2(l_safe))  # +inf makes P = 0 in the backward
    tl.store(LSE + bh.to(tl.int64) * T_q + offs_m, lse, mask=offs_m < T_q)


# --8<-- [end:triton-forward]


@triton.jit
def _dkdv_tiles(dk, dv, k, v, Q, DO, LSE, DELTA, offs_m, offs_n, offs_d, lo, hi, T_q, offset, qk_scale,
                MASKED: tl.constexpr, WINDOW: tl.constexpr, HEAD_DIM: tl.constexpr, BLOCK_M: tl.constexpr):  # fmt: skip
    """Algorithm 2 for one K/V tile: accumulate dK, dV over query tiles lo … < hi (transposed: keys are rows)."""
    for start_m in range(lo, hi, BLOCK_M):
        rows = start_m + offs_m  # (BLOCK_M,) query positions; rows ≥ T_q load L = +inf, so P = 0
        q = tl.load(Q + rows[:, None] * HEAD_DIM + offs_d[None, :], mask=rows[:, None] < T_q, other=0.0)  # (M, D)
        do = tl.load(DO + rows[:, None] * HEAD_DIM + offs_d[None, :], mask=rows[:, None] < T_q, other=0.0)  # (M, D)
        lse = tl.load(LSE + rows, mask=rows < T_q, other=float("inf"))  # (BLOCK_M,)
        delta = tl.load(DELTA + rows, mask=rows < T_q, other=0.0)  # (BLOCK_M,) = rowsum(dO ∘ O)
        p_t = tl.math.exp2(tl.dot(k, tl.trans(q)) * qk_scale - lse[None, :])  # (BLOCK_N, BLOCK_M) = Pᵀ
        if MASKED:
            diag = rows[None, :] + offset  # (1, BLOCK_M) each query's own position
            visible = offs_n[:, None] <= diag
            if WINDOW > 0:
                visible = visible & (offs_n[:, None] > diag - WINDOW)
            p_t = tl.where(visible, p_t, 0.0)
        dv += tl.dot(p_t.to(do.dtype), do)  # dV += Pᵀ dO
        dp_t = tl.dot(v, tl.trans(do))  # (BLOCK_N, BLOCK_M) = (dO Vᵀ)ᵀ
        ds_t = p_t * (dp_t - delta[None, :])  # dSᵀ = Pᵀ ∘ (dPᵀ - D)
        dk += tl.dot(ds_t.to(q.dtype), q)  # dK += dSᵀ Q (· scale at the end)
    return dk, dv


@triton.jit
def _dkdv_kernel(Q, K, V, DO, DK, DV, LSE, DELTA, T_q, T_k, group, scale, CAUSAL: tl.constexpr,
                 WINDOW: tl.constexpr, HEAD_DIM: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):  # fmt: skip
    start_n = tl.program_id(0) * BLOCK_N
    bh_kv = tl.program_id(1)  # b · H_kv + kv head
    kv_base = bh_kv.to(tl.int64) * T_k * HEAD_DIM
    offs_m = tl.arange(0, BLOCK_M)
    offs_n = start_n + tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, HEAD_DIM)
    kv_ptrs = offs_n[:, None] * HEAD_DIM + offs_d[None, :]
    k = tl.load(K + kv_base + kv_ptrs, mask=offs_n[:, None] < T_k, other=0.0)  # (BLOCK_N, D), stays on chip
    v = tl.load(V + kv_base + kv_ptrs, mask=offs_n[:, None] < T_k, other=0.0)
    dk = tl.zeros((BLOCK_N, HEAD_DIM), tl.float32)
    dv = tl.zeros((BLOCK_N, HEAD_DIM), tl.float32)
    qk_scale = scale * 1.4426950408889634
    offset = T_k - T_q
    if CAUSAL:  # query i sees key j iff j ≤ i + offset (and, with a window, i + offset - WINDOW < j)
        lo = tl.maximum(start_n - offset, 0) // BLOCK_M * BLOCK_M  # first query tile that sees a key here
        mid = tl.cdiv(tl.maximum(start_n + BLOCK_N - 1 - offset, lo), BLOCK_M) * BLOCK_M  # from here all see all…
        if WINDOW > 0:
            hi = tl.minimum(T_q, tl.maximum(start_n + BLOCK_N - 1 - offset + WINDOW, 0))  # later: past every window
            mid = tl.minimum(mid, hi)
            end = tl.minimum(
                tl.maximum(tl.maximum(start_n - offset + WINDOW, 0) // BLOCK_M * BLOCK_M, mid), hi
            )  # …to here
        else:
            end = T_q
            hi = T_q
    else:
        lo = 0
        mid = 0
        end = T_q
        hi = T_q
    for g in range(group):  # every query head that reads this K/V head: dK, dV sum over the group
        bh = bh_kv * group + g
        q_base = bh.to(tl.int64) * T_q
        Qg, DOg = Q + q_base * HEAD_DIM, DO + q_base * HEAD_DIM
        dk, dv = _dkdv_tiles(dk, dv, k, v, Qg, DOg, LSE + q_base, DELTA + q_base, offs_m, offs_n, offs_d,
                             lo, mid, T_q, offset, qk_scale, True, WINDOW, HEAD_DIM, BLOCK_M)  # fmt: skip
        dk, dv = _dkdv_tiles(dk, dv, k, v, Qg, DOg, LSE + q_base, DELTA + q_base, offs_m, offs_n, offs_d,
                             mid, end, T_q, offset, qk_scale, False, WINDOW, HEAD_DIM, BLOCK_M)  # fmt: skip
        if WINDOW > 0:  # the queries whose window ends inside this key tile
            dk, dv = _dkdv_tiles(dk, dv, k, v, Qg, DOg, LSE + q_base, DELTA + q_base, offs_m, offs_n, offs_d,
                                 end, hi, T_q, offset, qk_scale, True, WINDOW, HEAD_DIM, BLOCK_M)  # fmt: skip
    tl.store(DK + kv_base + kv_ptrs, (dk * scale).to(DK.dtype.element_ty), mask=offs_n[:, None] < T_k)
    tl.store(DV + kv_base + kv_ptrs, dv.to(DV.dtype.element_ty), mask=offs_n[:, None] < T_k)


@triton.jit
def _dq_tiles(dq, q, do, lse, delta, K, V, offs_m, offs_n, offs_d, lo, hi, T_k, offset, qk_scale,
              MASKED: tl.constexpr, CAUSAL: tl.constexpr, WINDOW: tl.constexpr, HEAD_DIM: tl.constexpr,
              BLOCK_N: tl.constexpr):  # fmt: skip
    """Algorithm 2 for one query tile: dQ += dS K over key tiles lo … < hi (padded keys are 0, so add 0)."""
    for start_n in range(lo, hi, BLOCK_N):
        cols = start_n + offs_n
        k = tl.load(K + cols[:, None] * HEAD_DIM + offs_d[None, :], mask=cols[:, None] < T_k, other=0.0)  # (N, D)
        v = tl.load(V + cols[:, None] * HEAD_DIM + offs_d[None, :], mask=cols[:, None] < T_k, other=0.0)  # (N, D)
        p = tl.math.exp2(tl.dot(q, tl.trans(k)) * qk_scale - lse[:, None])  # (BLOCK_M, BLOCK_N), recomputed
        if MASKED and CAUSAL:
            diag = offs_m[:, None] + offset
            visible = cols[None, :] <= diag
            if WINDOW > 0:
                visible = visible & (cols[None, :] > diag - WINDOW)
            p = tl.where(visible, p, 0.0)
        dp = tl.dot(do, tl.trans(v))  # (BLOCK_M, BLOCK_N)
        ds = p * (dp - delta[:, None])
        dq += tl.dot(ds.to(k.dtype), k)  # (BLOCK_M, D)
    return dq


@triton.jit
def _dq_kernel(Q, K, V, DO, DQ, LSE, DELTA, T_q, T_k, group, scale, CAUSAL: tl.constexpr,
               WINDOW: tl.constexpr, HEAD_DIM: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):  # fmt: skip
    start_m = tl.program_id(0) * BLOCK_M
    bh = tl.program_id(1)
    q_base = bh.to(tl.int64) * T_q
    K += (bh // group).to(tl.int64) * T_k * HEAD_DIM
    V += (bh // group).to(tl.int64) * T_k * HEAD_DIM
    offs_m = start_m + tl.arange(0, BLOCK_M)
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, HEAD_DIM)
    q_ptrs = q_base * HEAD_DIM + offs_m[:, None] * HEAD_DIM + offs_d[None, :]
    q = tl.load(Q + q_ptrs, mask=offs_m[:, None] < T_q, other=0.0)  # (BLOCK_M, D)
    do = tl.load(DO + q_ptrs, mask=offs_m[:, None] < T_q, other=0.0)
    lse = tl.load(LSE + q_base + offs_m, mask=offs_m < T_q, other=float("inf"))
    delta = tl.load(DELTA + q_base + offs_m, mask=offs_m < T_q, other=0.0)
    dq = tl.zeros((BLOCK_M, HEAD_DIM), tl.float32)
    qk_scale = scale * 1.4426950408889634
    offset = T_k - T_q
    lo, a, b, hi = _key_tiles(start_m, T_k, offset, CAUSAL, WINDOW, BLOCK_M, BLOCK_N)  # the forward's tiles
    if WINDOW > 0:
        dq = _dq_tiles(dq, q, do, lse, delta, K, V, offs_m, offs_n, offs_d, lo, a, T_k, offset, qk_scale,
                       True, CAUSAL, WINDOW, HEAD_DIM, BLOCK_N)  # fmt: skip
    dq = _dq_tiles(dq, q, do, lse, delta, K, V, offs_m, offs_n, offs_d, a, b, T_k, offset, qk_scale,
                   False, CAUSAL, WINDOW, HEAD_DIM, BLOCK_N)  # fmt: skip
    dq = _dq_tiles(dq, q, do, lse, delta, K, V, offs_m, offs_n, offs_d, b, hi, T_k, offset, qk_scale,
                   True, CAUSAL, WINDOW, HEAD_DIM, BLOCK_N)  # fmt: skip
    tl.store(DQ + q_ptrs, (dq * scale).to(DQ.dtype.element_ty), mask=offs_m[:, None] < T_q)


# Decided once, when the decorators above ran: TRITON_INTERPRET=1 then made them numpy interpreters.
INTERPRETED = type(_fwd_kernel).__name__ == "InterpretedFunction"


def _arch(q: Tensor) -> str:
    """The CONFIGS row for q's device: "interpreter", "sm90" (Hopper and newer) or "sm80" (Ampere, Ada)."""
    if INTERPRETED:
        return "interpreter"
    return "sm90" if torch.cuda.get_device_capability(q.device)[0] >= 9 else "sm80"


def unsupported(q: Tensor) -> str | None:
    """Why the triton backend cannot run queries like ``q`` (None when it can); the registry asks this."""
    if INTERPRETED:
        if q.dtype not in INTERPRETER_DTYPES:
            return f"under TRITON_INTERPRET=1 it takes float32 or float16, not {q.dtype} (bf16 is wrong in the interpreter)"
    elif q.device.type != "cuda":
        return (
            f"{q.device.type} tensors need Triton's interpreter: set TRITON_INTERPRET=1 before the first "
            "backend='triton' call of the process (Triton reads it when the kernels are defined), or use CUDA tensors"
        )
    elif q.dtype not in GPU_DTYPES:
        return f"on CUDA it takes float16 or bfloat16, not {q.dtype} (tl.dot would round float32 to TF32)"
    elif torch.cuda.get_device_capability(q.device) < (8, 0):
        return "it needs an sm_80 (Ampere) or newer GPU"
    if q.shape[-1] not in HEAD_DIMS:
        return f"head size d={q.shape[-1]} is not one of {HEAD_DIMS}"
    return None


def _launch(kernel, grid, cfg: TileConfig, *args, causal: bool, window: int, head_dim: int) -> None:
    kernel[grid](*args, CAUSAL=causal, WINDOW=window, HEAD_DIM=head_dim, BLOCK_M=cfg.block_m, BLOCK_N=cfg.block_n,
                 num_warps=cfg.num_warps, num_stages=cfg.num_stages)  # fmt: skip


def _forward(q: Tensor, k: Tensor, v: Tensor, causal: bool, scale: float, window: int) -> tuple[Tensor, Tensor]:
    b, h, t_q, d = q.shape
    t_k, group = k.shape[2], h // k.shape[1]
    o = torch.empty_like(q)  # (B, H, T_q, D)
    lse = torch.empty((b, h, t_q), dtype=torch.float32, device=q.device)  # log2-sum-exp per query row
    cfg = config_for(_arch(q), "fwd", d, window > 0)
    grid = (triton.cdiv(t_q, cfg.block_m), b * h)
    _launch(_fwd_kernel, grid, cfg, q, k, v, o, lse, t_q, t_k, group, scale, causal=causal, window=window, head_dim=d)
    return o, lse


def _backward(q, k, v, o, lse, do, causal: bool, scale: float, window: int) -> tuple[Tensor, Tensor, Tensor]:
    b, h, t_q, d = q.shape
    h_kv, t_k = k.shape[1], k.shape[2]
    delta = (do.float() * o.float()).sum(-1)  # (B, H, T_q) = rowsum(dO ∘ O), the D of Algorithm 2
    dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
    arch = _arch(q)
    cfg = config_for(arch, "dkdv", d, window > 0)
    grid = (triton.cdiv(t_k, cfg.block_n), b * h_kv)
    _launch(_dkdv_kernel, grid, cfg, q, k, v, do, dk, dv, lse, delta, t_q, t_k, h // h_kv, scale,
            causal=causal, window=window, head_dim=d)  # fmt: skip
    cfg = config_for(arch, "dq", d, window > 0)
    grid = (triton.cdiv(t_q, cfg.block_m), b * h)
    _launch(_dq_kernel, grid, cfg, q, k, v, do, dq, lse, delta, t_q, t_k, h // h_kv, scale,
            causal=causal, window=window, head_dim=d)  # fmt: skip
    return dq, dk, dv


class _TritonAttention(torch.autograd.Function):
    """Forward saves O and L (not P); backward recomputes P tile by tile."""

    @staticmethod
    def forward(ctx, q, k, v, causal, scale, window):
        o, lse = _forward(q, k, v, causal, scale, window)
        ctx.save_for_backward(q, k, v, o, lse)
        ctx.causal, ctx.scale, ctx.window = causal, scale, window
        return o

    @staticmethod
    def backward(ctx, do):
        q, k, v, o, lse = ctx.saved_tensors
        dq, dk, dv = _backward(q, k, v, o, lse, do.contiguous(), ctx.causal, ctx.scale, ctx.window)
        return dq, dk, dv, None, None, None


def _as_bhtd(t: Tensor) -> Tensor:
    """(..., H, T, D) or (T, D) as a contiguous (B, H, T, D): the kernels index rows by arithmetic."""
    heads = t.shape[-3] if t.dim() >= 3 else 1
    return t.reshape(-1, heads, *t.shape[-2:]).contiguous()  # (B, H, T, D)


def triton_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    causal: bool = False,
    mask: Tensor | None = None,
    scale: float | None = None,
    window: int | None = None,
) -> Tensor:
    """softmax(Q Kᵀ · scale) V by the Triton kernels above; differentiable in q, k and v.

    q (..., H, T_q, d), k and v (..., H_kv, T_k, d) as minillm.kernels.checks describes, with d
    in HEAD_DIMS and d_v = d. ``causal``: bottom-right; ``window`` W (needs ``causal``): the query at
    position p sees keys p - W + 1 … p, and tiles outside every window are skipped. No ``mask``
    (use "sdpa" or "chunked").
    CUDA: fp16/bf16 on sm_80+; CPU under TRITON_INTERPRET=1: fp32/fp16.
    """
    check_attention_inputs(q, k, v)
    check_window(window, causal)
    reason = unsupported(q)
    if reason is None and mask is not None:
        reason = "it takes causal=True/False but no mask; use 'sdpa' or 'chunked' for masks"
    if reason is None and v.shape[-1] != q.shape[-1]:
        reason = f"it needs d_v = d, got d={q.shape[-1]}, d_v={v.shape[-1]}"
    if reason is not None:
        raise ValueError(f"backend 'triton' cannot run these inputs ({q.dtype} on {q.device}): {reason}")
    scale = q.shape[-1] ** -0.5 if scale is None else float(scale)
    out_shape = (*q.shape[:-1], v.shape[-1])
    q4, k4, v4 = _as_bhtd(q), _as_bhtd(k), _as_bhtd(v)  # (B, H, T_q, D), (B, H_kv, T_k, D) ×2
    if q4.numel() == 0 or k4.shape[2] == 0:  # nothing to launch: no rows, or no keys (every row sees nothing)
        return (q * 0).sum(-1, keepdim=True).expand(out_shape) + (k.sum() + v.sum()) * 0
    w = 0 if window is None else int(window)  # 0: no window (a compile-time constant: one variant per W)
    return _TritonAttention.apply(q4, k4, v4, bool(causal), scale, w).reshape(out_shape)  # (..., H, T_q, d)
