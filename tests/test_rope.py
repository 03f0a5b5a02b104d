"""RoPE by hand and against an independent implementation (transformers' Llama rotary embedding).

minillm's RoPE uses the "rotate half" layout: dimension i is paired with i + head_dim/2 and the
pair is rotated by pos · base^(-2i/head_dim). Llama in transformers uses the same layout, so its
``LlamaRotaryEmbedding`` + ``apply_rotary_pos_emb`` must give the same numbers. The property
tests elsewhere (relative offsets, norms, identity at position 0) hold for a no-op RoPE or one
with the exponent's sign flipped too; these tests do not.
"""

import math

import pytest
import torch
import torch.nn.functional as F
from einops import rearrange
from helpers.decoders import llama_attention

from minillm.nn.attention import MultiHeadAttention
from minillm.nn.embeddings import RoPE

transformers = pytest.importorskip("transformers")
from transformers import LlamaConfig
from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding, apply_rotary_pos_emb


def test_rope_hand_values():
    # head_dim 4, base 10000: pair (x0, x2) turns by pos · 1 rad, pair (x1, x3) by pos · 10000^(-2/4) = pos / 100.
    # A flipped exponent sign would turn pair (x1, x3) by pos · 100 instead; a no-op would return x.
    rope = RoPE(4, max_len=8)
    x = torch.eye(4)[None, None]  # (1, 1, 4, 4): row t is the basis vector e_t, at position t
    cos, sin = math.cos, math.sin
    expected = torch.tensor(
        [
            [1.0, 0.0, 0.0, 0.0],  # e0 at position 0: no rotation
            [0.0, cos(0.01), 0.0, sin(0.01)],  # e1 at position 1: pair (1, 3), angle 0.01
            [-sin(2.0), 0.0, cos(2.0), 0.0],  # e2 at position 2: pair (0, 2), angle 2
            [0.0, -sin(0.03), 0.0, cos(0.03)],  # e3 at position 3: pair (1, 3), angle 0.03
        ]
    )
    torch.testing.assert_close(rope(x)[0, 0], expected, atol=1e-6, rtol=0)
    e0 = torch.tensor([1.0, 0.0, 0.0, 0.0])[None, None, None]  # (1, 1, 1, 4)
    at_5 = torch.tensor([cos(5.0), 0.0, sin(5.0), 0.0])  # offset 5: e0 sits at position 5
    torch.testing.assert_close(rope(e0, offset=5)[0, 0, 0], at_5, atol=1e-6, rtol=0)


def _llama_rope(head_dim, max_len, base):
    cfg = LlamaConfig(
        hidden_size=head_dim * 2,
        num_attention_heads=2,
        head_dim=head_dim,
        max_position_embeddings=max_len,
        rope_theta=base,
    )
    return LlamaRotaryEmbedding(cfg)


@pytest.mark.parametrize("base,offset", [(10000.0, 0), (10000.0, 13), (500.0, 5)])
def test_rope_matches_transformers_llama(base, offset):
    torch.manual_seed(0)
    head_dim, t = 16, 20
    q, k = torch.randn(2, 3, t, head_dim), torch.randn(2, 3, t, head_dim)  # (B, H, T, hd)
    rope = RoPE(head_dim, max_len=64, base=base)
    position_ids = torch.arange(offset, offset + t)[None]  # (1, T)
    cos, sin = _llama_rope(head_dim, 64, base)(q, position_ids)  # (1, T, hd) each
    q_ref, k_ref = apply_rotary_pos_emb(q, k, cos, sin)  # unsqueeze_dim=1: heads are dim 1
    torch.testing.assert_close(rope(q, offset=offset), q_ref, atol=2e-5, rtol=1e-5)
    torch.testing.assert_close(rope(k, offset=offset), k_ref, atol=2e-5, rtol=1e-5)


def test_attention_applies_rope_to_queries_and_keys():
    """LlamaAttention (models/llama.py; RoPE is the later models', not MultiHeadAttention's) equals
    projections → Llama's rotary → torch SDPA → out_proj."""
    torch.manual_seed(0)
    d, h, t = 32, 2, 10
    with pytest.raises(TypeError, match="unexpected keyword argument 'rope'"):
        MultiHeadAttention(d, h, rope=RoPE(d // h, max_len=32))
    mha = llama_attention(n_embd=d, n_head=h, block_size=32, rope_theta=10000.0)
    with torch.no_grad():  # sharpen attention so a missing rotation moves the output visibly
        mha.q_proj.weight.mul_(4)
        mha.k_proj.weight.mul_(4)
    x = torch.randn(2, t, d)
    cos, sin = _llama_rope(d // h, 32, 10000.0)(x, torch.arange(t)[None])  # (1, T, hd)
    q = rearrange(mha.q_proj(x), "b t (h d) -> b h t d", h=h)  # (B, H, T, hd)
    k = rearrange(mha.k_proj(x), "b t (h d) -> b h t d", h=h)
    v = rearrange(mha.v_proj(x), "b t (h d) -> b h t d", h=h)
    q, k = apply_rotary_pos_emb(q, k, cos, sin)
    ref = mha.out_proj(rearrange(F.scaled_dot_product_attention(q, k, v, is_causal=True), "b h t d -> b t (h d)"))
    with torch.no_grad():
        torch.testing.assert_close(mha(x), ref, atol=1e-5, rtol=1e-5)  # LlamaAttention is always causal
        plain = F.scaled_dot_product_attention(
            *(rearrange(p(x), "b t (h d) -> b h t d", h=h) for p in (mha.q_proj, mha.k_proj, mha.v_proj)),
            is_causal=True,
        )  # (B, H, T, hd) without RoPE
        unrotated = mha.out_proj(rearrange(plain, "b h t d -> b t (h d)"))
    assert (ref - unrotated).abs().max() > 1e-2  # RoPE changes this output: a skipped rotation fails above
