"""ex09 by cases on the advantage's sign (the form Schulman et al. 2017 give below eq. 7)."""

import torch


def ppo_clip_loss(logp_new, logp_old, advantages, eps=0.2):
    ratio = torch.exp(logp_new - logp_old)
    bounded = torch.where(advantages >= 0, torch.clamp(ratio, max=1 + eps), torch.clamp(ratio, min=1 - eps))
    return -(bounded * advantages).mean()
