"""RoPE against hand values and a float64 reference; the other embeddings at their edges (mutmut survivors).

The property tests in test_embeddings_ff_layers.py (relative offset, norm, identity at 0) hold for
any frequencies, so a wrong exponent or base passed them; these pin the values. tests/MUTATION.md.
"""

import math

import pytest
import torch

from minillm.nn.embeddings import LearnedPositionalEmbedding, RoPE, SinusoidalPositionalEncoding, TokenEmbedding


def test_rope_rotates_each_pair_by_position_times_frequency_by_hand():
    rope = RoPE(head_dim=4, max_len=8)  # pairs (0, 2) and (1, 3); frequencies 1 and 10000^(-2/4) = 0.01
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
    base_100 = RoPE(head_dim=64, max_len=pos + 1, base=100.0)
    cos, sin = _reference(pos, 64, base=100.0)
    torch.testing.assert_close(base_100.sin[pos], torch.tensor(sin), atol=2e-6, rtol=0)


def test_rope_default_context_and_no_saved_state():
    rope = RoPE(head_dim=8)
    x = torch.randn(1, 1, 1, 8)
    rope(x, offset=4095)  # the default table covers positions 0..4095
    with pytest.raises(ValueError, match="RoPE table's max_len=4096"):
        rope(x, offset=4096)
    assert rope.state_dict() == {}  # the tables are recomputed, never stored in checkpoints


def test_rope_on_any_leading_shape_keeps_the_input_dtype():
    rope = RoPE(head_dim=4, max_len=8)
    x = torch.randn(2, 5, 4)  # (B, T, hd): no head axis, T != hd
    torch.testing.assert_close(rope(x), rope(x[:, None])[:, 0])
    assert rope(x.to(torch.bfloat16)).dtype == torch.bfloat16  # the tables follow the input, not float32


def test_position_tables_fit_exactly_at_the_edge_and_name_themselves():
    learned, sinus = LearnedPositionalEmbedding(4, 2), SinusoidalPositionalEncoding(2, max_len=4)
    x = torch.zeros(1, 4, 2)
    torch.testing.assert_close(learned(x), learned.weight[None])  # default offset 0: positions 0..3
    torch.testing.assert_close(sinus(x), sinus.pe[None])
    torch.testing.assert_close(learned(x[:, :1], offset=3), learned.weight[None, 3:])  # the last position fits
    for module, name in [(learned, "learned position table's"), (sinus, "sinusoidal encoding's")]:
        with pytest.raises(ValueError, match=f"{name} max_len=4"):
            module(x[:, :2], offset=3)
        with pytest.raises(ValueError, match="max_len=4"):
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
    assert (padded.vocab_size, padded.d_model, padded.scale) == (10, 4, 2.0)
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
