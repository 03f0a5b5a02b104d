"""Token embeddings and the three ways to tell a Transformer where a token is.

Report §1.2.1, input part (输入部分): source-text embedding layer (源文本嵌入层) + positional
encoder (位置编码器). Attention by itself ignores order (it is a weighted *sum*), so position must
be added to, or rotated into, the token vectors.

- TokenEmbedding: a lookup table, scaled by √n_embd as in Vaswani et al. (2017) §3.4.
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

from minillm.utils.configs import refuse_renamed

__all__ = ["TokenEmbedding", "SinusoidalPositionalEncoding", "LearnedPositionalEmbedding", "RoPE"]


def _check_fits(t: int, offset: int, block_size: int, what: str) -> None:
    if offset < 0 or t + offset > block_size:
        raise ValueError(f"positions {offset}..{offset + t - 1} exceed the {what}'s block_size={block_size}")


def _positions(t: int, offset: int | Tensor, block_size: int, what: str, device) -> Tensor:
    """Positions offset..offset+t-1: (T,) for an int offset, (B, T) for a per-row (B,) offset.

    Per-row offsets come from left padding (minillm.decoding.generation): row b's real tokens start at
    position 0, so its offset is negative and its padding gets clamped position 0 (masked anyway).
    """
    if isinstance(offset, Tensor):
        if t + int(offset.max()) > block_size:
            raise ValueError(f"positions up to {int(offset.max()) + t - 1} exceed the {what}'s block_size={block_size}")
        return (offset[:, None].to(device) + torch.arange(t, device=device)).clamp_min(0)  # (B, T)
    _check_fits(t, offset, block_size, what)
    return torch.arange(offset, offset + t, device=device)  # (T,)


@refuse_renamed
class TokenEmbedding(nn.Module):
    """Token ids (B, T) → vectors (B, T, n_embd), times √n_embd when ``scale`` is True."""

    def __init__(self, vocab_size: int, n_embd: int, *, scale: bool = True, padding_idx: int | None = None):
        super().__init__()
        if vocab_size <= 0 or n_embd <= 0:
            raise ValueError(f"vocab_size and n_embd must be positive, got {vocab_size}, {n_embd}")
        self.embedding = nn.Embedding(vocab_size, n_embd, padding_idx=padding_idx)
        self.vocab_size, self.n_embd = vocab_size, n_embd
        self.scale = math.sqrt(n_embd) if scale else 1.0

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
        return self.embedding(tokens) * self.scale  # (B, T, n_embd)


@refuse_renamed
# --8<-- [start:sinusoidal]
def sinusoidal_table(block_size: int, n_embd: int) -> Tensor:
    """The (block_size, n_embd) table of the 2017 paper; column 2i is sin, 2i+1 is cos."""
    pos = torch.arange(block_size, dtype=torch.float64)[:, None]  # (block_size, 1)
    two_i = torch.arange(0, n_embd, 2, dtype=torch.float64)  # (ceil(d/2),)
    angle = pos / (10000.0 ** (two_i / n_embd))  # (block_size, ceil(d/2))
    table = torch.zeros(block_size, n_embd, dtype=torch.float64)
    table[:, 0::2] = torch.sin(angle)
    table[:, 1::2] = torch.cos(angle[:, : n_embd // 2])  # an odd n_embd has one more sin column
    return table.float()


# --8<-- [end:sinusoidal]


@refuse_renamed
class SinusoidalPositionalEncoding(nn.Module):
    """Adds the fixed sinusoidal table to (B, T, n_embd) inputs, then dropout."""

    def __init__(self, n_embd: int, block_size: int = 5000, *, dropout: float = 0.0):
        super().__init__()
        self.block_size = block_size
        self.register_buffer("pe", sinusoidal_table(block_size, n_embd), persistent=False)  # (block_size, d)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, offset: int | Tensor = 0) -> Tensor:
        pos = _positions(x.shape[1], offset, self.block_size, "sinusoidal encoding", x.device)  # (T,) or (B, T)
        return self.dropout(x + self.pe[pos].to(x.dtype))  # (B, T, n_embd)


@refuse_renamed
class LearnedPositionalEmbedding(nn.Module):
    """One trained vector per position (GPT-2's ``wpe``); adds it to (B, T, n_embd) inputs."""

    def __init__(self, n_embd: int, block_size: int):
        super().__init__()
        self.block_size = block_size
        self.embedding = nn.Embedding(block_size, n_embd)

    @property
    def weight(self) -> Tensor:
        return self.embedding.weight

    def forward(self, x: Tensor, offset: int | Tensor = 0) -> Tensor:
        pos = _positions(x.shape[1], offset, self.block_size, "learned position table", x.device)  # (T,) or (B, T)
        return x + self.embedding(pos)  # (B, T, n_embd)


@refuse_renamed
class RoPE(nn.Module):
    """Rotary position embedding for per-head tensors (B, H, T, head_dim).

    Uses the "rotate half" layout: dimension i is paired with i + head_dim/2, and the pair is
    rotated by angle pos · base^(-2i/head_dim).
    """

    def __init__(self, head_dim: int, block_size: int = 4096, *, base: float = 10000.0):
        super().__init__()
        if head_dim % 2 != 0:
            raise ValueError(f"RoPE needs an even head_dim, got {head_dim}")
        self.block_size = block_size
        inv_freq = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)  # (hd/2,)
        angle = torch.arange(block_size, dtype=torch.float64)[:, None] * inv_freq  # (block_size, hd/2)
        angle = torch.cat([angle, angle], dim=-1)  # (block_size, hd)
        self.register_buffer("cos", angle.cos().float(), persistent=False)
        self.register_buffer("sin", angle.sin().float(), persistent=False)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        t = x.shape[-2]
        _check_fits(t, offset, self.block_size, "RoPE table")
        cos = self.cos[offset : offset + t].to(x.dtype)  # (T, hd)
        sin = self.sin[offset : offset + t].to(x.dtype)  # (T, hd)
        x1, x2 = x.chunk(2, dim=-1)  # (..., T, hd/2) each
        rotated_half = torch.cat([-x2, x1], dim=-1)  # (..., T, hd)
        return x * cos + rotated_half * sin  # (..., T, hd)
