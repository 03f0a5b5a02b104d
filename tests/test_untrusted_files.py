"""Untrusted files: files minillm did not write are data, never code.

No regular expression from a tokenizer file is compiled, and a damaged meta.json or config file
names the file and the key. Checkpoints and Hugging Face directories (the SHA-256 map, pickles that
carry code, a damaged config.json): tests/models/test_pretrained.py; a torn metrics.jsonl line:
tests/train/test_metrics.py.
"""

import json
import shutil
import subprocess
import sys

import pytest

from minillm.data.tokens import TokenData, prepare_tokens
from minillm.tokenizers import BPETokenizer, load_tokenizer
from minillm.tokenizers.bpe import SPLIT_PATTERN, SPLIT_PATTERNS
from minillm.utils.configs import read_config_file


def _write_json(path, data):
    path.write_text(json.dumps(data))
    return path


@pytest.fixture(scope="module")
def bpe():
    return BPETokenizer.train("hello world, hello there", 280, special_tokens=["<eos>"])


@pytest.mark.parametrize("pattern", [r"\w+", r"(a+)+$", "([", 5, None])
def test_a_split_pattern_from_a_file_is_never_compiled(bpe, tmp_path, pattern):
    path = _write_json(tmp_path / "tok.json", {**bpe.to_dict(), "pattern": pattern})
    with pytest.raises(ValueError, match="split pattern .* is not one minillm knows.*never compiled"):
        load_tokenizer(path)


def test_known_patterns_load_by_name_and_by_text(bpe, tmp_path):
    assert bpe.to_dict()["pattern"] == "gpt2"
    for pattern in (*SPLIT_PATTERNS, SPLIT_PATTERN):  # SPLIT_PATTERN's text: files written before names
        tok = load_tokenizer(_write_json(tmp_path / "tok.json", {**bpe.to_dict(), "pattern": pattern}))
        assert tok.decode(tok.encode("hello world, 你好")) == "hello world, 你好"


@pytest.mark.parametrize(
    "key, value, match",
    [
        ("special_tokens", [5], "special_tokens"),
        ("special_tokens", "<eos>", "special_tokens"),
        ("special_tokens", {"a": 1}, "special_tokens"),
        ("merges", [[True, 1]], "merges"),
        ("merges", [[300, 1]], "does not exist yet"),
    ],
)
def test_tokenizer_fields_are_type_checked(bpe, tmp_path, key, value, match):
    with pytest.raises(ValueError, match=match):
        load_tokenizer(_write_json(tmp_path / "tok.json", {**bpe.to_dict(), key: value}))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    src = tmp_path_factory.mktemp("src") / "t.txt"
    src.write_text("hello world " * 50)
    out = tmp_path_factory.mktemp("data")
    prepare_tokens([str(src)], out)
    return out


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda m: m.pop("dtype"), "'dtype' must be one of"),
        (lambda m: m.update(dtype="object"), "'dtype' must be one of"),
        (lambda m: m.update(train_tokens="x"), "'train_tokens' must be an integer"),
        (lambda m: m.pop("vocab_size"), "'vocab_size' must be an integer"),
    ],
)
def test_meta_json_names_the_key(data_dir, tmp_path, edit, match):
    copy = shutil.copytree(data_dir, tmp_path / "d")
    meta = json.loads((copy / "meta.json").read_text())
    edit(meta)
    (copy / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=f"meta.json: {match}"):
        TokenData.open(copy)


@pytest.mark.parametrize("content", [b"[1]", b"\xff\xfe"])
def test_meta_json_that_is_not_an_object(data_dir, tmp_path, content):
    copy = shutil.copytree(data_dir, tmp_path / "d")
    (copy / "meta.json").write_bytes(content)
    with pytest.raises(ValueError, match="meta.json"):
        TokenData.open(copy)


def test_token_ids_outside_the_vocabulary_are_named(data_dir, tmp_path):
    copy = shutil.copytree(data_dir, tmp_path / "d")
    meta = json.loads((copy / "meta.json").read_text())
    (copy / "meta.json").write_text(json.dumps({**meta, "vocab_size": 2}))
    with pytest.raises(ValueError, match="train.bin holds token id .* outside the vocabulary of 2"):
        TokenData.open(copy).batch("train", 4, 8, 0, 0)


def test_config_file_that_is_not_text(tmp_path):
    (tmp_path / "c.json").write_bytes(b"\xff\xfe")
    with pytest.raises(ValueError, match="config file .*c.json is not valid JSON"):
        read_config_file(tmp_path / "c.json")


@pytest.mark.slow
def test_catastrophic_pattern_does_not_hang_a_fresh_process(bpe, tmp_path):
    path = _write_json(tmp_path / "tok.json", {**bpe.to_dict(), "pattern": r"(a+)+$"})
    code = f"from minillm.tokenizers import load_tokenizer; load_tokenizer({str(path)!r}).encode('a' * 40 + 'b')"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 1 and "never compiled" in run.stderr
