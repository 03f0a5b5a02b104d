"""Training (report §1.2, pre-training): config, Trainer, schedule, checkpoints, DDP.

``Trainer(TrainConfig(...)).train()`` is what ``minillm train`` runs; ``train_lm`` is the
ten-line loop the small examples use.
"""

from minillm.train.checkpoint import CheckpointError, latest_checkpoint, load_checkpoint, save_checkpoint
from minillm.train.config import TrainConfig
from minillm.train.loop import train_lm
from minillm.train.schedule import cosine_lr
from minillm.train.trainer import Trainer

__all__ = [
    "CheckpointError",
    "TrainConfig",
    "Trainer",
    "cosine_lr",
    "latest_checkpoint",
    "load_checkpoint",
    "save_checkpoint",
    "train_lm",
]
