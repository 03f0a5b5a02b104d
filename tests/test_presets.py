"""Presets at their real sizes: minillm's GPT, costs.param_count and transformers' model built from the
same numbers on the meta device (no weights, no downloads) have exactly the same parameter count."""

from __future__ import annotations

import pytest
import torch

from minillm import costs
from minillm.models.gpt import GPT, GPTConfig
from minillm.models.presets import PRESETS

transformers = pytest.importorskip("transformers")


def _hf_model(c: GPTConfig):
    """The transformers model with the same numbers (written here, from the config's fields)."""
    if c.norm == "layernorm":
        cls, cfg = (
            transformers.GPT2LMHeadModel,
            transformers.GPT2Config(
                vocab_size=c.vocab_size, n_positions=c.block_size, n_layer=c.n_layer, n_head=c.n_head, n_embd=c.n_embd
            ),
        )
        return cls, cfg
    common = {
        "vocab_size": c.vocab_size,
        "hidden_size": c.n_embd,
        "intermediate_size": c.ff_size,
        "num_hidden_layers": c.n_layer,
        "num_attention_heads": c.n_head,
        "num_key_value_heads": c.kv_heads,
        "max_position_embeddings": c.block_size,
        "rms_norm_eps": c.norm_eps,
        "tie_word_embeddings": c.tie_embeddings,
    }
    if c.n_experts and c.qk_norm:
        return transformers.Qwen3MoeForCausalLM, transformers.Qwen3MoeConfig(
            **common,
            head_dim=c.head_size,
            num_experts=c.n_experts,
            num_experts_per_tok=c.expert_top_k,
            moe_intermediate_size=c.expert_ff_size,
            decoder_sparse_step=1,
            mlp_only_layers=[],
        )
    if c.n_experts:
        return transformers.MixtralForCausalLM, transformers.MixtralConfig(
            **common, num_local_experts=c.n_experts, num_experts_per_tok=c.expert_top_k
        )
    if c.qk_norm:
        return transformers.Qwen3ForCausalLM, transformers.Qwen3Config(**common, head_dim=c.head_size)
    if c.qkv_bias:
        return transformers.Qwen2ForCausalLM, transformers.Qwen2Config(**common)
    return transformers.LlamaForCausalLM, transformers.LlamaConfig(**common, head_dim=c.head_size)


# 48 layers × 128 experts = 18,432 Linear modules to build: tens of seconds, so the slow tier
FAST = [pytest.param(n, marks=pytest.mark.slow) if n == "qwen3-30b-a3b" else n for n in sorted(PRESETS)]


@pytest.mark.parametrize("name", FAST)
def test_preset_parameter_count_equals_transformers(name):
    config = GPTConfig.from_name(name)
    cls, hf_config = _hf_model(config)
    with torch.device("meta"):
        theirs = cls(hf_config)
        ours = GPT(config)
    n_theirs = sum(p.numel() for p in theirs.parameters())
    assert ours.num_parameters() == n_theirs
    assert costs.param_count(config) == n_theirs


def test_published_sizes():
    """The numbers the model cards state, rounded as they round them."""
    billions = {name: costs.param_count(GPTConfig.from_name(name)) / 1e9 for name in PRESETS}
    assert costs.param_count(GPTConfig.from_name("gpt2")) == 124_439_808
    assert round(billions["qwen2.5-0.5b"], 2) == 0.49  # "0.49B"
    assert round(billions["qwen3-0.6b"], 1) == 0.6
    assert round(billions["llama-3.2-1b"], 2) == 1.24  # "1.23B" without the tied output
    assert round(billions["qwen3-30b-a3b"], 1) == 30.5
    assert round(costs.active_param_count(GPTConfig.from_name("qwen3-30b-a3b")) / 1e9, 1) == 3.4  # "3.3B activated"
    assert round(billions["mixtral-8x7b"], 1) == 46.7
    assert round(costs.active_param_count(GPTConfig.from_name("mixtral-8x7b")) / 1e9, 1) == 12.9


def test_kv_cache_bytes_by_hand():
    # Qwen3-0.6B in bf16: 2 (K, V) · 28 layers · 8 K/V heads · 128 · 2 bytes = 114,688 bytes per token
    qwen3 = GPTConfig.from_name("qwen3-0.6b")
    assert costs.kv_cache_bytes(qwen3, 1) == 114_688
    assert costs.kv_cache_bytes(qwen3, 4096, batch_size=2) == 114_688 * 4096 * 2
    mqa = GPTConfig.from_name("qwen3-0.6b", n_kv_head=1)
    assert costs.kv_cache_bytes(mqa, 4096) == costs.kv_cache_bytes(qwen3, 4096) / 8
    windowed = GPTConfig.from_name("qwen3-0.6b", window=1024)
    assert costs.kv_cache_bytes(windowed, 4096) == costs.kv_cache_bytes(qwen3, 1024)
    with pytest.raises(ValueError, match="unknown model name 'llama-9'"):
        GPTConfig.from_name("llama-9")
