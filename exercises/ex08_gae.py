"""Generalised advantage estimation (report §1.2.2, PPO).

For one episode of length T with rewards r_t and value estimates V_t (V after the end = 0):
    δ_t = r_t + γ V_{t+1} - V_t
    A_t = δ_t + γ λ A_{t+1}          (A after the end = 0)
Return (advantages, returns = advantages + values), both shaped like ``rewards`` (T,).
(Schulman et al. 2016.)

Grade it: pytest exercises/test_ex08_gae.py
"""

from __future__ import annotations

from torch import Tensor


def gae(rewards: Tensor, values: Tensor, gamma: float = 1.0, lam: float = 0.95) -> tuple[Tensor, Tensor]:
    raise NotImplementedError("ex08_gae: write this function")
