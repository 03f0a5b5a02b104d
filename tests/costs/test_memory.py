"""The activation model (minillm.costs.memory.activation_bytes, step_memory) against hand-computed
values and against what autograd actually saves (torch.autograd.graph.saved_tensors_hooks)."""

import pytest
import torch

from minillm.costs import param_count
from minillm.costs.memory import activation_bytes, step_memory
from minillm.models.gpt import GPT, GPTConfig


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
