"""Token files (minillm/data/tokens.py): `minillm prepare` writes a split that round-trips, batches are
a function of (seed, step), and a missing, empty or truncated source or file is named. TokenData's
sampler: every window of block_size + 1 tokens can be drawn, the first and the last as often as any
other (nanoGPT's bound: starts in [0, len - block_size)), and the smallest split that holds one
window is accepted."""

import shutil

import numpy as np
import pytest
import torch
from helpers.corpus import prepared_data_dir
from helpers.tiny_run import TEXT

from minillm.data.tokens import TokenData, load_tokenizer, prepare_tokens, read_sources, write_token_files


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return prepared_data_dir(tmp_path_factory, TEXT, tokenizer="char")


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


# -- files ------------------------------------------------------------------------------------------
def test_prepare_char_round_trips_and_splits(data_dir):
    data = TokenData.open(data_dir)
    tok = data.tokenizer()
    assert data.meta["train_tokens"] == len(data.train) and data.train.dtype == np.uint16
    joined = tok.decode(data.train.tolist()) + tok.decode(data.val.tolist())
    assert joined == TEXT[: int(len(TEXT) * 0.8)] + TEXT[int(len(TEXT) * 0.8) :]
    assert "自" in tok.decode(data.train.tolist())  # Chinese text tokenises like any other


def test_prepare_bpe_and_builtin_sources(tmp_path):
    meta = prepare_tokens(["python-docs"], tmp_path, tokenizer="bpe", vocab_size=300)
    tok = load_tokenizer(tmp_path / "tokenizer.json")
    assert meta["vocab_size"] == tok.vocab_size == 300
    data = TokenData.open(tmp_path)
    assert tok.decode(data.val[:200].tolist()) in "\n\n".join(text for _, text in read_sources(["python-docs"]))


def test_batches_are_a_function_of_seed_and_step(data_dir):
    data = TokenData.open(data_dir)
    x1, y1 = data.batch("train", 4, 16, seed=0, step=3)
    x2, y2 = data.batch("train", 4, 16, seed=0, step=3)
    x3, _ = data.batch("train", 4, 16, seed=0, step=4)
    assert torch.equal(x1, x2) and torch.equal(y1, y2) and not torch.equal(x1, x3)
    assert x1.shape == (4, 16) and torch.equal(x1[:, 1:], y1[:, :-1])  # targets are inputs shifted by one


def test_data_errors(tmp_path, data_dir):
    with pytest.raises(FileNotFoundError, match="neither a file"):
        read_sources([str(tmp_path / "nope.txt")])
    (tmp_path / "empty.txt").write_text("  \n")
    with pytest.raises(ValueError, match="contain no text"):
        read_sources([str(tmp_path / "empty.txt")])
    with pytest.raises(FileNotFoundError, match="minillm prepare"):
        TokenData.open(tmp_path)
    with pytest.raises(ValueError, match="too few for block_size"):
        TokenData.open(data_dir).check_block_size(10_000)
    broken = tmp_path / "broken"
    shutil.copytree(data_dir, broken)
    with open(broken / "train.bin", "r+b") as f:
        f.truncate(10)
    with pytest.raises(ValueError, match="truncated"):
        TokenData.open(broken)


def test_prepare_minillm_docs_includes_the_chinese_chapters(tmp_path):
    meta = prepare_tokens(["minillm-docs"], tmp_path, tokenizer="char")
    assert any("/zh/" in s for s in meta["sources"]) and any(s.endswith("docs/training.md") for s in meta["sources"])
    assert set("自注意力机制") <= set(load_tokenizer(tmp_path / "tokenizer.json").chars)
