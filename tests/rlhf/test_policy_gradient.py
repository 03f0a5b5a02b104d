"""The policy-gradient family (minillm/rlhf/policy_gradient.py): hand values for every per-token loss,
advantage and aggregation; grpo_loss equals its formula written out independently; bad input named."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from minillm.rlhf.losses import grpo_loss
from minillm.rlhf.policy_gradient import (
    LOSS_VARIANTS,
    aggregate,
    group_advantages,
    grpo_clip_token_loss,
    masked_normalize,
    reinforce_token_loss,
)

# Two replies: 2 tokens and 1 token (the third column is padding).
LP = torch.log(torch.tensor([[0.5, 0.4, 0.9], [0.2, 0.7, 0.7]]))
OLD = torch.log(torch.tensor([[0.4, 0.4, 0.9], [0.3, 0.7, 0.7]]))
MASK = torch.tensor([[True, True, False], [True, False, False]])
ADV = torch.tensor([1.0, -2.0])


# -- advantages --
def test_advantages_with_and_without_baseline_and_std():
    r = torch.tensor([[1.0, 2.0, 3.0, 6.0]])  # mean 3, sample std sqrt(14/3)
    assert torch.equal(group_advantages(r, baseline=False, normalize_by_std=False), r)
    assert torch.equal(group_advantages(r, normalize_by_std=False), torch.tensor([[-2.0, -1.0, 0.0, 3.0]]))
    s = math.sqrt(14 / 3) + 1e-4
    torch.testing.assert_close(group_advantages(r), torch.tensor([[-2 / s, -1 / s, 0.0, 3 / s]]))


def test_an_all_equal_group_has_zero_advantage_with_a_baseline():
    r = torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.0, 1.0]])
    for std in (True, False):
        assert torch.equal(group_advantages(r, normalize_by_std=std)[0], torch.zeros(3))


def test_std_division_upweights_nearly_unanimous_groups():
    # Dr. GRPO's point: one right reply in eight gets a larger advantage after dividing by a small std
    r = torch.tensor([[1.0] + [0.0] * 7])
    assert group_advantages(r)[0, 0] > 2.0 * group_advantages(r, normalize_by_std=False)[0, 0]


# -- per-token losses --
def test_reinforce_token_loss_hand_values():
    expected = torch.tensor(
        [[-math.log(0.5), -math.log(0.4), -math.log(0.9)], [2 * math.log(0.2)] + [2 * math.log(0.7)] * 2]
    )
    torch.testing.assert_close(reinforce_token_loss(LP, ADV), expected)


def test_reinforce_gradient_is_minus_the_advantage():
    lp = LP.clone().requires_grad_(True)
    reinforce_token_loss(lp, ADV).sum().backward()
    assert torch.equal(lp.grad, -ADV[:, None].expand(2, 3))


def test_grpo_clip_token_loss_hand_values():
    # reply 0: ρ = 1.25 → clip 1.2, min(1.25, 1.2)·1 = 1.2; ρ = 1 → 1. reply 1: ρ = 2/3, A = -2:
    # min(-4/3, 0.8·-2 = -1.6) = -1.6; ρ = 1 → -2.
    expected = torch.tensor([[-1.2, -1.0, -1.0], [1.6, 2.0, 2.0]])
    torch.testing.assert_close(grpo_clip_token_loss(LP, OLD, ADV, clip_eps=0.2), expected)
    # clip-higher (DAPO): ρ = 1.25 is inside [0.8, 1.28], so the positive reply keeps its 1.25
    torch.testing.assert_close(grpo_clip_token_loss(LP, OLD, ADV, 0.2, clip_eps_high=0.28)[0, 0], torch.tensor(-1.25))


def test_clipped_tokens_pass_no_gradient():
    lp = LP.clone().requires_grad_(True)
    grpo_clip_token_loss(lp, OLD, ADV, 0.2).sum().backward()
    assert lp.grad[0, 0] == 0 and lp.grad[1, 0] == 0 and lp.grad[0, 1] == pytest.approx(-1.0)


# -- aggregations --
TOKENS = torch.tensor([[1.0, 3.0, 100.0], [6.0, 100.0, 100.0]])  # padding holds 100: it must not count


def test_aggregations_hand_values():
    assert aggregate(TOKENS, MASK, "reply_mean").item() == pytest.approx((2.0 + 6.0) / 2)  # GRPO
    assert aggregate(TOKENS, MASK, "token_mean").item() == pytest.approx(10.0 / 3)  # DAPO
    assert aggregate(TOKENS, MASK, "constant", constant=4).item() == pytest.approx((4 / 4 + 6 / 4) / 2)  # Dr. GRPO


def test_masked_normalize_divides_by_the_constant_not_the_count():
    assert masked_normalize(TOKENS, MASK, 2.0).item() == 5.0
    assert torch.equal(masked_normalize(TOKENS, MASK, 2.0, dim=1), torch.tensor([2.0, 3.0]))


def test_reply_mean_makes_a_long_reply_cheaper_per_token():
    """The length bias Dr. GRPO removes: with per-reply means, each token of a 4-token reply weighs 1/4
    of a 1-token reply's; token_mean and the constant weigh every token the same."""
    x = torch.zeros(2, 4, requires_grad=True)
    mask = torch.tensor([[True] * 4, [True, False, False, False]])
    for how, kw in (("reply_mean", {}), ("token_mean", {}), ("constant", {"constant": 4})):
        x.grad = None
        aggregate(x, mask, how, **kw).backward()
        ratio = (x.grad[0, 0] / x.grad[1, 0]).item()
        assert ratio == pytest.approx(0.25 if how == "reply_mean" else 1.0), how


