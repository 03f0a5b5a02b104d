"""GPT-2's attention (models/gpt.py, CausalSelfAttention): the explicit softmax(QKᵀ/√d)V written inline
(attn_backend="naive") against the fused kernels ("sdpa", "chunked"), outputs and gradients in fp32 within
1e-5, with left padding that leaves some queries no key at all (their output is 0, never NaN); and a NaN
in one place stays where attention can carry it."""

import pytest
import torch

from minillm.decoding.generation import padding_inputs
from minillm.models.gpt import GPT, CausalSelfAttention, GPTConfig

TOL = dict(atol=1e-5, rtol=1e-5)
SHAPE = dict(vocab_size=23, block_size=12, n_layer=2, n_head=2, n_embd=16)
PAD = torch.tensor([0, 2, 6])  # left padding per row of a (3, 7) batch: row 2 has one real token


def _attn(backend: str, like: CausalSelfAttention | None = None) -> CausalSelfAttention:
    attn = CausalSelfAttention(GPTConfig(**SHAPE, attn_backend=backend))
    if like is None:
        with torch.no_grad():  # non-zero biases, so a zeroed attention output is told apart from out_proj's bias
            for p in attn.parameters():
                p.add_(0.1 * torch.randn_like(p))
    else:
        attn.load_state_dict(like.state_dict())
    return attn


def _padding_mask(t: int = 7) -> torch.Tensor:
    return padding_inputs(PAD, past=0, stored=0, t_new=t)["mask"]  # (3, 1, 1, T), True on real tokens


def _run(attn, x, mask, weight):
    x = x.detach().clone().requires_grad_(True)
    out = attn(x, mask=mask)
    (out * weight).sum().backward()
    return out, x.grad, {n: p.grad for n, p in attn.named_parameters()}


@pytest.mark.parametrize("backend", ["sdpa", "chunked"])
@pytest.mark.parametrize("padded", [False, True], ids=["no-mask", "left-padding"])
def test_naive_equals_the_kernels_on_outputs_and_gradients(backend, padded):
    torch.manual_seed(0)
    naive = _attn("naive")
    fused = _attn(backend, like=naive)
    x, weight = torch.randn(3, 7, 16), torch.randn(3, 7, 16)
    mask = _padding_mask() if padded else None
    out_n, dx_n, grads_n = _run(naive, x, mask, weight)
    out_f, dx_f, grads_f = _run(fused, x, mask, weight)
    for t in (out_n, dx_n, out_f, dx_f, *grads_n.values(), *grads_f.values()):
        assert torch.isfinite(t).all()
    torch.testing.assert_close(out_f, out_n, **TOL)
    torch.testing.assert_close(dx_f, dx_n, **TOL)
    for name in grads_n:
        torch.testing.assert_close(grads_f[name], grads_n[name], **TOL, msg=name)
    if padded:  # a query with no key to see: attention output 0, so out_proj gives its bias
        bias = naive.out_proj.bias.detach()
        for out in (out_n, out_f):
            for b, p in enumerate(PAD.tolist()):
                torch.testing.assert_close(out[b, :p].detach(), bias.expand(p, -1), atol=1e-6, rtol=0)
        assert dx_n[2, :6].abs().max() == 0  # and nothing flows back into the padding


@pytest.mark.parametrize("backend", ["sdpa", "chunked"])
def test_gpt_naive_equals_the_kernels_with_left_padding_and_a_cache(backend):
    """The whole model: a left-padded prompt (pos and mask from padding_inputs), its loss's gradients, and
    then one cached decoding step."""
    torch.manual_seed(0)
    naive = GPT(GPTConfig(**SHAPE, attn_backend="naive"))
    fused = GPT(GPTConfig(**SHAPE, attn_backend=backend))
    fused.load_state_dict(naive.state_dict())
    idx = torch.randint(0, 23, (3, 7))
    inputs = padding_inputs(PAD, past=0, stored=0, t_new=7)
    (ln, loss_n), (lf, loss_f) = naive(idx, idx, **inputs), fused(idx, idx, **inputs)
    assert torch.isfinite(ln).all() and torch.isfinite(loss_n)
    torch.testing.assert_close(lf, ln, **TOL)
    loss_n.backward()
    loss_f.backward()
    for (name, pn), pf in zip(naive.named_parameters(), fused.parameters()):
        torch.testing.assert_close(pf.grad, pn.grad, **TOL, msg=name)
    with torch.no_grad():
        steps = []
        for model in (naive, fused):
            caches = model.new_kv_caches()
            model.decode_step(idx, caches, **inputs)
            nxt = padding_inputs(PAD, past=7, stored=7, t_new=1)
            steps.append(model.decode_step(torch.randint(0, 23, (3, 1), generator=torch.Generator().manual_seed(2)), caches, **nxt))
    assert torch.isfinite(steps[0]).all()
    torch.testing.assert_close(steps[1], steps[0], **TOL)


@pytest.mark.parametrize("backend", ["naive", "sdpa", "chunked"])
def test_a_nan_query_stays_in_its_row(backend):
    """A NaN in one query (row 0, position 3, head 1) makes that query's output NaN and nothing else: no
    other position, no other batch row, and the padded row's queries that see no key still give zeros."""
    torch.manual_seed(0)
    attn = _attn(backend)
    x, mask = torch.randn(3, 7, 16), _padding_mask()
    with torch.no_grad():
        ref = attn(x, mask=mask)

        def poison(module, inputs, qkv):  # columns [0, 16) of the fused product are q; head 1 is [8, 16)
            qkv = qkv.clone()
            qkv[0, 3, 8] = float("nan")
            return qkv

        handle = attn.qkv_proj.register_forward_hook(poison)
        try:
            out = attn(x, mask=mask)
        finally:
            handle.remove()
    assert out[0, 3].isnan().all()
    others = torch.ones(3, 7, dtype=torch.bool)
    others[0, 3] = False
    assert torch.isfinite(out[others]).all()
    torch.testing.assert_close(out[others], ref[others], atol=0, rtol=0)


@pytest.mark.parametrize("backend", ["naive", "sdpa", "chunked"])
def test_a_nan_in_an_input_row_stays_in_its_batch_row(backend):
    """x[0, 3] = NaN makes that position's q, k and v NaN. Causal attention carries it to the later
    queries of row 0 (they attend to key 3); it never reaches another batch row, whose outputs stay
    bit-identical. Inside row 0 it may also reach the earlier queries: their weight on key 3 is 0,
    but 0 · NaN is NaN in the product with V, on every backend (what minillm.kernels documents;
    cleaning V of NaNs on every call would cost a pass over V to protect outputs a broken model
    gives anyway)."""
    torch.manual_seed(0)
    attn = _attn(backend)
    x, mask = torch.randn(3, 7, 16), _padding_mask()
    y = x.clone()
    y[0, 3] = float("nan")  # a real token of row 0
    with torch.no_grad():
        ref, out = attn(x, mask=mask), attn(y, mask=mask)
    assert out[0, 3:].isnan().any(-1).all()  # position 3 and the queries after it see the NaN key
    torch.testing.assert_close(out[1:], ref[1:], atol=0, rtol=0)  # the other rows: untouched
