"""Input checks at the kernels' own entry points (written against mutmut survivors, tests/MUTATION.md).

Each kernel validates its own inputs (the dispatcher `attention()` only picks the kernel), so each
public kernel is called directly here: one that forgot to pass an argument to the shared check fails.
"""

import pytest
import torch

from minillm.kernels.masks import padding_mask
from minillm.kernels.naive import scaled_dot_product_attention


@pytest.mark.parametrize("dropout_p", [1.0, -0.1])
def test_naive_kernel_checks_dropout_itself(dropout_p):
    q = torch.randn(1, 2, 3, 4)
    with pytest.raises(ValueError, match="dropout_p"):
        scaled_dot_product_attention(q, q, q, dropout_p=dropout_p)


@pytest.mark.parametrize("tokens", [[[5, 0]], torch.tensor([5, 0]), torch.zeros(1, 2, 3, dtype=torch.long)])
def test_padding_mask_wants_a_2d_tensor(tokens):
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        padding_mask(tokens, pad_id=0)


def test_causal_mask_checks_its_window():
    from minillm.kernels.masks import causal_mask

    for bad in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match="window"):
            causal_mask(4, 4, window=bad)


def test_naive_dropout_matches_torch_softmax_then_dropout():
    # reference: torch's softmax, then torch's dropout drawn from the same seed, then the values
    torch.manual_seed(1)
    q, k, v = torch.randn(3, 2, 5, 4).unbind(0)
    torch.manual_seed(7)
    out, weights = scaled_dot_product_attention(q, k, v, dropout_p=0.3, return_weights=True)
    torch.manual_seed(7)
    expected = torch.nn.functional.dropout(torch.softmax(q @ k.transpose(-2, -1) / 2.0, dim=-1), p=0.3, training=True)
    torch.testing.assert_close(weights, expected)
    torch.testing.assert_close(out, expected @ v)
    assert (weights == 0).any() and weights.max() > 1.0 / 5  # entries dropped, the rest scaled by 1/(1-p)


def test_padding_mask_by_hand():
    tokens = torch.tensor([[5, 0, 7], [0, 0, 3]])
    expected = torch.tensor([[True, False, True], [False, False, True]])[:, None, None, :]
    assert torch.equal(padding_mask(tokens, pad_id=0), expected)


def _kernels():
    from minillm.kernels.chunked import chunked_attention
    from minillm.kernels.sdpa import sdpa_attention

    return {
        "naive": lambda q, causal=False, **kw: scaled_dot_product_attention(q, q, q, causal=causal, **kw),
        "sdpa": lambda q, causal=False, **kw: sdpa_attention(q, q, q, causal=causal, **kw),
        "chunked": lambda q, causal=False, **kw: chunked_attention(q, q, q, causal=causal, **kw),
    }


@pytest.mark.parametrize("name", ["naive", "sdpa", "chunked"])
def test_each_kernel_checks_scale_and_window_itself(name):
    kernel, q = _kernels()[name], torch.randn(1, 2, 3, 4)
    for bad in (float("nan"), 0.0, -1.0):
        with pytest.raises(ValueError, match="scale"):
            kernel(q, scale=bad)
    with pytest.raises(ValueError, match="causal"):
        kernel(q, window=2)  # a sliding window without causal=True
    with pytest.raises(ValueError, match="window"):
        kernel(q, causal=True, window=0)


@pytest.mark.parametrize("name", ["naive", "sdpa", "chunked"])
def test_each_kernel_uses_the_given_scale(name):
    torch.manual_seed(0)
    q = torch.randn(1, 2, 5, 4, dtype=torch.float64)
    expected = torch.nn.functional.scaled_dot_product_attention(q, q, q, scale=0.3)
    torch.testing.assert_close(_kernels()[name](q, scale=0.3), expected)


def test_naive_without_keys_on_3d_inputs():
    q, kv = torch.randn(2, 3, 4), torch.randn(2, 0, 4)  # (H, T, d): no head-free batch dimension
    out, weights = scaled_dot_product_attention(q, kv, kv, return_weights=True)
    assert torch.equal(out, torch.zeros(2, 3, 4)) and weights.shape == (2, 3, 0)
    assert torch.equal(scaled_dot_product_attention(q, kv, kv), out)  # no weights asked: the output alone


