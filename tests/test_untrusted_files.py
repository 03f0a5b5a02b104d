"""Untrusted files: files minillm did not write are data, never code.

No regular expression from a tokenizer file is compiled, a checkpoint without its SHA-256 map is
refused, a pickle that carries code is refused with a message that never suggests turning the
check off, and a damaged config.json / meta.json / metrics.jsonl names the file and the key.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

import minillm
from minillm.data.tokens import TokenData, prepare_tokens
from minillm.models import GPT, GPTConfig
from minillm.models.pretrained import CheckpointError, sha256_file
from minillm.tokenizers import BPETokenizer, load_tokenizer
from minillm.tokenizers.bpe import SPLIT_PATTERN, SPLIT_PATTERNS
from minillm.train.checkpoint import load_checkpoint, save_checkpoint
from minillm.utils.configs import read_config_file


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("echo ran > /dev/null",))


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


@pytest.fixture
def checkpoint(tmp_path):
    model = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8))
    opt = torch.optim.AdamW(model.parameters())
    return save_checkpoint(tmp_path / "run", 1, model, opt, {"model": model.config.to_dict()}), model, opt


def _edit_state(path, **changes):
    state = json.loads((path / "state.json").read_text())
    state.update(changes)
    (path / "state.json").write_text(json.dumps(state))
    return state


@pytest.mark.parametrize("sha", [None, {}, ["x"], {"model.safetensors": 3}])
def test_a_checkpoint_without_its_sha256_map_is_refused(checkpoint, sha):
    path = checkpoint[0]
    state = _edit_state(path)
    if sha is None:
        del state["sha256"]
        (path / "state.json").write_text(json.dumps(state))
    else:
        _edit_state(path, sha256=sha)
    with pytest.raises(CheckpointError, match="SHA-256 map"):
        minillm.load(path)


def test_the_sha256_map_lists_only_plain_known_names(checkpoint):
    path = checkpoint[0]
    state = json.loads((path / "state.json").read_text())
    _edit_state(path, sha256={**state["sha256"], "../../etc/passwd": "0"})
    with pytest.raises(CheckpointError, match="unexpected file '../../etc/passwd'"):
        minillm.load(path)


def test_a_pickle_that_carries_code_is_refused_without_weights_only_advice(checkpoint):
    path, model, opt = checkpoint
    torch.save({"rng": _RunsCode()}, path / "trainer.pt")
    state = json.loads((path / "state.json").read_text())
    _edit_state(path, sha256={**state["sha256"], "trainer.pt": sha256_file(path / "trainer.pt")})
    with pytest.raises(CheckpointError, match="minillm refused to load .*trainer.pt.*could run code") as err:
        load_checkpoint(path, model, opt)
    assert "weights_only" not in str(err.value)


@pytest.fixture
def hf_dir(tmp_path):
    GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8)).save_pretrained(tmp_path / "hf")
    return tmp_path / "hf"


def test_hf_pickle_with_code_is_refused(hf_dir):
    (hf_dir / "model.safetensors").unlink()
    torch.save({"x": _RunsCode()}, hf_dir / "pytorch_model.bin")
    with pytest.raises(ValueError, match="minillm refused to load .*pytorch_model.bin") as err:
        minillm.load(hf_dir)
    assert "weights_only" not in str(err.value)


@pytest.mark.parametrize(
    "text, match",
    [
        ("{", "config.json is not valid JSON"),
        ("[1]", "config.json must hold a JSON object"),
        ('{"n_layer": 1}', r"config.json lacks \['vocab_size'"),
        (None, r"config.json n_layer='1' is not a positive integer"),
    ],
)
def test_hf_config_errors_name_file_and_key(hf_dir, text, match):
    if text is None:
        text = json.dumps({**json.loads((hf_dir / "config.json").read_text()), "n_layer": "1"})
    (hf_dir / "config.json").write_text(text)
    with pytest.raises(ValueError, match=match):
        minillm.load(hf_dir)


def test_malformed_safetensors_header_is_named(hf_dir):
    (hf_dir / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}......")
    with pytest.raises(ValueError, match="cannot read the weights in"):
        minillm.load(hf_dir)


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
