"""KVCache at its edges (written against mutmut survivors, tests/MUTATION.md); then, under `# -- decoding --`,
cached decoding against full recomputation on models whose attention is sharp."""

import pytest
import torch
from helpers.decoders import decoder
from torch import nn

from minillm import Transformer, TransformerConfig, beam_search
from minillm.models.gpt import CausalSelfAttention
from minillm.nn.kv_cache import KVCache


def test_cache_fills_exactly_to_max_len_then_refuses():
    cache = KVCache(block_size=3)
    kv = torch.randn(1, 2, 2, 4)
    cache.update(kv, kv)
    k, _ = cache.update(kv[:, :, :1], kv[:, :, :1])  # 2 + 1 = block_size: still fits
    assert k.shape == (1, 2, 3, 4)
    with pytest.raises(ValueError, match="overflow"):
        cache.update(kv[:, :, :1], kv[:, :, :1])
    one = KVCache(block_size=1)  # the smallest cache holds one position
    assert one.update(kv[:, :, :1], kv[:, :, :1])[0].shape == (1, 2, 1, 4)
    with pytest.raises(ValueError, match="block_size"):
        KVCache(block_size=0)


# -- decoding --
# (formerly tests/test_kv_cache_teeth.py)
# KV-cache decoding gives the same LOGITS as full recomputation, on models whose attention is sharp.
#
# Why these tests exist beside tests/decoding/test_generation.py: a tiny random-init model attends almost
# uniformly, so a wrong position offset during cached decoding, or a beam reorder that does
# nothing, moves its logits by ~1e-3 and never flips a greedy token. Here the query and key
# projections are scaled up (attention logits of several units, not hundredths), and the tests
# compare logits within 1e-4; those bugs move them by 0.2 to 0.6 (measured by injecting them).


ATOL = 1e-4  # fp32 cached vs uncached: measured differences ~1e-6


def sharpen(model, factor=8.0):
    """Scale every attention's query and key projections: attention logits grow by factor²."""
    scaled = 0
    with torch.no_grad():
        for m in model.modules():
            if hasattr(m, "q_proj") and hasattr(m, "k_proj"):  # nn.attention's and models/llama.py's attention
                m.q_proj.weight.mul_(factor)
                m.k_proj.weight.mul_(factor)
                scaled += 1
            elif isinstance(m, CausalSelfAttention):  # GPT-2's fused matrix: rows [0, C) make q, [C, 2C) make k
                m.qkv_proj.weight[: 2 * m.qkv_proj.in_features].mul_(factor)
                scaled += 1
    assert scaled, "no attention was sharpened"
    return model.eval()


def sharp_gpt(pos, vocab=32, seed=0):
    """A GPT-2 ("learned", "sinusoidal") or a GPT-2-like Llama ("rope"), with an output layer of its own."""
    torch.manual_seed(seed)
    shape = dict(vocab_size=vocab, block_size=24, n_layer=2, n_head=2, n_embd=32)
    if pos == "rope":
        model = decoder(pos, **shape, tie_embeddings=False)
    else:  # GPT-2 ties its output layer to wte: untie it, so that scaling the logits leaves the inputs alone
        model = decoder(pos, **shape)
        model.lm_head.weight = nn.Parameter(0.02 * torch.randn_like(model.wte.weight))
    assert model.lm_head.weight is not model.wte.weight
    model = sharpen(model)
    with torch.no_grad():
        model.lm_head.weight.mul_(10)  # logits spread over several units, so 1e-4 is a tight tolerance
    return model


@pytest.mark.parametrize("pos", ["rope", "learned", "sinusoidal"])
@torch.no_grad()
def test_cached_decoding_logits_equal_full_forward(pos):
    model = sharp_gpt(pos)
    seq = torch.randint(0, 32, (2, 16))
    full = model(seq)[0]  # (B, T, V) every position computed from scratch
    caches = model.new_kv_caches()
    steps = [model(seq[:, :5], kv_caches=caches)[0]]  # prefill the prompt (every position), then one token at a time
    steps += [model.decode_step(seq[:, t : t + 1], caches) for t in range(5, 16)]
    cached = torch.cat(steps, dim=1)  # (B, T, V)
    torch.testing.assert_close(cached, full, atol=ATOL, rtol=0)


