"""Sampling filters by hand, and KV-cache decoding == full recomputation, token for token."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from helpers.decoders import POSITIONS, decoder

from minillm import Transformer, TransformerConfig
from minillm.decoding.generation import (
    generate,
    left_pad,
    left_padding,
    padding_inputs,
    sample_next,
    top_k_filter,
    top_p_filter,
)
from minillm.models.gpt import GPT
from minillm.models.llama import Llama


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


def _gpt(pos="learned", block_size=24) -> GPT | Llama:
    """A GPT with learned or sinusoidal positions, or a GPT-2-like Llama for "rope"."""
    torch.manual_seed(0)
    return decoder(pos, vocab_size=50, block_size=block_size, n_layer=2, n_head=4, n_embd=32)


@pytest.mark.parametrize("pos", POSITIONS)
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
    seq2seq = Transformer(TransformerConfig(20, 20, n_embd=16, n_head=2, n_encoder_layers=1, n_decoder_layers=1))
    seq2seq.train()
    with pytest.raises(ValueError, match="token ids"):  # the encoder sees a source token outside its vocabulary
        seq2seq.generate(torch.tensor([[1, 25]]), 3, bos_id=1)
    assert seq2seq.training


def test_transformer_generate_cache_equals_no_cache():
    torch.manual_seed(0)
    model = Transformer(
        TransformerConfig(
            20, 20, n_embd=32, n_head=4, n_encoder_layers=2, n_decoder_layers=2, d_ff=64, block_size=16, pad_id=0
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


# -- sampling: temperature, top-k, top-p -------------------------------------------------------------
# Temperature sampling draws from softmax(logits / T): measured frequencies at T = 0.5 and T = 2.
#
# A statistical test with a fixed seed. N = 40,000 draws; every token's frequency must lie within
# 5 standard errors, 5·sqrt(p(1-p)/N) ≤ 0.0125, of its probability under softmax(logits / T).
# For the wrong formula softmax(logits · T) a frequency moves by 0.44, over 35 times that
# bound (checked in the test itself, so the test cannot lose its power by a change of logits).
LOGITS = torch.tensor([2.0, 1.0, 0.5, -0.5, -2.0])
N = 40_000


def _bound(p: torch.Tensor) -> torch.Tensor:
    return 5 * (p * (1 - p) / N).sqrt()  # (V,) five standard errors of a frequency


def _frequencies(tokens: torch.Tensor) -> torch.Tensor:
    return torch.bincount(tokens, minlength=len(LOGITS)).double() / len(tokens)


def _check(tokens: torch.Tensor, temperature: float) -> None:
    expected = torch.softmax(LOGITS.double() / temperature, dim=-1)
    wrong = torch.softmax(LOGITS.double() * temperature, dim=-1)  # the bug this test exists for
    bound = _bound(expected)
    assert (wrong - expected).abs().max() > 20 * bound.max()  # the test can tell the two apart
    got = _frequencies(tokens)
    assert ((got - expected).abs() <= bound).all(), (temperature, got.tolist(), expected.tolist())


@pytest.mark.parametrize("temperature", [0.5, 2.0])
def test_sample_next_frequencies_follow_softmax_of_logits_over_t(temperature):
    g = torch.Generator().manual_seed(0)
    tokens = sample_next(LOGITS.expand(N, -1), temperature=temperature, generator=g)  # (N,)
    _check(tokens, temperature)


class FixedLogits(nn.Module):
    """A 'model' whose next-token logits are LOGITS whatever the context: isolates generate()'s sampling."""

    block_size = 8

    def new_kv_caches(self):
        return None

    def decode_step(self, idx, _caches):
        return LOGITS.expand(idx.shape[0], idx.shape[1], -1)  # (B, T, V)


@pytest.mark.parametrize("temperature", [0.5, 2.0])
def test_generate_passes_the_temperature_through(temperature):
    g = torch.Generator().manual_seed(1)
    out = generate(FixedLogits(), torch.zeros(N, 1, dtype=torch.long), 1, temperature=temperature, generator=g)
    _check(out[:, 1], temperature)  # (N,) the one new token of each row


# -- batched prompts, left padding -------------------------------------------------------------------
# Batched generation with left padding equals generating each prompt alone (minillm.decoding.generation).
#
# The reference is the same model run on one unpadded prompt at a time: logits at every real
# position and greedy tokens must match, for learned, sinusoidal and rotary positions, each
# attention backend, with and without the KV cache, past the context window, and with a sliding
# window.
PROMPTS = [[5, 9, 2, 7, 1, 3], [4], [8, 8, 6]]


