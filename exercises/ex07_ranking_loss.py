"""The reward model's pairwise ranking loss (report §1.2.2, reward model).

A labeler ranks K replies to one prompt, best first. The reward model r should score every
better reply above every worse one (InstructGPT, Ouyang et al. 2022, eq. 1):
    loss = mean over the K(K-1)/2 pairs (w better than l) of  -log σ(r_w - r_l)
``rewards`` is (B, K), each row ordered best first. Return the mean over the B rows (a scalar).

Grade it: pytest exercises/test_ex07_ranking_loss.py
"""

from __future__ import annotations

from torch import Tensor


def ranking_loss(rewards: Tensor) -> Tensor:
    raise NotImplementedError("ex07_ranking_loss: write this function")
