"""Key/value cache for fast autoregressive decoding.

When a decoder generates token t+1, the keys and values of tokens 0..t do not change, so we
store them instead of recomputing them: each step then costs O(T) attention work instead of
O(T²). One KVCache belongs to one attention layer.

Docs: docs/transformer.md#generation.
"""

from __future__ import annotations

from torch import Tensor

__all__ = ["KVCache", "new_caches"]


class KVCache:
    """Pre-allocated (B, n_kv_heads, max_len, head_dim) buffers for keys and values.

    With grouped-query attention (MultiHeadAttention(n_kv_heads=...)) only the shared K/V heads
    are stored, so the cache shrinks by n_heads / n_kv_heads.

    The buffers are allocated on the first ``update`` (so batch size, dtype and device come from
    the model); ``length`` counts how many positions are filled.
    """

    def __init__(self, max_len: int):
        if max_len <= 0:
            raise ValueError(f"max_len must be positive, got {max_len}")
        self.max_len = max_len
        self.length = 0
        self.k: Tensor | None = None
        self.v: Tensor | None = None

    def update(self, k_new: Tensor, v_new: Tensor) -> tuple[Tensor, Tensor]:
        """Append (B, H_kv, T_new, d) keys/values; return all (B, H_kv, length, d) keys/values so far."""
        t_new = k_new.shape[-2]
        if self.length + t_new > self.max_len:
            raise ValueError(
                f"KV cache overflow: {self.length} cached + {t_new} new positions > max_len={self.max_len}"
            )
        if self.k is None:
            b, h, _, d = k_new.shape
            self.k = k_new.new_empty(b, h, self.max_len, d)  # (B, H, max_len, hd)
            self.v = v_new.new_empty(b, h, self.max_len, v_new.shape[-1])  # (B, H, max_len, hd_v)
        elif k_new.shape[0] != self.k.shape[0]:
            raise ValueError(f"batch size changed from {self.k.shape[0]} to {k_new.shape[0]} inside one cache")
        end = self.length + t_new
        self.k[:, :, self.length : end] = k_new
        self.v[:, :, self.length : end] = v_new
        self.length = end
        return self.k[:, :, :end], self.v[:, :, :end]  # (B, H, length, hd)

    def reset(self) -> None:
        self.length = 0

    def reorder(self, rows: Tensor) -> None:
        """Keep batch row ``rows[i]`` as row i (beam search: each beam continues some earlier beam)."""
        if self.k is not None:
            self.k = self.k.index_select(0, rows)  # (B, H, max_len, hd)
            self.v = self.v.index_select(0, rows)

    def __repr__(self) -> str:
        return f"KVCache(length={self.length}, max_len={self.max_len})"


def new_caches(n_layers: int, max_len: int) -> list[KVCache]:
    """One empty cache per layer."""
    return [KVCache(max_len) for _ in range(n_layers)]
