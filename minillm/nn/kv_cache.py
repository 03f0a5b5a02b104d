"""Key/value cache for fast autoregressive decoding.

When a decoder generates token t+1, the keys and values of tokens 0..t do not change, so we
store them instead of recomputing them: each step then costs O(T) attention work instead of
O(T²). One KVCache belongs to one attention layer.

Its size is what limits long contexts at inference (docs/beyond.md#kv-cache):

    bytes = 2 (K and V) · n_layer · n_kv_head · head_dim · positions · batch · bytes per value

Grouped-query attention shrinks n_kv_head; a sliding window of W keeps positions ≤ W: a cache
built with ``window`` holds only the newest W positions and drops older ones, which no query can
see any more (Mistral's rolling buffer). ``minillm.costs.inference.kv_cache_bytes`` predicts ``nbytes``.

Docs: docs/transformer.md#generation.
"""

from __future__ import annotations

import torch
from torch import Tensor

from minillm.utils.configs import refuse_renamed

__all__ = ["KVCache", "new_caches"]


@refuse_renamed
class KVCache:
    """Pre-allocated (B, n_kv_head, capacity, head_dim) buffers for keys and values.

    With grouped-query attention (LlamaConfig.n_kv_head, models/llama.py) only the shared K/V heads
    are stored, so the cache shrinks by n_head / n_kv_head. ``capacity`` is ``block_size``, or
    min(block_size, window) with a sliding ``window``.

    The buffers are allocated on the first ``update`` (so batch size, dtype and device come from
    the model); ``length`` counts the positions seen so far (the next token's position), ``stored``
    those still held.
    """

    def __init__(self, block_size: int, *, window: int | None = None):
        if not isinstance(block_size, int) or block_size <= 0:
            raise ValueError(f"block_size must be a positive integer, got {block_size!r}")
        if window is not None and (not isinstance(window, int) or isinstance(window, bool) or window < 1):
            raise ValueError(f"window must be None or an integer >= 1, got {window!r}")
        self.block_size, self.window = block_size, window
        self.capacity = block_size if window is None else min(block_size, window)
        self.length = 0
        self.stored = 0
        self.k: Tensor | None = None
        self.v: Tensor | None = None

    def update(self, k_new: Tensor, v_new: Tensor) -> tuple[Tensor, Tensor]:
        """Append (B, H_kv, T_new, d) keys/values; return the keys/values the new queries may need:
        all (B, H_kv, length, d) so far, or with a window the ≤ W stored ones followed by the new."""
        t_new = k_new.shape[-2]
        if self.length + t_new > self.block_size:
            raise ValueError(
                f"KV cache overflow: {self.length} cached + {t_new} new positions > block_size={self.block_size}"
            )
        if self.k is None:
            b, h, _, d = k_new.shape
            self.k = k_new.new_empty(b, h, self.capacity, d)  # (B, H, capacity, hd)
            self.v = v_new.new_empty(b, h, self.capacity, v_new.shape[-1])  # (B, H, capacity, hd_v)
        elif k_new.shape[0] != self.k.shape[0]:
            raise ValueError(f"batch size changed from {self.k.shape[0]} to {k_new.shape[0]} inside one cache")
        if self.window is not None:
            return self._slide(k_new, v_new)
        end = self.length + t_new
        self.k[:, :, self.length : end] = k_new
        self.v[:, :, self.length : end] = v_new
        self.length = self.stored = end
        return self.k[:, :, :end], self.v[:, :, :end]  # (B, H, length, hd)

    def _slide(self, k_new: Tensor, v_new: Tensor) -> tuple[Tensor, Tensor]:
        """Window: the stored positions then the new ones (contiguous, so the bottom-right window
        mask lines up); afterwards keep only the newest ``capacity`` of them."""
        k_all = torch.cat([self.k[:, :, : self.stored], k_new], dim=2)  # (B, H, stored + T_new, hd)
        v_all = torch.cat([self.v[:, :, : self.stored], v_new], dim=2)
        keep = min(self.capacity, k_all.shape[2])
        self.k[:, :, :keep] = k_all[:, :, -keep:]  # older positions fall out of every future window
        self.v[:, :, :keep] = v_all[:, :, -keep:]
        self.length += k_new.shape[2]
        self.stored = keep
        return k_all, v_all

    @property
    def nbytes(self) -> int:
        """Bytes of the K and V buffers this cache holds (0 before the first update)."""
        if self.k is None:
            return 0
        return self.k.numel() * self.k.element_size() + self.v.numel() * self.v.element_size()

    def reset(self) -> None:
        self.length = self.stored = 0

    def reorder(self, rows: Tensor) -> None:
        """Keep batch row ``rows[i]`` as row i (beam search: each beam continues some earlier beam)."""
        if self.k is not None:
            self.k = self.k.index_select(0, rows)  # (B, H, block_size, hd)
            self.v = self.v.index_select(0, rows)

    def __repr__(self) -> str:
        window = "" if self.window is None else f", window={self.window}"
        return f"KVCache(length={self.length}, block_size={self.block_size}{window})"


@refuse_renamed
def new_caches(n_layer: int, block_size: int, *, window: int | None = None) -> list[KVCache]:
    """One empty cache per layer."""
    return [KVCache(block_size, window=window) for _ in range(n_layer)]
