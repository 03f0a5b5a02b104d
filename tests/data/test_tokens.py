"""TokenData's sampler: every window of block_size + 1 tokens can be drawn, the first and the last
as often as any other (nanoGPT's bound: starts in [0, len - block_size)), and the smallest split that
holds one window is accepted. The token-file format itself: tests/train/test_trainer.py."""

import numpy as np
import pytest

from minillm.data.tokens import TokenData, write_token_files


def _data(tmp_path, n_train, n_val=None):
    write_token_files(tmp_path, np.arange(n_train), np.arange(n_val or n_train), 1000, "char", ["t"])
    return TokenData.open(tmp_path)


def test_every_window_is_drawn_uniformly_the_extremes_included(tmp_path):
    n, block_size = 12, 4  # starts 0 … 7: eight windows
    data = _data(tmp_path, n)
    starts = np.concatenate([data.batch("train", 64, block_size, seed=0, step=s)[0][:, 0].numpy() for s in range(50)])
    counts = np.bincount(starts, minlength=n)
    assert counts[: n - block_size].min() > 0 and counts[n - block_size :].sum() == 0
    # 3200 draws over 8 starts: 400 each expected, sd 19; the first and the last are no rarer than the rest
    assert abs(counts[0] - 400) < 100 and abs(counts[n - block_size - 1] - 400) < 100


def test_the_last_token_of_a_split_is_a_target(tmp_path):
    data = _data(tmp_path, 9)
    _, y = data.batch("val", 256, 8, seed=1, step=0)  # one window only: tokens 0 … 8
    assert (y[:, -1] == 8).all()


def test_a_split_of_block_size_plus_one_tokens_is_enough(tmp_path):
    data = _data(tmp_path, 9)
    data.check_block_size(8)
    x, y = data.batch("train", 2, 8, seed=0, step=0)
    assert x[0].tolist() == list(range(8)) and y[0].tolist() == list(range(1, 9))
    with pytest.raises(ValueError, match=r"has 9 tokens, too few for block_size=9 \(need at least 10\)"):
        data.check_block_size(9)
