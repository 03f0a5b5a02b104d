"""FlashAttention-2's kernels in Triton: the same algorithm as chunked.py, one GPU tile per program.

Report §3.2: attention's compute grows as T², but its memory need not. kernels/chunked.py shows
the algorithm in PyTorch; here it runs as a GPU kernel (Dao 2023, "FlashAttention-2"). One
program owns BLOCK_M query rows, keeps them and three running row statistics in registers and
streams the K/V tiles past them (Algorithm 1), in base 2 because exp2 is the GPU's native exp:

    S = Q Kᵀ · scale · log2(e)                 m_new = max(m, rowmax(S))      P = 2^(S - m_new)
    l = l · 2^(m - m_new) + rowsum(P)          acc = acc · 2^(m - m_new) + P V
    O = acc / l                                L = m + log2(l)  (kept for the backward)

The backward (Algorithm 2) recomputes P = 2^(S - L) tile by tile instead of storing it, with
D = rowsum(dO ∘ O):  dV = Pᵀ dO,  dP = dO Vᵀ,  dS = P ∘ (dP - D),  dQ = dS K · scale,
dK = dSᵀ Q · scale. It runs as two kernels instead of one with atomics: ``dkdv_kernel`` owns a
K/V tile and walks the query tiles (and the query heads of its group, so grouped-query K/V need
no atomics either); ``dq_kernel`` owns a query tile and walks the key tiles. Both are
deterministic; the price is computing S and P twice.

Causal is minillm's bottom-right rule: query i sees keys j ≤ i + (T_k - T_q); a sliding window W
(kernels/masks.py) also hides keys j ≤ i + (T_k - T_q) - W. Tiles wholly visible skip the mask
(the MASKED=False loop), tiles on the diagonal, on the window's edge or past T_k apply it, and
tiles wholly in the future or wholly before the window are never visited: causal halves the
work, and a window W makes it O(T·W) instead of O(T²). ``_key_tiles`` computes these bounds once
for the forward and dQ kernels; ``dkdv_kernel`` has the transposed ones.

Every function here is ``@triton.jit``: Triton compiles it for a GPU, or, with ``TRITON_INTERPRET=1``
set before this module is imported, runs it on CPU through numpy. The Python side — tile sizes,
launching, autograd, the checks — is minillm/kernels/triton_attention.py; the compile report is
minillm/commands/triton_compile.py.

Docs: docs/quadratic-cost.md#the-same-algorithm-on-a-gpu.
"""

import triton
import triton.language as tl


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
def fwd_kernel(Q, K, V, O, LSE, T_q, T_k, group, scale, CAUSAL: tl.constexpr, WINDOW: tl.constexpr,
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
def dkdv_kernel(Q, K, V, DO, DK, DV, LSE, DELTA, T_q, T_k, group, scale, CAUSAL: tl.constexpr,
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
def dq_kernel(Q, K, V, DO, DQ, LSE, DELTA, T_q, T_k, group, scale, CAUSAL: tl.constexpr,
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
