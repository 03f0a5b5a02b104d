"""RLHF, report §1.2.2-1/2: losses, SFT, reward model, PPO, DPO, GRPO, a synthetic labeler, the pipeline.

Every stage is a config (``StageConfig`` fields: max_steps, batch_size, lr, weight_decay, grad_clip,
seed) and a trainer whose ``train()`` returns records with ``step``, ``loss``, ``lr`` and ``time_s``
(rlhf/stage.py); ``run_pipeline(PipelineConfig())`` runs them in order (rlhf/pipeline.py).
"""

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
from minillm.rlhf.dpo import DPOConfig, DPOTrainer
from minillm.rlhf.grpo import GRPOConfig, GRPOTrainer
from minillm.rlhf.pipeline import PipelineConfig, run_pipeline
from minillm.rlhf.policy_gradient import (
    LOSS_VARIANTS,
    aggregate,
    grpo_clip_token_loss,
    group_advantages,
    masked_normalize,
    reinforce_token_loss,
)
from minillm.rlhf.ppo import Critic, PPOConfig, PPOTrainer
from minillm.rlhf.reward import Ranking, RewardConfig, RewardModel, RewardModelTrainer
from minillm.rlhf.rlvr import RLVRConfig, RLVRTrainer
from minillm.rlhf.sampling import generate_replies, token_logprobs
from minillm.rlhf.sft import SFTConfig, SFTTrainer, sft_batch
from minillm.rlhf.stage import RECORD_KEYS, StageConfig
from minillm.rlhf.tasks import SortTask, SyntheticLabeler, true_score
from minillm.rlhf.verifiable import AdditionTask, pass_at_k

__all__ += [
    "LOSS_VARIANTS",
    "RECORD_KEYS",
    "AdditionTask",
    "RLVRConfig",
    "RLVRTrainer",
    "aggregate",
    "grpo_clip_token_loss",
    "group_advantages",
    "masked_normalize",
    "pass_at_k",
    "reinforce_token_loss",
    "Critic",
    "DPOConfig",
    "DPOTrainer",
    "GRPOConfig",
    "GRPOTrainer",
    "PPOConfig",
    "PPOTrainer",
    "PipelineConfig",
    "Ranking",
    "RewardConfig",
    "RewardModel",
    "RewardModelTrainer",
    "SFTConfig",
    "SFTTrainer",
    "SortTask",
    "StageConfig",
    "SyntheticLabeler",
    "generate_replies",
    "run_pipeline",
    "sft_batch",
    "token_logprobs",
    "true_score",
]
