"""Extreme numbers: numbers that are legal but extreme never turn into a silent NaN.

fp16 inputs around 1e2–1e4 (the product QKᵀ overflows fp16 before any upcast), no keys at all,
losses over no kept target, and non-finite hyper-parameters, each checked against an independent
reference (torch SDPA in float64) or a clean ValueError naming the argument.
"""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from minillm.decoding.beam_search import beam_search
from minillm.decoding.generation import generate, sample_next
from minillm.kernels import attention
from minillm.models import GPT, GPTConfig, TransformerConfig
from minillm.rlhf.losses import dpo_loss, gae, ppo_policy_loss, ppo_value_loss
from minillm.train.config import TrainConfig

EXACT = ("naive", "chunked", "sdpa")
NON_FINITE = (float("nan"), float("inf"), float("-inf"))


def _reference(q, k, v, causal=False):
    """torch's SDPA in float64: the independent answer."""
    return torch.nn.functional.scaled_dot_product_attention(q.double(), k.double(), v.double(), is_causal=causal)


@pytest.mark.parametrize("backend", EXACT)
@settings(max_examples=8)
@given(magnitude=st.sampled_from([1e2, 1e3, 1e4]), t=st.integers(1, 9), causal=st.booleans())
def test_fp16_large_inputs_stay_finite_and_right(backend, magnitude, t, causal):
    g = torch.Generator().manual_seed(t)
    q, k = ((torch.randn(1, 2, t, 8, generator=g) * magnitude).half() for _ in range(2))
    v = torch.randn(1, 2, t, 8, generator=g).half()
    out = attention(q, k, v, causal=causal, backend=backend)
    assert out.dtype == torch.float16 and torch.isfinite(out).all()
    torch.testing.assert_close(out.double(), _reference(q, k, v, causal), atol=2e-2, rtol=2e-2)


def test_fp16_large_inputs_backward_is_finite():
    q, k = ((torch.randn(1, 1, 6, 8) * 1e3).half().requires_grad_() for _ in range(2))
    v = torch.randn(1, 1, 6, 8).half().requires_grad_()
    for backend in ("naive", "chunked"):
        attention(q, k, v, causal=True, backend=backend).float().sum().backward()
        assert all(torch.isfinite(t.grad).all() for t in (q, k, v)), backend
        q.grad = k.grad = v.grad = None


@pytest.mark.parametrize("backend", EXACT)
def test_no_keys_gives_zeros(backend):
    q, kv = torch.randn(2, 3, 4, 5), torch.randn(2, 3, 0, 5)
    out = attention(q, kv, kv, backend=backend)
    assert out.shape == (2, 3, 4, 5) and torch.equal(out, torch.zeros_like(out))


@pytest.mark.parametrize("scale", [*NON_FINITE, 0.0, -1.0, True, "0.5"])
@pytest.mark.parametrize("backend", EXACT)
def test_bad_scale_is_refused(backend, scale):
    q = torch.randn(1, 1, 3, 4)
    with pytest.raises(ValueError, match="scale must be None .* finite positive"):
        attention(q, q, q, backend=backend, scale=scale)


def _tiny_gpt() -> GPT:
    return GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8))


def test_loss_over_no_kept_target_is_zero_with_zero_gradients():
    model = _tiny_gpt()
    idx = torch.randint(0, 11, (2, 5))
    _, loss = model(idx, torch.full((2, 5), -100))
    loss.backward()
    assert loss.item() == 0.0
    assert all(torch.equal(p.grad, torch.zeros_like(p.grad)) for p in model.parameters() if p.grad is not None)


def test_loss_is_the_mean_over_kept_targets():
    model = _tiny_gpt()
    idx, targets = torch.randint(0, 11, (2, 5)), torch.randint(0, 11, (2, 5))
    targets[0, :3] = -100
    logits, loss = model(idx, targets)
    keep = targets != -100
    by_hand = -torch.log_softmax(logits[keep].double(), -1).gather(1, targets[keep][:, None]).mean()
    assert math.isclose(loss.item(), by_hand.item(), rel_tol=1e-6)


def test_empty_sequence_is_refused():
    with pytest.raises(ValueError, match="T >= 1"):
        _tiny_gpt()(torch.zeros(2, 0, dtype=torch.long))


@pytest.mark.parametrize("field", ["lr", "weight_decay", "grad_clip", "beta1", "min_lr"])
@pytest.mark.parametrize("value", NON_FINITE)
def test_train_config_refuses_non_finite(field, value):
    with pytest.raises(ValueError, match=f"{field}=.*finite"):
        TrainConfig(**{field: value})


def test_model_configs_refuse_non_finite_dropout():
    with pytest.raises(ValueError, match="dropout=nan"):
        GPTConfig(dropout=float("nan"))
    with pytest.raises(ValueError, match="dropout=nan"):
        TransformerConfig(10, 10, dropout=float("nan"))


@pytest.mark.parametrize("value", [*NON_FINITE, 0.0, True])
def test_rlhf_losses_refuse_bad_coefficients(value):
    z, m = torch.zeros(2, 3), torch.ones(2, 3, dtype=torch.bool)
    with pytest.raises(ValueError, match="beta must be a finite number > 0"):
        dpo_loss(z[0], z[0], z[0], z[0], beta=value)
    with pytest.raises(ValueError, match="clip_eps must be a finite number > 0"):
        ppo_policy_loss(z, z, z, m, clip_eps=value)
    with pytest.raises(ValueError, match="clip must be a finite number > 0"):
        ppo_value_loss(z, z, z, m, clip=value)
    if value != 0.0 and value is not True:
        with pytest.raises(ValueError, match="gamma and lam"):
            gae(z, z, m, gamma=value)


@pytest.mark.parametrize("value", NON_FINITE)
def test_decoding_refuses_non_finite_settings(value):
    model, prompt = _tiny_gpt(), torch.zeros(1, 2, dtype=torch.long)
    with pytest.raises(ValueError, match="length_penalty must be a finite number"):
        beam_search(model, prompt, 3, length_penalty=value)
    with pytest.raises(ValueError, match="temperature must be a finite number"):
        generate(model, prompt, 3, temperature=value)
    with pytest.raises(ValueError, match="top_p"):
        generate(model, prompt, 3, top_p=value)


def test_nan_logits_are_named_not_sampled():
    for temperature in (0.0, 1.0):
        with pytest.raises(ValueError, match="logits contain NaN"):
            sample_next(torch.tensor([[0.0, float("nan")]]), temperature=temperature)
