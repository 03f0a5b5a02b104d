"""Weight quantization (minillm.adapt.quantize): real integer storage, error bounds per channel / group, bad input."""

import copy

import pytest
import torch
from torch import nn

from minillm import GPT, GPTConfig
from minillm.adapt.lora import apply_lora
from minillm.adapt.quantize import Int4Linear, Int8Linear, quantize_int4, quantize_int8, weight_bytes

CFG = GPTConfig(vocab_size=32, block_size=16, n_layer=2, n_head=2, n_embd=64)


def _model() -> GPT:
    return GPT(CFG).eval()


def test_int8_storage_is_real_int8_with_per_channel_scales():
    model = quantize_int8(_model())
    state = model.state_dict()
    assert state["blocks.0.mlp.fc1.weight_int8"].dtype == torch.int8
    assert state["blocks.0.mlp.fc1.weight_int8"].shape == (256, 64)
    assert state["blocks.0.mlp.fc1.weight_scale"].shape == (256,)  # one scale per output channel
    assert not any(k.endswith("fc1.weight") for k in state)  # no float copy kept
    assert state["wte.weight"].dtype == torch.float32  # embedding (and the tied head) stay float
    assert state["blocks.0.attn.qkv_proj.weight_int8"].shape == (3 * 64, 64)  # GPT-2's fused Q/K/V, one matrix
    assert state["blocks.0.attn.qkv_proj.weight_scale"].shape == (3 * 64,)
    assert type(model.lm_head) is nn.Linear and model.lm_head.weight is model.wte.weight


def test_int8_round_trip_error_bounded_per_channel():
    """|Ŵ - W| ≤ s/2 = max_j |W_ij| / 254 in every row i, and the largest weight of a row is exact."""
    linear = nn.Linear(48, 7)
    with torch.no_grad():
        linear.weight[3] *= 100.0  # one loud row must not cost the others precision
        linear.weight[5] = 0.0  # an all-zero row stays zero
    q = Int8Linear(linear)
    w, err = linear.weight.detach(), (q.dequantized() - linear.weight).abs()
    bound = w.abs().amax(1) / 254  # (d_out,)
    assert bool((err <= bound[:, None] * (1 + 1e-5) + 1e-12).all())
    assert torch.equal(q.dequantized()[5], torch.zeros(48))
    row_max = w.abs().argmax(1)
    torch.testing.assert_close(q.dequantized()[torch.arange(7), row_max], w[torch.arange(7), row_max])


@pytest.mark.parametrize("group_size", [32, 64])
def test_int4_packs_two_per_byte_and_is_bounded_per_group(group_size):
    linear = nn.Linear(128, 5)
    q = Int4Linear(linear, group_size)
    assert q.weight_packed.dtype == torch.uint8 and q.weight_packed.shape == (5, 64)
    assert q.weight_scale.shape == (5, 128 // group_size)
    w = linear.weight.detach()
    groups = w.abs().reshape(5, -1, group_size).amax(2)  # (5, n_groups)
    bound = (groups / 14).repeat_interleave(group_size, 1)  # s/2 with s = max/7
    assert bool(((q.dequantized() - w).abs() <= bound * (1 + 1e-5)).all())


def test_int4_nibble_order_by_hand():
    """Column 0 in the low nibble, column 1 in the high one, stored as q + 8."""
    linear = nn.Linear(32, 1, bias=False)
    with torch.no_grad():
        linear.weight.zero_()
        linear.weight[0, 0], linear.weight[0, 1] = 7.0, -7.0  # scale 1 for the group: q = 7 and -7
    q = Int4Linear(linear, 32)
    assert q.weight_packed[0, 0].item() == (7 + 8) | ((-7 + 8) << 4)  # 15 | 16 = 31
    assert q.weight_packed[0, 1].item() == 8 | (8 << 4)  # two zeros
    assert q.dequantized()[0, :3].tolist() == [7.0, -7.0, 0.0]


def test_quantized_logits_close_and_bytes_shrink():
    """Max logit error below 0.02 (int8) and 0.15 (int4, groups of 32); the float logits have an std of
    0.2 here, and the measured max errors are 0.003 and 0.05 (int4 has 16× coarser steps than int8)."""
    model, idx = _model(), torch.randint(0, 32, (4, 16), generator=torch.Generator().manual_seed(0))
    ref = model(idx)[0]
    m8, m4 = quantize_int8(copy.deepcopy(model)), quantize_int4(copy.deepcopy(model), group_size=32)
    assert (m8(idx)[0] - ref).abs().max() < 0.02
    assert (m4(idx)[0] - ref).abs().max() < 0.15
    linear = sum(m.weight.numel() for m in model.modules() if type(m) is nn.Linear and m is not model.lm_head)
    # every non-tied linear weight shrinks from 4 bytes to 1 (+ a scale per row) or 0.5 (+ a scale per group)
    assert weight_bytes(model) - weight_bytes(m8) == pytest.approx(3 * linear, rel=0.02)
    assert weight_bytes(model) - weight_bytes(m4) == pytest.approx(3.5 * linear, rel=0.08)


def test_quantized_state_dict_round_trips():
    m8 = quantize_int8(_model())
    fresh = quantize_int8(_model())  # other random weights, same layout
    fresh.load_state_dict(m8.state_dict())
    idx = torch.randint(0, 32, (2, 8))
    torch.testing.assert_close(fresh(idx)[0], m8(idx)[0])


def test_tied_head_only_when_asked():
    model = quantize_int8(_model(), tied_head=True)
    assert isinstance(model.lm_head, Int8Linear)
    assert model.wte.weight.dtype == torch.float32  # the embedding keeps its float table


def test_bad_inputs():
    with pytest.raises(ValueError, match="already quantized"):
        quantize_int8(quantize_int8(_model()))
    with pytest.raises(ValueError, match="already quantized"):
        quantize_int4(quantize_int8(_model()), group_size=32)
    with pytest.raises(ValueError, match=r"group_size=128 does not divide.*\[64\]"):
        quantize_int4(_model(), group_size=128)  # n_embd = 64 inputs
    with pytest.raises(ValueError, match="one of"):
        quantize_int4(_model(), group_size=48)
    with pytest.raises(ValueError, match="merge_lora"):
        quantize_int8(apply_lora(_model(), r=2, alpha=4))
    with pytest.raises(ValueError, match="no linear layers"):
        quantize_int8(nn.Sequential(nn.Embedding(4, 4)))
    model = _model()
    with pytest.raises(ValueError):
        quantize_int4(model, group_size=128)
    assert not any(isinstance(m, Int4Linear) for m in model.modules())  # nothing replaced before the error


def test_on_device_bytes_hand_values():
    from minillm.costs.inference import on_device_table, storage_bytes

    assert storage_bytes(7e9, "bf16") == 14e9  # 7B × 2 bytes
    assert storage_bytes(1.5e9, "int4", group_size=128) == 1.5e9 * 0.5 + 1.5e9 / 128 * 4  # + one fp32 per 128
    row = on_device_table()[0]
    assert (row["params"], row["fp32"], row["int8"], row["int4"]) == (0.5e9, 2.0, 0.5, 0.265625)
    with pytest.raises(ValueError, match="unknown format"):
        storage_bytes(1e9, "int2")
    with pytest.raises(ValueError, match="positive"):
        storage_bytes(0, "int8")
