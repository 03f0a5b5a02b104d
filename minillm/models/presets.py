"""Named model shapes: GPT-2's four sizes and Llama-, Qwen2-, Qwen3- and mixture-of-experts-shaped models.

Report §1.2 (the GPT line) and §3.2 (what came after): GPT-2's sizes are GPTConfig fields
(``GPTConfig.from_name``), the later models LlamaConfig fields (``LlamaConfig.from_name``);
``minillm.models.families.model_config(name)`` builds either. The numbers are those of the released models'
``config.json`` files (Hugging Face), translated field by field (the key maps are in
models/hf_gpt2.py and models/hf_llama.py); the tests check that each has exactly the parameters
of the transformers model built from the same numbers. Shapes only: no weights come with a preset.

Not modelled: Llama 3's "llama3" RoPE frequency scaling (it changes no parameter; a loader must
refuse or implement it), Qwen2's per-layer choice of sliding window (``max_window_layers``).

Docs: docs/beyond.md#presets.
"""

from __future__ import annotations

__all__ = ["GPT2_NAMES", "GPT2_SIZES", "LLAMA_SHAPES", "PRESETS"]

# GPT-2 (Radford et al. 2019, table 2): learned positions, LayerNorm with biases, GELU, tied.
GPT2_SIZES = {
    "gpt2": {"n_layer": 12, "n_head": 12, "n_embd": 768},
    "gpt2-medium": {"n_layer": 24, "n_head": 16, "n_embd": 1024},
    "gpt2-large": {"n_layer": 36, "n_head": 20, "n_embd": 1280},
    "gpt2-xl": {"n_layer": 48, "n_head": 25, "n_embd": 1600},
}

GPT2_NAMES = tuple(GPT2_SIZES)  # what `minillm params` and `minillm costs report --model` offer

# What Llama/Qwen share (LlamaConfig's defaults too): RoPE, RMSNorm, SwiGLU, no biases (Qwen2 adds q/k/v biases).
_MODERN = {"norm": "rmsnorm", "activation": "swiglu", "bias": False, "dropout": 0.0}

LLAMA_SHAPES: dict[str, dict] = {
    # meta-llama/Llama-3.2-1B: GQA 32 query / 8 K/V heads, θ = 500 000 (its llama3 scaling not modelled)
    "llama-3.2-1b": dict(
        _MODERN,
        vocab_size=128256,
        block_size=131072,
        n_layer=16,
        n_head=32,
        n_kv_head=8,
        n_embd=2048,
        d_ff=8192,
        norm_eps=1e-5,
        rope_theta=500000.0,
        tie_embeddings=True,
    ),
    # Qwen/Qwen2.5-0.5B: 14 query / 2 K/V heads, biases on q, k, v only
    "qwen2.5-0.5b": dict(
        _MODERN,
        vocab_size=151936,
        block_size=32768,
        n_layer=24,
        n_head=14,
        n_kv_head=2,
        n_embd=896,
        d_ff=4864,
        norm_eps=1e-6,
        rope_theta=1000000.0,
        qkv_bias=True,
        tie_embeddings=True,
    ),
    # Qwen/Qwen3-0.6B: head_dim 128 ≠ 1024 / 16, QK-norm
    "qwen3-0.6b": dict(
        _MODERN,
        vocab_size=151936,
        block_size=40960,
        n_layer=28,
        n_head=16,
        n_kv_head=8,
        n_embd=1024,
        head_dim=128,
        d_ff=3072,
        norm_eps=1e-6,
        rope_theta=1000000.0,
        qk_norm=True,
        tie_embeddings=True,
    ),
    # Qwen/Qwen3-30B-A3B: 128 experts, 8 per token, 30.5 B parameters of which 3.3 B are active
    "qwen3-30b-a3b": dict(
        _MODERN,
        vocab_size=151936,
        block_size=40960,
        n_layer=48,
        n_head=32,
        n_kv_head=4,
        n_embd=2048,
        head_dim=128,
        d_ff=6144,
        norm_eps=1e-6,
        rope_theta=1000000.0,
        qk_norm=True,
        tie_embeddings=False,
        n_experts=128,
        expert_top_k=8,
        expert_d_ff=768,
        expert_norm_topk=True,
        aux_loss_coef=0.001,
    ),
    # mistralai/Mixtral-8x7B-v0.1: 8 experts, 2 per token
    "mixtral-8x7b": dict(
        _MODERN,
        vocab_size=32000,
        block_size=32768,
        n_layer=32,
        n_head=32,
        n_kv_head=8,
        n_embd=4096,
        d_ff=14336,
        norm_eps=1e-5,
        rope_theta=1000000.0,
        tie_embeddings=False,
        n_experts=8,
        expert_top_k=2,
        expert_norm_topk=True,
        aux_loss_coef=0.02,
    ),
}

PRESETS: dict[str, dict] = {**GPT2_SIZES, **LLAMA_SHAPES}  # every name ``model_config`` knows

