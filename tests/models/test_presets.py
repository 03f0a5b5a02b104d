"""Presets at their real sizes: minillm's GPT or Llama, costs.param_count and transformers' model built from the
same numbers on the meta device (no weights, no downloads) have exactly the same parameter count."""

from __future__ import annotations

import pytest
import torch

from minillm import costs
from minillm.models import hf_gpt2
from minillm.models.families import build_model, model_config
from minillm.models.gpt import GPT, GPTConfig
from minillm.models.hf_llama import config_to_hf
from minillm.models.llama import Llama, LlamaConfig
from minillm.models.presets import GPT2_SIZES, LLAMA_SHAPES, PRESETS

transformers = pytest.importorskip("transformers")


def _hf_model(c: GPTConfig | LlamaConfig):
    """The transformers class and config for the same numbers: the config.json that save_pretrained
    writes (minillm.models.hf_gpt2.config_to_hf for GPT-2, hf_llama.config_to_hf for the later family;
    tests/models/test_hf_gpt2.py and tests/models/test_hf_llama.py check them)."""
    fields = c.to_dict()
    hf = (hf_gpt2.config_to_hf if fields.pop("family") == "gpt" else config_to_hf)(fields)
    return getattr(transformers, hf["architectures"][0]), transformers.AutoConfig.for_model(**hf)


# qwen3-30b-a3b at full depth is 48 layers × 128 experts = 18,432 Linear modules to build (20 s), so
# it is counted at 1 and 2 layers on both sides: every layer of the preset is the same, so the count
# is linear in depth and the full model's is n(1) + (L - 1) · (n(2) - n(1)), checked against costs.
DEEP = {"qwen3-30b-a3b"}


def _counts(config: GPTConfig | LlamaConfig) -> tuple[int, int]:
    cls, hf_config = _hf_model(config)
    with torch.device("meta"):
        theirs = cls(hf_config)
        ours = build_model(config)
    assert type(ours) is (GPT if isinstance(config, GPTConfig) else Llama)
    return ours.num_parameters(), sum(p.numel() for p in theirs.parameters())


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_parameter_count_equals_transformers(name):
    config = model_config(name)
    assert type(config) is (GPTConfig if name in GPT2_SIZES else LlamaConfig)
    if name not in DEEP:
        ours, theirs = _counts(config)
        assert ours == theirs
        assert costs.param_count(config) == theirs
        return
    (ours1, theirs1), (ours2, theirs2) = (_counts(model_config(name, n_layer=n)) for n in (1, 2))
    assert (ours1, ours2) == (theirs1, theirs2) and theirs2 > theirs1
    assert costs.param_count(config) == theirs1 + (config.n_layer - 1) * (theirs2 - theirs1)


def test_published_sizes():
    """The numbers the model cards state, rounded as they round them."""
    billions = {name: costs.param_count(model_config(name)) / 1e9 for name in PRESETS}
    assert costs.param_count(GPTConfig.from_name("gpt2")) == 124_439_808
    assert round(billions["qwen2.5-0.5b"], 2) == 0.49  # "0.49B"
    assert round(billions["qwen3-0.6b"], 1) == 0.6
    assert round(billions["llama-3.2-1b"], 2) == 1.24  # "1.23B" without the tied output
    assert round(billions["qwen3-30b-a3b"], 1) == 30.5
    assert round(costs.active_param_count(LlamaConfig.from_name("qwen3-30b-a3b")) / 1e9, 1) == 3.4  # "3.3B activated"
    assert round(billions["mixtral-8x7b"], 1) == 46.7
    assert round(costs.active_param_count(LlamaConfig.from_name("mixtral-8x7b")) / 1e9, 1) == 12.9


def test_kv_cache_bytes_by_hand():
    # Qwen3-0.6B in bf16: 2 (K, V) · 28 layers · 8 K/V heads · 128 · 2 bytes = 114,688 bytes per token
    qwen3 = LlamaConfig.from_name("qwen3-0.6b")
    assert costs.kv_cache_bytes(qwen3, 1) == 114_688
    assert costs.kv_cache_bytes(qwen3, 4096, batch_size=2) == 114_688 * 4096 * 2
    mqa = LlamaConfig.from_name("qwen3-0.6b", n_kv_head=1)
    assert costs.kv_cache_bytes(mqa, 4096) == costs.kv_cache_bytes(qwen3, 4096) / 8
    windowed = LlamaConfig.from_name("qwen3-0.6b", window=1024)
    assert costs.kv_cache_bytes(windowed, 4096) == costs.kv_cache_bytes(qwen3, 1024)
    # GPT-2 small in fp32: 2 · 12 layers · 12 heads · 64 · 4 bytes = 73,728 bytes per token
    assert costs.kv_cache_bytes(GPTConfig.from_name("gpt2"), 1, bytes_per_value=4) == 73_728
    with pytest.raises(ValueError, match="unknown model name 'llama-9'"):
        LlamaConfig.from_name("llama-9")
    with pytest.raises(ValueError, match="unknown model name 'llama-9'"):
        model_config("llama-9")
    with pytest.raises(ValueError, match="unknown GPT-2 size 'qwen3-0.6b'"):  # each config knows its own family's
        GPTConfig.from_name("qwen3-0.6b")
    with pytest.raises(ValueError, match="unknown model name 'gpt2'"):
        LlamaConfig.from_name("gpt2")
    assert set(PRESETS) == set(GPT2_SIZES) | set(LLAMA_SHAPES) and not set(GPT2_SIZES) & set(LLAMA_SHAPES)
