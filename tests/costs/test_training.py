"""Cost formulas against the real models: parameter counts, FLOP counter, byte arithmetic."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

from helpers.decoders import gpt2_like_llama_config

from minillm import GPT, GPTConfig, Transformer, TransformerConfig
from minillm.models.families import build_model
from minillm.models.llama import LlamaConfig
from minillm.costs import (
    Flops,
    Memory,
    active_param_count,
    attention_flops,
    attention_pairs,
    block_flops,
    forward_flops,
    param_count,
    report_numbers,
    training_flops,
    training_memory,
)
from minillm.costs.inference import expert_costs, kv_cache_bytes, on_device_table, storage_bytes
from minillm.costs.memory import activation_bytes, step_memory

def _decoder_config(heads, hd, layers, vocab, block, bias, act, pos, tie, ff_mult, norm):
    """GPT-2 (learned or sinusoidal positions, an ungated activation; tying and width are fixed) or,
    for rotary positions, a Llama with any activation, tying, feed-forward width and norm."""
    shape = dict(vocab_size=vocab, block_size=block, n_layer=layers, n_head=heads, n_embd=heads * hd)
    if pos != "rope":
        act = "gelu" if act == "swiglu" else act  # SwiGLU is the later family's
        return GPTConfig(**shape, bias=bias, activation=act, pos_embedding=pos, attn_backend="naive")
    return LlamaConfig(
        **shape, bias=bias, activation=act, tie_embeddings=tie, d_ff=ff_mult * heads * hd, norm=norm,
        attn_backend="naive",
    )  # fmt: skip


gpt_configs = st.builds(
    _decoder_config,
    st.integers(1, 4),
    st.sampled_from([2, 4, 8]),
    st.integers(1, 3),
    st.integers(2, 300),
    st.integers(1, 64),
    st.booleans(),
    st.sampled_from(["relu", "gelu_tanh", "gelu", "swiglu"]),
    st.sampled_from(["learned", "sinusoidal", "rope"]),
    st.booleans(),
    st.sampled_from([1, 4]),
    st.sampled_from(["layernorm", "rmsnorm"]),
)


@settings(max_examples=25)
@given(gpt_configs)
def test_gpt_param_count_matches_model(cfg):
    with torch.device("meta"):
        model = build_model(cfg)
    assert param_count(cfg) == sum(p.numel() for p in model.parameters())


@settings(max_examples=25)
@given(
    st.integers(1, 3),
    st.integers(1, 3),
    st.sampled_from([8, 16]),
    st.booleans(),
    st.booleans(),
    st.sampled_from(["relu", "swiglu"]),
)
def test_transformer_param_count_matches_model(n_enc, n_dec, d, share, norm_first, act):
    cfg = TransformerConfig(
        40,
        40 if share else 55,
        d_model=d,
        n_heads=2,
        n_encoder_layers=n_enc,
        n_decoder_layers=n_dec,
        d_ff=3 * d,
        share_embeddings=share,
        norm_first=norm_first,
        activation=act,
    )
    with torch.device("meta"):
        model = Transformer(cfg)
    assert param_count(cfg) == model.num_parameters()


@pytest.mark.parametrize("family, act", [("gpt", "gelu_tanh"), ("llama", "gelu_tanh"), ("llama", "swiglu")])
def test_flops_match_torch_flop_counter(family, act):
    shape = dict(vocab_size=100, block_size=64, n_layer=2, n_head=4, n_embd=32, attn_backend="naive")
    cfg = GPTConfig(**shape) if family == "gpt" else gpt2_like_llama_config(**shape, activation=act)
    model = build_model(cfg)
    idx = torch.randint(0, 100, (3, 64))
    with FlopCounterMode(display=False) as counter:
        model(idx)
    assert forward_flops(cfg, 64, 3).total == pytest.approx(counter.get_total_flops(), rel=0.05)
    with FlopCounterMode(display=False) as counter:
        model(idx, idx)[1].backward()
    assert training_flops(cfg, 64, 3).total == pytest.approx(counter.get_total_flops(), rel=0.05)


def test_transformer_flops_match_counter():
    cfg = TransformerConfig(
        50, 60, d_model=32, n_heads=4, n_encoder_layers=2, n_decoder_layers=3, d_ff=64, attn_backend="naive"
    )
    with FlopCounterMode(display=False) as counter:
        Transformer(cfg)(torch.randint(0, 50, (2, 20)), torch.randint(0, 60, (2, 20)))
    assert forward_flops(cfg, 20, 2).total == pytest.approx(counter.get_total_flops(), rel=0.05)


def test_attention_flops_are_quadratic_and_crossover_is_6d():
    cfg = GPTConfig()
    a, b = forward_flops(cfg, 1024), forward_flops(cfg, 32 * 1024)
    assert b.attention / a.attention == 1024
    assert b.linear / a.linear == 32
    t = 6 * cfg.n_embd  # attention FLOPs per layer equal the block's linear FLOPs (lm_head aside)
    f = forward_flops(GPTConfig(vocab_size=1, n_layer=1), t)
    assert f.attention == pytest.approx(f.linear - 2 * t * 768, rel=1e-9)


def test_memory_bytes_are_exact():
    cfg = GPTConfig()
    n = 124_439_808
    m = training_memory(cfg, 1024, 1, precision="fp32")
    assert (m.params, m.grads, m.optimizer) == (4 * n, 4 * n, 8 * n)
    mixed = training_memory(cfg, 1024, 1, precision="mixed", n_params=100e9)
    assert mixed.params + mixed.grads + mixed.optimizer == 1.6e12
    assert training_memory(cfg, 1024, recompute=True).activations < m.activations / 4
    with pytest.raises(ValueError, match="precision"):
        training_memory(cfg, 1024, precision="int8")


def test_report_numbers():
    r = report_numbers()
    assert r["attention_flops_ratio"] == 1024
    assert 32 < r["whole_model_flops_ratio"] < 1024  # linear layers grow only 32×
    assert r["params_100b_fp32_bytes"] == 400e9 and r["params_100b_mixed_adam_bytes"] == 1.6e12
    assert r["gpt2_params"] == 124_439_808


def test_bad_input():
    with pytest.raises(TypeError, match="GPTConfig, LlamaConfig or TransformerConfig"):
        param_count({"n_layer": 2})
    with pytest.raises(ValueError, match="seq_len"):
        forward_flops(GPTConfig(), 0)


def test_attention_pairs_by_hand():
    assert attention_pairs(4, 4) == 16
    assert attention_pairs(4, 4, causal=True) == 1 + 2 + 3 + 4
    # bottom-right rule: 2 queries are positions 2 and 3 of 4, so they see 3 and 4 keys
    assert attention_pairs(2, 4, causal=True) == 3 + 4
    # 4 queries over 2 keys: the first two queries see no key at all, then 1 and 2
    assert attention_pairs(4, 2, causal=True) == 0 + 0 + 1 + 2
    assert attention_pairs(1, 5, causal=True) == 5  # decoding one token with a KV cache sees everything


@pytest.mark.parametrize("t_q,t_k", [(1, 1), (3, 7), (7, 3), (16, 16), (5, 40)])
def test_attention_pairs_count_the_causal_mask(t_q, t_k):
    visible = torch.ones(t_q, t_k, dtype=torch.bool).tril(diagonal=t_k - t_q)  # the one causal rule, bottom-right
    assert attention_pairs(t_q, t_k, causal=True) == int(visible.sum())


def test_attention_flops_by_hand():
    assert attention_flops(1, 1, 10, 10, 4) == 4 * 100 * 4  # 2 products × 2 FLOPs × T² × d
    assert attention_flops(2, 3, 10, 10, 4, causal=True) == 4 * 2 * 3 * 55 * 4
    assert attention_flops(1, 1, 10, 10, 4, causal=True, mode="fwd+bwd") == 4 * 55 * 4 * 3.5
    assert attention_flops(1, 2, 2, 4, 8, causal=True) == 4 * 2 * 7 * 8
    with pytest.raises(ValueError, match="mode"):
        attention_flops(1, 1, 4, 4, 4, mode="bwd")
    with pytest.raises(ValueError, match="t_k must be a positive integer"):
        attention_flops(1, 1, 4, 0, 4)


def test_block_flops_by_hand_and_crossover_at_6d():
    f = block_flops(10, 8)  # T = 10, d = 8, d_ff = 32
    assert f == {"projections": 2 * 10 * 4 * 64, "attention": 4 * 100 * 8, "feed-forward": 2 * 10 * 2 * 8 * 32}
    assert block_flops(10, 8, activation="swiglu")["feed-forward"] == 2 * 10 * 3 * 8 * 32
    assert block_flops(10, 8, causal=True, batch=2)["attention"] == 4 * 2 * 55 * 8
    g = block_flops(6 * 64, 64)
    assert g["attention"] == g["projections"] + g["feed-forward"]  # the crossover T = 6·d


def test_causal_skip_counts_the_causal_pairs():
    cfg = GPTConfig(vocab_size=10, block_size=16, n_layer=3, n_head=2, n_embd=8)
    full, causal = forward_flops(cfg, 16, 2), forward_flops(cfg, 16, 2, causal_skip=True)
    assert full.attention == 3 * 4 * 2 * 16 * 16 * 8
    assert causal.attention == 3 * 4 * 2 * (16 * 17 // 2) * 8
    assert causal.linear == full.linear


# -- every figure by hand (training, inference, memory) ----------------------------------------------
# minillm.costs and minillm.costs.memory by hand: every figure of training_memory, report_numbers,
# kv_cache_bytes, expert_costs and the on-device table, written out from the formulas in the module
# docstrings (tests/MUTATION.md: these tests kill the mutants the model-based tests let through).
SMALL = GPTConfig(vocab_size=10, block_size=16, n_layer=3, n_head=2, n_embd=8, attn_backend="naive")


def _numel(config: GPTConfig | LlamaConfig) -> int:
    """Unique parameters of the real model (tied matrices once): the independent count."""
    return sum(p.numel() for p in build_model(config).parameters())


def test_training_memory_by_hand():
    # s = 16, b = 2, d = 8, a = 2, L = 3, V = 10
    # fp32: per layer (16·2·8·34 + 5·2·16·16·2)·4/2 = 27648; logits 16·2·10·(4+4) = 2560
    m = training_memory(SMALL, 16, 2, precision="fp32", n_params=1000)
    assert (m.params, m.grads, m.optimizer) == (4000, 4000, 8000)
    assert m.activations == 3 * 27648 + 2560
    # recompute: every layer's input (3·16·2·8·4 = 3072) + one layer's working set + the logits
    assert training_memory(SMALL, 16, 2, "fp32", recompute=True, n_params=1000).activations == 3072 + 27648 + 2560
    # mixed: 2-byte activations, per layer 13824; logits 16·2·10·(2+4) = 1920
    mixed = training_memory(SMALL, 16, 2, precision="mixed", n_params=1000)
    assert (mixed.params, mixed.grads, mixed.optimizer) == (2000, 2000, 12000)
    assert mixed.activations == 3 * 13824 + 1920
    assert training_memory(SMALL, 16, 2, recompute=True, n_params=1000).activations == 1536 + 13824 + 1920
    assert training_memory(SMALL, 16, 2).params == 2 * _numel(SMALL)  # default: mixed, the model's own count
    assert all(type(v) is float for v in training_memory(SMALL, 16).to_dict().values())
    with pytest.raises(TypeError, match="GPT"):
        training_memory(TransformerConfig(src_vocab_size=10, tgt_vocab_size=10), 16)


def test_report_numbers_every_figure():
    # GPT-2: L = 12, d = 768, d_ff = 3072, V = 50257. Per sequence of T tokens:
    # linear = L·2T·(4d² + 2·d·d_ff) + 2T·V·d (lm_head); attention = L·4·T²·d (full T×T)
    def lin(t):
        return 12 * 2 * t * (4 * 768**2 + 2 * 768 * 3072) + 2 * t * 50257 * 768

    def att(t):
        return 12 * 4 * t * t * 768

    r = report_numbers(context_scale=2, model="gpt2", base_context=8)
    expected = {
        "context_scale": 2,
        "attention_flops_ratio": 4.0,
        "model": "gpt2",
        "base_context": 8,
        "whole_model_flops_ratio": (lin(16) + att(16)) / (lin(8) + att(8)),
        "linear_flops_ratio": 2.0,
        "attention_share_short": att(8) / (lin(8) + att(8)),
        "attention_share_long": att(16) / (lin(16) + att(16)),
        "crossover_context": 6 * 768,
        "params_100b_fp32_bytes": 400e9,
        "params_100b_mixed_adam_bytes": 1.6e12,
        "gpt2_params": 124_439_808,
    }
    assert r.keys() == expected.keys()
    for k, v in expected.items():  # approx only for numbers: newer pytest refuses approx("gpt2")
        assert r[k] == (v if isinstance(v, str) else pytest.approx(v, rel=1e-12)), k
    d = report_numbers()
    assert (d["context_scale"], d["base_context"], d["model"]) == (32, 1024, "gpt2")
    assert d["attention_share_short"] == pytest.approx(att(1024) / (lin(1024) + att(1024)), rel=1e-12)
    assert report_numbers(model="gpt2-medium")["crossover_context"] == 6 * 1024


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


def test_dense_active_params_equal_all_params():
    assert active_param_count(SMALL) == param_count(SMALL) == _numel(SMALL)
    with pytest.raises(TypeError):
        active_param_count({"n_layer": 1})


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


def test_flops_and_memory_records():
    f = Flops(3.0, 4.0)
    assert f.total == 7.0 and f.to_dict() == {"linear": 3.0, "attention": 4.0, "total": 7.0}
    m = Memory(1.0, 2.0, 3.0, 4.0)
    assert m.total == 10.0
    assert m.to_dict() == {"params": 1.0, "grads": 2.0, "optimizer": 3.0, "activations": 4.0, "total": 10.0}


def test_training_flops_are_three_forwards():
    f, t = forward_flops(SMALL, 16, 2, causal_skip=True), training_flops(SMALL, 16, 2, causal_skip=True)
    assert (t.linear, t.attention) == (3 * f.linear, 3 * f.attention)
    assert training_flops(SMALL, 16).attention == 3 * 3 * 4 * 16 * 16 * 8  # defaults: batch 1, full T×T


def test_window_pairs_and_flops_by_hand():
    # W = 3, T = 5: the queries see 1, 2, 3, 3, 3 keys
    assert attention_pairs(5, 5, causal=True, window=3) == 12
    assert attention_pairs(2, 5, causal=True, window=3) == 6  # the last two queries
    assert attention_pairs(5, 5, causal=True, window=5) == 15  # a window as long as T: plain causal
    assert attention_pairs(5, 5, window=3) == 25  # window only applies with causal
    assert attention_flops(2, 3, 5, 5, 4, causal=True, window=3) == 4 * 2 * 3 * 12 * 4
    w = LlamaConfig(vocab_size=10, block_size=16, n_layer=1, n_head=2, n_embd=8, d_ff=32, window=3)
    assert forward_flops(w, 5, causal_skip=True).attention == 4 * 2 * 12 * 4
    assert forward_flops(w, 5).attention == 4 * 2 * 25 * 4  # no skip: the full T×T
    with pytest.raises(ValueError, match="window"):
        attention_pairs(5, 5, causal=True, window=0)


def test_block_flops_defaults():
    f = block_flops(4, 2)
    assert f == {"projections": 2 * 4 * 4 * 4, "attention": 4 * 16 * 2, "feed-forward": 2 * 4 * 2 * 2 * 8}
    assert all(type(v) is float for v in f.values())
    assert block_flops(4, 2, d_ff=3)["feed-forward"] == 2 * 4 * 2 * 2 * 3


def test_step_memory_naive_score_gradients():
    # naive attention keeps two T×T score gradients at the end of backward: 2 · 4 · B·H·T² bytes (fp32)
    c = GPTConfig(vocab_size=10, block_size=64, n_layer=1, n_head=2, n_embd=4, attn_backend="naive")
    n = param_count(c)
    m = step_memory(c, 64, 2)
    score = 2 * 4 * 2 * 2 * 64 * 64
    loss = 2 * 4 * 128 * 10
    assert m.activations == activation_bytes(c, 64, 2) + max(loss, 4 * n + score) - 4 * n
    bf16 = step_memory(c, 64, 2, precision="bf16")
    assert bf16.activations == activation_bytes(c, 64, 2, "bf16") + max(loss, 4 * n + score / 2) - 4 * n
    assert step_memory(c, 64).activations == activation_bytes(c, 64) + max(2 * 4 * 64 * 10, 4 * n + score / 2) - 4 * n


@pytest.mark.parametrize(
    "family, kw",
    [
        ("gpt", {}),
        ("gpt", {"bias": False, "pos_embedding": "sinusoidal", "activation": "relu"}),
        ("llama", {}),  # LlamaConfig's own defaults: RMSNorm, SwiGLU, no biases, untied
        ("gpt2-like llama", {}),
        ("gpt2-like llama", {"bias": False, "activation": "relu", "tie_embeddings": False}),
        ("gpt2-like llama", {"activation": "swiglu", "norm": "rmsnorm"}),
        ("gpt2-like llama", {"n_kv_head": 1, "qkv_bias": True, "bias": False, "qk_norm": True, "head_dim": 6, "d_ff": 20}),
        ("gpt2-like llama", {"n_kv_head": 2, "qkv_bias": False, "norm": "rmsnorm"}),
        ("gpt2-like llama", {"n_experts": 3, "expert_top_k": 1, "expert_d_ff": 5, "n_shared_experts": 2, "activation": "swiglu"}),
        ("gpt2-like llama", {"n_experts": 2, "expert_top_k": 2, "bias": False, "qk_norm": True, "n_kv_head": 1}),
        ("gpt2-like llama", {"n_experts": 2, "expert_top_k": 1}),  # biases, no shared expert
    ],
)
def test_param_count_equals_the_model_on_every_option(family, kw):
    fields = {"vocab_size": 7, "block_size": 5, "n_layer": 2, "n_head": 4, "n_embd": 8, **kw}
    if family == "gpt":
        c = GPTConfig(**fields)
    elif family == "llama":
        c = LlamaConfig(**{"d_ff": 12, **fields})
    else:
        c = gpt2_like_llama_config(**fields)
    assert param_count(c) == _numel(c)
    if not getattr(c, "n_experts", 0):
        assert active_param_count(c) == param_count(c)
    elif c.expert_top_k < c.n_experts:  # some experts idle per token
        assert active_param_count(c) < param_count(c)
    else:
        assert active_param_count(c) == param_count(c)


@pytest.mark.parametrize(
    "share, norm_first, act", [(False, False, "relu"), (True, True, "swiglu"), (False, True, "gelu")]
)
def test_transformer_param_count_equals_the_model(share, norm_first, act):
    from minillm import Transformer

    c = TransformerConfig(src_vocab_size=9, tgt_vocab_size=9 if share else 7, d_model=8, n_heads=2, d_ff=12,
                          n_encoder_layers=2, n_decoder_layers=1, share_embeddings=share, norm_first=norm_first,
                          activation=act)  # fmt: skip
    assert param_count(c) == sum(p.numel() for p in Transformer(c).parameters())


def test_sizes_must_be_positive_integers():
    for bad in (0, -1, 2.5, True):
        for fn, args in (
            (attention_pairs, (bad, 4)),
            (attention_pairs, (4, bad)),
            (attention_flops, (bad, 1, 4, 4, 4)),
            (attention_flops, (1, bad, 4, 4, 4)),
            (attention_flops, (1, 1, 4, 4, bad)),
            (block_flops, (bad, 8)),
            (block_flops, (4, bad)),
            (block_flops, (4, 8, None, "gelu", False, bad)),
            (activation_bytes, (SMALL, 4, bad)),
        ):
            with pytest.raises(ValueError, match="must be a positive integer"):
                fn(*args)
    with pytest.raises(ValueError, match="^seq_len must be"):
        block_flops(0, 8)
    with pytest.raises(ValueError, match="^d must be"):
        block_flops(4, 0)
    with pytest.raises(ValueError, match="seq_len and batch_size must be positive"):
        forward_flops(SMALL, 4, 0)
    assert storage_bytes(0.5, "fp32") == 2.0  # any positive count, not only >= 1
    with pytest.raises(ValueError, match="n_params"):
        storage_bytes(0, "fp32")


def test_pair_counts_are_ints():
    for args in ((5, 5), (3, 7), (7, 3)):
        assert type(attention_pairs(*args, causal=True)) is int
        for w in (1, 2, 3, 6):
            assert type(attention_pairs(*args, causal=True, window=w)) is int


def test_transformer_forward_flops_by_hand():
    c = TransformerConfig(src_vocab_size=9, tgt_vocab_size=7, d_model=8, n_heads=2, d_ff=12, n_encoder_layers=2,
                          n_decoder_layers=3, activation="swiglu")  # fmt: skip
    # T = 5, B = 2, 10 tokens. Per block: projections 2·10·4·64 = 5120; feed-forward (SwiGLU) 2·10·3·8·12 = 5760;
    # attention 4·2·pairs·8: full 25 pairs -> 1600, causal 15 -> 960. Cross-attention: projections, full pairs.
    f = forward_flops(c, 5, 2, causal_skip=True)
    assert f.linear == 2 * (5120 + 5760) + 3 * (5120 + 5120 + 5760) + 2 * 2 * 5 * 7 * 8  # + the output layer
    assert f.attention == 2 * 1600 + 3 * (960 + 1600)
    assert forward_flops(c, 5, 2).attention == 2 * 1600 + 3 * (1600 + 1600)


def test_auto_backend_is_modelled_as_sdpa():
    auto = GPTConfig(vocab_size=10, block_size=16, n_layer=1, n_head=2, n_embd=4, attn_backend="auto")
    sdpa = GPTConfig(vocab_size=10, block_size=16, n_layer=1, n_head=2, n_embd=4, attn_backend="sdpa")
    assert activation_bytes(auto, 8, 2) == activation_bytes(sdpa, 8, 2)
    assert activation_bytes(auto, 8, 2, "bf16") == activation_bytes(sdpa, 8, 2, "bf16")


def test_bf16_and_dropout_activations_by_hand():
    c = GPTConfig(vocab_size=10, block_size=16, n_layer=1, n_head=2, n_embd=4, attn_backend="sdpa")
    # N = 2, d = 4, d_ff = 16, H = 2, V = 10. bf16 block: 20·N·d + 4·N·d_ff + 2·(4d² + 2·d·d_ff) + 16·N = 704,
    # + sdpa's 4 bytes per token per head = 16; outside: 6·N·d + 2·V·d + 4·N·V + 16·N = 240
    assert activation_bytes(c, 2, 1, "bf16") == 704 + 16 + 240
    drop = GPTConfig(vocab_size=10, block_size=16, n_layer=1, n_head=2, n_embd=4, attn_backend="sdpa", dropout=0.1)
    # + (10·N·d + 12·B·H·T²) = 80 + 96 in the block and the embedding dropout's mask 4·N·d outside
    assert activation_bytes(drop, 2, 1, "bf16") == 704 + 80 + 96 + 240 + 32
    # fp32: block 544 + (8·N·d + 12·B·H·T²) = 64 + 96; outside 176 + 32 (GPT-2's fused qkv_proj: no
    # stacked Q/K/V weight is kept)
    assert activation_bytes(drop, 2, 1) == 544 + 64 + 96 + 176 + 32
    # naive keeps the softmax's T×T output: 4 bytes per score in fp32 (4·B·H·T² = 32), 2 in bf16 (16)
    naive = GPTConfig(vocab_size=10, block_size=16, n_layer=1, n_head=2, n_embd=4, attn_backend="naive")
    assert activation_bytes(naive, 2, 1) == 544 + 32 + 176
    assert activation_bytes(naive, 2, 1, "bf16") == 704 + 16 + 240
    with pytest.raises(TypeError, match="activation_bytes models GPT configs, got LlamaConfig"):
        activation_bytes(LlamaConfig(vocab_size=10, block_size=16, n_layer=1, n_head=2, n_embd=4, d_ff=16), 2, 1)
