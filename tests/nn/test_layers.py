"""The 2017 encoder and decoder layers against torch.nn.TransformerEncoderLayer / TransformerDecoderLayer.

GPT-2's and Llama's decoder blocks are tested in tests/models/test_gpt.py (`# -- blocks --`)."""

import pytest
import torch
from helpers.torch_mha import copy_from_torch

from minillm.nn import DecoderLayer, EncoderLayer


def _copy_ff_norms(ref, ours, blocks):
    with torch.no_grad():
        ours.ff.fc1.load_state_dict(ref.linear1.state_dict())
        ours.ff.fc2.load_state_dict(ref.linear2.state_dict())
        for i, block in enumerate(blocks, start=1):
            block.norm.load_state_dict(getattr(ref, f"norm{i}").state_dict())


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_layer_matches_torch(norm_first):
    ref = torch.nn.TransformerEncoderLayer(32, 4, 64, dropout=0.1, batch_first=True, norm_first=norm_first).eval()
    ours = EncoderLayer(32, 4, d_ff=64, dropout=0.1, norm_first=norm_first).eval()
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
    ours = DecoderLayer(32, 4, d_ff=64, dropout=0.1, norm_first=norm_first).eval()
    copy_from_torch(ref.self_attn, ours.self_attn)
    copy_from_torch(ref.multihead_attn, ours.cross_attn)
    _copy_ff_norms(ref, ours, [ours.self_attn_block, ours.cross_attn_block, ours.ff_block])
    x, mem = torch.randn(2, 5, 32), torch.randn(2, 7, 32)
    mem_pad = torch.tensor([[False] * 7, [False] * 3 + [True] * 4])
    future = torch.ones(5, 5, dtype=torch.bool).triu(1)
    want = ref(x, mem, tgt_mask=future, memory_key_padding_mask=mem_pad)
    got = ours(x, mem, memory_mask=~mem_pad[:, None, None, :])
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
