"""Token embeddings, learned and sinusoidal positions, RoPE (minillm/nn/embeddings.py).

First RoPE against hand values and a float64 reference, and the other embeddings at their edges (written
against mutmut survivors, tests/MUTATION.md); then `# -- RoPE against transformers --`; then `# -- by hand
and properties --`. Those property tests (relative offset, norm, identity at 0) hold for any frequencies,
so a wrong exponent or base passed them; the value tests pin the values.
"""

import math

import pytest
import torch
import torch.nn.functional as F
from einops import rearrange
from helpers.decoders import llama_attention
from hypothesis import given
from hypothesis import strategies as st

from minillm.nn.attention import MultiHeadAttention
from minillm.nn.embeddings import (
    LearnedPositionalEmbedding,
    RoPE,
    SinusoidalPositionalEncoding,
    TokenEmbedding,
    sinusoidal_table,
)


def test_rope_rotates_each_pair_by_position_times_frequency_by_hand():
    rope = RoPE(head_dim=4, block_size=8)  # pairs (0, 2) and (1, 3); frequencies 1 and 10000^(-2/4) = 0.01
    x = torch.tensor([1.0, 2.0, 3.0, 4.0]).expand(1, 1, 4, 4)  # the same vector at positions 0..3
    y = rope(x)[0, 0, 3]  # position 3: angles 3 and 0.03
    c0, s0, c1, s1 = math.cos(3), math.sin(3), math.cos(0.03), math.sin(0.03)
    want = torch.tensor([1 * c0 - 3 * s0, 2 * c1 - 4 * s1, 3 * c0 + 1 * s0, 4 * c1 + 2 * s1])
    torch.testing.assert_close(y, want)
    # the offset shifts the positions: the token at offset 3 is rotated like position 3
    torch.testing.assert_close(rope(x[:, :, :1], offset=3)[0, 0, 0], want)


