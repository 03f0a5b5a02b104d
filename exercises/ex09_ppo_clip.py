"""PPO's clipped surrogate loss (report §1.2.2, PPO).

With ratio ρ = exp(logp_new - logp_old) and advantages A (all (N,) tensors), return
    loss = -mean( min(ρ A, clip(ρ, 1-ε, 1+ε) A) )
The clip removes the incentive to move the policy far from the one that collected the data.
(Schulman et al. 2017, eq. 7.)

Grade it: pytest exercises/test_ex09_ppo_clip.py
"""

from __future__ import annotations

from torch import Tensor


def ppo_clip_loss(logp_new: Tensor, logp_old: Tensor, advantages: Tensor, eps: float = 0.2) -> Tensor:
    raise NotImplementedError("ex09_ppo_clip: write this function")
