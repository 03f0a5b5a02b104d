"""The math of RLHF as pure functions: ranking loss, GAE, PPO losses, KL penalty, DPO.

Report §1.2.2-1 (基于人类反馈强化学习 RLHF): (1) a supervised policy, (2) a reward model trained
on labelers' rankings (奖励模型), (3) reinforcement learning with PPO (近端策略优化) against that
reward. Every formula of steps 2 and 3 lives here, with no state, so each can be checked by hand.

    ranking (InstructGPT, Ouyang et al. 2022, eq. 1):
        loss = -1/C(K,2) · Σ_{y_w ranked above y_l} log σ(r(x, y_w) - r(x, y_l))
    GAE (Schulman et al. 2016):
        δ_t = r_t + γ V_{t+1} - V_t,     A_t = δ_t + γλ A_{t+1},     R_t = A_t + V_t
    PPO clipped objective (Schulman et al. 2017, eq. 7), ratio ρ = π_θ(a|s) / π_old(a|s):
        L_policy = -E[min(ρ A, clip(ρ, 1-ε, 1+ε) A)]
        L_value  = ½ E[max((V - R)², (V_old + clip(V - V_old, -ε_v, ε_v) - R)²)]
    KL penalty per token (Ziegler et al. 2019): log π_θ - log π_ref  (k1; k2, k3 estimators too)
    DPO (Rafailov et al. 2023, eq. 7):
        loss = -log σ(β [(log π_θ(y_w) - log π_ref(y_w)) - (log π_θ(y_l) - log π_ref(y_l))])
    GRPO (Shao et al. 2024): Â_i = (r_i - mean_group) / (std_group + eps), PPO's clip + β·k3 KL

Tensors are (B, T) per token with a (B, T) mask that is True on the response tokens being trained.

Docs: docs/rlhf.md.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from minillm.rlhf.policy_gradient import GROUP_STD_EPS, aggregate, grpo_clip_token_loss, group_advantages

__all__ = [
    "dpo_loss",
    "gae",
    "grpo_advantages",
    "grpo_loss",
    "kl_penalty",
    "masked_mean",
    "pairwise_ranking_loss",
    "ppo_policy_loss",
    "ppo_value_loss",
    "whiten",
]


def _positive(x) -> bool:
    """A finite number > 0; bool is not a number here."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0


