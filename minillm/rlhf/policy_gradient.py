"""The policy-gradient family as per-token losses: REINFORCE, REINFORCE with a baseline, GRPO, Dr. GRPO, DAPO.

Report §1.2.2-1, step 3 (reinforcement learning), in the form reasoning models are trained with since
DeepSeek-R1 (2025): sample G replies to a prompt, score each with a program (a *verifiable* reward),
push up the good ones. The members of the family differ in three small choices, each a function here:

    advantage  Â_i = r_i                                  REINFORCE, no baseline (Williams 1992)
               Â_i = r_i - mean_group r                   a baseline: the group's mean (RLOO-like)
               Â_i = (r_i - mean_group r) / (std + ε)     GRPO (Shao et al. 2024)
    per token  ℓ_t = -Â_i · log π(y_t)                    REINFORCE (the gradient of this is the policy gradient)
               ℓ_t = -min(ρ_t Â_i, clip(ρ_t, 1-ε_lo, 1+ε_hi) Â_i),  ρ_t = π(y_t) / π_old(y_t)   GRPO-clip (PPO's)
    aggregate  "reply_mean":  mean over a reply's tokens, then over replies     GRPO as published
               "token_mean":  sum over all tokens / number of tokens            DAPO (Yu et al. 2025)
               "constant":    sum over a reply's tokens / a fixed constant, then mean over replies
                              (the longest a reply may be)                        Dr. GRPO (Liu et al. 2025)

Dr. GRPO's point: dividing by the group's std up-weights groups that are nearly all right or all wrong,
and dividing by the reply's own length makes a long wrong reply cost less per token than a short one,
so lengths grow. DAPO also raises the upper clip (ε_hi = 0.28 > ε_lo = 0.2: "clip-higher").

Every loss here is (B, T): one number per reply token, with the (B, T) mask True on reply tokens; an
aggregation turns it into the scalar to minimise. The assembled variants: ``LOSS_VARIANTS``.
Docs: docs/rlhf.md#reasoning-from-rewards.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = [
    "AGGREGATIONS",
    "LOSS_VARIANTS",
    "LossVariant",
    "aggregate",
    "group_advantages",
    "grpo_clip_token_loss",
    "masked_normalize",
    "reinforce_token_loss",
]

GROUP_STD_EPS = 1e-4  # added to the group's std (DeepSeekMath's reference code and TRL use this size)


def _need(name: str, t, dim: int) -> None:
    if not isinstance(t, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.dim() != dim:
        raise ValueError(f"{name} must have {dim} dimension(s), got shape {tuple(t.shape)}")


def _per_reply(advantages: Tensor, logprobs: Tensor) -> Tensor:
    _need("logprobs", logprobs, 2)
    _need("advantages", advantages, 1)
    if advantages.shape[0] != logprobs.shape[0]:
        raise ValueError(f"advantages must be (B,) = ({logprobs.shape[0]},), got {tuple(advantages.shape)}")
    return advantages[:, None]  # (B, 1): every token of a reply shares its reply's advantage


# --8<-- [start:advantages]
def group_advantages(
    rewards: Tensor, baseline: bool = True, normalize_by_std: bool = True, eps: float = GROUP_STD_EPS
) -> Tensor:
    """Advantages from rewards (P prompts, G replies) → (P, G).

    ``baseline=False``: the rewards themselves (REINFORCE). ``baseline=True``: minus the group's mean,
    and, with ``normalize_by_std``, divided by the group's sample std (n - 1) + ``eps`` (GRPO); a group
    of equal rewards gets exactly 0 either way: it has nothing to teach.
    """
    _need("rewards", rewards, 2)
    if rewards.shape[1] < 2:
        raise ValueError(f"a group needs G >= 2 replies per prompt to compare, got G = {rewards.shape[1]}")
    if not (isinstance(eps, (int, float)) and math.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be > 0, got {eps}")
    if not baseline:
        if normalize_by_std:
            raise ValueError("normalize_by_std divides (r - mean) by the std: it needs baseline=True")
        return rewards.clone()
    centred = rewards - rewards.mean(dim=1, keepdim=True)  # (P, G)
    if not normalize_by_std:
        return centred  # Dr. GRPO
    return centred / (rewards.std(dim=1, keepdim=True) + eps)  # (P, G), GRPO


# --8<-- [end:advantages]


# --8<-- [start:token-losses]
def reinforce_token_loss(logprobs: Tensor, advantages: Tensor) -> Tensor:
    """-Â · log π(y_t) per token (B, T): its gradient is the REINFORCE estimate of the policy gradient.
    With raw rewards as ``advantages`` this is REINFORCE without a baseline."""
    return -_per_reply(advantages, logprobs) * logprobs  # (B, T)


def grpo_clip_token_loss(
    logprobs: Tensor,
    old_logprobs: Tensor,
    advantages: Tensor,
    clip_eps: float = 0.2,
    clip_eps_high: float | None = None,
) -> Tensor:
    """-min(ρ Â, clip(ρ, 1 - ε, 1 + ε_high) Â) per token (B, T), ρ = exp(log π - log π_old): PPO's clipped
    surrogate with one advantage per reply. ``clip_eps_high`` (default ``clip_eps``) is DAPO's clip-higher."""
    adv = _per_reply(advantages, logprobs)  # (B, 1)
    _need("old_logprobs", old_logprobs, 2)
    if old_logprobs.shape != logprobs.shape:
        raise ValueError(
            f"logprobs {tuple(logprobs.shape)} and old_logprobs {tuple(old_logprobs.shape)} must have the same shape"
        )
    high = clip_eps if clip_eps_high is None else clip_eps_high
    if not (clip_eps > 0 and high > 0):
        raise ValueError(f"need clip_eps > 0 and clip_eps_high > 0, got {clip_eps}, {clip_eps_high}")
    ratio = torch.exp(logprobs - old_logprobs)  # (B, T)
    return -torch.minimum(ratio * adv, torch.clamp(ratio, 1.0 - clip_eps, 1.0 + high) * adv)  # (B, T)


