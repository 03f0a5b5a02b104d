"""The activation model (minillm.costs.memory.activation_bytes, step_memory) against hand-computed
values and against what autograd actually saves (torch.autograd.graph.saved_tensors_hooks)."""

import pytest
import torch

from minillm.costs import param_count
from minillm.costs.memory import activation_bytes, step_memory
from minillm.models.gpt import GPT, GPTConfig
from minillm.models.llama import LlamaConfig


def _cfg(**kw) -> GPTConfig:
    fields = {"vocab_size": 10, "block_size": 16, "n_layer": 1, "n_head": 2, "n_embd": 4, "dropout": 0.0}
    return GPTConfig(**{**fields, **kw})


def test_fp32_sdpa_by_hand():
    # N = 2 tokens, d = 4, d_ff = 16, H = 2, V = 10:
    # block 4·(8·2·4 + 2·2·16) + 16·2 = 544, log-sum-exp 4·2·2 = 16; outside 8·2·4 + 4·2·10 + 16·2 = 176
    assert activation_bytes(_cfg(), seq_len=2, batch_size=1) == 544 + 16 + 176


def test_step_memory_by_hand():
    c = _cfg()
    n = param_count(c)
    m = step_memory(c, seq_len=2, batch_size=1)
    assert (m.params, m.grads, m.optimizer) == (4 * n, 4 * n, 8 * n)
    # the loss moment 2·4·N·V = 160 bytes is below the gradients (4n), so no excess is added
    assert m.activations == activation_bytes(c, 2, 1)
    wide = _cfg(vocab_size=5000)
    excess = 2 * 4 * 64 * 5000 - 4 * param_count(wide)  # N = 64: the loss moment wins
    assert step_memory(wide, 64, 1).activations == activation_bytes(wide, 64, 1) + excess


def _saved_bytes(config: GPTConfig, batch: int, seq: int, amp: bool) -> int:
    """Bytes of the distinct non-parameter storages autograd saves in one forward pass."""
    torch.manual_seed(0)
    model = GPT(config).train()
    idx = torch.randint(0, config.vocab_size, (batch, seq))
    seen = {}

    def pack(t):
        seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    hooks = torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t)
    with hooks, torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
        model(idx, idx)
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    return sum(v for k, v in seen.items() if k not in params)


@pytest.mark.parametrize(
    "backend, dropout, amp",
    [("sdpa", 0.0, False), ("chunked", 0.0, False), ("naive", 0.0, False), ("sdpa", 0.1, False),
     ("naive", 0.1, False), ("sdpa", 0.0, True), ("chunked", 0.0, True)],
)  # fmt: skip
@pytest.mark.parametrize("shape", [(2, 32, 2, 64, 4, 96), (3, 24, 3, 48, 6, 200)])
def test_matches_what_autograd_saves(backend, dropout, amp, shape):
    n_layer, seq, batch, d, heads, vocab = shape
    c = GPTConfig(
        vocab_size=vocab, block_size=seq, n_layer=n_layer, n_head=heads, n_embd=d, dropout=dropout,
        attn_backend=backend,
    )  # fmt: skip
    estimate = activation_bytes(c, seq, batch, "bf16" if amp else "fp32")
    assert estimate == pytest.approx(_saved_bytes(c, batch, seq, amp), rel=0.01)


@pytest.mark.parametrize(
    "kw, args, match",
    [({}, (2, 1, "fp16"), "precision"), ({"attn_backend": "triton"}, (2, 1, "fp32"), "no activation model"),
     ({}, (0, 1, "fp32"), "seq_len")],
)  # fmt: skip
def test_bad_arguments(kw, args, match):
    with pytest.raises(ValueError, match=match):
        activation_bytes(_cfg(**kw), *args)


# -- by hand (the figures the model-based tests let through, tests/MUTATION.md) --------------------
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