def _check_tensors(**named: Tensor) -> None:
    for name, t in named.items():
        if not isinstance(t, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")


def _check_same_shape(expected: str = "", **named: Tensor | None) -> None:
    """Tensors (None = not given) of one shape: broadcasting (B, T) against (B, 1) or (B, T - 1)
    would give a number, just the wrong one. ``expected`` names that shape in the error."""
    named = {k: t for k, t in named.items() if t is not None}
    _check_tensors(**named)
    (first, a), *rest = named.items()
    for name, t in rest:
        if t.shape != a.shape:
            shape = f" {expected}" if expected else ""
            raise ValueError(f"{first} {tuple(a.shape)} and {name} {tuple(t.shape)} must have the same shape{shape}")


def masked_mean(x: Tensor, mask: Tensor | None = None, dim=None) -> Tensor:
    """Mean of ``x`` over the positions where ``mask`` is True (all positions if None)."""
    if mask is None:
        return x.mean() if dim is None else x.mean(dim)
    mask = mask.to(x.dtype)
    if dim is None:
        return (x * mask).sum() / mask.sum().clamp_min(1.0)
    return (x * mask).sum(dim) / mask.sum(dim).clamp_min(1.0)


def whiten(x: Tensor, mask: Tensor | None = None, shift_mean: bool = True, eps: float = 1e-8) -> Tensor:
    """(x - mean) / std over the masked positions; masked-out positions come back as 0."""
    mean = masked_mean(x, mask)
    var = masked_mean((x - mean) ** 2, mask)
    out = (x - mean) * torch.rsqrt(var + eps)
    if not shift_mean:
        out = out + mean
    return out if mask is None else out * mask.to(x.dtype)


# --8<-- [start:ranking]
def pairwise_ranking_loss(rewards: Tensor, ranks: Tensor | None = None) -> Tensor:
    """InstructGPT's reward-model loss over all K-choose-2 pairs of each ranking.

    Args:
        rewards: (B, K) reward-model scores of K replies to the same prompt.
        ranks: (B, K) integer ranks, lower = better (ties allowed: tied pairs are skipped).
            None means the replies are already ordered best first.
    Returns the mean over prompts of the mean over their ordered pairs of -log σ(r_w - r_l).
    """
    _check_tensors(rewards=rewards, **({} if ranks is None else {"ranks": ranks}))
    if rewards.dim() != 2 or rewards.shape[1] < 2:
        raise ValueError(f"rewards must be (B, K) with K >= 2 replies per prompt, got {tuple(rewards.shape)}")
    if ranks is None:
        ranks = torch.arange(rewards.shape[1], device=rewards.device).expand_as(rewards)
    if ranks.shape != rewards.shape:
        raise ValueError(f"ranks {tuple(ranks.shape)} must have the shape of rewards {tuple(rewards.shape)}")
    better = ranks[:, :, None] < ranks[:, None, :]  # (B, K, K): reply i ranked above reply j
    n_pairs = better.sum(dim=(1, 2))  # (B,)
    if bool((n_pairs == 0).any()):
        raise ValueError("a ranking has only ties: at least two replies must be ranked differently")
    margin = rewards[:, :, None] - rewards[:, None, :]  # (B, K, K): r_i - r_j
    per_pair = -F.logsigmoid(margin) * better  # zero where i is not above j
    return (per_pair.sum(dim=(1, 2)) / n_pairs).mean()


# --8<-- [end:ranking]


# --8<-- [start:gae]
def gae(rewards: Tensor, values: Tensor, mask: Tensor, gamma: float = 1.0, lam: float = 0.95) -> tuple[Tensor, Tensor]:
    """Generalised advantage estimation over the masked (response) tokens of each row.

    Args:
        rewards, values, mask: (B, T); the episode of a row is its masked positions, in order;
            the value after the last masked position is 0 (the episode ends there).
    Returns (advantages, returns), both (B, T), zero outside the mask.
    """
    _check_tensors(rewards=rewards, values=values, mask=mask)
    if mask.dtype != torch.bool:  # a float 0/1 mask would be read as numbers by torch.where below
        raise ValueError(f"mask must be a bool tensor (True = a response token), got {mask.dtype}")
    _check_same_shape("(B, T)", rewards=rewards, values=values, mask=mask)
    if rewards.dim() != 2:
        raise ValueError(f"rewards, values and mask must all be (B, T), got {tuple(rewards.shape)}")
    if not (0.0 <= gamma <= 1.0 and 0.0 <= lam <= 1.0):
        raise ValueError(f"gamma and lam must lie in [0, 1], got gamma={gamma}, lam={lam}")
    m = mask.to(values.dtype)
    advantages = torch.zeros_like(values)
    next_value = torch.zeros_like(values[:, 0])  # V after the end of the episode
    next_adv = torch.zeros_like(values[:, 0])
    for t in reversed(range(values.shape[1])):
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        adv_t = delta + gamma * lam * next_adv
        # Padding positions pass the "next" quantities through unchanged.
        advantages[:, t] = adv_t * m[:, t]
        next_value = torch.where(mask[:, t], values[:, t], next_value)
        next_adv = torch.where(mask[:, t], adv_t, next_adv)
    returns = (advantages + values) * m
    return advantages, returns


# --8<-- [end:gae]


# --8<-- [start:ppo]
def ppo_policy_loss(
    logprobs: Tensor, old_logprobs: Tensor, advantages: Tensor, mask: Tensor, clip_eps: float = 0.2
) -> tuple[Tensor, dict]:
    """Clipped surrogate loss; also returns clip fraction and approximate KL(old ‖ new)."""
    _check_same_shape(logprobs=logprobs, old_logprobs=old_logprobs, advantages=advantages, mask=mask)
    if not _positive(clip_eps):
        raise ValueError(f"clip_eps must be a finite number > 0, got {clip_eps!r}")
    log_ratio = logprobs - old_logprobs
    ratio = torch.exp(log_ratio)
    unclipped = ratio * advantages
    clipped = torch.clamp(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * advantages
    loss = -masked_mean(torch.minimum(unclipped, clipped), mask)
    with torch.no_grad():
        stats = {
            "clip_frac": masked_mean((clipped < unclipped).float(), mask).item(),
            "approx_kl": masked_mean(0.5 * log_ratio**2, mask).item(),
        }
    return loss, stats


# --8<-- [end:ppo]


def ppo_value_loss(values: Tensor, old_values: Tensor, returns: Tensor, mask: Tensor, clip: float = 0.2) -> Tensor:
    """Clipped value loss: the new value may not move more than ``clip`` from the old one for free."""
    _check_same_shape(values=values, old_values=old_values, returns=returns, mask=mask)
    if not _positive(clip):
        raise ValueError(f"clip must be a finite number > 0, got {clip!r}")
    clipped = old_values + torch.clamp(values - old_values, -clip, clip)
    return 0.5 * masked_mean(torch.maximum((values - returns) ** 2, (clipped - returns) ** 2), mask)


def kl_penalty(logprobs: Tensor, ref_logprobs: Tensor, kind: str = "k1") -> Tensor:
    """Per-token estimate of KL(π ‖ π_ref) from samples of π (Schulman 2020, "Approximating KL").

    k1 = log π - log π_ref (unbiased, can be negative; what InstructGPT subtracts from the reward),
    k2 = ½ (log π - log π_ref)², k3 = (ρ - 1) - log ρ with ρ = π_ref / π (unbiased, ≥ 0).
    """
    _check_same_shape(logprobs=logprobs, ref_logprobs=ref_logprobs)
    if kind not in ("k1", "k2", "k3"):
        raise ValueError(f"unknown KL estimator {kind!r}; choose 'k1', 'k2' or 'k3'")
    log_ratio = logprobs - ref_logprobs
    if kind == "k1":
        return log_ratio
    if kind == "k2":
        return 0.5 * log_ratio**2
    return torch.expm1(-log_ratio) + log_ratio  # k3


# --8<-- [start:dpo]
def dpo_loss(
    policy_chosen: Tensor, policy_rejected: Tensor, ref_chosen: Tensor, ref_rejected: Tensor, beta: float = 0.1
) -> tuple[Tensor, Tensor]:
    """DPO loss from summed sequence log-probabilities (B,); returns (loss, implicit reward margin)."""
    if not _positive(beta):
        raise ValueError(f"beta must be a finite number > 0, got {beta!r}")
    named = {"policy_chosen": policy_chosen, "policy_rejected": policy_rejected}
    named.update(ref_chosen=ref_chosen, ref_rejected=ref_rejected)
    _check_tensors(**named)
    shapes = {tuple(t.shape) for t in named.values()}
    if len(shapes) != 1 or policy_chosen.dim() != 1:  # (B,) vs (B, 1) would broadcast to (B, B)
        got = ", ".join(f"{k} {tuple(t.shape)}" for k, t in named.items())
        raise ValueError(f"dpo_loss needs four (B,) tensors of one shape (a sum per sequence), got {got}")
    margin = beta * ((policy_chosen - ref_chosen) - (policy_rejected - ref_rejected))  # (B,)
    return -F.logsigmoid(margin).mean(), margin.detach()


# --8<-- [end:dpo]


# GRPO (Shao et al. 2024, DeepSeekMath §4.1): no value model. G replies are sampled per prompt and
# each reply's advantage is its reward standardised within its own group:
#     Â_i = (r_i - mean(r_1..r_G)) / (std(r_1..r_G) + eps)
# and every token of reply i gets Â_i. The loss is PPO's clipped surrogate plus β·KL to the reference,
# with the k3 estimator per token, averaged over each reply's tokens and then over replies (eq. 3):
#     L = -1/G Σ_i 1/|o_i| Σ_t [ min(ρ_t Â_i, clip(ρ_t, 1-ε, 1+ε) Â_i) - β · k3_t ]
GRPO_EPS = GROUP_STD_EPS  # added to the group std (TRL's GRPOTrainer uses the same size)


# --8<-- [start:grpo-advantages]
def grpo_advantages(rewards: Tensor, eps: float = GRPO_EPS) -> Tensor:
    """Group-relative advantages: rewards (P prompts, G replies) → (P, G), standardised per row.

    The std is the *sample* std (Bessel's n-1, torch's default, as TRL and DeepSeek's reference code)
    and ``eps`` = 1e-4 is added to it, so a group of equal rewards gets advantages of exactly 0
    (nothing to learn from a group whose replies are all as good as each other).
    """
    _check_tensors(rewards=rewards)
    if rewards.dim() != 2:
        raise ValueError(f"rewards must be (prompts, G replies), got shape {tuple(rewards.shape)}")
    if rewards.shape[1] < 2:
        raise ValueError(f"GRPO needs G >= 2 replies per prompt to compare, got G = {rewards.shape[1]}")
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    return group_advantages(rewards, baseline=True, normalize_by_std=True, eps=eps)  # (P, G), policy_gradient.py


# --8<-- [end:grpo-advantages]


# --8<-- [start:grpo-loss]
def grpo_loss(
    logprobs: Tensor,
    old_logprobs: Tensor,
    ref_logprobs: Tensor,
    advantages: Tensor,
    mask: Tensor,
    clip_eps: float = 0.2,
    beta: float = 0.04,
) -> tuple[Tensor, dict]:
    """GRPO's loss from per-token log-probabilities (B, T) of B replies, their advantages (B,) and the
    reply-token mask (B, T): per token -[min(ρÂ, clip(ρ)Â) - β·k3], mean over a reply's tokens, then
    over replies (each reply weighs the same, however long). Returns (loss, figures)."""
    if clip_eps <= 0 or beta < 0:
        raise ValueError(f"need clip_eps > 0 and beta >= 0, got clip_eps={clip_eps}, beta={beta}")
    _check_same_shape("(B, T)", logprobs=logprobs, old_logprobs=old_logprobs, ref_logprobs=ref_logprobs, mask=mask)
    _check_tensors(advantages=advantages)
    if logprobs.dim() != 2:
        raise ValueError(f"logprobs, old_logprobs, ref_logprobs and mask must be (B, T), got {tuple(logprobs.shape)}")
    if advantages.dim() != 1 or advantages.shape[0] != logprobs.shape[0]:
        raise ValueError(f"advantages must be (B,) = ({logprobs.shape[0]},), got {tuple(advantages.shape)}")
    # the clipped surrogate per token, one advantage per reply (rlhf/policy_gradient.py), plus β·k3
    kl = kl_penalty(logprobs, ref_logprobs, "k3")  # (B, T), ≥ 0
    token_loss = grpo_clip_token_loss(logprobs, old_logprobs, advantages, clip_eps) + beta * kl  # (B, T)
    with torch.no_grad():
        clipped = ((torch.exp(logprobs - old_logprobs) - 1).abs() > clip_eps).float()  # ratio left [1-ε, 1+ε]
        figures = {"kl_k3": masked_mean(kl, mask, dim=1).mean().item(), "clip_frac": masked_mean(clipped, mask).item()}
    return aggregate(token_loss, mask, "reply_mean"), figures  # mean over a reply's tokens, then over replies


# --8<-- [end:grpo-loss]
