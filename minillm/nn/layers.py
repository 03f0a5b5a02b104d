"""Encoder layer and decoder layer of the 2017 Transformer: attention + feed-forward with residuals and norms.

Report §1.2.1: the encoder is N stacked encoder layers (编码器层), the decoder N stacked decoder
layers (解码器层). Each sub-layer (attention or feed-forward) is wrapped the same way:

    post-norm (2017 paper):  x = LayerNorm(x + Dropout(sublayer(x)))
    pre-norm  (GPT-2):       x = x + Dropout(sublayer(LayerNorm(x)))

Pre-norm keeps an un-normalised residual path from input to output, which trains deep stacks
without warm-up tricks; post-norm is what the paper (and the report's figure) describe. One
``norm_first`` argument switches between them. GPT-2's block is in models/gpt.py, the later
family's in models/llama.py.

Docs: docs/transformer.md#encoder-and-decoder-layers.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from minillm.nn.attention import MultiHeadAttention
from minillm.nn.feedforward import FeedForward
from minillm.nn.kv_cache import KVCache
from minillm.utils.configs import refuse_renamed

__all__ = ["DecoderLayer", "EncoderLayer", "Residual"]


@refuse_renamed
class Residual(nn.Module):
    """Wraps one sub-layer with dropout, a residual connection and a norm (pre or post)."""

    def __init__(self, n_embd: int, dropout: float, *, norm_first: bool, bias: bool = True):
        super().__init__()
        self.norm = nn.LayerNorm(n_embd, bias=bias)
        self.dropout = nn.Dropout(dropout)
        self.norm_first = norm_first

    def forward(self, x: Tensor, sublayer: Callable[[Tensor], Tensor]) -> Tensor:
        if self.norm_first:
            return x + self.dropout(sublayer(self.norm(x)))
        return self.norm(x + self.dropout(sublayer(x)))


@refuse_renamed
class EncoderLayer(nn.Module):
    """Self-attention over the whole source, then feed-forward. (B, T, n_embd) → same shape."""

    def __init__(
        self,
        n_embd: int,
        n_head: int,
        *,
        d_ff: int,
        dropout: float = 0.1,
        activation: str = "relu",
        norm_first: bool = False,
        bias: bool = True,
        attn_backend: str = "sdpa",
    ):
        super().__init__()
        self.self_attn = MultiHeadAttention(n_embd, n_head, dropout=dropout, bias=bias, attn_backend=attn_backend)
        self.ff = FeedForward(n_embd, d_ff, activation=activation, dropout=dropout, bias=bias)
        self.attn_block = Residual(n_embd, dropout, norm_first=norm_first, bias=bias)
        self.ff_block = Residual(n_embd, dropout, norm_first=norm_first, bias=bias)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        x = self.attn_block(x, lambda h: self.self_attn(h, mask=mask))
        return self.ff_block(x, self.ff)  # (B, T, n_embd)


@refuse_renamed
class DecoderLayer(nn.Module):
    """Masked self-attention, cross-attention to the encoder output, then feed-forward."""

    def __init__(
        self,
        n_embd: int,
        n_head: int,
        *,
        d_ff: int,
        dropout: float = 0.1,
        activation: str = "relu",
        norm_first: bool = False,
        bias: bool = True,
        attn_backend: str = "sdpa",
    ):
        super().__init__()
        self.self_attn = MultiHeadAttention(n_embd, n_head, dropout=dropout, bias=bias, attn_backend=attn_backend)
        self.cross_attn = MultiHeadAttention(n_embd, n_head, dropout=dropout, bias=bias, attn_backend=attn_backend)
        self.ff = FeedForward(n_embd, d_ff, activation=activation, dropout=dropout, bias=bias)
        self.self_attn_block = Residual(n_embd, dropout, norm_first=norm_first, bias=bias)
        self.cross_attn_block = Residual(n_embd, dropout, norm_first=norm_first, bias=bias)
        self.ff_block = Residual(n_embd, dropout, norm_first=norm_first, bias=bias)

    def forward(
        self,
        x: Tensor,
        memory: Tensor,
        tgt_mask: Tensor | None = None,
        memory_mask: Tensor | None = None,
        kv_cache: KVCache | None = None,
    ) -> Tensor:
        """x: (B, T_tgt, n_embd) targets; memory: (B, T_src, n_embd) encoder output.

        The self-attention is always causal (a target token must not see later targets);
        ``tgt_mask`` may add padding on top. ``memory_mask`` hides source padding.
        """
        x = self.self_attn_block(x, lambda h: self.self_attn(h, causal=True, mask=tgt_mask, kv_cache=kv_cache))
        x = self.cross_attn_block(x, lambda h: self.cross_attn(h, memory, memory, mask=memory_mask))
        return self.ff_block(x, self.ff)  # (B, T_tgt, n_embd)