# --8<-- [end:token-losses]


# --8<-- [start:aggregate]
def masked_normalize(x: Tensor, mask: Tensor, constant: float, dim: int | None = None) -> Tensor:
    """Sum of ``x`` where ``mask`` is True, divided by a fixed ``constant`` (not by the count)."""
    if not (isinstance(constant, (int, float)) and math.isfinite(constant) and constant > 0):
        raise ValueError(f"constant must be a finite number > 0, got {constant!r}")
    if mask.shape != x.shape:
        raise ValueError(f"x {tuple(x.shape)} and mask {tuple(mask.shape)} must have the same shape")
    masked = x * mask.to(x.dtype)
    return (masked.sum() if dim is None else masked.sum(dim)) / constant


AGGREGATIONS = ("reply_mean", "token_mean", "constant")


def aggregate(token_loss: Tensor, mask: Tensor, how: str = "reply_mean", constant: float | None = None) -> Tensor:
    """(B, T) per-token losses → the scalar to minimise (see the module docstring for the three rules).
    A reply with no tokens counts as 0 in "reply_mean" (its mean is taken over max(1, 0) tokens)."""
    if how not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {how!r}; choose one of {AGGREGATIONS}")
    _need("token_loss", token_loss, 2)
    if mask.shape != token_loss.shape:
        raise ValueError(f"token_loss {tuple(token_loss.shape)} and mask {tuple(mask.shape)} must have the same shape")
    m = mask.to(token_loss.dtype)
    if how == "reply_mean":
        return ((token_loss * m).sum(1) / m.sum(1).clamp_min(1.0)).mean()  # (B,) → ()
    if how == "token_mean":
        return (token_loss * m).sum() / m.sum().clamp_min(1.0)
    if constant is None:
        raise ValueError('aggregation "constant" needs the constant (e.g. the longest a reply may be)')
    return masked_normalize(token_loss, mask, constant, dim=1).mean()


# --8<-- [end:aggregate]


@dataclass(frozen=True)
class LossVariant:
    """One member of the family: which advantage, which per-token loss, which aggregation."""

    baseline: bool
    normalize_by_std: bool
    token_loss: str  # "reinforce" or "grpo_clip"
    aggregation: str
    clip_eps_high: float | None = None


LOSS_VARIANTS = {
    "reinforce": LossVariant(False, False, "reinforce", "reply_mean"),
    "reinforce_baseline": LossVariant(True, False, "reinforce", "reply_mean"),
    "grpo": LossVariant(True, True, "grpo_clip", "reply_mean"),
    "dr_grpo": LossVariant(True, False, "grpo_clip", "constant"),
    "dapo": LossVariant(True, True, "grpo_clip", "token_mean", clip_eps_high=0.28),
}
