"""RLHF, report §1.2.2-1/2: the loss functions (losses.py); trainers are being added."""

from minillm.rlhf.losses import (
    dpo_loss,
    gae,
    kl_penalty,
    masked_mean,
    pairwise_ranking_loss,
    ppo_policy_loss,
    ppo_value_loss,
    whiten,
)

__all__ = [
    "dpo_loss",
    "gae",
    "kl_penalty",
    "masked_mean",
    "pairwise_ranking_loss",
    "ppo_policy_loss",
    "ppo_value_loss",
    "whiten",
]
