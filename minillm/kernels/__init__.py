"""Attention kernels for report §3.2: one entry point, several backends that give the same result.

The bottom layer of minillm: it imports nothing from minillm.nn or above (tests/integration/test_imports.py).

    attention(q, k, v, causal=False, mask=None, backend="auto")

One file per concept:

- masks.py:    causal_mask (bottom-right), add_causal, padding_mask; True = may attend
- checks.py:   check_attention_inputs, the one validator of every entry point
- naive.py:    "naive", the explicit softmax(QKᵀ/√d)V step by step (scaled_dot_product_attention)
- chunked.py:  "chunked", the FlashAttention algorithm in pure PyTorch, O(T) extra memory
- sdpa.py:     "sdpa", torch.nn.functional.scaled_dot_product_attention with minillm's conventions
- registry.py: BACKENDS (name -> function + availability), resolve_backend, attention
- triton_attention.py: "triton", FlashAttention-2 forward + backward in Triton (CUDA fp16/bf16, or
               CPU fp32/fp16 under TRITON_INTERPRET=1); imported on its first use; the kernels
               themselves are in triton_kernels.py (``minillm kernels compile``, the ahead-of-time
               compile report for sm_90 / sm_80, is minillm/commands/triton_compile.py)
- "auto":      resolved to "sdpa" (runs everywhere, fastest measured)

Conventions (every backend): q (..., H, T_q, d), k (..., H_kv, T_k, d), v (..., H_kv, T_k, d_v),
equal leading dimensions, H_kv dividing H (grouped-query: query head h uses K/V head
h // (H / H_kv)); ``causal`` puts the queries at the *last* T_q of the T_k positions
(bottom-right; for T_q = T_k the usual triangle); ``mask`` is bool (True = may attend) or float
(added), broadcastable to (..., H, T_q, T_k); a query row with no visible key returns zeros.

NaN under every backend: a NaN in query row i makes output row i NaN and leaves the other rows
unchanged (a row that sees no key stays 0); a NaN in key j makes NaN exactly the rows that may see
key j. A NaN in value j reaches every row that sees key j and may reach rows masked from it too
(weight 0 · NaN is NaN in weights·V; which rows depends on the backend's tiling).

Docs: docs/quadratic-cost.md.
"""

from minillm.kernels.checks import check_attention_inputs
from minillm.kernels.chunked import chunked_attention
from minillm.kernels.masks import add_causal, causal_mask, padding_mask
from minillm.kernels.naive import scaled_dot_product_attention
from minillm.kernels.registry import (
    AUTO_ORDER,
    BACKEND_NAMES,
    BACKENDS,
    Backend,
    attention,
    check_backend,
    resolve_backend,
)
from minillm.kernels.sdpa import sdpa_attention

__all__ = [
    "AUTO_ORDER",
    "BACKENDS",
    "BACKEND_NAMES",
    "Backend",
    "add_causal",
    "attention",
    "causal_mask",
    "check_attention_inputs",
    "check_backend",
    "chunked_attention",
    "padding_mask",
    "resolve_backend",
    "scaled_dot_product_attention",
    "sdpa_attention",
]
