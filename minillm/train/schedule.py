"""Learning-rate schedule: linear warm-up, then cosine decay to a floor.

    lr(s) = max_lr · (s + 1) / warmup                                     for s < warmup
    lr(s) = min_lr + (max_lr - min_lr) · ½ (1 + cos(π · (s - warmup) / (total - warmup)))
    lr(s) = min_lr                                                        for s ≥ total

Warm-up keeps Adam's first, badly estimated updates small; cosine decay lets the model settle
(used by GPT-3, Brown et al. 2020, appendix B).
"""

from __future__ import annotations

import math

__all__ = ["cosine_lr"]


# --8<-- [start:cosine]
def cosine_lr(step: int, max_lr: float, total_steps: int, warmup_steps: int = 0, min_lr: float = 0.0) -> float:
    """Learning rate at ``step`` (0-based)."""
    if total_steps <= 0 or warmup_steps < 0 or warmup_steps > total_steps:
        raise ValueError(
            f"need 0 <= warmup_steps <= total_steps and total_steps > 0, got {warmup_steps}, {total_steps}"
        )
    if not 0 <= min_lr <= max_lr:
        raise ValueError(f"need 0 <= min_lr <= max_lr, got min_lr={min_lr}, max_lr={max_lr}")
    if step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    if step >= total_steps:
        return min_lr
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return min_lr + (max_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))


# --8<-- [end:cosine]
