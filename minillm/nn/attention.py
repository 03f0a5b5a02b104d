"""Multi-head self-attention (and cross-attention) built on minillm.kernels.

Report §1.2.1 (自注意力机制 self-attention, 多头自注意力 multi-head self-attention).

Self-attention, in the report's steps:

    Q = x W_q,  K = x W_k,  V = x W_v             linear maps of the input
    weights = softmax(Q Kᵀ / √d)                   dot products of Q and K, then softmax
    output  = weights V                            weighted sum over all positions

Multi-head attention splits d_model into n_heads groups ("heads"), runs the steps above in each
group with its own projections, concatenates the heads and applies one output linear layer.

What later models changed (docs/beyond.md), each one argument:
- ``n_kv_heads`` < n_heads: grouped-query attention (Ainslie et al. 2023; multi-query when 1,
  Shazeer 2019): a group of query heads shares one K/V head, so K/V projections and the KV cache
  shrink by n_heads / n_kv_heads.
- ``head_dim``: heads need not tile d_model (Qwen3: 16 heads of 128 on a 1024-wide model); the
  output projection maps n_heads · head_dim → d_model.
- ``qkv_bias``: biases on q/k/v only (Qwen2) independently of ``bias`` (the output projection).
- ``qk_norm``: RMSNorm over each head's q and k before RoPE (Qwen3, OLMo2), which keeps the
  attention logits from growing without bound.
- ``window``: causal sliding-window attention (Mistral): the query at position p sees keys
  p - W + 1 … p; a KV cache then needs only W positions (minillm.nn.kv_cache).

The steps themselves live one level down: ``scaled_dot_product_attention`` (re-exported here) is
the explicit softmax(QKᵀ/√d)V in minillm/kernels/naive.py, and ``attention(..., backend=)`` runs
the same math with a faster kernel. Conventions (minillm/kernels/masks.py): a boolean mask is True
where a query MAY attend; a float mask is added; the causal triangle is bottom-right aligned (the
queries are the last T_q of the T_k positions), with or without a KV cache; a query whose keys are
all masked gets zeros, never NaN.

Docs: docs/transformer.md#self-attention.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from minillm.kernels import BACKENDS, attention, causal_mask, check_backend, padding_mask
from minillm.kernels.masks import check_window
from minillm.kernels.naive import scaled_dot_product_attention  # the explicit softmax(QKᵀ/√d)V
from minillm.nn.kv_cache import KVCache
from minillm.nn.norms import RMSNorm

__all__ = ["MultiHeadAttention", "causal_mask", "padding_mask", "scaled_dot_product_attention"]


class MultiHeadAttention(nn.Module):
    """Multi-head attention: self-attention (key=value=None) or cross-attention.

    Args:
        d_model: model width; split into ``n_heads`` heads of size d_model // n_heads (or ``head_dim``).
        n_heads: number of heads.
        dropout: dropout on the attention weights (training only).
        bias: whether the four projections have biases.
        kv_dim: feature size of the key/value input for cross-attention (default d_model).
        attn_backend: "naive" (``scaled_dot_product_attention``, the explicit softmax), "sdpa"
            (PyTorch's fused kernel), "chunked" (the FlashAttention algorithm in PyTorch; no
            dropout), "auto" (= "sdpa"), or any other name in minillm.kernels.BACKENDS.
        rope: optional rotary embedding (minillm.nn.embeddings.RoPE) applied to q and k per head.
        n_kv_heads: K/V heads (default n_heads). Fewer, dividing n_heads, is grouped-query
            attention: query head h uses K/V head h // (n_heads / n_kv_heads); 1 is multi-query.
        head_dim: size of each head (default d_model // n_heads).
        qkv_bias: biases on q_proj/k_proj/v_proj (default: ``bias``); ``bias`` then covers out_proj.
        qk_norm: RMSNorm (eps ``norm_eps``) over each head of q and k, before RoPE (``q_norm``, ``k_norm``).
        window: causal sliding window W (None: full causal attention); needs ``is_causal``.
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
        n_kv_heads: int | None = None,
        head_dim: int | None = None,
        qkv_bias: bool | None = None,
        qk_norm: bool = False,
        norm_eps: float = 1e-6,
        window: int | None = None,
    ):
        super().__init__()
        optional = {"kv_dim": kv_dim, "n_kv_heads": n_kv_heads, "head_dim": head_dim}  # None: derived below
        sizes = {"d_model": d_model, "n_heads": n_heads, **{k: v for k, v in optional.items() if v is not None}}
        for name, size in sizes.items():  # 64.0 or True is no size: refused here, not deep inside torch
            if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
                which = "d_model and n_heads" if name in ("d_model", "n_heads") else name
                got = f"{name}={size!r} ({type(size).__name__})"
                raise ValueError(f"{which} must be positive and of type int, got {got}")
        if head_dim is None and d_model % n_heads != 0:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads} (or pass head_dim)")
        check_window(window)
        n_kv_heads = n_heads if n_kv_heads is None else n_kv_heads
        if n_kv_heads <= 0 or n_heads % n_kv_heads != 0:
            raise ValueError(f"n_kv_heads={n_kv_heads} must be positive and divide n_heads={n_heads}")
        check_backend(attn_backend, "attn_backend")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if dropout > 0 and attn_backend != "auto" and not BACKENDS[attn_backend].dropout:
            raise ValueError(f"attn_backend={attn_backend!r} has no attention dropout; got dropout={dropout}")
        self.d_model, self.n_heads, self.n_kv_heads = d_model, n_heads, n_kv_heads
        self.head_dim = d_model // n_heads if head_dim is None else head_dim
        self.kv_dim = d_model if kv_dim is None else kv_dim
        self.dropout, self.attn_backend, self.rope, self.window = dropout, attn_backend, rope, window
        qkv_bias = bias if qkv_bias is None else qkv_bias
        self.q_proj = nn.Linear(d_model, n_heads * self.head_dim, bias=qkv_bias)
        self.k_proj = nn.Linear(self.kv_dim, n_kv_heads * self.head_dim, bias=qkv_bias)
        self.v_proj = nn.Linear(self.kv_dim, n_kv_heads * self.head_dim, bias=qkv_bias)
        self.out_proj = nn.Linear(n_heads * self.head_dim, d_model, bias=bias)
        self.q_norm = RMSNorm(self.head_dim, norm_eps) if qk_norm else None
        self.k_norm = RMSNorm(self.head_dim, norm_eps) if qk_norm else None

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
        weight = next((p for p in self.parameters() if p.is_floating_point()), None)
        if weight is None or torch.is_autocast_enabled(query.device.type):  # autocast casts inputs and weights
            return
        for name, t in (("query", query), ("key", key), ("value", value)):
            if t.dtype != weight.dtype:
                raise ValueError(
                    f"{name} is {t.dtype} but this layer's weights are {weight.dtype}: convert one to the other "
                    f"(x.to({weight.dtype}) or layer.to({t.dtype})), or run under torch.autocast"
                )

    def _project(
        self, query: Tensor, key: Tensor, value: Tensor, self_attention: bool
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Q = x W_q, K = x W_k, V = x W_v. With gradients on (training), self-attention runs them as
        one matmul on the three weights stacked (what GPT-2's ``c_attn`` stores): one large product
        is faster than three small ones, forward and backward (benchmarks/README.md). The stacked
        copy (3·d² numbers per layer, kept for backward) pays off over a batch of tokens but not in
        a one-token decoding step, so no-grad calls stay three products; adapted layers (LoRA,
        int8) always do."""
        projs = (self.q_proj, self.k_proj, self.v_proj)
        if not (self_attention and torch.is_grad_enabled() and all(type(p) is nn.Linear for p in projs)):
            return self.q_proj(query), self.k_proj(key), self.v_proj(value)
        weight = torch.cat([p.weight for p in projs])  # (q_out + 2·kv_out, d_model)
        bias = None if self.q_proj.bias is None else torch.cat([p.bias for p in projs])
        return F.linear(query, weight, bias).split([p.out_features for p in projs], dim=-1)  # 3 × (B, T, out)

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
        (B, 1, 1, T_k)). ``is_causal`` hides later keys, bottom-right aligned: the queries are
        the newest positions. With ``kv_cache`` (self-attention only) the new keys/values are
        appended to the cache and the queries attend to all of them, so decoding token by token
        gives the same outputs as one causal pass.
        """
        self_attention = key is None and value is None
        if self_attention:
            key = value = query
        elif key is None or value is None:
            raise ValueError("pass both key and value for cross-attention, or neither for self-attention")
        self._check_inputs(query, key, value)
        if kv_cache is not None and not self_attention:
            raise ValueError("kv_cache is only supported for self-attention")
        if kv_cache is not None and kv_cache.window is not None and (self.window or kv_cache.max_len) > kv_cache.window:
            raise ValueError(
                f"a KV cache of window={kv_cache.window} drops keys this layer (window={self.window}) needs"
            )

        q, k, v = self._project(query, key, value, self_attention)
        q = rearrange(q, "b t (h d) -> b h t d", h=self.n_heads)  # (B, H, T_q, hd)
        k = rearrange(k, "b t (h d) -> b h t d", h=self.n_kv_heads)  # (B, H_kv, T_k, hd)
        v = rearrange(v, "b t (h d) -> b h t d", h=self.n_kv_heads)  # (B, H_kv, T_k, hd)

        if self.q_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)  # each head normalised on its own
        past = kv_cache.length if kv_cache is not None else 0
        if self.rope is not None:
            q, k = self.rope(q, offset=past), self.rope(k, offset=past)
        if kv_cache is not None:
            k, v = kv_cache.update(k, v)  # (B, H_kv, kept + T_q, hd): kept = past, or ≤ W with a window

        if mask is not None and mask.dim() == 3:
            mask = mask[:, None]  # (B, 1, T_q, T_k): same mask for every head
        dropout_p = self.dropout if self.training else 0.0
        if is_causal and q.shape[-2] == 1 and self.window is None:
            is_causal = False  # one newest query (a decoding step) sees every key: no mask to build

        weights = None
        if self.attn_backend == "naive" or need_weights:  # the explicit softmax(QKᵀ/√d)V, step by step
            out, weights = scaled_dot_product_attention(
                q, k, v, mask, is_causal, dropout_p, return_weights=True, window=self.window
            )  # (B, H, T_q, hd), (B, H, T_q, T_k)
        else:  # the same math in a faster kernel
            out = attention(q, k, v, is_causal, mask, self.attn_backend, dropout_p=dropout_p, window=self.window)

        out = self.out_proj(rearrange(out, "b h t d -> b t (h d)"))  # (B, T_q, H·hd) -> (B, T_q, d_model)
        return (out, weights) if need_weights else out
