"""KVCache, generate() and beam_search() at their edges (written against mutmut survivors, tests/MUTATION.md).

The decoding tests use hand-built "models" whose next-token distribution is a table, so every
expected token and score is written out by hand.
"""

import pytest
import torch

from minillm.nn.kv_cache import KVCache


# ---------------------------------------------------------------- KVCache
@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "2"])
def test_cache_window_must_be_a_positive_integer(bad):
    with pytest.raises(ValueError, match="window must be None or an integer >= 1"):
        KVCache(8, window=bad)


def test_a_window_of_one_keeps_only_the_newest_position():
    cache = KVCache(8, window=1)
    assert cache.capacity == 1
    kv = torch.arange(3.0).view(1, 1, 3, 1)  # positions 0, 1, 2 hold the values 0, 1, 2
    k, v = cache.update(kv, kv)
    assert k.flatten().tolist() == v.flatten().tolist() == [0.0, 1.0, 2.0]  # the new queries see every new key
    k, _ = cache.update(kv[:, :, :1] + 10, kv[:, :, :1] + 10)
    assert k.flatten().tolist() == [2.0, 10.0]  # the one stored position, then the new one
    assert (cache.length, cache.stored) == (4, 1)


def test_repr_names_length_max_len_and_window():
    assert repr(KVCache(8)) == "KVCache(length=0, max_len=8)"
    cache = KVCache(8, window=4)
    cache.update(torch.zeros(1, 1, 3, 2), torch.zeros(1, 1, 3, 2))
    assert repr(cache) == "KVCache(length=3, max_len=8, window=4)"
