"""Scaled dot-product attention and multi-head self-attention.

Report §1.2.1 (自注意力机制 self-attention, 多头自注意力 multi-head self-attention).

Self-attention, in the report's steps:

    Q = x W_q,  K = x W_k,  V = x W_v             linear maps of the input
    weights = softmax(Q Kᵀ / √d)                   dot products of Q and K, then softmax
    output  = weights V                            weighted sum over all positions

Multi-head attention splits d_model into n_heads groups ("heads"), runs the steps above in each
group with its own projections, concatenates the heads and applies one output linear layer.

Masks follow one convention everywhere in minillm: a boolean mask is True where a query MAY attend
to a key (the same as torch.nn.functional.scaled_dot_product_attention); a float mask is added to
the scores. A query whose keys are all masked gets an output of zeros, never NaN.

Docs: docs/transformer.md#self-attention.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from minillm.nn.kv_cache import KVCache

__all__ = ["scaled_dot_product_attention", "MultiHeadAttention", "causal_mask", "add_causal", "padding_mask"]

ATTENTION_BACKENDS = ("naive", "sdpa", "chunked")


def causal_mask(t_q: int, t_k: int, device=None) -> Tensor:
    """Boolean (t_q, t_k) mask, True where query i may see key j.

    The queries are the *last* t_q positions of the t_k keys (bottom-right alignment), which is
    what decoding with a KV cache needs; for t_q == t_k it is the usual lower triangle.
    """
    offset = t_k - t_q
    q_pos = torch.arange(t_q, device=device)[:, None] + offset  # (t_q, 1)
    k_pos = torch.arange(t_k, device=device)[None, :]  # (1, t_k)
    return k_pos <= q_pos  # (t_q, t_k)


def add_causal(mask: Tensor | None, t_q: int, t_k: int, device=None) -> Tensor:
    """``mask`` (bool, float or None) combined with the bottom-right ``causal_mask``."""
    allowed = causal_mask(t_q, t_k, device=device)  # (t_q, t_k)
    if mask is None:
        return allowed
    if mask.dtype == torch.bool:
        return mask & allowed
    return mask.masked_fill(~allowed, float("-inf"))


def padding_mask(tokens: Tensor, pad_id: int) -> Tensor:
    """Boolean (B, 1, 1, T) mask from token ids: True for real tokens a query may attend to."""
    if tokens.dim() != 2:
        raise ValueError(f"padding_mask expects token ids of shape (B, T), got {tuple(tokens.shape)}")
    return (tokens != pad_id)[:, None, None, :]  # (B, 1, 1, T)


def _check_qkv(q: Tensor, k: Tensor, v: Tensor) -> tuple[int, ...]:
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.dim() < 2:
            raise ValueError(f"{name} must have shape (..., T, d), got {tuple(t.shape)}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q and k must share the feature size d: q {tuple(q.shape)} vs k {tuple(k.shape)}")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"k and v must have the same number of keys T_k: k {tuple(k.shape)} vs v {tuple(v.shape)}")
    try:
        batch = torch.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    except RuntimeError:
        raise ValueError(
            f"q, k, v batch dimensions do not broadcast: q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}"
        ) from None
    return tuple(batch)


def _check_mask(mask: Tensor, scores_shape: tuple[int, ...]) -> None:
    if not isinstance(mask, Tensor):
        raise TypeError(f"mask must be a torch.Tensor, got {type(mask).__name__}")
    try:
        shape = torch.broadcast_shapes(mask.shape, scores_shape)
    except RuntimeError:
        shape = None
    if shape != torch.Size(scores_shape):
        raise ValueError(
            f"mask of shape {tuple(mask.shape)} does not broadcast to the attention scores "
            f"(..., T_q, T_k) = {tuple(scores_shape)}"
        )


# --8<-- [start:sdpa]
def scaled_dot_product_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor | None = None,
    is_causal: bool = False,
    dropout_p: float = 0.0,
    scale: float | None = None,
    return_weights: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """softmax(Q Kᵀ · scale + mask) V, written out step by step.

    Args:
        q: (..., T_q, d) queries.  k: (..., T_k, d) keys.  v: (..., T_k, d_v) values.
        mask: boolean (True = may attend) or float (added to the scores), broadcastable to
            (..., T_q, T_k).
        is_causal: query i sees keys 0..i (top-left aligned, exactly like torch's SDPA). May be
            combined with ``mask``; both must allow a key.
        dropout_p: dropout probability on the attention weights (always applied when > 0, as in
            torch; modules pass 0 in eval mode).
        scale: defaults to 1/√d.
        return_weights: also return the (..., T_q, T_k) attention weights.

    Returns:
        (..., T_q, d_v) output, or ``(output, weights)``.
    """
    batch = _check_qkv(q, k, v)
    t_q, t_k = q.shape[-2], k.shape[-2]
    scores_shape = (*batch, t_q, t_k)
    if mask is not None:
        _check_mask(mask, scores_shape)
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"dropout_p must be in [0, 1), got {dropout_p}")
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale

    # Step 1: how well each query matches each key.
    scores = (q @ k.transpose(-2, -1)) * scale  # (..., T_q, T_k)

    # Step 2: forbid what the masks forbid (-inf becomes weight 0 after softmax).
    allowed = None
    if is_causal:
        allowed = torch.ones(t_q, t_k, dtype=torch.bool, device=q.device).tril()  # (T_q, T_k)
    if mask is not None and mask.dtype == torch.bool:
        allowed = mask if allowed is None else allowed & mask
    elif mask is not None:
        scores = scores + mask
    if allowed is not None:
        scores = scores.masked_fill(~allowed, float("-inf"))

    # Step 3: softmax over the keys, written out. Subtracting the row maximum keeps exp() from
    # overflowing and does not change the result. A row with no allowed key has max = -inf; we
    # give it weights 0 instead of the 0/0 = NaN that a plain softmax would return.
    row_max = scores.amax(dim=-1, keepdim=True)  # (..., T_q, 1)
    dead_row = torch.isneginf(row_max)
    row_max = row_max.masked_fill(dead_row, 0.0)
    exp_scores = torch.exp(scores - row_max)  # (..., T_q, T_k)
    denom = exp_scores.sum(dim=-1, keepdim=True)  # (..., T_q, 1)
    weights = exp_scores / denom.masked_fill(dead_row, 1.0)  # (..., T_q, T_k)

    if dropout_p > 0.0:
        weights = F.dropout(weights, p=dropout_p, training=True)

    # Step 4: weighted sum of the values.
    out = weights @ v  # (..., T_q, d_v)
    return (out, weights) if return_weights else out
# --8<-- [end:sdpa]


class MultiHeadAttention(nn.Module):
    """Multi-head attention: self-attention (key=value=None) or cross-attention.

    Args:
        d_model: model width; split into ``n_heads`` heads of size d_model // n_heads.
        n_heads: number of heads.
        dropout: dropout on the attention weights (training only).
        bias: whether the four projections have biases.
        kv_dim: feature size of the key/value input for cross-attention (default d_model).
        attn_backend: "naive" (the explicit function above), "sdpa" (PyTorch's fused kernel) or
            "chunked" (the FlashAttention algorithm in PyTorch, minillm.kernels; no dropout).
        rope: optional rotary embedding (minillm.nn.embeddings.RoPE) applied to q and k per head.
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        kv_dim: int | None = None,
        attn_backend: str = "sdpa",
        rope: nn.Module | None = None,
    ):
        super().__init__()
        if d_model <= 0 or n_heads <= 0:
            raise ValueError(f"d_model and n_heads must be positive, got d_model={d_model}, n_heads={n_heads}")
        if d_model % n_heads != 0:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        if attn_backend not in ATTENTION_BACKENDS:
            raise ValueError(f"unknown attn_backend {attn_backend!r}; choose one of {ATTENTION_BACKENDS}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if attn_backend == "chunked" and dropout > 0:
            raise ValueError(f"attn_backend='chunked' has no attention dropout; got dropout={dropout}")
        self.d_model, self.n_heads, self.head_dim = d_model, n_heads, d_model // n_heads
        self.kv_dim = d_model if kv_dim is None else kv_dim
        self.dropout, self.attn_backend, self.rope = dropout, attn_backend, rope
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(self.kv_dim, d_model, bias=bias)
        self.v_proj = nn.Linear(self.kv_dim, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def _check_inputs(self, query: Tensor, key: Tensor, value: Tensor) -> None:
        if query.dim() != 3 or query.shape[-1] != self.d_model:
            raise ValueError(f"query must be (B, T, d_model={self.d_model}), got {tuple(query.shape)}")
        for name, t in (("key", key), ("value", value)):
            if t.dim() != 3 or t.shape[-1] != self.kv_dim:
                raise ValueError(f"{name} must be (B, T_k, kv_dim={self.kv_dim}), got {tuple(t.shape)}")
            if t.shape[0] != query.shape[0]:
                raise ValueError(f"batch sizes differ: query {tuple(query.shape)} vs {name} {tuple(t.shape)}")
        if key.shape[1] != value.shape[1]:
            raise ValueError(f"key and value lengths differ: {tuple(key.shape)} vs {tuple(value.shape)}")

    def forward(
        self,
        query: Tensor,
        key: Tensor | None = None,
        value: Tensor | None = None,
        mask: Tensor | None = None,
        is_causal: bool = False,
        kv_cache: KVCache | None = None,
        need_weights: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Attend from ``query`` (B, T_q, d_model) to ``key``/``value`` (B, T_k, kv_dim).

        ``mask`` is boolean (True = may attend) or float, of shape (T_q, T_k), (B, T_q, T_k) or
        (B, n_heads, T_q, T_k), size-1 dimensions broadcasting (e.g. ``padding_mask``'s
        (B, 1, 1, T_k)). ``is_causal`` hides later keys. With ``kv_cache`` (self-attention only)
        the new keys/values are appended to the cache and the query attends to all of them;
        the causal mask is then aligned so that the queries are the newest positions.
        """
        self_attention = key is None and value is None
        if self_attention:
            key = value = query
        elif key is None or value is None:
            raise ValueError("pass both key and value for cross-attention, or neither for self-attention")
        self._check_inputs(query, key, value)
        if kv_cache is not None and not self_attention:
            raise ValueError("kv_cache is only supported for self-attention")

        q = rearrange(self.q_proj(query), "b t (h d) -> b h t d", h=self.n_heads)  # (B, H, T_q, hd)
        k = rearrange(self.k_proj(key), "b t (h d) -> b h t d", h=self.n_heads)  # (B, H, T_k, hd)
        v = rearrange(self.v_proj(value), "b t (h d) -> b h t d", h=self.n_heads)  # (B, H, T_k, hd)

        past = kv_cache.length if kv_cache is not None else 0
        if self.rope is not None:
            q, k = self.rope(q, offset=past), self.rope(k, offset=past)
        if kv_cache is not None:
            k, v = kv_cache.update(k, v)  # (B, H, past + T_q, hd)

        if mask is not None and mask.dim() == 3:
            mask = mask[:, None]  # (B, 1, T_q, T_k): same mask for every head
        if is_causal and k.shape[-2] != q.shape[-2]:  # decoding with a cache: queries are the newest
            mask, is_causal = add_causal(mask, q.shape[-2], k.shape[-2], device=q.device), False
        dropout_p = self.dropout if self.training else 0.0

        weights = None
        if self.attn_backend == "naive" or need_weights:
            out, weights = scaled_dot_product_attention(
                q, k, v, mask=mask, is_causal=is_causal, dropout_p=dropout_p, return_weights=True
            )
        else:
            from minillm.kernels import attention  # imported here: minillm.kernels imports this module

            out = attention(q, k, v, causal=is_causal, mask=mask, backend=self.attn_backend, dropout_p=dropout_p)

        out = self.out_proj(rearrange(out, "b h t d -> b t (h d)"))  # (B, T_q, d_model)
        return (out, weights) if need_weights else out
