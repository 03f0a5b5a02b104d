"""Packing (minillm/data/packing.py): examples in one stream with prompts masked, and windows cut from it
with targets shifted by one; every window can be drawn, the last one included."""

import pytest
import torch

from minillm.data.packing import pack_examples, sample_windows


def test_pack_examples_masks_prompts():
    enc = lambda s: [ord(c) for c in s]  # noqa: E731
    tokens, learn = pack_examples([("ab", "c"), ("d", "ef")], enc)
    assert tokens.tolist() == enc("abcdef")
    assert learn.tolist() == [False, False, True, False, True, True]
    with pytest.raises(ValueError, match="at least one"):
        pack_examples([], enc)


def test_sample_windows_targets_are_shifted_and_masked():
    tokens = torch.arange(100)
    learn = tokens % 3 == 0
    x, y = sample_windows(tokens, learn, block_size=8, batch_size=5, generator=torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (5, 8)
    nxt = x + 1
    torch.testing.assert_close(y, torch.where(nxt % 3 == 0, nxt, torch.full_like(nxt, -100)))
    with pytest.raises(ValueError, match="too short"):
        sample_windows(tokens[:5], learn[:5], 8, 1, torch.Generator())


def test_sample_windows_draws_every_window_the_last_one_included():
    tokens = torch.arange(12)
    learn = torch.ones(12, dtype=torch.bool)
    x, y = sample_windows(tokens, learn, block_size=4, batch_size=4000, generator=torch.Generator().manual_seed(0))
    counts = torch.bincount(x[:, 0], minlength=12)
    assert counts[:8].min() > 350 and counts[8:].sum() == 0  # 500 expected per start, sd 21
    x, y = sample_windows(tokens[:9], learn[:9], block_size=8, batch_size=2, generator=torch.Generator())
    assert y[0].tolist() == list(range(1, 9))  # exactly one window: the stream's last token is a target
