"""Token embeddings and the three ways to tell a Transformer where a token is.

Report §1.2.1, input part (输入部分): source-text embedding layer (源文本嵌入层) + positional
encoder (位置编码器). Attention by itself ignores order (it is a weighted *sum*), so position must
be added to, or rotated into, the token vectors.

- TokenEmbedding: a lookup table, scaled by √d_model as in Vaswani et al. (2017) §3.4.
- SinusoidalPositionalEncoding (2017 paper, §3.5), fixed, no parameters:
      PE(pos, 2i)   = sin(pos / 10000^(2i/d))
      PE(pos, 2i+1) = cos(pos / 10000^(2i/d))
- LearnedPositionalEmbedding (GPT-1/2): one trained vector per position.
- RoPE, rotary position embedding (Su et al. 2021): rotate each (x_i, x_{i+d/2}) pair of q and k
  by the angle pos·θ_i. Then q_m·k_n depends only on m - n: attention sees *relative* positions.

Docs: docs/transformer.md#input-part.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["TokenEmbedding", "SinusoidalPositionalEncoding", "LearnedPositionalEmbedding", "RoPE"]


def _check_fits(t: int, offset: int, max_len: int, what: str) -> None:
    if offset < 0 or t + offset > max_len:
        raise ValueError(f"positions {offset}..{offset + t - 1} exceed the {what}'s max_len={max_len}")


def _positions(t: int, offset: int | Tensor, max_len: int, what: str, device) -> Tensor:
    """Positions offset..offset+t-1: (T,) for an int offset, (B, T) for a per-row (B,) offset.

    Per-row offsets come from left padding (minillm.decoding.generation): row b's real tokens start at
    position 0, so its offset is negative and its padding gets clamped position 0 (masked anyway).
    """
    if isinstance(offset, Tensor):
        if t + int(offset.max()) > max_len:
            raise ValueError(f"positions up to {int(offset.max()) + t - 1} exceed the {what}'s max_len={max_len}")
        return (offset[:, None].to(device) + torch.arange(t, device=device)).clamp_min(0)  # (B, T)
    _check_fits(t, offset, max_len, what)
    return torch.arange(offset, offset + t, device=device)  # (T,)


class TokenEmbedding(nn.Module):
    """Token ids (B, T) → vectors (B, T, d_model), times √d_model when ``scale`` is True."""

    def __init__(self, vocab_size: int, d_model: int, scale: bool = True, padding_idx: int | None = None):
        super().__init__()
        if vocab_size <= 0 or d_model <= 0:
            raise ValueError(f"vocab_size and d_model must be positive, got {vocab_size}, {d_model}")
        self.embedding = nn.Embedding(vocab_size, d_model, padding_idx=padding_idx)
        self.vocab_size, self.d_model = vocab_size, d_model
        self.scale = math.sqrt(d_model) if scale else 1.0

    @property
    def weight(self) -> Tensor:
        return self.embedding.weight

    def forward(self, tokens: Tensor) -> Tensor:
        if tokens.dtype not in (torch.long, torch.int, torch.int16, torch.uint8):
            raise ValueError(f"token ids must be an integer tensor, got dtype {tokens.dtype}")
        if tokens.dtype in (torch.int16, torch.uint8):  # nn.Embedding looks up int32/int64 ids only
            tokens = tokens.long()
        # The range check reads the ids back to the host; skip it on CUDA where that sync would
        # cost more than the lookup itself (CUDA still asserts on out-of-range ids).
        if not tokens.is_cuda and tokens.numel() and (tokens.min() < 0 or tokens.max() >= self.vocab_size):
            raise ValueError(
                f"token ids must lie in [0, {self.vocab_size}), got min {int(tokens.min())}, max {int(tokens.max())}"
            )
        return self.embedding(tokens) * self.scale  # (B, T, d_model)


# --8<-- [start:sinusoidal]
def sinusoidal_table(max_len: int, d_model: int) -> Tensor:
    """The (max_len, d_model) table of the 2017 paper; column 2i is sin, 2i+1 is cos."""
    pos = torch.arange(max_len, dtype=torch.float64)[:, None]  # (max_len, 1)
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)  # (ceil(d/2),)
    angle = pos / (10000.0 ** (two_i / d_model))  # (max_len, ceil(d/2))
    table = torch.zeros(max_len, d_model, dtype=torch.float64)
    table[:, 0::2] = torch.sin(angle)
    table[:, 1::2] = torch.cos(angle[:, : d_model // 2])  # an odd d_model has one more sin column
    return table.float()


# --8<-- [end:sinusoidal]


class SinusoidalPositionalEncoding(nn.Module):
    """Adds the fixed sinusoidal table to (B, T, d_model) inputs, then dropout."""

    def __init__(self, d_model: int, max_len: int = 5000, dropout: float = 0.0):
        super().__init__()
        self.max_len = max_len
        self.register_buffer("pe", sinusoidal_table(max_len, d_model), persistent=False)  # (max_len, d)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, offset: int | Tensor = 0) -> Tensor:
        pos = _positions(x.shape[1], offset, self.max_len, "sinusoidal encoding", x.device)  # (T,) or (B, T)
        return self.dropout(x + self.pe[pos].to(x.dtype))  # (B, T, d_model)


class LearnedPositionalEmbedding(nn.Module):
    """One trained vector per position (GPT-2's ``wpe``); adds it to (B, T, d_model) inputs."""

    def __init__(self, max_len: int, d_model: int):
        super().__init__()
        self.max_len = max_len
        self.embedding = nn.Embedding(max_len, d_model)

    @property
    def weight(self) -> Tensor:
        return self.embedding.weight

    def forward(self, x: Tensor, offset: int | Tensor = 0) -> Tensor:
        pos = _positions(x.shape[1], offset, self.max_len, "learned position table", x.device)  # (T,) or (B, T)
        return x + self.embedding(pos)  # (B, T, d_model)


class RoPE(nn.Module):
    """Rotary position embedding for per-head tensors (B, H, T, head_dim).

    Uses the "rotate half" layout: dimension i is paired with i + head_dim/2, and the pair is
    rotated by angle pos · base^(-2i/head_dim).
    """

    def __init__(self, head_dim: int, max_len: int = 4096, base: float = 10000.0):
        super().__init__()
        if head_dim % 2 != 0:
            raise ValueError(f"RoPE needs an even head_dim, got {head_dim}")
        self.max_len = max_len
        inv_freq = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)  # (hd/2,)
        angle = torch.arange(max_len, dtype=torch.float64)[:, None] * inv_freq  # (max_len, hd/2)
        angle = torch.cat([angle, angle], dim=-1)  # (max_len, hd)
        self.register_buffer("cos", angle.cos().float(), persistent=False)
        self.register_buffer("sin", angle.sin().float(), persistent=False)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        t = x.shape[-2]
        _check_fits(t, offset, self.max_len, "RoPE table")
        cos = self.cos[offset : offset + t].to(x.dtype)  # (T, hd)
        sin = self.sin[offset : offset + t].to(x.dtype)  # (T, hd)
        x1, x2 = x.chunk(2, dim=-1)  # (..., T, hd/2) each
        rotated_half = torch.cat([-x2, x1], dim=-1)  # (..., T, hd)
        return x * cos + rotated_half * sin  # (..., T, hd)
