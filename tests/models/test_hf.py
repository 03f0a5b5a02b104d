"""Any Hugging Face directory minillm reads or writes (minillm/models/hf.py), without transformers: a
GPTConfig goes out in GPT-2's layout and a LlamaConfig in the layout it is shaped like, and each comes
back as the same family, config and tensors; a Llama-family directory whose tensors do not fit its
config.json is refused, naming the keys. Against transformers itself: test_hf_gpt2.py, test_hf_llama.py."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from minillm.models import GPT, GPTConfig, Llama, LlamaConfig
from minillm.models.hf import read_hf_dir, write_hf_dir

SHAPE = {"vocab_size": 11, "block_size": 8, "n_layer": 2, "n_head": 2, "n_embd": 8}
MODELS = {  # name: (config, the model_type it is written as)
    "gpt2": (GPTConfig(**SHAPE), "gpt2"),
    "llama-gqa": (LlamaConfig(**SHAPE, n_kv_head=1, d_ff=12), "llama"),
    "llama-tied": (LlamaConfig(**SHAPE, d_ff=12, tie_embeddings=True), "llama"),
    "qwen3": (LlamaConfig(**SHAPE, d_ff=12, qk_norm=True), "qwen3"),
    "mixtral": (LlamaConfig(**SHAPE, d_ff=12, n_experts=4, expert_top_k=2), "mixtral"),
}


@pytest.mark.parametrize("name", MODELS)
def test_a_model_comes_back_as_its_family_config_and_tensors(name, tmp_path):
    config, model_type = MODELS[name]
    model = (GPT if isinstance(config, GPTConfig) else Llama)(config)
    write_hf_dir(config, model.state_dict(), tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["model_type"] == model_type
    family, fields, state = read_hf_dir(tmp_path)
    assert family == model.family and type(model).config_from_fields(fields) == config
    want = model.state_dict()
    assert set(state) == set(want)
    for key, value in want.items():
        assert torch.equal(state[key], value), key
    if config.to_dict().get("tie_embeddings", True):  # stored once; read back as one tensor under both names
        assert "lm_head.weight" not in load_file(tmp_path / "model.safetensors")
        assert state["lm_head.weight"] is state["wte.weight"]


def test_tensors_that_do_not_fit_config_json_are_named(tmp_path):
    config, _ = MODELS["llama-gqa"]
    write_hf_dir(config, Llama(config).state_dict(), tmp_path)
    weights = load_file(tmp_path / "model.safetensors")
    del weights["model.layers.1.self_attn.k_proj.weight"]
    weights["model.layers.1.adapter.weight"] = torch.zeros(2)
    save_file(weights, tmp_path / "model.safetensors")
    with pytest.raises(
        ValueError,
        match=r"2-layer llama model: missing keys \['model.layers.1.self_attn.k_proj.weight'\], "
        r"unexpected keys \['model.layers.1.adapter.weight'\]",
    ):
        read_hf_dir(tmp_path)
