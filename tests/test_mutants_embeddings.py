"""RoPE against hand-computed rotations and a float64 reference (written against mutmut survivors).

The property tests in test_embeddings_ff_layers.py (relative offset, norm, identity at 0) hold for
any frequencies, so a wrong exponent or base passed them; these pin the values. docs/mutation.md.
"""

import math

import pytest
import torch

from minillm.nn.embeddings import RoPE


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
