"""MultiHeadAttention's wiring at its edges (written against mutmut survivors, tests/MUTATION.md).

References are torch.nn.MultiheadAttention (masks written by hand, True = blocked there) and the
registry's own kernels, spied on to see which one a layer runs.
"""

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from einops import rearrange
from helpers.decoders import llama_attention
from helpers.torch_mha import copy_from_torch

from minillm.adapt.lora import LoRALinear
from minillm.kernels import BACKENDS
from minillm.nn.attention import MultiHeadAttention, scaled_dot_product_attention


def _pair(d=16, h=2, **kw):
    """Our layer and torch's with the same weights (eval mode)."""
    ref = torch.nn.MultiheadAttention(d, h, batch_first=True).eval()
    ours = MultiHeadAttention(d, h, **kw).eval()
    copy_from_torch(ref, ours)
    return ours, ref


def _torch_out(ref, x, blocked):
    return ref(x, x, x, attn_mask=blocked, need_weights=False)[0]


@pytest.mark.parametrize("backend", ["naive", "sdpa", "chunked"])
@pytest.mark.parametrize("h,t", [(1, 5), (2, 2), (2, 3)])  # one head; two queries
def test_causal_with_one_head_or_two_queries(backend, h, t):
    ours, ref = _pair(h=h, attn_backend=backend)
    x = torch.randn(2, t, 16)
    future = torch.ones(t, t, dtype=torch.bool).triu(1)
    torch.testing.assert_close(ours(x, is_causal=True), _torch_out(ref, x, future), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("backend", ["naive", "sdpa", "chunked"])
def test_a_per_row_mask_of_three_dims_applies_to_every_head(backend):
    ours, ref = _pair(attn_backend=backend)
    x = torch.randn(2, 5, 16)
    allowed = torch.rand(2, 5, 5) < 0.6
    allowed[..., 0] = True  # every query sees at least one key
    blocked = (~allowed).repeat_interleave(2, dim=0)  # torch: (B·H, T, T), True = blocked
    torch.testing.assert_close(ours(x, mask=allowed), _torch_out(ref, x, blocked), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("need_weights", [False, True])
@pytest.mark.parametrize("backend", ["naive", "sdpa"])
def test_window_holds_on_the_explicit_path_and_its_weights(backend, need_weights):
    """The window reaches the kernel: LlamaAttention (models/llama.py, the layer with a window) on the
    explicit and a fused backend, and the explicit kernel's weights, against torch's SDPA with the
    window written out as a mask on the same rotated q, k."""
    attn = llama_attention(n_embd=16, n_head=2, window=2, attn_backend=backend)
    x = torch.randn(1, 6, 16)
    i = torch.arange(6)
    blocked = (i[None] > i[:, None]) | (i[None] <= i[:, None] - 2)  # key j visible to query p iff p-2 < j <= p
    heads = lambda t: rearrange(t, "b t (h d) -> b h t d", h=2)
    q, k, v = attn.rope(heads(attn.q_proj(x))), attn.rope(heads(attn.k_proj(x))), heads(attn.v_proj(x))
    want = F.scaled_dot_product_attention(q, k, v, attn_mask=~blocked)  # (B, H, T, hd)
    with torch.no_grad():
        merged = attn.out_proj(rearrange(want, "b h t d -> b t (h d)"))  # (B, T, n_embd)
        torch.testing.assert_close(attn(x), merged, atol=1e-5, rtol=1e-5)
        if need_weights:  # the explicit softmax(QKᵀ/√d)V: same output, weights zero exactly outside the window
            out, weights = scaled_dot_product_attention(q, k, v, is_causal=True, return_weights=True, window=2)
            torch.testing.assert_close(out, want, atol=1e-5, rtol=1e-5)
            assert torch.equal(weights[0, 0] > 0, ~blocked) and torch.equal(weights[0, 1] > 0, ~blocked)


@pytest.mark.parametrize("backend", ["naive", "sdpa"])
def test_dropout_runs_in_training_only(backend):
    torch.manual_seed(0)
    mha = MultiHeadAttention(16, 2, dropout=0.5, attn_backend=backend)
    plain = MultiHeadAttention(16, 2, attn_backend=backend).eval()
    plain.load_state_dict(mha.state_dict())
    x = torch.randn(2, 6, 16)
    mha.eval()
    torch.testing.assert_close(mha(x, is_causal=True), plain(x, is_causal=True))  # eval: no dropout
    mha.train()
    a, b = mha(x, is_causal=True), mha(x, is_causal=True)
    assert not torch.allclose(a, plain(x, is_causal=True), atol=1e-3)  # training: weights dropped ...
    assert not torch.allclose(a, b, atol=1e-3)  # ... at random


@pytest.mark.parametrize("backend", ["sdpa", "chunked"])
def test_the_named_backend_is_the_kernel_that_runs(backend, monkeypatch):
    calls = []
    kernel = BACKENDS[backend]

    def spy(*args):
        calls.append(backend)
        return kernel.fn(*args)

    monkeypatch.setitem(BACKENDS, backend, dataclasses.replace(kernel, fn=spy))
    mha = MultiHeadAttention(16, 2, attn_backend=backend).eval()
    mha(torch.randn(1, 4, 16), is_causal=True)
    assert calls == [backend]


def test_lora_projections_are_not_stacked_in_training():
    """With gradients on, plain projections run as one stacked product; LoRA layers must not (their
    update is outside ``weight``). Reference: the same layer with the adapters merged."""
    torch.manual_seed(0)
    mha = MultiHeadAttention(16, 2)
    merged = MultiHeadAttention(16, 2)
    merged.load_state_dict(mha.state_dict())
    for name in ("q_proj", "k_proj", "v_proj"):
        lora = LoRALinear(getattr(mha, name), r=2, alpha=4.0)
        with torch.no_grad():
            lora.lora_B.normal_()  # a non-zero update
        setattr(mha, name, lora)
        setattr(merged, name, lora.merged())
    x = torch.randn(2, 5, 16)
    assert torch.is_grad_enabled()
    torch.testing.assert_close(mha(x, is_causal=True), merged(x, is_causal=True), atol=1e-5, rtol=1e-5)
