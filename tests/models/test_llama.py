"""Llama-shaped building blocks end to end against transformers: tiny Qwen3 (GQA, head_dim ≠ n_embd /
n_head, QK-norm, RoPE θ), Qwen2 (q/k/v biases) and Mixtral (sliding window + experts) models with
every tensor random, saved and read by Llama.from_pretrained: logits equal in float64, full pass and KV-cache
decoding. Also the KV cache stores only the K/V heads, and bad head counts are refused."""

from __future__ import annotations

import pytest
import torch
from helpers.decoders import llama_attention

from minillm.models.gpt import GPTConfig
from minillm.models.llama import Llama, LlamaConfig
from minillm.nn.attention import MultiHeadAttention
from minillm.nn.kv_cache import KVCache

transformers = pytest.importorskip("transformers")

SHARED = {
    "vocab_size": 31,
    "n_layer": 2,
    "n_head": 4,
    "n_kv_head": 2,
    "n_embd": 16,
    "d_ff": 24,
    "block_size": 64,
    "norm": "rmsnorm",
    "norm_eps": 1e-6,
    "activation": "swiglu",
    "bias": False,
    "rope_theta": 500.0,
    "tie_embeddings": False,
}
HF_SHARED = {
    "vocab_size": 31,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "hidden_size": 16,
    "intermediate_size": 24,
    "max_position_embeddings": 64,
    "rms_norm_eps": 1e-6,
    "rope_theta": 500.0,
    "tie_word_embeddings": False,
    "attn_implementation": "eager",
}


def _pair(hf_cls, hf_config, ours: LlamaConfig, dtype, tmp_path):
    """A transformers model with every tensor random, and minillm's Llama read from its saved directory
    (minillm.models.hf_llama: the one name map); the config read must be the one written by hand."""
    torch.manual_seed(0)
    theirs = hf_cls(hf_config).to(dtype).eval()
    with torch.no_grad():
        for p in theirs.parameters():  # every tensor random, norms around 1
            p.copy_(torch.randn_like(p) * (0.3 if p.dim() > 1 else 0.2) + (1.0 if p.dim() == 1 else 0.0))
    theirs.save_pretrained(tmp_path)
    model = Llama.from_pretrained(tmp_path).to(dtype).eval()
    assert model.config == ours
    return theirs, model


CASES = {
    "qwen3": lambda: (
        transformers.Qwen3ForCausalLM,
        transformers.Qwen3Config(**HF_SHARED, head_dim=6),
        LlamaConfig(**SHARED, head_dim=6, qk_norm=True),
        torch.float64,
    ),
    "qwen2": lambda: (
        transformers.Qwen2ForCausalLM,
        transformers.Qwen2Config(**HF_SHARED),
        LlamaConfig(**SHARED, qkv_bias=True),
        torch.float64,
    ),
    "mixtral-window": lambda: (
        transformers.MixtralForCausalLM,
        transformers.MixtralConfig(**HF_SHARED, sliding_window=5, num_local_experts=3, num_experts_per_tok=2),
        LlamaConfig(**SHARED, window=5, n_experts=3, expert_top_k=2, aux_loss_coef=0.001),  # Mixtral's default
        torch.float32,
    ),  # (transformers' fused experts have no float64)
}


@pytest.mark.parametrize("case", CASES)
def test_logits_equal_transformers(case, tmp_path):
    hf_cls, hf_config, ours, dtype = CASES[case]()
    theirs, model = _pair(hf_cls, hf_config, ours, dtype, tmp_path)
    idx = torch.randint(0, 31, (2, 12))
    want = theirs(idx).logits
    # float64 (Mixtral: float32) models, but both keep RoPE tables (transformers its norms) in float32: ~1e-6
    torch.testing.assert_close(model(idx)[0], want, atol=1e-5, rtol=1e-5)
    caches = model.new_kv_caches()  # decoding token by token gives the same logits
    steps = [model(idx[:, :3], kv_caches=caches)[0]] + [
        model(idx[:, t : t + 1], kv_caches=caches)[0] for t in range(3, 12)
    ]
    torch.testing.assert_close(torch.cat(steps, 1), want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("n_kv", [1, 2, 4])
def test_kv_cache_stores_only_the_kv_heads(n_kv):
    attn = llama_attention(n_embd=32, n_head=4, n_kv_head=n_kv, head_dim=6)
    assert attn.k_proj.weight.shape == (n_kv * 6, 32) and attn.out_proj.weight.shape == (32, 4 * 6)
    cache = KVCache(10)
    attn(torch.randn(3, 7, 32), kv_cache=cache)
    assert cache.k.shape == (3, n_kv, 10, 6)
    assert cache.nbytes == 2 * 3 * n_kv * 10 * 6 * 4


def test_bad_head_counts_are_refused_by_name():
    with pytest.raises(ValueError, match="n_head=12 is not divisible by n_kv_head=5"):
        LlamaConfig(n_embd=768, n_head=12, n_kv_head=5)
    with pytest.raises(ValueError, match="n_head=4 is not divisible by n_kv_head=3; use a divisor"):
        LlamaConfig(n_embd=16, n_head=4, n_kv_head=3)
    with pytest.raises(TypeError, match="unexpected keyword argument 'n_kv_heads'"):  # the 2017 layer has no K/V groups
        MultiHeadAttention(16, 4, n_kv_heads=3)
    with pytest.raises(ValueError, match="n_embd=100 is not divisible by n_head=12"):
        GPTConfig(n_embd=100)
    with pytest.raises(ValueError, match=r"n_embd=100 is not divisible by n_head=12 \(or set head_dim\)"):
        LlamaConfig(n_embd=100, n_head=12)
    assert LlamaConfig(n_embd=100, n_head=12, head_dim=8).head_dim == 8  # head_dim frees the width from n_head
    # None defaults are resolved once, when the config is built
    resolved = LlamaConfig(n_embd=96, n_head=12)
    assert (resolved.n_kv_head, resolved.head_dim) == (12, 8)
    assert (GPTConfig(n_embd=96, n_head=12).n_kv_head, GPTConfig(n_embd=96, n_head=12).head_dim) == (12, 8)
    with pytest.raises(TypeError, match="head_dim"):  # GPT-2's head size is n_embd // n_head, not a field
        GPTConfig(n_embd=100, head_dim=8)
    with pytest.raises(TypeError, match="n_kv_head"):
        GPTConfig(n_kv_head=4)
