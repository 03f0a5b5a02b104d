"""KVCache at its edges (written against mutmut survivors, tests/MUTATION.md)."""

import pytest
import torch

from minillm.nn.kv_cache import KVCache


def test_cache_fills_exactly_to_max_len_then_refuses():
    cache = KVCache(max_len=3)
    kv = torch.randn(1, 2, 2, 4)
    cache.update(kv, kv)
    k, _ = cache.update(kv[:, :, :1], kv[:, :, :1])  # 2 + 1 = max_len: still fits
    assert k.shape == (1, 2, 3, 4)
    with pytest.raises(ValueError, match="overflow"):
        cache.update(kv[:, :, :1], kv[:, :, :1])
    one = KVCache(max_len=1)  # the smallest cache holds one position
    assert one.update(kv[:, :, :1], kv[:, :, :1])[0].shape == (1, 2, 1, 4)
    with pytest.raises(ValueError, match="max_len"):
        KVCache(max_len=0)
