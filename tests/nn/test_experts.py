"""Mixture-of-experts: one expert is the dense FeedForward, routing against a per-token loop, the
load-balancing loss against a hand value and transformers, the router's gradients, Llama's aux loss."""

from __future__ import annotations

import math

import pytest
import torch

from minillm.models.gpt import GPT, GPTConfig
from minillm.models.llama import Llama, LlamaConfig
from minillm.nn.experts import MoEFeedForward, load_balancing_loss
from minillm.nn.feedforward import FeedForward


def test_one_expert_is_the_dense_feedforward_exactly():
    torch.manual_seed(0)
    moe = MoEFeedForward(16, 32, n_experts=1, top_k=1, activation="swiglu")
    dense = FeedForward(16, 32, activation="swiglu", bias=False)
    dense.load_state_dict(moe.experts[0].state_dict())
    x = torch.randn(2, 5, 16)
    assert torch.equal(moe(x), dense(x))
    assert moe.tokens_per_expert.tolist() == [10]


@pytest.mark.parametrize(("top_k", "norm_topk", "n_shared"), [(1, True, 0), (2, True, 1), (3, False, 0)])
def test_routing_matches_a_per_token_loop(top_k, norm_topk, n_shared):
    torch.manual_seed(top_k)
    moe = MoEFeedForward(
        8, 12, n_experts=4, top_k=top_k, activation="gelu", bias=True, n_shared=n_shared, norm_topk=norm_topk
    )
    x = torch.randn(3, 7, 8, dtype=torch.float64)
    moe.double()
    want = torch.zeros_like(x)
    counts = [0] * 4
    for b in range(3):
        for t in range(7):
            p = torch.softmax(moe.router.weight @ x[b, t], dim=0)
            top = sorted(range(4), key=lambda e: -p[e])[:top_k]
            total = sum(p[e] for e in top) if norm_topk else 1.0
            for e in top:
                want[b, t] += p[e] / total * moe.experts[e](x[b, t])
                counts[e] += 1
            if n_shared:
                want[b, t] += moe.shared(x[b, t])
    torch.testing.assert_close(moe(x), want)
    assert moe.tokens_per_expert.tolist() == counts and sum(counts) == 21 * top_k
    probs, gates, chosen = moe.route(x.reshape(-1, 8))  # what forward used, for a reader (minillm.explain)
    for n, (b, t) in enumerate((b, t) for b in range(3) for t in range(7)):
        p = torch.softmax(moe.router.weight @ x[b, t], dim=0)
        top = sorted(range(4), key=lambda e: -p[e])[:top_k]
        total = sum(p[e] for e in top) if norm_topk else 1.0
        assert chosen[n].tolist() == top
        torch.testing.assert_close(gates[n], torch.stack([p[e] / total for e in top]))
        torch.testing.assert_close(probs[n], p)


def test_aux_loss_hand_value():
    # 4 tokens, 2 experts, top-1: three tokens pick expert 0, one picks expert 1
    probs = torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.3, 0.7]])
    chosen = torch.tensor([[0], [0], [0], [1]])
    f = [3 / 4, 1 / 4]
    p = [(0.9 + 0.8 + 0.6 + 0.3) / 4, (0.1 + 0.2 + 0.4 + 0.7) / 4]
    want = 2 * (f[0] * p[0] + f[1] * p[1])  # E · Σ f_e P_e = 2 · (0.75·0.65 + 0.25·0.35) = 1.15
    assert math.isclose(want, 1.15)
    torch.testing.assert_close(load_balancing_loss(probs, chosen, 2), torch.tensor(want))
    uniform = torch.full((6, 3), 1 / 3)
    chosen = torch.tensor([[0, 1], [1, 2], [2, 0], [0, 1], [1, 2], [2, 0]])
    torch.testing.assert_close(load_balancing_loss(uniform, chosen, 3), torch.tensor(2.0))  # balanced: k


def test_aux_loss_matches_transformers():
    from transformers.models.mixtral.modeling_mixtral import load_balancing_loss_func

    torch.manual_seed(0)
    logits = torch.randn(40, 8)
    probs = torch.softmax(logits, -1)
    chosen = probs.topk(2, -1).indices
    theirs = load_balancing_loss_func((logits,), num_experts=8, top_k=2)
    torch.testing.assert_close(load_balancing_loss(probs, chosen, 8), theirs)


def test_router_gradients():
    torch.manual_seed(0)
    moe = MoEFeedForward(6, 8, n_experts=4, top_k=2, activation="relu").double()
    x = torch.randn(1, 5, 6, dtype=torch.float64)

    def run(router_weight):  # the block's output and aux loss as functions of the router weight
        out = torch.func.functional_call(moe, {"router.weight": router_weight}, (x,))
        return out, moe.aux_loss

    w = moe.router.weight.detach().clone().requires_grad_()
    assert torch.autograd.gradcheck(run, (w,))  # gates and aux loss; the top-k choice is fixed near w
    (grad,) = torch.autograd.grad(run(w)[1], w)
    assert grad.abs().sum() > 0  # the balancing loss alone moves the router


def test_llama_adds_the_scaled_aux_loss():
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=8, d_ff=32, n_experts=4, expert_top_k=2,
        aux_loss_coef=0.5,
    )  # fmt: skip
    assert cfg.expert_d_ff == 32  # None resolves to d_ff
    model = Llama(cfg)
    idx = torch.randint(0, 11, (2, 8))
    logits, loss = model(idx, idx)
    lm = torch.nn.functional.cross_entropy(logits.flatten(0, 1), idx.flatten())
    layers = torch.stack([b.mlp.aux_loss for b in model.blocks]).mean()
    torch.testing.assert_close(model.aux_loss, layers)
    torch.testing.assert_close(loss, lm + 0.5 * layers)
    loss.backward()
    assert model.blocks[0].mlp.router.weight.grad.abs().sum() > 0
    dense = Llama(LlamaConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8, d_ff=32))
    logits, loss = dense(idx, idx)
    assert dense.aux_loss is None
    torch.testing.assert_close(loss, torch.nn.functional.cross_entropy(logits.flatten(0, 1), idx.flatten()))
    gpt = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8))  # GPT-2 has no experts
    logits, loss = gpt(idx, idx)
    assert getattr(gpt, "aux_loss", None) is None
    torch.testing.assert_close(loss, torch.nn.functional.cross_entropy(logits.flatten(0, 1), idx.flatten()))


def test_bad_expert_settings_are_refused_by_name():
    with pytest.raises(ValueError, match="top_k=3 exceeds n_experts=2"):
        MoEFeedForward(8, 8, n_experts=2, top_k=3)
    with pytest.raises(ValueError, match="n_experts must be an integer >= 1"):
        MoEFeedForward(8, 8, n_experts=0)
    with pytest.raises(ValueError, match=r"expert_top_k=9 must be in 1..n_experts=8"):
        LlamaConfig(n_experts=8, expert_top_k=9)
    with pytest.raises(ValueError, match="aux_loss_coef=-1"):
        LlamaConfig(aux_loss_coef=-1.0)
    with pytest.raises(TypeError, match="n_experts"):  # experts are the later family's, not GPT-2's
        GPTConfig(n_experts=8)
