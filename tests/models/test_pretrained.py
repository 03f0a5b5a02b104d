"""Reading saved directories (minillm/models/pretrained.py) that minillm did not write, or that were
altered: a checkpoint without its SHA-256 map, or with a map naming other files, is refused; a pickle
that carries code is refused with a message that never suggests turning the check off; a damaged
config.json or safetensors header names the file."""

import json
import os

import pytest
import torch

import minillm
from minillm.models import GPT, GPTConfig
from minillm.models.pretrained import CheckpointError, sha256_file
from minillm.train.checkpoint import load_checkpoint, save_checkpoint


# -- files ------------------------------------------------------------------------------------------
class _RunsCode:
    def __reduce__(self):
        return (os.system, ("echo ran > /dev/null",))


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
