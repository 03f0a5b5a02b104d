"""The attention weights a model used, recomputed the explicit way from its own layers.

Report §1.2.1 (自注意力机制 self-attention): every head of every layer holds a T_q × T_k matrix

    weights = softmax(Q Kᵀ / √d + mask),   Q = x W_q,  K = x W_k   (per head; RoPE and QK-norm first)

whose row i says how much query i reads from each key. The fused kernels the models run
(``attn_backend="sdpa"``, …) never keep that matrix, so the explorer (minillm.explain) takes each
attention layer's input ``x`` and runs the layer's *own* projections, norms and rotary table
through the explicit reference, minillm.kernels' ``scaled_dot_product_attention``, with the
layer's causal rule and window. The models carry no switch for it. tests/explain/test_attention.py
proves the weights are the ones the model used: weights · V through the output projection gives
the layer's real output.

Docs: docs/explain.md.
"""

from __future__ import annotations

from einops import rearrange
from torch import Tensor

from minillm.kernels import causal_mask, scaled_dot_product_attention
from minillm.models.gpt import CausalSelfAttention
from minillm.models.llama import LlamaAttention
from minillm.nn.attention import MultiHeadAttention

__all__ = ["decoder_attention_weights", "multihead_attention_weights"]


def decoder_attention_weights(attn: CausalSelfAttention | LlamaAttention, x: Tensor) -> Tensor:
    """(B, n_head, T, T) weights of a GPT-2 or later-family attention layer given its input x (B, T, n_embd).

    A grouped-query layer gives one map per *query* head; query head h reads K/V head
    h // (n_head / n_kv_head) (minillm.kernels' convention)."""
    window = None
    if isinstance(attn, CausalSelfAttention):
        q, k, _ = rearrange(attn.qkv_proj(x), "b t (three h d) -> three b h t d", three=3, h=attn.n_head)
    elif isinstance(attn, LlamaAttention):
        q = rearrange(attn.q_proj(x), "b t (h d) -> b h t d", h=attn.n_head)  # (B, H, T, head_dim)
        k = rearrange(attn.k_proj(x), "b t (h d) -> b h t d", h=attn.n_kv_head)  # (B, H_kv, T, head_dim)
        if attn.q_norm is not None:
            q, k = attn.q_norm(q), attn.k_norm(k)
        q, k = attn.rope(q), attn.rope(k)  # positions 0 … T-1: one pass over the whole prompt
        window = attn.window
    else:
        raise TypeError(f"expected a GPT-2 or later-family attention layer, got {type(attn).__name__}")
    # the values do not change the weights: the keys stand in for them (same shape, no extra projection)
    allowed = causal_mask(q.shape[-2], k.shape[-2], device=q.device, window=window)  # (T, T): the layer's rule
    _, weights = scaled_dot_product_attention(q, k, k, mask=allowed, return_weights=True)
    return weights  # (B, H, T, T)


def multihead_attention_weights(attn: MultiHeadAttention, *args, **kwargs) -> Tensor:
    """(B, n_head, T_q, T_k) weights of one 2017 MultiHeadAttention call, through its documented
    ``need_weights`` path (the explicit softmax), given the arguments the model passed it."""
    _, weights = attn(*args, **kwargs, need_weights=True)
    return weights
