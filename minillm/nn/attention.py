"""Multi-head self-attention (and cross-attention), as the 2017 Transformer runs it.

Report §1.2.1 (自注意力机制 self-attention, 多头自注意力 multi-head self-attention).

Self-attention, in the report's steps:

    Q = x W_q,  K = x W_k,  V = x W_v             linear maps of the input
    weights = softmax(Q Kᵀ / √d)                   dot products of Q and K, then softmax
    output  = weights V                            weighted sum over all positions

Multi-head attention splits n_embd into n_head groups ("heads"), runs the steps above in each
group with its own projections, concatenates the heads and applies one output linear layer. The
encoder-decoder (models/transformer.py) uses it three ways: encoder self-attention, masked decoder
self-attention (``causal``; with a KV cache when decoding) and cross-attention to the encoder.

With ``attn_backend="naive"`` the steps run as written, in ``scaled_dot_product_attention``
(minillm/kernels/naive.py, re-exported here); any other backend runs the same math in a faster
kernel (minillm.kernels), and a test proves they agree. GPT-2's own attention is written out in
models/gpt.py; grouped-query heads, RoPE, QK-norm and sliding windows in models/llama.py.
Conventions (docs/glossary.md): a boolean mask is True where a query MAY attend; a float mask is
added; the causal triangle is bottom-right aligned (the queries are the last T_q of the T_k
positions), with or without a KV cache; a query whose keys are all masked gets zeros, never NaN.

Docs: docs/transformer.md#self-attention.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import Tensor, nn

from minillm.kernels import BACKENDS, attention, causal_mask, check_backend, padding_mask
from minillm.kernels.naive import scaled_dot_product_attention  # the explicit softmax(QKᵀ/√d)V
from minillm.nn.kv_cache import KVCache
from minillm.utils.configs import refuse_renamed

__all__ = ["MultiHeadAttention", "causal_mask", "padding_mask", "scaled_dot_product_attention"]


@refuse_renamed
class MultiHeadAttention(nn.Module):
    """Multi-head attention: self-attention (key=value=None) or cross-attention.

    Args:
        n_embd: model width; split into ``n_head`` heads of size n_embd // n_head.
        n_head: number of heads.
        dropout: dropout on the attention weights (training only).
        bias: whether the four projections have biases.
        kv_dim: feature size of the key/value input for cross-attention (default n_embd).
        attn_backend: "naive" (``scaled_dot_product_attention``, the explicit softmax), "sdpa"
            (PyTorch's fused kernel), "chunked" (the FlashAttention algorithm in PyTorch; no
            dropout), "auto" (= "sdpa"), or any other name in minillm.kernels.BACKENDS.
    """

    def __init__(
        self,
        n_embd: int,
        n_head: int,
        *,
        dropout: float = 0.0,
        bias: bool = True,
        kv_dim: int | None = None,
        attn_backend: str = "sdpa",
    ):
        super().__init__()
        sizes = {"n_embd": n_embd, "n_head": n_head, **({} if kv_dim is None else {"kv_dim": kv_dim})}
        for name, size in sizes.items():  # 64.0 or True is no size: refused here, not deep inside torch
            if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
                raise ValueError(
                    f"{name} must be positive and of type int, got {name}={size!r} ({type(size).__name__})"
                )
        if n_embd % n_head != 0:
            raise ValueError(f"n_embd={n_embd} is not divisible by n_head={n_head}")
        check_backend(attn_backend, "attn_backend")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if dropout > 0 and attn_backend != "auto" and not BACKENDS[attn_backend].dropout:
            raise ValueError(f"attn_backend={attn_backend!r} has no attention dropout; got dropout={dropout}")
        self.n_embd, self.n_head, self.head_dim = n_embd, n_head, n_embd // n_head
        self.kv_dim = n_embd if kv_dim is None else kv_dim
        self.dropout, self.attn_backend = dropout, attn_backend
        self.q_proj = nn.Linear(n_embd, n_embd, bias=bias)
        self.k_proj = nn.Linear(self.kv_dim, n_embd, bias=bias)
        self.v_proj = nn.Linear(self.kv_dim, n_embd, bias=bias)
        self.out_proj = nn.Linear(n_embd, n_embd, bias=bias)

    def _check_inputs(self, query: Tensor, key: Tensor, value: Tensor) -> None:
        if query.dim() != 3 or query.shape[-1] != self.n_embd:
            raise ValueError(f"query must be (B, T, n_embd={self.n_embd}), got {tuple(query.shape)}")
        for name, t in (("key", key), ("value", value)):
            if t.dim() != 3 or t.shape[-1] != self.kv_dim:
                raise ValueError(f"{name} must be (B, T_k, kv_dim={self.kv_dim}), got {tuple(t.shape)}")
            if t.shape[0] != query.shape[0]:
                raise ValueError(f"batch sizes differ: query {tuple(query.shape)} vs {name} {tuple(t.shape)}")
        if key.shape[1] != value.shape[1]:
            raise ValueError(f"key and value lengths differ: {tuple(key.shape)} vs {tuple(value.shape)}")
        weight = next((p for p in self.parameters() if p.is_floating_point()), None)
        if weight is None or torch.is_autocast_enabled(query.device.type):  # autocast casts inputs and weights
            return
        for name, t in (("query", query), ("key", key), ("value", value)):
            if t.dtype != weight.dtype:
                raise ValueError(
                    f"{name} is {t.dtype} but this layer's weights are {weight.dtype}: convert one to the other "
                    f"(x.to({weight.dtype}) or layer.to({t.dtype})), or run under torch.autocast"
                )

    def forward(
        self,
        query: Tensor,
        key: Tensor | None = None,
        value: Tensor | None = None,
        *,
        causal: bool = False,
        mask: Tensor | None = None,
        kv_cache: KVCache | None = None,
        need_weights: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Attend from ``query`` (B, T_q, n_embd) to ``key``/``value`` (B, T_k, kv_dim).

        ``mask`` is boolean (True = may attend) or float, of shape (T_q, T_k), (B, T_q, T_k) or
        (B, n_head, T_q, T_k), size-1 dimensions broadcasting (e.g. ``padding_mask``'s
        (B, 1, 1, T_k)). ``causal`` hides later keys, bottom-right aligned: the queries are
        the newest positions. With ``kv_cache`` (self-attention only) the new keys/values are
        appended to the cache and the queries attend to all of them, so decoding token by token
        gives the same outputs as one causal pass. ``need_weights`` also returns the attention
        weights (B, n_head, T_q, T_k), computed the explicit way.
        """
        self_attention = key is None and value is None
        if self_attention:
            key = value = query
        elif key is None or value is None:
            raise ValueError("pass both key and value for cross-attention, or neither for self-attention")
        self._check_inputs(query, key, value)
        if kv_cache is not None and not self_attention:
            raise ValueError("kv_cache is only supported for self-attention")
        if kv_cache is not None and kv_cache.window is not None and kv_cache.window < kv_cache.block_size:
            raise ValueError(
                f"a KV cache of window={kv_cache.window} drops keys this layer attends to (no window here)"
            )

        q = rearrange(self.q_proj(query), "b t (h d) -> b h t d", h=self.n_head)  # (B, H, T_q, hd)
        k = rearrange(self.k_proj(key), "b t (h d) -> b h t d", h=self.n_head)  # (B, H, T_k, hd)
        v = rearrange(self.v_proj(value), "b t (h d) -> b h t d", h=self.n_head)  # (B, H, T_k, hd)
        if kv_cache is not None:
            k, v = kv_cache.update(k, v)  # (B, H, past + T_q, hd)
        if mask is not None and mask.dim() == 3:
            mask = mask[:, None]  # (B, 1, T_q, T_k): same mask for every head
        dropout_p = self.dropout if self.training else 0.0

        weights = None
        if self.attn_backend == "naive" or need_weights:  # the explicit softmax(QKᵀ/√d)V, step by step
            out, weights = scaled_dot_product_attention(
                q, k, v, causal=causal, mask=mask, dropout_p=dropout_p, return_weights=True
            )  # (B, H, T_q, hd), (B, H, T_q, T_k)
        else:  # the same math in a faster kernel
            out = attention(q, k, v, causal=causal, mask=mask, backend=self.attn_backend, dropout_p=dropout_p)

        out = self.out_proj(rearrange(out, "b h t d -> b t (h d)"))  # (B, T_q, H·hd) -> (B, T_q, n_embd)
        return (out, weights) if need_weights else out