@pytest.mark.parametrize("pos", ["rope", "learned"])  # Llama and GPT
@torch.no_grad()
def test_decode_step_returns_the_newest_position_only(pos):
    """A prompt's decode_step is the last column of forward's logits (the output layer skips the rest)."""
    model = sharp_gpt(pos)
    seq = torch.randint(0, 32, (2, 7))
    got = model.decode_step(seq, model.new_kv_caches())
    assert got.shape == (2, 1, model.config.vocab_size)
    torch.testing.assert_close(got, model(seq)[0][:, -1:], atol=ATOL, rtol=0)
    with pytest.raises(ValueError, match="exceeds block_size"):  # forward's checks, before any work
        model.decode_step(torch.zeros(1, model.config.block_size + 1, dtype=torch.long), None)


@torch.no_grad()
def test_transformer_cached_decoder_logits_equal_full_decode():
    torch.manual_seed(0)
    cfg = TransformerConfig(
        13, 13, n_embd=32, n_head=2, n_encoder_layers=1, n_decoder_layers=2, d_ff=64, dropout=0.0, block_size=16
    )
    model = sharpen(Transformer(cfg))
    src, tgt = torch.randint(0, 13, (2, 7)), torch.randint(0, 13, (2, 12))
    memory = model.encode(src)
    full = model.decode(tgt, memory)  # (B, T_tgt, V)
    caches = [KVCache(16) for _ in range(2)]  # one per decoder layer
    cached = torch.cat(
        [model.decode(tgt[:, :3], memory, kv_caches=caches)]
        + [model.decode(tgt[:, t : t + 1], memory, kv_caches=caches) for t in range(3, 12)],
        dim=1,
    )  # (B, T_tgt, V)
    torch.testing.assert_close(cached, full, atol=ATOL, rtol=0)


def test_kv_cache_reorder_by_hand():
    cache = KVCache(4)
    k = torch.arange(3.0).view(3, 1, 1, 1).expand(3, 1, 2, 1)  # (B=3, H=1, T=2, d=1): row b holds b
    cache.update(k, -k)
    cache.reorder(torch.tensor([2, 2, 0]))
    keys, values = cache.update(torch.full((3, 1, 1, 1), 9.0), torch.full((3, 1, 1, 1), 9.0))  # (3, 1, 3, 1)
    assert keys[:, 0, :, 0].tolist() == [[2, 2, 9], [2, 2, 9], [0, 0, 9]]
    assert values[:, 0, :, 0].tolist() == [[-2, -2, 9], [-2, -2, 9], [-0, -0, 9]]


@pytest.mark.parametrize("pos", ["rope", "learned"])
@torch.no_grad()
def test_reordered_cache_continues_the_reordered_rows(pos):
    """After reorder(rows), decoding the next token gives the logits of the reordered sequences."""
    model = sharp_gpt(pos)
    seq = torch.randint(0, 32, (3, 9))
    rows = torch.tensor([2, 0, 0])
    caches = model.new_kv_caches()
    model.decode_step(seq[:, :8], caches)
    for cache in caches:
        cache.reorder(rows)
    nxt = torch.randint(0, 32, (3, 1))
    got = model.decode_step(nxt, caches)[:, -1]  # (3, V)
    want = model(torch.cat([seq[rows, :8], nxt], dim=1))[0][:, -1]  # (3, V)
    torch.testing.assert_close(got, want, atol=ATOL, rtol=0)
    assert (want[0] - want[1]).abs().max() > 0.1  # the rows differ: keeping row order would fail


@pytest.mark.parametrize("seed", [1, 3, 5, 8])  # seeds where a no-op reorder changes the answer (measured)
def test_beam_search_with_cache_equals_without_on_a_sharp_model(seed):
    """No eos, 8 tokens, 4 beams, 3 prompts: beams are reshuffled at nearly every step, so a cache that
    is not reordered with them feeds each beam another beam's past."""
    model = sharp_gpt("rope", vocab=6, seed=seed)
    prompt = torch.randint(0, 6, (3, 3))
    cached = beam_search(model, prompt, 8, num_beams=4, use_cache=True)
    uncached = beam_search(model, prompt, 8, num_beams=4, use_cache=False)
    assert torch.equal(cached, uncached)
