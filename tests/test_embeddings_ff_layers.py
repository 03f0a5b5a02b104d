"""Embeddings, feed-forward and the three layer types, against hand values and torch.nn."""

import math

import pytest
import torch
from helpers.torch_mha import copy_from_torch
from hypothesis import given
from hypothesis import strategies as st

from minillm.nn import (
    DecoderLayer,
    EncoderLayer,
    FeedForward,
    LearnedPositionalEmbedding,
    RoPE,
    SinusoidalPositionalEncoding,
    TokenEmbedding,
)
from minillm.nn.embeddings import sinusoidal_table


def test_sinusoidal_values_at_hand_computed_points():
    pe = sinusoidal_table(max_len=50, d_model=8)
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
    enc = SinusoidalPositionalEncoding(5, max_len=10)
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
    pos = LearnedPositionalEmbedding(8, 4)
    x = torch.zeros(2, 3, 4)
    torch.testing.assert_close(pos(x, offset=2), pos.weight[2:5].expand(2, 3, 4))
    with pytest.raises(ValueError, match="max_len=8"):
        pos(torch.zeros(1, 9, 4))


@given(st.integers(0, 40), st.integers(0, 40), st.integers(1, 20))
def test_rope_scores_depend_only_on_relative_offset(m, n, shift):
    rope = RoPE(head_dim=16, max_len=64)
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


@pytest.mark.parametrize("activation", ["relu", "gelu", "gelu_tanh", "swiglu"])
def test_feedforward_by_hand(activation):
    ff = FeedForward(6, 10, activation).eval()
    x = torch.randn(2, 3, 6)
    h = x @ ff.fc1.weight.T + ff.fc1.bias
    act = {
        "relu": torch.relu(h),
        "gelu": 0.5 * h * (1 + torch.erf(h / math.sqrt(2))),
        "gelu_tanh": 0.5 * h * (1 + torch.tanh(math.sqrt(2 / math.pi) * (h + 0.044715 * h**3))),
        "swiglu": None,
    }[activation]
    if activation == "swiglu":
        act = h * torch.sigmoid(h) * (x @ ff.gate.weight.T + ff.gate.bias)
    torch.testing.assert_close(ff(x), act @ ff.fc2.weight.T + ff.fc2.bias, atol=1e-5, rtol=1e-5)


def test_feedforward_bad_activation():
    with pytest.raises(ValueError, match="unknown activation 'tanh'"):
        FeedForward(4, 8, "tanh")


def _copy_ff_norms(ref, ours, blocks):
    with torch.no_grad():
        ours.ff.fc1.load_state_dict(ref.linear1.state_dict())
        ours.ff.fc2.load_state_dict(ref.linear2.state_dict())
        for i, block in enumerate(blocks, start=1):
            block.norm.load_state_dict(getattr(ref, f"norm{i}").state_dict())


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_layer_matches_torch(norm_first):
    ref = torch.nn.TransformerEncoderLayer(32, 4, 64, dropout=0.1, batch_first=True, norm_first=norm_first).eval()
    ours = EncoderLayer(32, 4, 64, dropout=0.1, norm_first=norm_first).eval()
    copy_from_torch(ref.self_attn, ours.self_attn)
    _copy_ff_norms(ref, ours, [ours.attn_block, ours.ff_block])
    x = torch.randn(2, 6, 32)
    pad = torch.tensor([[False] * 6, [False] * 4 + [True] * 2])
    torch.testing.assert_close(
        ours(x, mask=~pad[:, None, None, :]), ref(x, src_key_padding_mask=pad), atol=1e-5, rtol=1e-5
    )


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_matches_torch(norm_first):
    ref = torch.nn.TransformerDecoderLayer(32, 4, 64, dropout=0.1, batch_first=True, norm_first=norm_first).eval()
    ours = DecoderLayer(32, 4, 64, dropout=0.1, norm_first=norm_first).eval()
    copy_from_torch(ref.self_attn, ours.self_attn)
    copy_from_torch(ref.multihead_attn, ours.cross_attn)
    _copy_ff_norms(ref, ours, [ours.self_attn_block, ours.cross_attn_block, ours.ff_block])
    x, mem = torch.randn(2, 5, 32), torch.randn(2, 7, 32)
    mem_pad = torch.tensor([[False] * 7, [False] * 3 + [True] * 4])
    future = torch.ones(5, 5, dtype=torch.bool).triu(1)
    want = ref(x, mem, tgt_mask=future, memory_key_padding_mask=mem_pad)
    got = ours(x, mem, memory_mask=~mem_pad[:, None, None, :])
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def _block(family: str):
    """One decoder block, 16 wide with 4 heads: GPT-2's (models/gpt.py) or the later family's (models/llama.py)."""
    from minillm.models.gpt import Block, GPTConfig
    from minillm.models.llama import LlamaBlock, LlamaConfig

    if family == "gpt":
        return Block(GPTConfig(vocab_size=8, block_size=8, n_layer=1, n_head=4, n_embd=16))
    config = LlamaConfig(vocab_size=8, block_size=8, n_layer=1, n_head=4, n_embd=16, d_ff=64, bias=True)
    return LlamaBlock(config, RoPE(config.head_dim, config.block_size))


@pytest.mark.parametrize("family", ["gpt", "llama"])
def test_gpt_block_is_causal_and_pre_norm(family):
    block = _block(family).eval()
    x = torch.randn(1, 8, 16)
    y = x.clone()
    y[:, 5:] += 1.0
    torch.testing.assert_close(block(x)[:, :5], block(y)[:, :5])
    # Pre-norm: zeroing both sub-layers' output projections makes the block the identity.
    with torch.no_grad():
        for lin in (block.attn.out_proj, block.mlp.fc2):
            lin.weight.zero_()
            lin.bias.zero_()
    torch.testing.assert_close(block(x), x)


def test_token_embedding_takes_every_integer_id_dtype():
    emb = TokenEmbedding(10, 4)
    ids = torch.tensor([[1, 9, 0]])
    want = emb(ids)
    for dtype in (torch.int32, torch.int16, torch.uint8):  # e.g. ids read from a compact token file
        torch.testing.assert_close(emb(ids.to(dtype)), want, rtol=0, atol=0)
    with pytest.raises(ValueError, match="integer tensor"):
        emb(ids.float())
