"""Training costs (minillm/costs/training.py) against the real models and by hand: FLOPs against torch's
FLOP counter, attention pairs and FLOPs, training memory, the report's numbers."""

import pytest
import torch
from helpers.decoders import gpt2_like_llama_config
from torch.utils.flop_counter import FlopCounterMode

from minillm import GPTConfig, Transformer, TransformerConfig
from minillm.costs import (
    Flops,
    Memory,
    attention_flops,
    attention_pairs,
    block_flops,
    forward_flops,
    param_count,
    report_numbers,
    training_flops,
    training_memory,
)
from minillm.costs.inference import storage_bytes
from minillm.costs.memory import activation_bytes
from minillm.models.families import build_model
from minillm.models.llama import LlamaConfig


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
        50, 60, n_embd=32, n_head=4, n_encoder_layers=2, n_decoder_layers=3, d_ff=64, attn_backend="naive"
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


# -- every figure by hand ---------------------------------------------------------------------------
# Every figure of training_memory and report_numbers, written out from the formulas in the module
# docstrings (tests/MUTATION.md: these tests kill the mutants the model-based tests let through).
# The same for inference and memory: tests/costs/test_inference.py, test_memory.py; parameter
# counts against the models: test_params.py.
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
    c = TransformerConfig(src_vocab_size=9, tgt_vocab_size=7, n_embd=8, n_head=2, d_ff=12, n_encoder_layers=2,
                          n_decoder_layers=3, activation="swiglu")  # fmt: skip
    # T = 5, B = 2, 10 tokens. Per block: projections 2·10·4·64 = 5120; feed-forward (SwiGLU) 2·10·3·8·12 = 5760;
    # attention 4·2·pairs·8: full 25 pairs -> 1600, causal 15 -> 960. Cross-attention: projections, full pairs.
    f = forward_flops(c, 5, 2, causal_skip=True)
    assert f.linear == 2 * (5120 + 5760) + 3 * (5120 + 5120 + 5760) + 2 * 2 * 5 * 7 * 8  # + the output layer
    assert f.attention == 2 * 1600 + 3 * (960 + 1600)
    assert forward_flops(c, 5, 2).attention == 2 * 1600 + 3 * (1600 + 1600)
