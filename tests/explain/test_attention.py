"""minillm/explain/attention.py: the weights recomputed from a layer's input are the ones the layer used.

The proof does not trust the explicit reference either: weights · V, through the layer's output
projection, must give the layer's real output, computed by its fused kernel ("sdpa")."""

from __future__ import annotations

import math

import pytest
import torch
from einops import rearrange
from helpers.decoders import llama_attention

from minillm.explain.attention import decoder_attention_weights, multihead_attention_weights
from minillm.models.gpt import CausalSelfAttention, GPTConfig
from minillm.nn.attention import MultiHeadAttention


def _output_from(weights, v, out_proj):
    return out_proj(rearrange(weights @ v, "b h t d -> b t (h d)"))  # (B, T, n_embd)


def test_gpt_weights_give_the_layers_output_and_match_a_hand_softmax():
    torch.manual_seed(0)
    attn = CausalSelfAttention(GPTConfig(n_embd=24, n_head=3, block_size=16, vocab_size=8)).eval()  # sdpa
    x = torch.randn(2, 7, 24)
    w = decoder_attention_weights(attn, x)  # (2, 3, 7, 7)
    q, k, v = (rearrange(t, "b t (h d) -> b h t d", h=3) for t in attn.qkv_proj(x).chunk(3, dim=-1))
    torch.testing.assert_close(_output_from(w, v, attn.out_proj), attn(x), atol=1e-5, rtol=1e-5)
    scores = q @ k.transpose(-2, -1) / math.sqrt(8)
    hand = torch.softmax(scores.masked_fill(torch.ones(7, 7).triu(1).bool(), float("-inf")), dim=-1)
    torch.testing.assert_close(w, hand)
    assert w.triu(1).abs().max() == 0  # the causal rule: no weight on a later key


@pytest.mark.parametrize(("n_kv_head", "qk_norm", "window"), [(2, False, None), (1, True, 3), (4, False, 2)])
def test_later_family_weights_give_the_layers_output(n_kv_head, qk_norm, window):
    torch.manual_seed(n_kv_head)
    attn = llama_attention(n_embd=32, n_head=4, n_kv_head=n_kv_head, qk_norm=qk_norm, window=window)
    x = torch.randn(1, 9, 32)
    w = decoder_attention_weights(attn, x)  # (1, 4, 9, 9): one map per query head
    assert w.shape == (1, 4, 9, 9)
    v = rearrange(attn.v_proj(x), "b t (h d) -> b h t d", h=n_kv_head)
    v = v.repeat_interleave(4 // n_kv_head, dim=1)  # query head h reads K/V head h // group
    torch.testing.assert_close(_output_from(w, v, attn.out_proj), attn(x), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(w.sum(-1), torch.ones(1, 4, 9))
    q_pos, k_pos = torch.arange(9)[:, None], torch.arange(9)[None, :]
    hidden = (k_pos > q_pos) | ((q_pos - k_pos >= window) if window else False)
    assert w[..., hidden].abs().max() == 0


def test_2017_weights_are_the_layers_own_need_weights_path():
    torch.manual_seed(1)
    mha = MultiHeadAttention(16, 4).eval()
    x, memory = torch.randn(2, 5, 16), torch.randn(2, 3, 16)
    w = multihead_attention_weights(mha, x, memory, memory)  # cross-attention: (2, 4, 5, 3)
    v = rearrange(mha.v_proj(memory), "b t (h d) -> b h t d", h=4)
    torch.testing.assert_close(_output_from(w, v, mha.out_proj), mha(x, memory, memory), atol=1e-5, rtol=1e-5)
    causal = multihead_attention_weights(mha, x, mask=torch.ones(5, 5).tril().bool())  # True = may attend
    assert causal.shape == (2, 4, 5, 5) and causal.triu(1).abs().max() == 0


def test_other_layers_are_refused_by_name():
    with pytest.raises(TypeError, match="MultiHeadAttention"):
        decoder_attention_weights(MultiHeadAttention(8, 2), torch.randn(1, 2, 8))
