"""RLHF loss functions against hand-computed values and plain reference loops."""

import math
import re

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from minillm.rlhf.losses import (
    dpo_loss,
    gae,
    grpo_advantages,
    grpo_loss,
    kl_penalty,
    masked_mean,
    pairwise_ranking_loss,
    ppo_policy_loss,
    ppo_value_loss,
    whiten,
)


def logsig(x):
    return math.log(1 / (1 + math.exp(-x)))


def test_ranking_loss_k3_by_hand():
    r = torch.tensor([[2.0, 1.0, 0.0]])  # best first: pairs margins 1, 2, 1
    want = -(logsig(1) + logsig(2) + logsig(1)) / 3
    assert pairwise_ranking_loss(r).item() == pytest.approx(want, rel=1e-6)
    # Same replies given in another order with explicit ranks: same loss.
    assert pairwise_ranking_loss(torch.tensor([[0.0, 2.0, 1.0]]), torch.tensor([[2, 0, 1]])).item() == pytest.approx(
        want, rel=1e-6
    )


def test_ranking_loss_skips_ties_and_rejects_all_ties():
    r = torch.tensor([[1.0, 0.0, 5.0]])
    ranks = torch.tensor([[0, 1, 1]])  # replies 1 and 2 tied: pairs (0,1) and (0,2) only
    want = -(logsig(1.0) + logsig(-4.0)) / 2
    assert pairwise_ranking_loss(r, ranks).item() == pytest.approx(want, rel=1e-6)
    with pytest.raises(ValueError, match="only ties"):
        pairwise_ranking_loss(r, torch.tensor([[1, 1, 1]]))
    with pytest.raises(ValueError, match="K >= 2"):
        pairwise_ranking_loss(torch.zeros(2, 1))


def test_gae_three_steps_by_hand():
    rewards = torch.tensor([[0.0, 0.0, 1.0]])
    values = torch.tensor([[0.5, 0.6, 0.7]])
    adv, ret = gae(rewards, values, torch.ones(1, 3, dtype=torch.bool), gamma=1.0, lam=0.95)
    # δ2 = 1 - 0.7 = 0.3; δ1 = 0.7 - 0.6 = 0.1; δ0 = 0.6 - 0.5 = 0.1
    torch.testing.assert_close(adv, torch.tensor([[0.1 + 0.95 * 0.385, 0.1 + 0.95 * 0.3, 0.3]]))
    torch.testing.assert_close(ret, adv + values)


def _gae_reference(r, v, gamma, lam):
    """Plain loop over one unpadded episode."""
    adv, last = [0.0] * len(r), 0.0
    for t in reversed(range(len(r))):
        nv = v[t + 1] if t + 1 < len(r) else 0.0
        last = r[t] + gamma * nv - v[t] + gamma * lam * last
        adv[t] = last
    return adv


@given(
    st.integers(1, 8),
    st.integers(0, 4),
    st.integers(0, 4),
    st.floats(0.5, 1.0),
    st.floats(0.0, 1.0),
    st.integers(0, 1000),
)
def test_gae_matches_reference_loop_with_prompt_and_padding(n, prompt, pad, gamma, lam, seed):
    g = torch.Generator().manual_seed(seed)
    r, v = torch.randn(n, generator=g), torch.randn(n, generator=g)
    rewards = torch.cat([torch.randn(prompt, generator=g), r, torch.randn(pad, generator=g)])[None]
    values = torch.cat([torch.randn(prompt, generator=g), v, torch.randn(pad, generator=g)])[None]
    mask = torch.tensor([False] * prompt + [True] * n + [False] * pad)[None]
    adv, _ = gae(rewards, values, mask, gamma, lam)
    want = _gae_reference(r.tolist(), v.tolist(), gamma, lam)
    torch.testing.assert_close(adv[0, prompt : prompt + n], torch.tensor(want), atol=1e-5, rtol=1e-5)
    assert torch.all(adv[~mask] == 0)


