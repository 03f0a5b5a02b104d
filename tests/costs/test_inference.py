"""Inference costs (minillm/costs/inference.py) by hand: KV-cache bytes (grouped heads and a window
included), the costs of a mixture of experts (active against total parameters and FLOPs), and the
bytes of a model stored in fp32, bf16, int8 and group-wise int4 on a device."""

import pytest
from helpers.decoders import gpt2_like_llama_config

from minillm import GPTConfig, TransformerConfig
from minillm.costs import active_param_count, forward_flops, param_count
from minillm.costs.inference import expert_costs, kv_cache_bytes, on_device_table, storage_bytes
from minillm.models.families import build_model
from minillm.models.llama import LlamaConfig


def _numel(config: GPTConfig | LlamaConfig) -> int:
    """Unique parameters of the real model (tied matrices once): the independent count."""
    return sum(p.numel() for p in build_model(config).parameters())


# -- by hand ----------------------------------------------------------------------------------------
def test_kv_cache_bytes_by_hand():
    c = GPTConfig(vocab_size=10, block_size=64, n_layer=3, n_head=4, n_embd=32)  # head_dim 8
    assert kv_cache_bytes(c, 5) == 2 * 3 * 4 * 8 * 5 * 2
    assert kv_cache_bytes(c, 5, batch_size=3, bytes_per_value=4) == 2 * 3 * 4 * 8 * 5 * 3 * 4
    assert kv_cache_bytes(c, 5, bytes_per_value=1) == 2 * 3 * 4 * 8 * 5  # int8
    assert kv_cache_bytes(c, 5, bytes_per_value=0.5) == 2 * 3 * 4 * 8 * 5 / 2  # int4
    gqa = LlamaConfig(vocab_size=10, block_size=64, n_layer=3, n_head=4, n_kv_head=2, n_embd=32, d_ff=8, window=4)
    assert kv_cache_bytes(LlamaConfig(vocab_size=10, block_size=64, n_layer=3, n_head=4, n_embd=32, d_ff=8), 5) == (
        kv_cache_bytes(c, 5)
    )  # no grouping, no window: GPT-2's cache
    assert kv_cache_bytes(gqa, 3) == 2 * 3 * 2 * 8 * 3 * 2  # below the window: every position
    assert kv_cache_bytes(gqa, 40) == 2 * 3 * 2 * 8 * 4 * 2  # past it: the window's W positions
    for bad in ({"seq_len": 0}, {"seq_len": 1, "batch_size": 0}, {"seq_len": 1, "bytes_per_value": 0}):
        with pytest.raises(ValueError):
            kv_cache_bytes(c, **bad)
    with pytest.raises(TypeError, match="GPT"):
        kv_cache_bytes(TransformerConfig(src_vocab_size=10, tgt_vocab_size=10), 1)


def _moe(**kw) -> LlamaConfig:
    fields = {"vocab_size": 10, "block_size": 8, "n_layer": 2, "n_head": 2, "n_embd": 8, "n_experts": 4}
    return gpt2_like_llama_config(**{**fields, "expert_top_k": 2, "expert_d_ff": 6, **kw})


@pytest.mark.parametrize("shared, act", [(0, "relu"), (1, "relu"), (1, "swiglu")])
def test_expert_costs_by_hand(shared, act):
    c = _moe(n_shared_experts=shared, bias=False, activation=act)
    total = _numel(c)
    mats = 3 if act == "swiglu" else 2  # d → 6 → d, no biases (SwiGLU: a third, gate matrix)
    per_expert, router = mats * 8 * 6, 8 * 4  # the router d × E
    shared_ff = mats * 8 * 6 * shared
    active = total - 2 * (4 - 2) * per_expert  # 2 layers, 2 of 4 experts idle per token
    e = expert_costs(c, seq_len=3)
    assert e["total_params"] == total == param_count(c)
    assert e["active_params"] == active == active_param_count(c)
    assert e["active_flops"] == forward_flops(c, 3).total
    assert e["dense_flops"] == e["active_flops"] + 2 * 3 * 2 * (4 - 2) * per_expert
    ff_active = router + 2 * per_expert + shared_ff
    linear = 2 * 2 * 3 * (4 * 8 * 8 + ff_active) + 2 * 3 * 10 * 8  # 2 layers (attention proj + FF) + lm_head
    assert forward_flops(c, 3).linear == linear
    assert expert_costs(c)["active_flops"] == forward_flops(c, 1).total  # seq_len defaults to 1
    with pytest.raises(TypeError, match="GPT"):
        expert_costs(TransformerConfig(src_vocab_size=10, tgt_vocab_size=10))


def test_storage_and_on_device_table():
    assert storage_bytes(1000, "fp32") == 4000
    assert storage_bytes(1000, "int8") == 1000
    assert storage_bytes(1000, "int4", group_size=10) == 500 + 100 * 4
    rows = on_device_table(sizes=(1e9, 2e9), int4_group=50)
    assert rows == [
        {"params": 1e9, "fp32": 4.0, "bf16": 2.0, "int8": 1.0, "int4": 0.5 + 4 / 50},
        {"params": 2e9, "fp32": 8.0, "bf16": 4.0, "int8": 2.0, "int4": 1.0 + 8 / 50},
    ]
    assert [r["params"] for r in on_device_table()] == [0.5e9, 1.5e9, 7e9]
    assert on_device_table()[0]["int4"] == pytest.approx(0.25 + 0.5 / 128 * 4)  # default group 128
    with pytest.raises(ValueError, match="group_size"):
        storage_bytes(1000, "int4", group_size=0)
