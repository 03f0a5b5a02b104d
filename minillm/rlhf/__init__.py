"""RLHF, report §1.2.2-1/2: losses, SFT, reward model, PPO, DPO, and a synthetic labeler."""

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
from minillm.rlhf.dpo import DPOConfig, DPOTrainer  # noqa: E402
from minillm.rlhf.ppo import Critic, PPOConfig, PPOTrainer  # noqa: E402
from minillm.rlhf.reward import Ranking, RewardConfig, RewardModel, RewardModelTrainer  # noqa: E402
from minillm.rlhf.sft import SFTConfig, SFTTrainer, sft_batch  # noqa: E402
from minillm.rlhf.tasks import SortTask, SyntheticLabeler, true_score  # noqa: E402

__all__ += [
    "DPOConfig",
    "DPOTrainer",
    "Critic",
    "PPOConfig",
    "PPOTrainer",
    "Ranking",
    "RewardConfig",
    "RewardModel",
    "RewardModelTrainer",
    "SFTConfig",
    "SFTTrainer",
    "sft_batch",
    "SortTask",
    "SyntheticLabeler",
    "true_score",
]