def test_naive_returns_weights_in_the_inputs_dtype():
    q = torch.randn(1, 2, 3, 4, dtype=torch.bfloat16)
    out, weights = scaled_dot_product_attention(q, q, q, return_weights=True)
    assert out.dtype == weights.dtype == torch.bfloat16


def test_check_attention_inputs_defaults():
    from minillm.kernels.checks import check_attention_inputs

    q, kv = torch.randn(1, 4, 3, 8), torch.randn(1, 2, 3, 8)
    assert check_attention_inputs(q, kv, kv) == 2  # the GQA group size; defaults: no mask, no dropout
    assert check_attention_inputs(q[..., 0, :, :], q[..., 0, :, :], q[..., 0, :, :]) == 1  # (B, T, d) rank 3


def test_the_validator_names_the_bad_argument():
    from minillm.kernels.checks import check_attention_inputs

    t = torch.randn(1, 2, 3, 4)
    for args, name in (((t.tolist(), t, t), "q"), ((t, t.tolist(), t), "k"), ((t, t, t.tolist()), "v")):
        with pytest.raises(TypeError, match=f"^{name} must be a torch.Tensor"):
            check_attention_inputs(*args)
    for args, name in (((t[0, 0, 0], t, t), "q"), ((t, t[0, 0, 0], t), "k"), ((t, t, t[0, 0, 0]), "v")):
        with pytest.raises(ValueError, match=f"^{name} must have shape"):
            check_attention_inputs(*args)


def test_validator_ranks_and_group_sizes():
    from minillm.kernels.checks import check_attention_inputs

    t2 = torch.randn(3, 8)  # (T, d): no head dimension
    assert check_attention_inputs(t2, t2, t2) == 1
    q3, kv3 = torch.randn(4, 3, 8), torch.randn(2, 5, 8)  # (H, T, d) with grouped K/V heads
    group = check_attention_inputs(q3, kv3, kv3, mask=torch.ones(3, 5, dtype=torch.bool))
    assert group == 2 and type(group) is int
    with pytest.raises(ValueError, match="scale"):
        check_attention_inputs(t2, t2, t2, scale=True)  # a bool is not a number


def test_naive_keeps_large_scores_finite():
    # fp16 products of entries ~1e2 overflow fp16 (8·1e4 > 65504); fp32 scores of 60 overflow exp() unless the
    # row maximum is subtracted first
    q = torch.full((1, 1, 2, 8), 100.0, dtype=torch.float16)
    torch.testing.assert_close(scaled_dot_product_attention(q, q, q), q)
    x = torch.tensor([[[[8.0, 0.0], [7.5, 0.0], [0.0, 1.0]]]])  # scores up to 64 · 1.5 = 96; exp(96) is inf in fp32
    expected = torch.nn.functional.scaled_dot_product_attention(x, x, x, scale=1.5)
    torch.testing.assert_close(scaled_dot_product_attention(x, x, x, scale=1.5), expected)


def test_sdpa_kernel_defaults_and_rank_3_bottom_right():
    from minillm.kernels.sdpa import sdpa_attention

    torch.manual_seed(0)
    q = torch.randn(1, 2, 5, 4, dtype=torch.float64)
    torch.testing.assert_close(sdpa_attention(q, q, q), torch.nn.functional.scaled_dot_product_attention(q, q, q))
    for d in (4, 2):  # (H, T, d) with T_q = 2 < T_k = 4 and d equal to T_k, then to T_q
        q3, k3 = torch.randn(1, 2, d, dtype=torch.float64), torch.randn(1, 4, d, dtype=torch.float64)
        expected = scaled_dot_product_attention(q3, k3, k3, causal=True)  # the queries are positions 2 and 3
        torch.testing.assert_close(sdpa_attention(q3, k3, k3, causal=True), expected)