@pytest.mark.parametrize("advantage", [1.0, -1.0])
def test_clipped_policy_loss_gradient_vanishes_outside_clip_in_the_right_direction(advantage):
    old = torch.zeros(1, 3)
    # ratios 0.5, 1.0, 1.5 with ε = 0.2
    new = torch.log(torch.tensor([[0.5, 1.0, 1.5]])).requires_grad_()
    adv = torch.full((1, 3), advantage)
    loss, stats = ppo_policy_loss(new, old, adv, torch.ones(1, 3, dtype=torch.bool), clip_eps=0.2)
    loss.backward()
    g = new.grad[0]
    assert g[1] != 0  # inside the clip range: gradient flows
    if advantage > 0:  # good action: no more push once ratio > 1 + ε, still pulled up when ratio < 1 - ε
        assert g[2] == 0 and g[0] != 0
    else:  # bad action: no more push once ratio < 1 - ε, still pushed down when ratio > 1 + ε
        assert g[0] == 0 and g[2] != 0
    assert stats["clip_frac"] == pytest.approx(1 / 3)


def test_policy_loss_value_by_hand():
    old = torch.zeros(1, 2)
    new = torch.log(torch.tensor([[1.1, 2.0]]))
    adv = torch.tensor([[1.0, 1.0]])
    loss, _ = ppo_policy_loss(new, old, adv, torch.ones(1, 2, dtype=torch.bool), 0.2)
    assert loss.item() == pytest.approx(-(1.1 + 1.2) / 2, rel=1e-6)
    with pytest.raises(ValueError, match="clip_eps"):
        ppo_policy_loss(new, old, adv, torch.ones(1, 2, dtype=torch.bool), 0.0)


def test_value_loss_clipping_by_hand():
    old, ret = torch.tensor([[0.0]]), torch.tensor([[1.0]])
    values = torch.tensor([[0.9]])
    # clipped value = 0 + clip(0.9, -0.2, 0.2) = 0.2 → max((0.9-1)², (0.2-1)²) = 0.64
    loss = ppo_value_loss(values, old, ret, torch.ones(1, 1, dtype=torch.bool), clip=0.2)
    assert loss.item() == pytest.approx(0.5 * 0.64)


def test_kl_estimators():
    lp, ref = torch.tensor([-1.0, -2.0]), torch.tensor([-1.5, -1.0])
    torch.testing.assert_close(kl_penalty(lp, ref, "k1"), torch.tensor([0.5, -1.0]))
    torch.testing.assert_close(kl_penalty(lp, ref, "k2"), torch.tensor([0.125, 0.5]))
    k3 = kl_penalty(lp, ref, "k3")
    torch.testing.assert_close(k3, torch.tensor([math.exp(-0.5) - 1 + 0.5, math.exp(1.0) - 1 - 1.0]))
    assert torch.all(k3 >= 0)
    with pytest.raises(ValueError, match="unknown KL estimator"):
        kl_penalty(lp, ref, "k4")


def test_dpo_loss_is_log2_at_the_reference_and_falls_with_margin():
    x = torch.tensor([-3.0, -7.0])
    loss, margin = dpo_loss(x, x - 1, x, x - 1, beta=0.5)
    assert loss.item() == pytest.approx(math.log(2))
    assert torch.all(margin == 0)
    better, _ = dpo_loss(x + 1, x - 1, x, x - 1, beta=0.5)  # chosen up by 1: margin 0.5
    assert better.item() == pytest.approx(-logsig(0.5))
    with pytest.raises(ValueError, match="beta"):
        dpo_loss(x, x, x, x, beta=0.0)


def test_masked_mean_and_whiten():
    x = torch.tensor([[1.0, 2.0, 3.0, 100.0]])
    m = torch.tensor([[True, True, True, False]])
    assert masked_mean(x, m).item() == pytest.approx(2.0)
    w = whiten(x, m)
    assert w[0, 3] == 0
    assert masked_mean(w, m).item() == pytest.approx(0.0, abs=1e-6)
    assert masked_mean(w**2, m).item() == pytest.approx(1.0, rel=1e-4)


# Tests below were written against mutmut's survivors (tests/MUTATION.md): each pins a default, a
# boundary or a masked reduction that the tests above left free.