def _reference(pos: int, head_dim: int, base: float = 10000.0) -> tuple[list[float], list[float]]:
    angles = [pos * base ** (-2 * i / head_dim) for i in range(head_dim // 2)] * 2
    return [math.cos(a) for a in angles], [math.sin(a) for a in angles]


@pytest.mark.parametrize("pos", [1, 777, 4095])
def test_rope_tables_match_a_float64_reference_up_to_the_default_max_len(pos):
    # Angles reach 4095 rad; they are computed in float64 so the float32 tables stay exact to ~1e-7.
    rope = RoPE(head_dim=64)
    cos, sin = _reference(pos, 64)
    torch.testing.assert_close(rope.cos[pos], torch.tensor(cos), atol=2e-6, rtol=0)
    torch.testing.assert_close(rope.sin[pos], torch.tensor(sin), atol=2e-6, rtol=0)
    base_100 = RoPE(head_dim=64, block_size=pos + 1, base=100.0)
    cos, sin = _reference(pos, 64, base=100.0)
    torch.testing.assert_close(base_100.sin[pos], torch.tensor(sin), atol=2e-6, rtol=0)


def test_rope_default_context_and_no_saved_state():
    rope = RoPE(head_dim=8)
    x = torch.randn(1, 1, 1, 8)
    rope(x, offset=4095)  # the default table covers positions 0..4095
    with pytest.raises(ValueError, match="RoPE table's block_size=4096"):
        rope(x, offset=4096)
    assert rope.state_dict() == {}  # the tables are recomputed, never stored in checkpoints


def test_rope_on_any_leading_shape_keeps_the_input_dtype():
    rope = RoPE(head_dim=4, block_size=8)
    x = torch.randn(2, 5, 4)  # (B, T, hd): no head axis, T != hd
    torch.testing.assert_close(rope(x), rope(x[:, None])[:, 0])
    assert rope(x.to(torch.bfloat16)).dtype == torch.bfloat16  # the tables follow the input, not float32


def test_position_tables_fit_exactly_at_the_edge_and_name_themselves():
    learned, sinus = LearnedPositionalEmbedding(2, 4), SinusoidalPositionalEncoding(2, 4)  # both (n_embd, block_size)
    x = torch.zeros(1, 4, 2)
    torch.testing.assert_close(learned(x), learned.weight[None])  # default offset 0: positions 0..3
    torch.testing.assert_close(sinus(x), sinus.pe[None])
    torch.testing.assert_close(learned(x[:, :1], offset=3), learned.weight[None, 3:])  # the last position fits
    for module, name in [(learned, "learned position table's"), (sinus, "sinusoidal encoding's")]:
        with pytest.raises(ValueError, match=f"{name} block_size=4"):
            module(x[:, :2], offset=3)
        with pytest.raises(ValueError, match="block_size=4"):
            module(x[:, :1], offset=-1)


def test_sinusoidal_defaults_dtype_and_no_saved_state():
    enc = SinusoidalPositionalEncoding(4)  # default: 5000 positions, no dropout
    x = torch.zeros(2, 1, 4)
    torch.testing.assert_close(enc(x, offset=4999), enc.pe[None, 4999:].expand(2, 1, 4))
    enc.train()
    torch.testing.assert_close(enc(x), enc.pe[None, :1].expand(2, 1, 4))  # dropout 0 even in training
    assert enc(x.to(torch.bfloat16)).dtype == torch.bfloat16
    assert enc.state_dict() == {}


def test_token_embedding_edges():
    emb = TokenEmbedding(10, 4, scale=False)
    ids = torch.tensor([[0, 9]])  # both ends of the vocabulary are valid ids
    for dtype in (torch.long, torch.int):
        torch.testing.assert_close(emb(ids.to(dtype)), emb.weight[ids])  # unscaled
    assert emb(torch.zeros(1, 0, dtype=torch.long)).shape == (1, 0, 4)  # an empty batch is fine
    with pytest.raises(ValueError, match="got min -1"):
        emb(torch.tensor([[-1, 3]]))
    padded = TokenEmbedding(10, 4, padding_idx=0)
    assert torch.all(padded(torch.tensor([[0]])) == 0)
    assert (padded.vocab_size, padded.n_embd, padded.scale) == (10, 4, 2.0)
    for bad in [(0, 4), (10, 0)]:
        with pytest.raises(ValueError, match="must be positive"):
            TokenEmbedding(*bad)


def test_sinusoidal_table_matches_a_float64_reference_at_long_positions():
    from minillm.nn.embeddings import sinusoidal_table

    pe = sinusoidal_table(5000, 64)
    pos = 4999
    angles = [pos / 10000 ** (2 * i / 64) for i in range(32)]
    torch.testing.assert_close(pe[pos, 0::2], torch.tensor([math.sin(a) for a in angles]), atol=2e-6, rtol=0)
    torch.testing.assert_close(pe[pos, 1::2], torch.tensor([math.cos(a) for a in angles]), atol=2e-6, rtol=0)


def test_token_embedding_of_one_token_and_one_dimension():
    emb = TokenEmbedding(1, 1)  # the smallest valid sizes
    assert emb(torch.zeros(1, 1, dtype=torch.long)).shape == (1, 1, 1)


# -- RoPE against transformers --
# RoPE by hand and against an independent implementation (transformers' Llama rotary embedding).
#
# minillm's RoPE uses the "rotate half" layout: dimension i is paired with i + head_dim/2 and the
# pair is rotated by pos · base^(-2i/head_dim). Llama in transformers uses the same layout, so its
# ``LlamaRotaryEmbedding`` + ``apply_rotary_pos_emb`` must give the same numbers. The property
# tests elsewhere (relative offsets, norms, identity at position 0) hold for a no-op RoPE or one
# with the exponent's sign flipped too; these tests do not.


def _transformers_rope():
    """transformers' Llama rotary pieces, imported here: the tests that use them skip without transformers."""
    pytest.importorskip("transformers")
    from transformers import LlamaConfig
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding, apply_rotary_pos_emb

    return LlamaConfig, LlamaRotaryEmbedding, apply_rotary_pos_emb


def test_rope_hand_values():
    # head_dim 4, base 10000: pair (x0, x2) turns by pos · 1 rad, pair (x1, x3) by pos · 10000^(-2/4) = pos / 100.
    # A flipped exponent sign would turn pair (x1, x3) by pos · 100 instead; a no-op would return x.
    rope = RoPE(4, block_size=8)
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


def _llama_rope(head_dim, block_size, base):
    LlamaConfig, LlamaRotaryEmbedding, _ = _transformers_rope()
    cfg = LlamaConfig(
        hidden_size=head_dim * 2,
        num_attention_heads=2,
        head_dim=head_dim,
        max_position_embeddings=block_size,
        rope_theta=base,
    )
    return LlamaRotaryEmbedding(cfg)


@pytest.mark.parametrize("base,offset", [(10000.0, 0), (10000.0, 13), (500.0, 5)])
def test_rope_matches_transformers_llama(base, offset):
    apply_rotary_pos_emb = _transformers_rope()[2]
    torch.manual_seed(0)
    head_dim, t = 16, 20
    q, k = torch.randn(2, 3, t, head_dim), torch.randn(2, 3, t, head_dim)  # (B, H, T, hd)
    rope = RoPE(head_dim, block_size=64, base=base)
    position_ids = torch.arange(offset, offset + t)[None]  # (1, T)
    cos, sin = _llama_rope(head_dim, 64, base)(q, position_ids)  # (1, T, hd) each
    q_ref, k_ref = apply_rotary_pos_emb(q, k, cos, sin)  # unsqueeze_dim=1: heads are dim 1
    torch.testing.assert_close(rope(q, offset=offset), q_ref, atol=2e-5, rtol=1e-5)
    torch.testing.assert_close(rope(k, offset=offset), k_ref, atol=2e-5, rtol=1e-5)


def test_attention_applies_rope_to_queries_and_keys():
    """LlamaAttention (models/llama.py; RoPE is the later models', not MultiHeadAttention's) equals
    projections → Llama's rotary → torch SDPA → out_proj."""
    apply_rotary_pos_emb = _transformers_rope()[2]
    torch.manual_seed(0)
    d, h, t = 32, 2, 10
    with pytest.raises(TypeError, match="unexpected keyword argument 'rope'"):
        MultiHeadAttention(d, h, rope=RoPE(d // h, block_size=32))
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


# -- by hand and properties --
# Values at hand-computed points, RoPE as a rotation that depends only on relative offsets, the id checks
# (formerly tests/test_embeddings_ff_layers.py).


def test_sinusoidal_values_at_hand_computed_points():
    pe = sinusoidal_table(block_size=50, n_embd=8)
    # PE(pos, 2i) = sin(pos / 10000^(2i/8)), PE(pos, 2i+1) = cos(same)
    assert pe[0].tolist() == [0.0, 1.0] * 4
    assert pe[1, 0].item() == pytest.approx(math.sin(1.0))
    assert pe[1, 1].item() == pytest.approx(math.cos(1.0))
    assert pe[3, 2].item() == pytest.approx(math.sin(3 / 10000 ** (2 / 8)))
    assert pe[7, 5].item() == pytest.approx(math.cos(7 / 10000 ** (4 / 8)))
    assert pe[49, 7].item() == pytest.approx(math.cos(49 / 10000 ** (6 / 8)))


def test_sinusoidal_odd_width_and_offset():
    pe = sinusoidal_table(10, 5)
    assert pe.shape == (10, 5)
    assert pe[2, 4].item() == pytest.approx(math.sin(2 / 10000 ** (4 / 5)))
    enc = SinusoidalPositionalEncoding(5, block_size=10)
    x = torch.zeros(1, 3, 5)
    torch.testing.assert_close(enc(x, offset=4)[0], pe[4:7])
    with pytest.raises(ValueError, match="exceed"):
        enc(torch.zeros(1, 11, 5))


def test_token_embedding_scaled_by_sqrt_d_and_checks_ids():
    emb = TokenEmbedding(10, 16)
    ids = torch.tensor([[1, 2, 3]])
    torch.testing.assert_close(emb(ids), emb.weight[ids] * 4.0)
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        emb(torch.tensor([[3, 10]]))
    with pytest.raises(ValueError, match="integer"):
        emb(torch.tensor([[1.0]]))


def test_learned_positions_add_one_vector_per_position():
    pos = LearnedPositionalEmbedding(4, block_size=8)
    x = torch.zeros(2, 3, 4)
    torch.testing.assert_close(pos(x, offset=2), pos.weight[2:5].expand(2, 3, 4))
    with pytest.raises(ValueError, match="block_size=8"):
        pos(torch.zeros(1, 9, 4))


@given(st.integers(0, 40), st.integers(0, 40), st.integers(1, 20))
def test_rope_scores_depend_only_on_relative_offset(m, n, shift):
    rope = RoPE(head_dim=16, block_size=64)
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(16, generator=g), torch.randn(16, generator=g)

    def score(mq, nk):
        table_q = torch.zeros(1, 1, 64, 16)
        table_q[..., mq, :] = q
        table_k = torch.zeros(1, 1, 64, 16)
        table_k[..., nk, :] = k
        return (rope(table_q)[0, 0, mq] @ rope(table_k)[0, 0, nk]).item()

    s = min(shift, 63 - max(m, n))
    assert score(m, n) == pytest.approx(score(m + s, n + s), abs=1e-4)


def test_rope_is_a_rotation_and_identity_at_zero():
    rope = RoPE(8, 16)
    x = torch.randn(2, 3, 16, 8)
    y = rope(x)
    torch.testing.assert_close(y.norm(dim=-1), x.norm(dim=-1))
    torch.testing.assert_close(y[..., 0, :], x[..., 0, :])
    with pytest.raises(ValueError, match="even head_dim"):
        RoPE(7)


def test_token_embedding_takes_every_integer_id_dtype():
    emb = TokenEmbedding(10, 4)
    ids = torch.tensor([[1, 9, 0]])
    want = emb(ids)
    for dtype in (torch.int32, torch.int16, torch.uint8):  # e.g. ids read from a compact token file
        torch.testing.assert_close(emb(ids.to(dtype)), want, rtol=0, atol=0)
    with pytest.raises(ValueError, match="integer tensor"):
        emb(ids.float())


@pytest.mark.parametrize("kind", ["learned", "sinusoidal"])
def test_per_row_offsets_of_left_padding_by_hand(kind):
    """A (B,) offset (left padding: row b's real tokens start at position 0, so its offset is minus its
    padding) gives row b positions offset_b + 0..T-1, the padding clamped to position 0; the range check
    uses the largest offset."""
    layer = LearnedPositionalEmbedding(4, 6) if kind == "learned" else SinusoidalPositionalEncoding(4, 6)
    table = layer.weight if kind == "learned" else layer.pe
    x = torch.zeros(3, 4, 4)
    offset = torch.tensor([0, -2, 2])  # row 1 has two padding columns; row 2 continues at position 2
    want = torch.stack([table[[0, 1, 2, 3]], table[[0, 0, 0, 1]], table[[2, 3, 4, 5]]])  # (B, T, n_embd)
    torch.testing.assert_close(layer(x, offset), want)
    what = "learned position table" if kind == "learned" else "sinusoidal encoding"
    with pytest.raises(ValueError, match=f"positions up to 6 exceed the {what}'s block_size=6"):
        layer(x, torch.tensor([0, 3]))  # 3 + 4 = 7 positions
    layer(torch.zeros(1, 6, 4), torch.tensor([0]))  # exactly block_size: fine
    # the positions are built on x's device (meta here, as CUDA would be), whatever device the offsets are on
    assert layer.to("meta")(torch.zeros(3, 4, 4, device="meta"), offset).device.type == "meta"
