"""Cost formulas against the real models: parameter counts, FLOP counter, byte arithmetic."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

from minillm import GPT, GPTConfig, Transformer, TransformerConfig
from minillm.costs import (
    attention_flops,
    attention_pairs,
    block_flops,
    forward_flops,
    param_count,
    report_numbers,
    training_flops,
    training_memory,
)

gpt_configs = st.builds(
    lambda heads, hd, layers, vocab, block, bias, act, pos, tie: GPTConfig(
        vocab_size=vocab,
        block_size=block,
        n_layer=layers,
        n_head=heads,
        n_embd=heads * hd,
        bias=bias,
        activation=act,
        pos_embedding=pos,
        tie_embeddings=tie,
        attn_backend="naive",
    ),
    st.integers(1, 4),
    st.sampled_from([2, 4, 8]),
    st.integers(1, 3),
    st.integers(2, 300),
    st.integers(1, 64),
    st.booleans(),
    st.sampled_from(["relu", "gelu_tanh", "swiglu"]),
    st.sampled_from(["learned", "sinusoidal", "rope"]),
    st.booleans(),
)


@settings(max_examples=25)
@given(gpt_configs)
def test_gpt_param_count_matches_model(cfg):
    with torch.device("meta"):
        model = GPT(cfg)
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


@pytest.mark.parametrize("act", ["gelu_tanh", "swiglu"])
def test_flops_match_torch_flop_counter(act):
    cfg = GPTConfig(vocab_size=100, block_size=64, n_layer=2, n_head=4, n_embd=32, activation=act, attn_backend="naive")
    model = GPT(cfg)
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
    with pytest.raises(TypeError, match="GPTConfig or TransformerConfig"):
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