def test_masked_mean_with_dim_and_without_mask():
    x = torch.tensor([[1.0, 2.0, 3.0], [4.0, 6.0, 8.0]])
    torch.testing.assert_close(masked_mean(x, None, dim=1), torch.tensor([2.0, 6.0]))
    assert masked_mean(x).item() == pytest.approx(4.0)
    m = torch.tensor([[True, False, True], [False, False, False]])
    # row 0: (1 + 3) / 2; row 1 has no masked position: 0, not 0 / 0
    torch.testing.assert_close(masked_mean(x, m, dim=1), torch.tensor([2.0, 0.0]))
    m1 = torch.tensor([[False, True, False], [True, True, True]])  # one position in row 0: its own value
    torch.testing.assert_close(masked_mean(x, m1, dim=1), torch.tensor([2.0, 6.0]))
    torch.testing.assert_close(masked_mean(x, m1, dim=0), torch.tensor([4.0, 4.0, 8.0]))


def test_whiten_without_mask_without_shift_and_of_a_constant():
    x = torch.tensor([[1.0, 3.0], [5.0, 7.0]])  # mean 4, std sqrt(5)
    torch.testing.assert_close(whiten(x), (x - 4.0) / math.sqrt(5.0))
    # shift_mean=False keeps the mean: only the spread is normalised
    torch.testing.assert_close(whiten(x, shift_mean=False), (x - 4.0) / math.sqrt(5.0) + 4.0)
    # a constant has zero variance: eps keeps the result finite (0), not nan
    c = torch.full((1, 3), 2.5)
    assert torch.equal(whiten(c, torch.ones(1, 3, dtype=torch.bool)), torch.zeros(1, 3))


def test_ranking_loss_two_replies_and_per_prompt_pair_counts():
    # K = 2 is the smallest ranking: one pair
    assert pairwise_ranking_loss(torch.tensor([[0.5, -0.5]])).item() == pytest.approx(-logsig(1.0), rel=1e-6)
    # Two prompts with different numbers of ordered pairs: each prompt averages over its own pairs,
    # then prompts are averaged (a batch-wide pair count would weight them differently).
    r = torch.tensor([[2.0, 1.0, 0.0], [1.0, 0.0, 5.0]])
    ranks = torch.tensor([[0, 1, 2], [0, 1, 1]])  # 3 pairs; 2 pairs (1 and 2 tied)
    row0 = -(logsig(1) + logsig(2) + logsig(1)) / 3
    row1 = -(logsig(1.0) + logsig(-4.0)) / 2
    assert pairwise_ranking_loss(r, ranks).item() == pytest.approx((row0 + row1) / 2, rel=1e-6)
    with pytest.raises(ValueError, match="shape of rewards"):
        pairwise_ranking_loss(r, ranks[:, :2])


def test_gae_defaults_and_parameter_range():
    r, v = torch.tensor([[0.0, 1.0]]), torch.tensor([[0.5, 0.25]])
    ones = torch.ones(1, 2, dtype=torch.bool)
    default, _ = gae(r, v, ones)
    explicit, _ = gae(r, v, ones, gamma=1.0, lam=0.95)
    torch.testing.assert_close(default, explicit)
    # γ = 0: one-step TD error r_t - V_t; λ = 1: Monte Carlo return minus value (γ = 1)
    torch.testing.assert_close(gae(r, v, ones, gamma=0.0, lam=0.5)[0], torch.tensor([[-0.5, 0.75]]))
    torch.testing.assert_close(gae(r, v, ones, gamma=1.0, lam=1.0)[0], torch.tensor([[0.5, 0.75]]))
    for gamma, lam in [(1.5, 0.9), (-0.1, 0.9), (0.9, 1.5), (0.9, -0.1)]:
        with pytest.raises(ValueError, match="gamma and lam"):
            gae(r, v, ones, gamma=gamma, lam=lam)
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        gae(r, v[:, :1], ones)
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        gae(r[0], v[0], ones[0])  # same shapes but 1-D


def test_gae_returns_are_zero_outside_the_mask():
    r, v = torch.tensor([[9.0, 1.0, 9.0]]), torch.tensor([[9.0, 0.5, 9.0]])
    mask = torch.tensor([[False, True, False]])
    adv, ret = gae(r, v, mask, gamma=1.0, lam=1.0)
    torch.testing.assert_close(adv, torch.tensor([[0.0, 0.5, 0.0]]))
    torch.testing.assert_close(ret, torch.tensor([[0.0, 1.0, 0.0]]))  # R = A + V = the reward, masked


