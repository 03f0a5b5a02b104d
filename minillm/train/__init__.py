"""Training (report §1.2, pre-training): config, Trainer, the training step, schedule, checkpoints, DDP,
and the sharded modes past §3.2's memory wall (parallel.py: ZeRO-1, FSDP2, tensor parallel).

``Trainer(TrainConfig(...)).train()`` is what ``minillm train`` runs; ``train_lm`` is the
ten-line loop the small examples use; both (and the RLHF trainers) step through ``TrainStep``
(train/step.py), which holds the optimizer defaults.
"""

from minillm.train.checkpoint import CheckpointError, latest_checkpoint, load_checkpoint, save_checkpoint
from minillm.train.config import TrainConfig
from minillm.train.loop import train_lm
from minillm.train.schedule import cosine_lr
from minillm.train.step import StepResult, TrainStep, lr_at, make_optimizer, param_groups
from minillm.train.trainer import Trainer

__all__ = [
    "CheckpointError",
    "StepResult",
    "TrainConfig",
    "TrainStep",
    "Trainer",
    "cosine_lr",
    "latest_checkpoint",
    "load_checkpoint",
    "lr_at",
    "make_optimizer",
    "param_groups",
    "save_checkpoint",
    "train_lm",
]
