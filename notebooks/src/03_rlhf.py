# Notebook source (percent format): tools/make_notebooks.py writes notebooks/03_rlhf.ipynb from it.
# ruff: noqa: F821  (QUICK is defined by the setup cell that tools/make_notebooks.py puts first)

# %% [markdown]
# # §1.2.2-1/2 RLHF: SFT, a reward model, PPO — and DPO
#
# The report's three steps: (1) supervised fine-tuning on demonstrations, (2) a reward model
# learned from human rankings, (3) PPO against that reward with a KL leash to the SFT model.
# First the losses, each checked on numbers you can work out by hand; then the whole pipeline on a
# toy task where a synthetic labeler stands in for people. The chapter:
# [docs/rlhf.md](../docs/rlhf.md); exercises 7–9 ask you to write these losses.

# %% [markdown]
# ## Step 2's loss: rank the better reply higher
#
# For every pair (w better than l) of the K ranked replies: −log σ(r_w − r_l). With scores 2 and 0
# that is −log σ(2) = 0.127; with equal scores, ln 2.

# %%
import math

import torch

from minillm.rlhf.losses import dpo_loss, gae, pairwise_ranking_loss, ppo_policy_loss

print(pairwise_ranking_loss(torch.tensor([[2.0, 0.0]])).item(), -math.log(1 / (1 + math.exp(-2))))
print(pairwise_ranking_loss(torch.tensor([[1.0, 1.0, 1.0]])).item(), math.log(2))

# %% [markdown]
# ## Step 3: advantages (GAE) and the clipped PPO loss
#
# δ_t = r_t + γ V_{t+1} − V_t and A_t = δ_t + γλ A_{t+1}. With γ = λ = 1 the advantage is the
# reward still to come minus the value estimate: rewards (0, 1) and values (0.5, 0.5) give (0.5, 0.5).

# %%
adv, returns = gae(torch.tensor([[0.0, 1.0]]), torch.tensor([[0.5, 0.5]]), torch.ones(1, 2, dtype=torch.bool), 1.0, 1.0)
print("advantages", adv.tolist(), "returns", returns.tolist())

# ratio ρ = 1.5 with A = +1 is clipped to 1.2; ρ = 0.5 with A = −1 to 0.8: no reward for moving further
new, old = torch.log(torch.tensor([1.5, 0.5])), torch.zeros(2)
loss, stats = ppo_policy_loss(new, old, torch.tensor([1.0, -1.0]), torch.ones(2, dtype=torch.bool))
print(f"PPO loss {loss.item():.3f} = -(1.2 - 0.8) / 2; clipped share {stats['clip_frac']:.2f}")

# %% [markdown]
# ## DPO: the same preferences without a reward model or PPO
#
# DPO scores a pair by how much more the policy prefers the better reply than the reference does.
# A policy equal to its reference has loss ln 2.

# %%
logp = torch.tensor([-3.0, -5.0])
loss, margin = dpo_loss(logp[:1], logp[1:], logp[:1], logp[1:])
print(f"DPO loss when policy = reference: {loss.item():.4f} (ln 2 = {math.log(2):.4f})")

# %% [markdown]
# ## The whole pipeline on a toy task
#
# The prompt is a digit string, "\n3142>", the wished-for reply the sorted digits, "1234\n". A hidden
# *true score* (the share of places holding the right digit) judges replies; the labeler writes
# demonstrations with slips and ranks replies with noise, never revealing the score. Because we know
# the true score, we can see whether PPO, GRPO and DPO improved the policy or only learned to please
# the reward model (β = 0: no KL leash).
#
# `QUICK` runs every stage for a handful of steps (numbers are then noise); `PipelineConfig(quick=True)`
# takes about half a minute, `PipelineConfig()` a few minutes and gives the chapter's table.

# %%
from minillm.rlhf.pipeline import PipelineConfig, run_pipeline

if QUICK:
    config = PipelineConfig(
        sft_steps=20, rm_prompts=32, rm_test_prompts=16, rm_steps=10, ppo_steps=1, dpo_steps=5, n_eval=16
    )
else:
    config = PipelineConfig(quick=True)
results = run_pipeline(config)

# %%
evaluation = results["evaluation"]
print(f"{'policy':10s} {'true score':>10s} {'RM score':>9s} {'KL to SFT':>9s}  example")
for name in ("sft", "ppo", "grpo", "grpo_rule", "dpo", "ppo_beta0"):
    e = evaluation[name]
    print(f"{name:10s} {e['true']:10.3f} {e['rm']:9.3f} {e['kl']:9.2f}  {e['example']!r}")
print(
    f"demonstrations' true score {evaluation['demos_true']:.3f}; "
    f"reward model ranks held-out pairs right {evaluation['rm_accuracy']:.0%} of the time"
)

# %% [markdown]
# **Next:** [docs/rlhf.md](../docs/rlhf.md) for the results over seeds, and
# `python examples/06_rlhf_pipeline.py` for the full run with plots.