def test_policy_loss_masked_values_and_stats_by_hand():
    old = torch.tensor([[-1.0, -2.0, -0.5]])
    ratios = [1.5, 0.9, 3.0]  # the third position is masked out
    new = old + torch.log(torch.tensor([ratios]))
    adv = torch.tensor([[2.0, -3.0, 7.0]])
    mask = torch.tensor([[True, True, False]])
    loss, stats = ppo_policy_loss(new, old, adv, mask, clip_eps=0.2)
    # pos 0: min(1.5·2, 1.2·2) = 2.4 (clipped); pos 1: min(0.9·-3, 0.9·-3) = -2.7 (inside the range)
    assert loss.item() == pytest.approx(-(2.4 - 2.7) / 2, rel=1e-5)
    assert stats["clip_frac"] == pytest.approx(0.5)
    want_kl = (0.5 * math.log(1.5) ** 2 + 0.5 * math.log(0.9) ** 2) / 2
    assert stats["approx_kl"] == pytest.approx(want_kl, rel=1e-5)
    # The default clip range is ε = 0.2.
    default, _ = ppo_policy_loss(new, old, adv, mask)
    assert default.item() == pytest.approx(loss.item())


def test_value_loss_masked_and_both_clip_directions_by_hand():
    old = torch.tensor([[1.0, 1.0, 1.0, 1.0]])
    values = torch.tensor([[2.0, 0.0, 1.1, 50.0]])  # moves +1, -1, +0.1; the last is masked out
    ret = torch.tensor([[3.0, -2.0, 0.0, 0.0]])
    mask = torch.tensor([[True, True, True, False]])
    # pos 0: clipped 1.2 → max((2-3)², (1.2-3)²) = 3.24; pos 1: clipped 0.8 → max(4, 7.84) = 7.84;
    # pos 2: inside the range → (1.1)² = 1.21
    want = 0.5 * (3.24 + 7.84 + 1.21) / 3
    assert ppo_value_loss(values, old, ret, mask, clip=0.2).item() == pytest.approx(want, rel=1e-5)
    assert ppo_value_loss(values, old, ret, mask).item() == pytest.approx(want, rel=1e-5)  # default 0.2
    with pytest.raises(ValueError, match="clip"):
        ppo_value_loss(values, old, ret, mask, clip=0.0)


def test_kl_default_is_k1_and_dpo_default_beta_and_rejected_side():
    lp, ref = torch.tensor([-1.0, -2.0]), torch.tensor([-1.5, -1.0])
    torch.testing.assert_close(kl_penalty(lp, ref), kl_penalty(lp, ref, "k1"))
    # rejected reply: policy 1 below the reference → margin β·(0 - (-1)) = β
    pc, pr, rc, rr = torch.tensor([-3.0]), torch.tensor([-6.0]), torch.tensor([-3.0]), torch.tensor([-5.0])
    loss, margin = dpo_loss(pc, pr, rc, rr, beta=0.5)
    assert margin.item() == pytest.approx(0.5)
    assert loss.item() == pytest.approx(-logsig(0.5))
    _, default_margin = dpo_loss(pc, pr, rc, rr)
    assert default_margin.item() == pytest.approx(0.1)