def test_sdpa_kernel_zeroes_rows_that_see_nothing():
    from minillm.kernels.sdpa import sdpa_attention

    torch.manual_seed(0)
    q = torch.randn(1, 1, 3, 4, dtype=torch.float64)
    allowed = torch.tensor([[True, True, True], [False, False, False], [True, False, True]])  # a float row of 0s
    floats = torch.zeros(3, 3, dtype=torch.float64).masked_fill(~allowed, float("-inf"))
    expected = scaled_dot_product_attention(q, q, q, mask=allowed)
    assert torch.equal(expected[0, 0, 1], torch.zeros(4, dtype=torch.float64))
    torch.testing.assert_close(sdpa_attention(q, q, q, mask=allowed), expected)
    torch.testing.assert_close(sdpa_attention(q, q, q, mask=floats), expected)


def test_sdpa_kernel_applies_dropout():
    from minillm.kernels.sdpa import sdpa_attention

    torch.manual_seed(0)
    q = torch.randn(1, 2, 6, 4)
    assert not torch.allclose(sdpa_attention(q, q, q, dropout_p=0.5), sdpa_attention(q, q, q))


def test_masks_and_kernels_stay_on_the_inputs_device():
    # the meta device (shapes only, no data) stands in for a GPU in the CPU tier: a mask built on the
    # default device instead of the queries' one fails to combine with them
    from minillm.kernels.masks import add_causal, causal_mask
    from minillm.kernels.sdpa import sdpa_attention

    assert causal_mask(3, 4, device="meta").device.type == "meta"
    assert causal_mask(3, 4, device="meta", window=2).device.type == "meta"
    assert add_causal(None, 3, 4, device="meta").device.type == "meta"
    q, k = torch.randn(1, 2, 3, 4, device="meta"), torch.randn(1, 2, 5, 4, device="meta")
    assert scaled_dot_product_attention(q, k, k, causal=True).device.type == "meta"
    assert sdpa_attention(q, k, k, causal=True).device.type == "meta"


@pytest.mark.parametrize("backend", ["naive", "chunked", "sdpa", "auto"])
def test_the_dispatcher_passes_every_argument_on(backend):
    from minillm.kernels import attention

    torch.manual_seed(0)
    q, k = torch.randn(1, 2, 5, 4, dtype=torch.float64), torch.randn(1, 2, 7, 4, dtype=torch.float64)
    sdpa = torch.nn.functional.scaled_dot_product_attention
    torch.testing.assert_close(attention(q, k, k, backend=backend, scale=0.3), sdpa(q, k, k, scale=0.3))
    # causal, bottom-right, window 2: query i (position i + 2) sees keys i + 1 and i + 2
    window = torch.ones(5, 7, dtype=torch.bool).tril(2) & ~torch.ones(5, 7, dtype=torch.bool).tril(0)
    torch.testing.assert_close(
        attention(q, k, k, causal=True, window=2, backend=backend), sdpa(q, k, k, attn_mask=window)
    )
    mask = torch.rand(5, 7) > 0.3
    mask[:, 0] = True
    torch.testing.assert_close(attention(q, k, k, mask=mask, backend=backend), sdpa(q, k, k, attn_mask=mask))
    if backend != "chunked":  # chunked has no attention dropout
        assert not torch.allclose(
            attention(q, k, k, backend=backend, dropout_p=0.5), attention(q, k, k, backend=backend)
        )


def test_auto_says_so_when_no_backend_can_run(monkeypatch):
    import dataclasses

    from minillm.kernels.registry import BACKENDS, resolve_backend

    q = torch.randn(1, 2, 4, 8)
    monkeypatch.setitem(BACKENDS, "sdpa", dataclasses.replace(BACKENDS["sdpa"], unavailable=lambda q: "not today"))
    with pytest.raises(ValueError, match="no attention backend in AUTO_ORDER runs torch.float32 on cpu: sdpa"):
        resolve_backend("auto", q)
    with pytest.raises(ValueError, match="backend 'sdpa' cannot run these inputs .*: not today"):
        resolve_backend("sdpa", q)
    monkeypatch.setitem(BACKENDS, "naive", dataclasses.replace(BACKENDS["naive"], window=False))
    with pytest.raises(ValueError, match="use one of 'chunked', 'sdpa', 'triton'$"):
        resolve_backend("naive", q, window=2)
    from minillm.kernels import attention

    with pytest.raises(ValueError, match="no sliding window"):  # the dispatcher asks with the window
        attention(q, q, q, causal=True, window=2, backend="naive")


