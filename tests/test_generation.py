"""Sampling filters by hand, and KV-cache decoding == full recomputation, token for token."""

import pytest
import torch

from minillm import GPT, GPTConfig, Transformer, TransformerConfig, generate
from minillm.decoding.generation import sample_next, top_k_filter, top_p_filter


def test_top_k_keeps_the_k_largest():
    logits = torch.tensor([[1.0, 3.0, 2.0, 0.0]])
    assert torch.isinf(top_k_filter(logits, 2)).tolist() == [[True, False, False, True]]
    assert torch.equal(top_k_filter(logits, 10), logits)


def test_top_p_hand_example():
    probs = torch.tensor([[0.05, 0.5, 0.15, 0.3]])
    logits = probs.log()
    # sorted: 0.5, 0.3, 0.15, 0.05 — mass before each: 0, 0.5, 0.8, 0.95
    assert torch.isfinite(top_p_filter(logits, 0.7)).tolist() == [[False, True, False, True]]
    assert torch.isfinite(top_p_filter(logits, 0.85)).tolist() == [[False, True, True, True]]
    assert torch.isfinite(top_p_filter(logits, 0.4)).tolist() == [[False, True, False, False]]
    assert torch.isfinite(top_p_filter(logits, 1.0)).all()


def test_sampling_respects_filters():
    g = torch.Generator().manual_seed(0)
    logits = torch.tensor([[0.0, 1.0, 2.0, 3.0]]).expand(500, 4)
    assert set(sample_next(logits, top_k=2, generator=g).tolist()) == {2, 3}
    assert set(sample_next(logits, temperature=0.0).tolist()) == {3}
    assert sample_next(logits, top_k=1, generator=g).eq(3).all()


@pytest.mark.parametrize(
    "kw,match",
    [
        (dict(temperature=-1.0), "temperature"),
        (dict(top_p=0.0), "top_p"),
        (dict(top_p=1.5), "top_p"),
        (dict(top_k=0), "top_k"),
    ],
)
def test_bad_sampling_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        sample_next(torch.zeros(1, 4), **kw)


def _gpt(pos="learned", block_size=24):
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=50, block_size=block_size, n_layer=2, n_head=4, n_embd=32, pos_embedding=pos))


@pytest.mark.parametrize("pos", ["learned", "sinusoidal", "rope"])
def test_kv_cache_greedy_equals_no_cache(pos):
    model = _gpt(pos)
    prompt = torch.randint(0, 50, (3, 5))
    with_cache = generate(model, prompt, 15, temperature=0.0, use_cache=True)
    without = generate(model, prompt, 15, temperature=0.0, use_cache=False)
    assert with_cache.shape == (3, 20)
    assert torch.equal(with_cache, without)


def test_kv_cache_sampling_equals_no_cache_with_same_seed_and_sliding_window():
    model = _gpt(block_size=12)  # 6 + 20 tokens > 12: the window slides
    prompt = torch.randint(0, 50, (2, 6))
    a = generate(model, prompt, 20, top_k=10, generator=torch.Generator().manual_seed(1), use_cache=True)
    b = generate(model, prompt, 20, top_k=10, generator=torch.Generator().manual_seed(1), use_cache=False)
    assert torch.equal(a, b)


def test_top_k_1_equals_greedy():
    model = _gpt()
    prompt = torch.randint(0, 50, (2, 4))
    assert torch.equal(generate(model, prompt, 10, top_k=1), generate(model, prompt, 10, temperature=0.0))


def test_eos_stops_and_pads():
    model = _gpt()
    prompt = torch.randint(0, 50, (1, 3))
    greedy = generate(model, prompt, 10, temperature=0.0)
    eos = int(greedy[0, 5])  # pretend the 3rd generated token is end-of-sequence
    out = generate(model, prompt, 10, temperature=0.0, eos_id=eos)
    first = (out[0, 3:] == eos).nonzero()[0].item() + 3
    assert torch.equal(out[0, : first + 1], greedy[0, : first + 1])
    assert out.shape[1] == first + 1  # stopped right after eos


def test_generate_restores_training_mode_and_checks_input():
    model = _gpt().train()
    generate(model, torch.zeros(1, 2, dtype=torch.long), 2)
    assert model.training
    with pytest.raises(ValueError, match="non-empty"):
        generate(model, torch.zeros(1, 0, dtype=torch.long), 2)
    with pytest.raises(ValueError, match="max_new_tokens"):
        generate(model, torch.zeros(1, 2, dtype=torch.long), -1)
    with pytest.raises(TypeError, match="needs a model with"):
        generate(torch.nn.Linear(2, 2), torch.zeros(1, 2, dtype=torch.long), 2)


def test_training_mode_comes_back_when_generation_raises():
    model = _gpt().train()
    with pytest.raises(ValueError, match="token ids"):  # 99 is outside the 50-token vocabulary: the forward raises
        generate(model, torch.tensor([[1, 99]]), 3)
    assert model.training and all(m.training for m in model.modules())
    with pytest.raises(ValueError, match="temperature"):
        generate(model, torch.tensor([[1, 2]]), 3, temperature=-1.0)
    assert model.training
    model.eval()
    with pytest.raises(ValueError, match="token ids"):
        generate(model, torch.tensor([[1, 99]]), 3)
    assert not model.training  # restored, not forced on
    seq2seq = Transformer(TransformerConfig(20, 20, d_model=16, n_heads=2, n_encoder_layers=1, n_decoder_layers=1))
    seq2seq.train()
    with pytest.raises(ValueError, match="token ids"):  # the encoder sees a source token outside its vocabulary
        seq2seq.generate(torch.tensor([[1, 25]]), 3, bos_id=1)
    assert seq2seq.training


def test_transformer_generate_cache_equals_no_cache():
    torch.manual_seed(0)
    model = Transformer(
        TransformerConfig(
            20, 20, d_model=32, n_heads=4, n_encoder_layers=2, n_decoder_layers=2, d_ff=64, max_len=16, pad_id=0
        )
    )
    src = torch.randint(1, 20, (3, 7))
    src[0, 5:] = 0
    a = model.generate(src, 12, bos_id=1, temperature=0.0, use_cache=True)
    b = model.generate(src, 12, bos_id=1, temperature=0.0, use_cache=False)
    assert torch.equal(a, b) and a.shape == (3, 13)


def test_decoding_builds_no_graph_and_restores_the_grad_mode():
    from minillm import beam_search

    model = _gpt()
    calls = []
    model.lm_head.register_forward_hook(lambda m, i, o: calls.append(torch.is_grad_enabled()))  # every step runs it
    for decode in (
        lambda: generate(model, torch.tensor([[1, 2]]), 3),
        lambda: beam_search(model, torch.tensor([[1]]), 2),
    ):
        calls.clear()
        assert torch.is_grad_enabled()
        out = decode()
        assert calls and not any(calls)  # every forward ran without autograd
        assert torch.is_grad_enabled() and not out.requires_grad  # the caller's mode came back
    with torch.no_grad():
        generate(model, torch.tensor([[1, 2]]), 2)
        assert not torch.is_grad_enabled()  # restored, not forced on
    with pytest.raises(ValueError, match="token ids"):
        generate(model, torch.tensor([[1, 99]]), 3)
    assert torch.is_grad_enabled()  # also after an error
