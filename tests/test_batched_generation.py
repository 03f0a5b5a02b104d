"""Batched generation with left padding equals generating each prompt alone (minillm.decoding.generation).

The reference is the same model run on one unpadded prompt at a time: logits at every real
position and greedy tokens must match, for learned, sinusoidal and rotary positions, each
attention backend, with and without the KV cache, past the context window, and with a sliding
window.
"""

import pytest
import torch

from minillm.decoding.generation import generate, left_pad, left_padding
from minillm.models.gpt import GPT, GPTConfig

PROMPTS = [[5, 9, 2, 7, 1, 3], [4], [8, 8, 6]]


def _model(**overrides) -> GPT:
    torch.manual_seed(0)
    fields = {"vocab_size": 17, "block_size": 16, "n_layer": 2, "n_head": 2, "n_embd": 16, "dropout": 0.0}
    fields.update(overrides)
    return GPT(GPTConfig(**fields)).eval()


def test_left_pad_layout():
    idx, mask = left_pad(PROMPTS, pad_id=0)
    assert idx.tolist() == [[5, 9, 2, 7, 1, 3], [0, 0, 0, 0, 0, 4], [0, 0, 0, 8, 8, 6]]
    assert mask.sum(1).tolist() == [6, 1, 3]
    assert left_padding(mask, idx).tolist() == [0, 5, 3]


@pytest.mark.parametrize("pos", ["learned", "sinusoidal", "rope"])
@pytest.mark.parametrize("backend", ["sdpa", "naive", "chunked"])
def test_padded_logits_equal_unpadded(pos, backend):
    model = _model(pos_embedding=pos, attn_backend=backend)
    idx, mask = left_pad(PROMPTS, pad_id=11)
    with torch.no_grad():
        batched, _ = model(idx, left_pad=left_padding(mask, idx))  # (B, T, V)
        for b, prompt in enumerate(PROMPTS):
            alone, _ = model(torch.tensor([prompt]))  # (1, T_b, V)
            torch.testing.assert_close(batched[b, -len(prompt) :], alone[0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("pos", ["learned", "sinusoidal", "rope"])
@pytest.mark.parametrize("use_cache", [True, False])
def test_batched_tokens_equal_one_by_one(pos, use_cache):
    model = _model(pos_embedding=pos)
    idx, mask = left_pad(PROMPTS, pad_id=0)
    n = 14  # the longest row outgrows block_size=16: the sliding window path runs too
    out = generate(model, idx, n, temperature=0.0, attention_mask=mask, use_cache=use_cache)
    for b, prompt in enumerate(PROMPTS):
        alone = generate(model, torch.tensor([prompt]), n, temperature=0.0, use_cache=use_cache)
        assert out[b, idx.shape[1] - len(prompt) :].tolist() == alone[0].tolist()


def test_batched_with_sliding_window_cache():
    model = _model(pos_embedding="rope", window=4)
    idx, mask = left_pad(PROMPTS, pad_id=0)
    out = generate(model, idx, 8, temperature=0.0, attention_mask=mask)
    for b, prompt in enumerate(PROMPTS):
        alone = generate(model, torch.tensor([prompt]), 8, temperature=0.0)
        assert out[b, idx.shape[1] - len(prompt) :].tolist() == alone[0].tolist()


def test_no_padding_mask_changes_nothing():
    model = _model()
    idx = torch.tensor([[1, 2, 3], [4, 5, 6]])
    plain = generate(model, idx, 5, temperature=0.0)
    masked = generate(model, idx, 5, temperature=0.0, attention_mask=torch.ones_like(idx))
    assert plain.tolist() == masked.tolist()


@pytest.mark.parametrize(
    "mask, match",
    [
        (torch.ones(2, 2, dtype=torch.bool), "shape"),
        (torch.tensor([[1, 1, 1], [1, 0, 1]]), "left only"),
        (torch.tensor([[1, 1, 1], [0, 0, 0]]), "at least one"),
        (torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]), "0/1"),
        (torch.tensor([[1, 2, 1], [1, 1, 1]]), "0/1"),
    ],
)
def test_bad_attention_mask(mask, match):
    with pytest.raises(ValueError, match=match):
        generate(_model(), torch.ones(2, 3, dtype=torch.long), 1, attention_mask=mask)


def test_left_pad_refuses_empty():
    with pytest.raises(ValueError, match="non-empty"):
        left_pad([[1, 2], []])