def test_attention_defaults():
    from minillm.kernels import attention

    q = torch.randn(1, 2, 5, 4, dtype=torch.float64)
    torch.testing.assert_close(attention(q, q, q), torch.nn.functional.scaled_dot_product_attention(q, q, q))


def test_qk_norm_uses_qwen3s_epsilon():
    from helpers.decoders import llama_attention

    from minillm.models.llama import LlamaConfig

    qwen3 = LlamaConfig.from_name("qwen3-0.6b")
    assert qwen3.qk_norm and qwen3.norm_eps == 1e-6  # Qwen3's rms_norm_eps
    small = dict(n_embd=8, n_head=2, n_kv_head=1, head_dim=4)  # Qwen3's other choices, a small shape
    fields = {k: v for k, v in qwen3.to_dict().items() if k != "family"}
    attn = llama_attention(**{**fields, **small})
    assert attn.q_norm.eps == attn.k_norm.eps == 1e-6  # QK-norm uses the config's norm_eps
    custom = llama_attention(n_embd=8, n_head=2, qk_norm=True, norm_eps=1e-5)
    assert custom.q_norm.eps == custom.k_norm.eps == 1e-5


def test_multi_head_attention_arguments_at_their_edges():
    from helpers.decoders import llama_attention

    from minillm.models.llama import LlamaConfig
    from minillm.nn.attention import MultiHeadAttention

    MultiHeadAttention(1, 1)  # the smallest model
    for n_embd, n_head in ((0, 1), (8, 0)):
        name, value = ("n_embd", 0) if n_embd == 0 else ("n_head", 0)
        with pytest.raises(ValueError, match=f"{name} must be positive and of type int, got {name}={value}"):
            MultiHeadAttention(n_embd, n_head)
    # the later models' options are LlamaConfig fields, run by LlamaAttention (models/llama.py)
    for removed in ("head_dim", "qkv_bias", "qk_norm", "window"):
        with pytest.raises(TypeError, match=f"unexpected keyword argument '{removed}'"):
            MultiHeadAttention(8, 2, **{removed: 2})
    assert llama_attention(n_embd=8, n_head=2, head_dim=2).q_proj.out_features == 4
    wide = llama_attention(n_embd=8, n_head=2, head_dim=6)  # heads need not tile n_embd
    assert wide.q_proj.out_features == 12 and wide.out_proj.in_features == 12
    for odd in (1, 3):  # RoPE rotates pairs of dimensions
        with pytest.raises(ValueError, match=f"RoPE needs an even head_dim, got {odd}"):
            LlamaConfig(n_embd=8, n_head=2, head_dim=odd)
    for bad in (0, 2.5):
        with pytest.raises(ValueError, match="head_dim"):
            LlamaConfig(n_embd=8, n_head=2, head_dim=bad)
    attn = llama_attention(n_embd=8, n_head=2, bias=True, qkv_bias=False)
    assert attn.q_proj.bias is None and attn.k_proj.bias is None and attn.out_proj.bias is not None
    assert attn.v_proj.bias is None and llama_attention(n_embd=8, n_head=2, bias=False).out_proj.bias is None
    qwen2 = llama_attention(n_embd=8, n_head=2, bias=False, qkv_bias=True)  # Qwen2: q/k/v biases only
    assert all(p.bias is not None for p in (qwen2.q_proj, qwen2.k_proj, qwen2.v_proj)) and qwen2.out_proj.bias is None
    assert llama_attention(n_embd=8, n_head=2).k_norm is None and llama_attention(n_embd=8, n_head=2).q_norm is None
    mha = MultiHeadAttention(8, 2)
    x = torch.randn(1, 3, 8)
    for kv, name in (((torch.randn(1, 3, 5), x), "key"), ((x, torch.randn(1, 3, 5)), "value")):
        with pytest.raises(ValueError, match=f"^{name} must be"):
            mha(x, *kv)
    with pytest.raises(ValueError, match="window"):
        LlamaConfig(n_embd=8, n_head=2, window=0)
    MultiHeadAttention(8, 2, dropout=0.1, attn_backend="auto")  # "auto" resolves to a backend with dropout
