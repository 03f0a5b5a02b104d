"""RMSNorm against torch's and transformers' RMSNorm and a hand value; make_norm and its errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from minillm.nn.norms import NORMS, RMSNorm, make_norm


def test_rmsnorm_hand_value():
    x = torch.tensor([[3.0, 4.0]])  # mean(x²) = 12.5
    want = x / (12.5 + 1e-6) ** 0.5
    torch.testing.assert_close(RMSNorm(2)(x), want)


def test_rmsnorm_matches_torch_and_transformers():
    from transformers.models.llama.modeling_llama import LlamaRMSNorm

    torch.manual_seed(0)
    x = torch.randn(3, 5, 16) * 4 + 1
    ours = RMSNorm(16, eps=1e-5)
    nn.init.normal_(ours.weight)
    theirs_torch = nn.RMSNorm(16, eps=1e-5)
    theirs_hf = LlamaRMSNorm(16, eps=1e-5)
    theirs_torch.weight.data.copy_(ours.weight)
    theirs_hf.weight.data.copy_(ours.weight)
    torch.testing.assert_close(ours(x), theirs_torch(x))
    torch.testing.assert_close(ours(x), theirs_hf(x))
    xb = x.bfloat16()
    ours_bf16 = RMSNorm(16, eps=1e-5).bfloat16()
    theirs_bf16 = LlamaRMSNorm(16, eps=1e-5).bfloat16()
    assert torch.equal(ours_bf16(xb), theirs_bf16(xb))  # both normalise in fp32 and cast back


def test_make_norm_builds_each_kind():
    assert isinstance(make_norm("rmsnorm", 8, 1e-6), RMSNorm)
    ln = make_norm("layernorm", 8, 1e-5, bias=False)
    assert isinstance(ln, nn.LayerNorm) and ln.bias is None
    assert sum(p.numel() for p in make_norm("layernorm", 8).parameters()) == 16
    assert NORMS == ("layernorm", "rmsnorm")


def test_bad_norms_are_refused_by_name():
    with pytest.raises(ValueError, match="unknown norm 'batchnorm'; choose one of layernorm, rmsnorm"):
        make_norm("batchnorm", 8)
    with pytest.raises(ValueError, match="RMSNorm dim must be a positive integer"):
        RMSNorm(0)
    with pytest.raises(ValueError, match="RMSNorm of size 8 got input of shape"):
        RMSNorm(8)(torch.randn(2, 4))
    from minillm.models.gpt import GPTConfig
    from minillm.models.llama import LlamaConfig

    with pytest.raises(ValueError, match="unknown norm 'scalenorm'"):
        LlamaConfig(norm="scalenorm")
    with pytest.raises(TypeError, match="norm"):  # GPT-2's norm is LayerNorm, not a field
        GPTConfig(norm="rmsnorm")