def _model(pos="learned", **overrides) -> GPT | Llama:
    """A GPT with learned or sinusoidal positions, or a GPT-2-like Llama for "rope"."""
    torch.manual_seed(0)
    fields = {"vocab_size": 17, "block_size": 16, "n_layer": 2, "n_head": 2, "n_embd": 16, "dropout": 0.0}
    fields.update(overrides)
    return decoder(pos, **fields).eval()


def test_left_pad_layout():
    idx, mask = left_pad(PROMPTS, pad_id=0)
    assert idx.tolist() == [[5, 9, 2, 7, 1, 3], [0, 0, 0, 0, 0, 4], [0, 0, 0, 8, 8, 6]]
    assert mask.sum(1).tolist() == [6, 1, 3]
    assert left_padding(mask, idx).tolist() == [0, 5, 3]


def test_padding_inputs_by_hand():
    # rows with 0 and 2 padding columns; 3 positions cached, the last 2 still held (a window); 1 new token
    got = padding_inputs(torch.tensor([0, 2]), past=3, stored=2, t_new=1)
    assert got["mask"].shape == (2, 1, 1, 3)  # keys in columns 1, 2, 3
    assert got["mask"][:, 0, 0].tolist() == [[True, True, True], [False, True, True]]
    assert got["pos"].tolist() == [[3], [1]]  # each row counts from its first real token
    prompt = padding_inputs(torch.tensor([0, 5, 3]), past=0, stored=0, t_new=6)
    assert prompt["mask"][:, 0, 0].sum(1).tolist() == [6, 1, 3]
    assert prompt["pos"].tolist() == [[0, 1, 2, 3, 4, 5], [0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 1, 2]]


