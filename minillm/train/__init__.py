"""Training utilities: learning-rate schedules and a small language-model training loop."""

from minillm.train.loop import train_lm
from minillm.train.schedule import cosine_lr

__all__ = ["cosine_lr", "train_lm"]