# ---------------------------------------------------------------- bad input: shapes named before any math
_A, _B = torch.zeros(4, 7), torch.zeros(4, 6)
_M = torch.ones(4, 7, dtype=torch.bool)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: ppo_policy_loss(_A, _B, _A, _M), r"logprobs \(4, 7\) and old_logprobs \(4, 6\) must have the same"),
        (lambda: ppo_policy_loss(_A, _A, _A[:, :1], _M), r"logprobs \(4, 7\) and advantages \(4, 1\) must have"),
        (lambda: ppo_policy_loss(_A, _A, _A, _M[:, :6]), r"logprobs \(4, 7\) and mask \(4, 6\) must have"),
        (lambda: ppo_value_loss(_A, _A, _B, _M), r"values \(4, 7\) and returns \(4, 6\) must have the same shape"),
        (lambda: ppo_value_loss(_A, _B, _A, _M), r"values \(4, 7\) and old_values \(4, 6\) must have"),
        (lambda: kl_penalty(_A, _B), r"logprobs \(4, 7\) and ref_logprobs \(4, 6\) must have the same shape"),
        (lambda: kl_penalty(_A, _A[:1]), r"logprobs \(4, 7\) and ref_logprobs \(1, 7\) must have"),
        (lambda: gae(_A, _B, _M), r"rewards \(4, 7\) and values \(4, 6\) must have the same shape \(B, T\)"),
        (lambda: grpo_loss(_A, _A, _B, torch.zeros(4), _M), r"logprobs \(4, 7\) and ref_logprobs \(4, 6\)"),
        (lambda: dpo_loss(_A[:, 0], _A[:, :1], _A[:, 0], _A[:, 0]), r"policy_rejected \(4, 1\)"),
        (lambda: pairwise_ranking_loss(_A, _B), r"ranks \(4, 6\) must have the shape of rewards \(4, 7\)"),
        (lambda: grpo_advantages(torch.zeros(4)), r"rewards must be \(prompts, G replies\), got shape \(4,\)"),
    ],
)
def test_shape_mismatches_are_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_a_list_for_a_tensor_is_named():
    for call, name in [
        (lambda: kl_penalty([0.0], _A), "logprobs"),
        (lambda: pairwise_ranking_loss([[1.0, 0.0]]), "rewards"),
        (lambda: grpo_advantages([[1.0, 0.0]]), "rewards"),
        (lambda: ppo_value_loss(_A, _A, _A, [True]), "mask"),
    ]:
        with pytest.raises(TypeError, match=f"{name} must be a torch.Tensor, got list"):
            call()


def test_ppo_losses_still_take_any_equal_shapes_and_no_mask():
    new, old, adv = torch.tensor([0.1, -0.2]), torch.zeros(2), torch.tensor([1.0, -1.0])
    loss, _ = ppo_policy_loss(new, old, adv, None)
    ratio = new.exp()
    want = -torch.minimum(ratio * adv, ratio.clamp(0.8, 1.2) * adv).mean()
    assert loss.item() == pytest.approx(want.item())
    assert ppo_value_loss(new, old, adv, None).item() == pytest.approx(0.5 * ((new - adv) ** 2).mean().item())


# ---------------------------------------------------------------- GRPO, DPO, GAE, ranking: defaults and checks
def _grpo_case():
    """Two replies of three tokens, each ratio away from 1 by a known amount, one masked-out token."""
    old = torch.zeros(2, 3)
    new = torch.tensor([[math.log(1.5), math.log(0.7), 0.0], [math.log(1.1), math.log(1.3), 0.3]])
    ref = torch.tensor([[0.1, -0.2, 0.0], [0.0, 0.05, 0.0]])
    mask = torch.tensor([[True, True, False], [True, True, True]])
    return new, old, ref, torch.tensor([1.0, -1.0]), mask


def _grpo_by_hand(new, old, ref, adv, mask, clip_eps, beta):
    ratio = (new - old).exp()
    surrogate = torch.minimum(ratio * adv[:, None], ratio.clamp(1 - clip_eps, 1 + clip_eps) * adv[:, None])
    k3 = (ref - new).exp() - (ref - new) - 1
    token = -(surrogate - beta * k3)
    return ((token * mask).sum(1) / mask.sum(1)).mean()


@pytest.mark.parametrize("kwargs", [{}, {"clip_eps": 0.45}, {"beta": 0.5}, {"clip_eps": 0.1, "beta": 0.0}])
def test_grpo_loss_uses_its_defaults_and_the_callers_clip_and_beta_by_hand(kwargs):
    new, old, ref, adv, mask = _grpo_case()
    loss, figures = grpo_loss(new, old, ref, adv, mask, **kwargs)
    want = _grpo_by_hand(new, old, ref, adv, mask, kwargs.get("clip_eps", 0.2), kwargs.get("beta", 0.04))
    assert loss.item() == pytest.approx(want.item(), rel=1e-6)
    eps = kwargs.get("clip_eps", 0.2)
    clipped = (((new - old).exp() - 1).abs() > eps).float()
    assert figures["clip_frac"] == pytest.approx(((clipped * mask).sum() / mask.sum()).item())


def test_grpo_clip_frac_does_not_count_a_ratio_exactly_at_the_edge():
    new = torch.log(torch.tensor([[1.5, 1.0]]))  # ρ - 1 = 0.5 = ε exactly: inside the clip range
    _, figures = grpo_loss(new, torch.zeros(1, 2), torch.zeros(1, 2), torch.ones(1), torch.ones(1, 2, dtype=torch.bool),
                           clip_eps=0.5)  # fmt: skip
    assert figures["clip_frac"] == 0.0