@pytest.mark.parametrize("pos", POSITIONS)
@pytest.mark.parametrize("backend", ["sdpa", "naive", "chunked"])
def test_padded_logits_equal_unpadded(pos, backend):
    model = _model(pos, attn_backend=backend)
    idx, mask = left_pad(PROMPTS, pad_id=11)
    with torch.no_grad():
        inputs = padding_inputs(left_padding(mask, idx), past=0, stored=0, t_new=idx.shape[1])
        batched, _ = model(idx, **inputs)  # (B, T, V)
        assert torch.isfinite(batched).all()  # the padding rows too: a query with no key gives zeros, not NaN
        for b, prompt in enumerate(PROMPTS):
            alone, _ = model(torch.tensor([prompt]))  # (1, T_b, V)
            torch.testing.assert_close(batched[b, -len(prompt) :], alone[0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("pos", POSITIONS)
@pytest.mark.parametrize("use_cache", [True, False])
def test_batched_tokens_equal_one_by_one(pos, use_cache):
    model = _model(pos)
    idx, mask = left_pad(PROMPTS, pad_id=0)
    n = 14  # the longest row outgrows block_size=16: the sliding window path runs too
    out = generate(model, idx, n, temperature=0.0, attention_mask=mask, use_cache=use_cache)
    for b, prompt in enumerate(PROMPTS):
        alone = generate(model, torch.tensor([prompt]), n, temperature=0.0, use_cache=use_cache)
        assert out[b, idx.shape[1] - len(prompt) :].tolist() == alone[0].tolist()


def test_batched_with_sliding_window_cache():
    model = _model("rope", window=4)
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


# -- edges: filters, sample_next, the checks ---------------------------------------------------------
# Sampling filters at their boundaries and on any number of leading dimensions.
#
# Written against mutmut survivors (tests/MUTATION.md): test_generation.py checks 2-D logits away from
# ties, so a filter working on the wrong axis, or `>` for `>=` at the nucleus boundary, passed it.
def test_top_p_keeps_the_smallest_set_that_reaches_p_exactly():
    # Equal logits give exact probabilities 1/4: the mass before the k-th token is (k-1)/4 exactly.
    logits = torch.zeros(1, 4)
    assert int(torch.isfinite(top_p_filter(logits, 0.5)).sum()) == 2  # 1/4 + 1/4 reaches 0.5
    assert int(torch.isfinite(top_p_filter(logits, 0.75)).sum()) == 3
    assert int(torch.isfinite(top_p_filter(logits, 0.5000001)).sum()) == 3


def test_top_p_at_one_keeps_every_token_of_a_large_vocabulary():
    # One likely token and 599 tiny ones (the smallest about 1e-30): a float32 running sum from the top
    # reaches 1.0 long before the end; p = 1 keeps them all.
    g = torch.Generator().manual_seed(0)
    logits = torch.cat([torch.tensor([30.0]), torch.linspace(-40.0, 5.0, 599)[torch.randperm(599, generator=g)]])
    probs = logits.softmax(-1)
    assert bool((probs > 0).all())
    sorted_probs = probs.sort(descending=True).values
    assert int(((sorted_probs.cumsum(-1) - sorted_probs) >= 1.0).sum()) > 100  # the float32 cut this replaces
    assert bool(torch.isfinite(top_p_filter(logits, 1.0)).all())
    assert bool(torch.isfinite(top_p_filter(logits[None, None], 1.0)).all())  # (1, 1, 600)
    # p < 1: the same cut as an exactly summed mass before each token (math.fsum), away from the boundary
    exact = [float(x) for x in logits.double().softmax(-1)]
    order = sorted(range(600), key=lambda i: -exact[i])
    before = {i: math.fsum(exact[j] for j in order[:rank]) for rank, i in enumerate(order)}
    for p in (0.5, 1 - 1e-9, 1 - 1e-13):
        kept = torch.isfinite(top_p_filter(logits, p)).tolist()
        assert all(kept[i] == (before[i] < p) for i in range(600) if abs(before[i] - p) > 1e-15), p


@settings(max_examples=60, deadline=None)
@given(
    logits=st.lists(st.floats(-30.0, 30.0, allow_nan=False), min_size=1, max_size=12),
    p=st.floats(1e-6, 1.0),
)
def test_top_p_matches_an_exactly_summed_nucleus(logits, p):
    # the reference sums the more likely tokens' probabilities with math.fsum, ties broken by index
    x = torch.tensor(logits)
    exp = [math.exp(v - max(logits)) for v in x.double().tolist()]
    probs = [e / math.fsum(exp) for e in exp]
    kept = torch.isfinite(top_p_filter(x, p)).tolist()
    for i, pi in enumerate(probs):
        more = math.fsum(q for q in probs if q > pi)  # strictly more likely: certainly before i
        tied = math.fsum(q for j, q in enumerate(probs) if q == pi and j != i)  # before i or after, by sort order
        if more >= p + 1e-12:
            assert not kept[i], (i, more, p)
        elif more + tied < p - 1e-12 or (more == 0 and tied == 0):  # the one most likely token always stays
            assert kept[i], (i, more, p)


def test_top_p_leaves_zero_probability_tokens_out_at_one():
    logits = torch.tensor([0.0, float("-inf"), -1.0, -2000.0])  # exp(-2000) is 0 even in float64
    assert torch.isfinite(top_p_filter(logits, 1.0)).tolist() == [True, False, True, False]


def test_filters_work_on_the_last_axis_of_any_shape():
    probs = torch.tensor([0.05, 0.5, 0.15, 0.3])
    row = probs.log()
    # 1-D: one distribution; 3-D: (B, T, V), each row filtered on its own
    assert torch.isfinite(top_p_filter(row, 0.7)).tolist() == [False, True, False, True]
    assert torch.isfinite(top_k_filter(row, 2)).tolist() == [False, True, False, True]
    rows = torch.stack([row, row.flip(0), row.roll(1)]).reshape(3, 1, 4).expand(3, 2, 4)  # (3, 2, V)
    for f in (lambda x: top_p_filter(x, 0.7), lambda x: top_k_filter(x, 2)):
        got = f(rows)
        want = torch.stack([f(r) for r in rows.reshape(6, 4)]).reshape(3, 2, 4)
        assert torch.equal(torch.isfinite(got), torch.isfinite(want))
        assert torch.equal(got[torch.isfinite(got)], rows[torch.isfinite(got)])  # kept logits unchanged


@pytest.mark.parametrize("kw", [{"top_k": 2.0}, {"temperature": float("nan")}])
def test_sampling_rejects_non_integer_top_k_and_nan_temperature(kw):
    with pytest.raises(ValueError):
        sample_next(torch.zeros(1, 4), **kw)


def test_sample_next_applies_top_p_and_defaults_to_temperature_one():
    logits = torch.tensor([[0.05, 0.5, 0.15, 0.3]]).log().expand(200, 4)
    g = torch.Generator().manual_seed(0)
    assert sample_next(logits, top_p=0.4, generator=g).eq(1).all()  # only the 0.5 token is in the nucleus
    assert set(sample_next(logits, top_p=0.7, generator=g).tolist()) == {1, 3}
    assert sample_next(logits, top_p=1.0, generator=g).shape == (200,)  # p = 1 keeps every token
    a = sample_next(logits, generator=torch.Generator().manual_seed(1))
    b = sample_next(logits, temperature=1.0, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)


def test_an_empty_batch_is_refused_naming_its_shape():
    idx = torch.zeros(0, 3, dtype=torch.long)
    for kw in ({}, {"attention_mask": torch.ones(0, 3, dtype=torch.bool)}):
        with pytest.raises(ValueError, match=r"empty batch: shape \(0, 3\) has B = 0 rows"):
            generate(_gpt(), idx, 2, **kw)


# -- input_major_weights: the decode-time layout of widening weights ----------------------------


def test_input_major_weights_lays_out_widening_weights_and_gives_their_storage_back():
    from minillm.decoding.generation import input_major_weights

    model = _gpt(block_size=64)
    layers = {n: m for n, m in model.named_modules() if isinstance(m, nn.Linear)}
    before = {n: (m.weight.data_ptr(), m.weight.clone()) for n, m in layers.items()}
    with torch.no_grad(), input_major_weights(model, 32):
        for n, m in layers.items():
            widens = m.out_features >= m.in_features  # qkv (32 → 96), fc1 (32 → 128), lm_head (32 → 50)
            assert m.weight.is_contiguous() != widens, n
            assert m.weight.stride() == ((1, m.out_features) if widens else (m.in_features, 1)), n
            assert torch.equal(m.weight, before[n][1]), n  # the same values, another layout
        assert model.wte.weight is model.lm_head.weight  # still tied: the Parameter was kept, its storage moved
        with input_major_weights(model, 32):  # nested: nothing laid out twice
            pass
        assert not model.lm_head.weight.is_contiguous()
    for n, m in layers.items():
        assert m.weight.data_ptr() == before[n][0] and m.weight.is_contiguous(), n  # its own storage back
    with pytest.raises(RuntimeError, match="stop"), torch.no_grad(), input_major_weights(model, 32):
        raise RuntimeError("stop")
    assert all(m.weight.data_ptr() == before[n][0] for n, m in layers.items())  # back after an error too


def test_input_major_weights_skips_short_decodes_and_gradients():
    from minillm.decoding.generation import MIN_TOKENS_FOR_LAYOUT, input_major_weights

    model = _gpt()
    with torch.no_grad(), input_major_weights(model, MIN_TOKENS_FOR_LAYOUT - 1):  # copies would not pay off
        assert model.lm_head.weight.is_contiguous()
    with input_major_weights(model, MIN_TOKENS_FOR_LAYOUT):  # autograd on: leave the parameters alone
        assert model.lm_head.weight.is_contiguous()
    with torch.no_grad(), input_major_weights(model, MIN_TOKENS_FOR_LAYOUT):
        assert not model.lm_head.weight.is_contiguous()


@pytest.mark.parametrize("pos", POSITIONS)
def test_a_long_decode_in_the_input_major_layout_gives_the_greedy_tokens(pos):
    """40 greedy tokens (laid out) equal the argmax chain of full forwards (row-major, no cache)."""
    model = _gpt(pos, block_size=64).eval()
    seq = torch.randint(0, 50, (2, 5), generator=torch.Generator().manual_seed(3))
    got = generate(model, seq, 40, temperature=0.0)
    with torch.no_grad():
        for _ in range(40):
            seq = torch.cat([seq, model(seq)[0][:, -1].argmax(-1, keepdim=True)], dim=1)
    assert torch.equal(got, seq)
    assert all(m.weight.is_contiguous() for m in model.modules() if isinstance(m, nn.Linear))


def test_padding_inputs_are_made_on_the_device_of_pad():
    """The mask and positions come out on pad's device (meta here, where a CPU column index would fail
    as it would beside CUDA tensors)."""
    got = padding_inputs(torch.tensor([0, 2], device="meta"), past=3, stored=2, t_new=1)
    assert got["mask"].device.type == "meta" and got["mask"].shape == (2, 1, 1, 3)
    assert got["pos"].device.type == "meta" and got["pos"].shape == (2, 1)
