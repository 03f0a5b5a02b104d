"""Named model shapes: GPT-2's four sizes and Llama-, Qwen2-, Qwen3- and mixture-of-experts-shaped models.

Report §1.2 (the GPT line) and §3.2 (what came after): GPT-2's sizes are GPTConfig fields
(``GPTConfig.from_name``), the later models LlamaConfig fields (``LlamaConfig.from_name``);
``minillm.models.families.model_config(name)`` builds either. The numbers are those of the released models'
``config.json`` files (Hugging Face): GPT-2's as GPTConfig fields, the later models' as the files
state them (``RELEASED``), translated by the key map that loads such a directory (models/hf_llama.py).
The tests check that each has exactly the parameters of the transformers model built from the same
numbers. Shapes only: no weights come with a preset.

Not modelled: Llama 3's "llama3" RoPE frequency scaling (it changes no parameter; a loader must
refuse or implement it), Qwen2's per-layer choice of sliding window (``max_window_layers``).

Docs: docs/beyond.md#presets.
"""

from __future__ import annotations

from minillm.models.hf_llama import config_from_hf

__all__ = ["GPT2_NAMES", "GPT2_SIZES", "LLAMA_SHAPES", "PRESETS", "RELEASED"]

# GPT-2 (Radford et al. 2019, table 2): learned positions, LayerNorm with biases, GELU, tied.
GPT2_SIZES = {
    "gpt2": {"n_layer": 12, "n_head": 12, "n_embd": 768},
    "gpt2-medium": {"n_layer": 24, "n_head": 16, "n_embd": 1024},
    "gpt2-large": {"n_layer": 36, "n_head": 20, "n_embd": 1280},
    "gpt2-xl": {"n_layer": 48, "n_head": 25, "n_embd": 1600},
}

GPT2_NAMES = tuple(GPT2_SIZES)  # what `minillm params` and `minillm costs report --model` offer

# The later models as their released config.json files state them (the keys that set the shape),
# read by the one key map that reads any Llama-family directory (models/hf_llama.py): what each
# model_type switches on (Qwen2's q/k/v biases, Qwen3's QK-norm, the experts) comes from there.
RELEASED: dict[str, dict] = {
    # meta-llama/Llama-3.2-1B: GQA 32 query / 8 K/V heads, θ = 500 000 (its llama3 scaling not modelled)
    "llama-3.2-1b": {
        "model_type": "llama", "vocab_size": 128256, "max_position_embeddings": 131072, "num_hidden_layers": 16,
        "num_attention_heads": 32, "num_key_value_heads": 8, "hidden_size": 2048, "intermediate_size": 8192,
        "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "tie_word_embeddings": True,
    },
    # Qwen/Qwen2.5-0.5B: 14 query / 2 K/V heads, biases on q, k, v only
    "qwen2.5-0.5b": {
        "model_type": "qwen2", "vocab_size": 151936, "max_position_embeddings": 32768, "num_hidden_layers": 24,
        "num_attention_heads": 14, "num_key_value_heads": 2, "hidden_size": 896, "intermediate_size": 4864,
        "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "tie_word_embeddings": True,
    },
    # Qwen/Qwen3-0.6B: head_dim 128 ≠ 1024 / 16, QK-norm
    "qwen3-0.6b": {
        "model_type": "qwen3", "vocab_size": 151936, "max_position_embeddings": 40960, "num_hidden_layers": 28,
        "num_attention_heads": 16, "num_key_value_heads": 8, "hidden_size": 1024, "head_dim": 128,
        "intermediate_size": 3072, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "tie_word_embeddings": True,
    },
    # Qwen/Qwen3-30B-A3B: 128 experts, 8 per token, 30.5 B parameters of which 3.3 B are active
    "qwen3-30b-a3b": {
        "model_type": "qwen3_moe", "vocab_size": 151936, "max_position_embeddings": 40960, "num_hidden_layers": 48,
        "num_attention_heads": 32, "num_key_value_heads": 4, "hidden_size": 2048, "head_dim": 128,
        "intermediate_size": 6144, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "tie_word_embeddings": False,
        "num_experts": 128, "num_experts_per_tok": 8, "moe_intermediate_size": 768, "norm_topk_prob": True,
        "router_aux_loss_coef": 0.001,
    },
    # mistralai/Mixtral-8x7B-v0.1: 8 experts, 2 per token
    "mixtral-8x7b": {
        "model_type": "mixtral", "vocab_size": 32000, "max_position_embeddings": 32768, "num_hidden_layers": 32,
        "num_attention_heads": 32, "num_key_value_heads": 8, "hidden_size": 4096, "intermediate_size": 14336,
        "rms_norm_eps": 1e-5, "rope_theta": 1000000.0, "tie_word_embeddings": False,
        "num_local_experts": 8, "num_experts_per_tok": 2, "router_aux_loss_coef": 0.02,
    },
}  # fmt: skip

LLAMA_SHAPES: dict[str, dict] = {name: config_from_hf(hf, name) for name, hf in RELEASED.items()}  # LlamaConfig fields

PRESETS: dict[str, dict] = {**GPT2_SIZES, **LLAMA_SHAPES}  # every name ``model_config`` knows