@pytest.mark.parametrize("clip_eps, beta", [(0.0, 0.04), (-0.1, 0.04), (0.2, -0.01)])
def test_grpo_loss_refuses_a_clip_of_zero_or_below_and_a_negative_beta(clip_eps, beta):
    new, old, ref, adv, mask = _grpo_case()
    with pytest.raises(ValueError, match="need clip_eps > 0 and beta >= 0"):
        grpo_loss(new, old, ref, adv, mask, clip_eps=clip_eps, beta=beta)


@pytest.mark.parametrize("which", ["logprobs", "old_logprobs", "ref_logprobs", "mask"])
def test_grpo_loss_names_each_input_of_another_shape(which):
    args = dict(zip(("logprobs", "old_logprobs", "ref_logprobs", "advantages", "mask"), _grpo_case()))
    args[which] = args[which][:, :2]  # (2, 2) beside (2, 3)
    pair = ("logprobs (2, 2) and old_logprobs (2, 3)" if which == "logprobs" else f"logprobs (2, 3) and {which} (2, 2)")
    with pytest.raises(ValueError, match=rf"^{re.escape(pair)} must have the same shape \(B, T\)$"):  # grpo_loss's
        grpo_loss(**args)


def test_grpo_advantages_take_two_replies_and_pass_eps_on():
    rewards = torch.tensor([[1.0, 0.0], [2.0, 2.0]])
    std = torch.tensor(0.5).sqrt()  # sample std of (1, 0)
    torch.testing.assert_close(grpo_advantages(rewards), torch.tensor([[0.5, -0.5], [0.0, 0.0]]) / (std + 1e-4))
    torch.testing.assert_close(grpo_advantages(rewards, eps=0.5), torch.tensor([[0.5, -0.5], [0.0, 0.0]]) / (std + 0.5))
    with pytest.raises(ValueError, match="G >= 2 replies per prompt"):
        grpo_advantages(torch.ones(3, 1))
    for eps in (0.0, -1e-4):
        with pytest.raises(ValueError, match="eps must be > 0"):
            grpo_advantages(rewards, eps=eps)


@pytest.mark.parametrize("which", [2, 3])
def test_dpo_loss_refuses_a_reference_of_another_shape(which):
    args = [torch.zeros(4), torch.zeros(4), torch.zeros(4), torch.zeros(4)]
    args[which] = torch.zeros(4, 1)  # would broadcast to a (4, 4) margin
    shapes = ["(4,)", "(4,)", "(4,)", "(4,)"]
    shapes[which] = "(4, 1)"
    names = ("policy_chosen", "policy_rejected", "ref_chosen", "ref_rejected")
    got = ", ".join(f"{n} {sh}" for n, sh in zip(names, shapes))
    with pytest.raises(ValueError, match=rf"one shape \(a sum per sequence\), got {re.escape(got)}$"):
        dpo_loss(*args)


def test_gae_names_an_input_that_is_not_a_tensor_or_a_mask_of_another_shape():
    for args, name in [(([[0.0] * 7] * 4, _A, _M), "rewards"), ((_A, [[0.0] * 7] * 4, _M), "values"),
                       ((_A, _A, [[True] * 7] * 4), "mask")]:  # fmt: skip
        with pytest.raises(TypeError, match=f"^{name} must be a torch.Tensor, got list$"):
            gae(*args)
    with pytest.raises(ValueError, match=r"rewards \(4, 7\) and mask \(4, 6\) must have the same shape"):
        gae(_A, _A, _M[:, :6])
    with pytest.raises(ValueError, match=r"rewards \(4, 7\) and mask \(1, 7\) must have the same shape"):
        gae(_A, _A, _M[:1])


def test_pairwise_ranking_loss_names_ranks_that_are_not_a_tensor():
    with pytest.raises(TypeError, match=r"^ranks must be a torch.Tensor, got list$"):
        pairwise_ranking_loss(torch.zeros(1, 2), [[0, 1]])


def test_a_shape_message_without_an_expected_shape_ends_at_the_shapes():
    with pytest.raises(ValueError, match=r"^logprobs \(4, 7\) and ref_logprobs \(4, 6\) must have the same shape$"):
        kl_penalty(_A, _B)
