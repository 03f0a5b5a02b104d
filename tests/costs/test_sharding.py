"""Memory per rank under each sharding strategy (minillm.costs.sharding), every number worked by hand."""

import pytest

from minillm.costs.params import param_count
from minillm.costs.sharding import (
    STRATEGIES,
    block_matrix_params,
    fits_table,
    hundred_billion_gpt,
    peak_bytes,
    per_rank_memory,
    smallest_n,
    tensor_parallel_size,
)
from minillm.models import GPTConfig, LlamaConfig


def _tiny() -> GPTConfig:
    # d = 4, 1 layer, 2 heads, V = 10, 4 positions. Parameters: wte 40 + wpe 16 + block (Q/K/V/out 64 +
    # biases 16, two LayerNorms 16, feed-forward 128 + biases 20) 244 + ln_f 8 = 308; matrices 64 + 128 = 192.
    return GPTConfig(vocab_size=10, block_size=4, n_layer=1, n_head=2, n_embd=4)


def test_tiny_model_counts_by_hand():
    assert param_count(_tiny()) == 308
    assert block_matrix_params(_tiny()) == 192


def test_every_strategy_by_hand_fp32():
    c = _tiny()

    # fp32, T = 4, micro-batch 1: params 4·308 = 1232, grads 1232, Adam 2464; activations (Korthikanti,
    # rescaled to 4 bytes) (34·4·4 + 5·2·16)·2 = 1408 per layer + logits 4·10·(4 + 4) = 320 → 1728.
    def parts(strategy, n):
        m = per_rank_memory(c, 4, 1, strategy, n, precision="fp32")
        return (m.params, m.grads, m.optimizer, m.activations)

    assert parts("ddp", 2) == (1232, 1232, 2464, 1728)
    assert parts("zero1", 2) == (1232, 1232, 1232, 1728)
    assert parts("zero2", 4) == (1232, 308, 616, 1728)
    assert parts("fsdp", 4) == (308, 308, 616, 1728)
    # tp over 2: this rank keeps 308 − 192/2 = 212 parameters (848 bytes); per layer it saves half of
    # (24·4·4 + 5·2·16)·2 = 1088 bytes of activations: 1728 − 544 = 1184.
    assert parts("tp", 2) == (848, 848, 1696, 1184)
    # tp+fsdp over 4: t = 2 (two K/V heads), and the 212-parameter slice is shared by N/t = 2 ranks.
    assert parts("tp+fsdp", 4) == (424, 424, 848, 1184)


def test_recompute_keeps_layer_inputs_and_one_working_set():
    c = _tiny()
    # each layer's input 1·4·4·4 = 64 bytes + one layer's 1408 + logits 320
    assert per_rank_memory(c, 4, 1, "ddp", 1, "fp32", recompute=True).activations == 64 + 1408 + 320
    # under tp the one working set is split: 64 + (1408 − 544) + 320
    assert per_rank_memory(c, 4, 1, "tp", 2, "fp32", recompute=True).activations == 64 + 864 + 320


def test_one_rank_is_ddp_for_every_strategy():
    c = GPTConfig(n_layer=2, n_head=4, n_embd=64, vocab_size=100, block_size=32)
    ddp = per_rank_memory(c, 32, 2)
    for s in STRATEGIES:
        assert per_rank_memory(c, 32, 2, s, 1) == ddp, s
        assert peak_bytes(c, 32, 2, s, 1) == ddp.total, s


def test_fsdp_peak_adds_one_gathered_layer():
    c = _tiny()
    m = per_rank_memory(c, 4, 1, "fsdp", 4, "fp32")
    # one layer's 192 matrix entries, whole, as weights and gradients: 192 · (4 + 4) bytes
    assert peak_bytes(c, 4, 1, "fsdp", 4, "fp32") == m.total + 192 * 8
    assert peak_bytes(c, 4, 1, "zero2", 4, "fp32") == per_rank_memory(c, 4, 1, "zero2", 4, "fp32").total


def test_the_report_question_100b_on_80gb_gpus():
    c = hundred_billion_gpt()
    p = param_count(c)
    assert p == 101_209_569_280  # 80 · 12 · 10240² + biases and norms + (50257 + 2048) · 10240
    # mixed precision: 16 bytes per parameter on one rank (the report's 1.6 TB), whatever N under DDP
    assert per_rank_memory(c, 2048, 1, "ddp", 64).params == 2 * p
    fsdp = per_rank_memory(c, 2048, 1, "fsdp", 32, recompute=True)
    assert fsdp.params + fsdp.grads + fsdp.optimizer == pytest.approx(16 * p / 32)
    # activations with checkpointing: 80 layer inputs 80·2048·10240·2 = 3,355,443,200 + one layer
    # 2048·10240·34 + 5·80·2048² = 2,390,753,280 + logits 2048·50257·(2 + 4) = 617,558,016
    assert fsdp.activations == 3_355_443_200 + 2_390_753_280 + 617_558_016
    # + one gathered layer: 12 · 10240² entries × (2 + 2) bytes = 5,033,164,800
    peak = 16 * p / 32 + 3_355_443_200 + 2_390_753_280 + 617_558_016 + 5_033_164_800
    assert peak_bytes(c, 2048, 1, "fsdp", 32, recompute=True) == pytest.approx(peak)
    assert peak == pytest.approx(62.0e9, rel=1e-3)
    fit = smallest_n(c, "fsdp", 2048, recompute=True)
    assert (fit.n, fit.bytes_per_gpu) == (32, pytest.approx(peak))
    # at N = 16 the model states alone are 16·p/16 = 101 GB
    assert peak_bytes(c, 2048, 1, "fsdp", 16, recompute=True) > 80e9
    # no recomputation: 80 layers of 2.39 GB of activations never fit, however many ranks share the states
    assert smallest_n(c, "fsdp", 2048).n is None
    assert smallest_n(c, "ddp", 2048, recompute=True).n is None  # DDP divides nothing
    table = {(f.strategy, f.recompute): f.n for f in fits_table(c, 2048)}
    assert table[("tp+fsdp", True)] == 32 and table[("tp+fsdp", False)] == 64


def test_tp_size_follows_the_kv_heads():
    qwen = LlamaConfig.from_name("qwen3-30b-a3b")  # 4 K/V heads
    assert tensor_parallel_size(qwen, "tp+fsdp", 64) == 4
    assert tensor_parallel_size(_tiny(), "tp+fsdp", 8) == 2
    assert tensor_parallel_size(_tiny(), "tp", 2) == 2
    assert tensor_parallel_size(_tiny(), "fsdp", 8) == 1


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"strategy": "zero3"}, "unknown strategy 'zero3'"),
        ({"strategy": "tp", "n": 4}, "n_head=2 and n_kv_head=2 must both be divisible by 4"),
        ({"n": 0}, "n must be a positive integer"),
        ({"micro_batch": 0}, "micro_batch must be a positive integer"),
    ],
)
def test_bad_input_is_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        per_rank_memory(_tiny(), 4, **kwargs)


def test_not_a_decoder_is_refused():
    with pytest.raises(TypeError, match="decoder-only"):
        per_rank_memory(object(), 4)
    with pytest.raises(ValueError, match="gpu_bytes"):
        smallest_n(_tiny(), "fsdp", 4, gpu_bytes=0)