# -- grpo_loss is built from these pieces, with the results it always had --
def _grpo_loss_by_hand(lp, old, ref, adv, mask, eps, beta):
    ratio = torch.exp(lp - old)
    a = adv[:, None]
    surrogate = torch.minimum(ratio * a, torch.clamp(ratio, 1 - eps, 1 + eps) * a)
    kl = torch.expm1(ref - lp) + (lp - ref)
    m = mask.float()
    return ((-(surrogate - beta * kl) * m).sum(1) / m.sum(1).clamp_min(1.0)).mean()


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 5), st.integers(1, 6), st.integers(0, 2**31 - 1), st.floats(0.0, 1.0))
def test_grpo_loss_equals_its_formula_bit_for_bit(b, t, seed, beta):
    g = torch.Generator().manual_seed(seed)
    lp, old, ref = (-torch.rand(b, t, generator=g) * 3 for _ in range(3))
    adv = torch.randn(b, generator=g)
    mask = torch.rand(b, t, generator=g) > 0.3
    loss, _ = grpo_loss(lp, old, ref, adv, mask, 0.2, beta)
    assert torch.equal(loss, _grpo_loss_by_hand(lp, old, ref, adv, mask, 0.2, beta))


def test_every_variant_names_known_pieces():
    for name, v in LOSS_VARIANTS.items():
        assert v.token_loss in ("reinforce", "grpo_clip") and v.aggregation in ("reply_mean", "token_mean", "constant")
        assert v.baseline or not v.normalize_by_std, name


# -- bad input --
@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: group_advantages(torch.zeros(4, 1)), ValueError, "G >= 2"),
        (lambda: group_advantages(torch.zeros(4)), ValueError, r"rewards must have 2 dimension\(s\), got shape \(4,\)"),
        (lambda: group_advantages([[1.0, 0.0]]), TypeError, "rewards must be a torch.Tensor"),
        (lambda: group_advantages(torch.zeros(2, 2), baseline=False), ValueError, "needs baseline=True"),
        (lambda: group_advantages(torch.zeros(2, 2), eps=0.0), ValueError, "eps must be > 0"),
        (lambda: reinforce_token_loss(LP, torch.zeros(3)), ValueError, r"advantages must be \(B,\) = \(2,\)"),
        (lambda: reinforce_token_loss(LP, torch.zeros(2, 3)), ValueError, "advantages must have 1 dimension"),
        (lambda: grpo_clip_token_loss(LP, OLD[:, :2], ADV), ValueError, r"old_logprobs \(2, 2\) must have the same"),
        (lambda: grpo_clip_token_loss(LP, OLD, ADV, clip_eps=0.0), ValueError, "clip_eps > 0"),
        (lambda: aggregate(TOKENS, MASK, "sum"), ValueError, "unknown aggregation 'sum'"),
        (lambda: aggregate(TOKENS, MASK, "constant"), ValueError, "needs the constant"),
        (lambda: aggregate(TOKENS, MASK[:, :2], "token_mean"), ValueError, "must have the same shape"),
        (lambda: masked_normalize(TOKENS, MASK, 0.0), ValueError, "constant must be a finite number > 0"),
    ],
)
def test_bad_input_is_named(call, error, match):
    with pytest.raises(error, match=match):
        call()
