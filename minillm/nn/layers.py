"""Encoder layer, decoder layer and GPT block: attention + feed-forward with residuals and norms.

Report §1.2.1: the encoder is N stacked encoder layers (编码器层), the decoder N stacked decoder
layers (解码器层). Each sub-layer (attention or feed-forward) is wrapped the same way:

    post-norm (2017 paper):  x = LayerNorm(x + Dropout(sublayer(x)))
    pre-norm  (GPT-2):       x = x + Dropout(sublayer(LayerNorm(x)))

Pre-norm keeps an un-normalised residual path from input to output, which trains deep stacks
without warm-up tricks; post-norm is what the paper (and the report's figure) describe. One
``norm_first`` argument switches between them; ``norm`` picks LayerNorm or RMSNorm (nn/norms.py).
A GPTBlock's feed-forward is dense, or a mixture of experts (nn/experts.py) when ``n_experts`` > 0.

Docs: docs/transformer.md#encoder-and-decoder-layers.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from minillm.nn.attention import MultiHeadAttention
from minillm.nn.experts import MoEFeedForward
from minillm.nn.feedforward import FeedForward
from minillm.nn.kv_cache import KVCache
from minillm.nn.norms import make_norm

__all__ = ["DecoderLayer", "EncoderLayer", "GPTBlock", "Residual"]


class Residual(nn.Module):
    """Wraps one sub-layer with dropout, a residual connection and a norm (pre or post)."""

    def __init__(
        self,
        d_model: int,
        dropout: float,
        norm_first: bool,
        bias: bool = True,
        eps: float = 1e-5,
        norm: str = "layernorm",
    ):
        super().__init__()
        self.norm = make_norm(norm, d_model, eps, bias)
        self.dropout = nn.Dropout(dropout)
        self.norm_first = norm_first

    def forward(self, x: Tensor, sublayer: Callable[[Tensor], Tensor]) -> Tensor:
        if self.norm_first:
            return x + self.dropout(sublayer(self.norm(x)))
        return self.norm(x + self.dropout(sublayer(x)))


class EncoderLayer(nn.Module):
    """Self-attention over the whole source, then feed-forward. (B, T, d_model) → same shape."""

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_ff: int,
        dropout: float = 0.1,
        activation: str = "relu",
        norm_first: bool = False,
        bias: bool = True,
        attn_backend: str = "sdpa",
    ):
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, n_heads, dropout, bias, attn_backend=attn_backend)
        self.ff = FeedForward(d_model, d_ff, activation, dropout, bias)
        self.attn_block = Residual(d_model, dropout, norm_first, bias)
        self.ff_block = Residual(d_model, dropout, norm_first, bias)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        x = self.attn_block(x, lambda h: self.self_attn(h, mask=mask))
        return self.ff_block(x, self.ff)  # (B, T, d_model)


class DecoderLayer(nn.Module):
    """Masked self-attention, cross-attention to the encoder output, then feed-forward."""

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_ff: int,
        dropout: float = 0.1,
        activation: str = "relu",
        norm_first: bool = False,
        bias: bool = True,
        attn_backend: str = "sdpa",
    ):
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, n_heads, dropout, bias, attn_backend=attn_backend)
        self.cross_attn = MultiHeadAttention(d_model, n_heads, dropout, bias, attn_backend=attn_backend)
        self.ff = FeedForward(d_model, d_ff, activation, dropout, bias)
        self.self_attn_block = Residual(d_model, dropout, norm_first, bias)
        self.cross_attn_block = Residual(d_model, dropout, norm_first, bias)
        self.ff_block = Residual(d_model, dropout, norm_first, bias)

    def forward(
        self,
        x: Tensor,
        memory: Tensor,
        tgt_mask: Tensor | None = None,
        memory_mask: Tensor | None = None,
        kv_cache: KVCache | None = None,
    ) -> Tensor:
        """x: (B, T_tgt, d_model) targets; memory: (B, T_src, d_model) encoder output.

        The self-attention is always causal (a target token must not see later targets);
        ``tgt_mask`` may add padding on top. ``memory_mask`` hides source padding.
        """
        x = self.self_attn_block(x, lambda h: self.self_attn(h, mask=tgt_mask, is_causal=True, kv_cache=kv_cache))
        x = self.cross_attn_block(x, lambda h: self.cross_attn(h, memory, memory, mask=memory_mask))
        return self.ff_block(x, self.ff)  # (B, T_tgt, d_model)


# --8<-- [start:gpt-block]
class GPTBlock(nn.Module):
    """GPT-2's block: pre-norm causal self-attention, then pre-norm feed-forward (4× wide).

    The keyword-only arguments are the later variants (GPTConfig documents each): ``norm`` and
    ``norm_eps``; attention's ``n_kv_head``, ``head_dim``, ``qkv_bias``, ``qk_norm``, ``window``;
    a mixture-of-experts feed-forward when ``n_experts`` > 0 (``expert_*``, ``n_shared_experts``).
    """

    def __init__(
        self,
        n_embd: int,
        n_head: int,
        dropout: float = 0.0,
        bias: bool = True,
        activation: str = "gelu_tanh",
        attn_backend: str = "sdpa",
        rope: nn.Module | None = None,
        d_ff: int | None = None,
        *,
        norm: str = "layernorm",
        norm_eps: float = 1e-5,
        n_kv_head: int | None = None,
        head_dim: int | None = None,
        qkv_bias: bool | None = None,
        qk_norm: bool = False,
        window: int | None = None,
        n_experts: int = 0,
        expert_top_k: int = 2,
        expert_d_ff: int | None = None,
        n_shared_experts: int = 0,
        expert_norm_topk: bool = True,
    ):
        super().__init__()
        self.attn = MultiHeadAttention(
            n_embd,
            n_head,
            dropout,
            bias,
            attn_backend=attn_backend,
            rope=rope,
            n_kv_heads=n_kv_head,
            head_dim=head_dim,
            qkv_bias=qkv_bias,
            qk_norm=qk_norm,
            norm_eps=norm_eps,
            window=window,
        )
        d_ff = d_ff or 4 * n_embd
        if n_experts:
            self.mlp = MoEFeedForward(
                n_embd,
                expert_d_ff or d_ff,
                n_experts,
                expert_top_k,
                activation,
                0.0,
                bias,
                n_shared_experts,
                expert_norm_topk,
            )
        else:
            self.mlp = FeedForward(n_embd, d_ff, activation, dropout=0.0, bias=bias)
        self.attn_block = Residual(n_embd, dropout, norm_first=True, bias=bias, eps=norm_eps, norm=norm)
        self.mlp_block = Residual(n_embd, dropout, norm_first=True, bias=bias, eps=norm_eps, norm=norm)

    def forward(self, x: Tensor, mask: Tensor | None = None, kv_cache: KVCache | None = None) -> Tensor:
        x = self.attn_block(x, lambda h: self.attn(h, mask=mask, is_causal=True, kv_cache=kv_cache))
        return self.mlp_block(x, self.mlp)  # (B, T, n_embd)


# --8<-- [end:gpt-block]
