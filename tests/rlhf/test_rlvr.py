"""RLVRTrainer (minillm/rlhf/rlvr.py): each loss of the family runs GRPO's loop, the records carry the
diagnostics, a stage with nothing to learn says so, and bad settings are refused before any work."""

import pytest
import torch

from minillm import GPT, GPTConfig
from minillm.rlhf.policy_gradient import LOSS_VARIANTS
from minillm.rlhf.rlvr import RLVRConfig, RLVRTrainer
from minillm.rlhf.stage import RECORD_KEYS
from minillm.rlhf.verifiable import AdditionTask


def _setup(**config):
    task = AdditionTask(1, 1)
    torch.manual_seed(0)
    policy = GPT(GPTConfig(vocab_size=task.tokenizer.vocab_size, block_size=24, n_layer=1, n_head=2, n_embd=16))
    fields = {"max_steps": 1, "batch_size": 2, "group_size": 3, "minibatch_size": 6, "max_new_tokens": 12, **config}
    return task, policy, RLVRConfig(**fields)


def _trainer(task, policy, cfg, reward=None, log=print):
    return RLVRTrainer(policy, reward or task.reward, task.sample_prompt, task.tokenizer, task.eos_id, cfg, log=log)


@pytest.mark.parametrize("loss", sorted(LOSS_VARIANTS))
def test_every_loss_trains_and_records_its_diagnostics(loss):
    task, policy, cfg = _setup(loss=loss)
    reward = lambda prompt, reply: float(len(reply) % 2)  # any varying reward: groups differ
    before = [p.detach().clone() for p in policy.parameters()]
    records = _trainer(task, policy, cfg, reward).train()
    keys = {"reward", "equal_groups", "truncated", "no_eos", "clip_frac", "kl", "kl_k3", "entropy", "reply_len"}
    assert set(RECORD_KEYS) <= set(records[0]) and keys <= set(records[0])
    moved = any(not torch.equal(a, b) for a, b in zip(before, policy.parameters()))
    assert moved == (records[0]["equal_groups"] < 1.0)


def test_the_variant_sets_the_advantages():
    task, policy, cfg = _setup(loss="reinforce")
    batch = _trainer(task, policy, cfg, lambda p, r: float(len(r))).rollout()
    assert torch.equal(batch["advantages"], batch["rewards"].flatten())  # no baseline: the rewards themselves
    task, policy, cfg = _setup(loss="dr_grpo")
    batch = _trainer(task, policy, cfg, lambda p, r: float(len(r))).rollout()
    r = batch["rewards"]
    assert torch.equal(batch["advantages"], (r - r.mean(1, keepdim=True)).flatten())


def test_a_stage_with_nothing_to_learn_warns_and_does_not_move():
    task, policy, cfg = _setup(max_steps=2, log_every=1)
    before = [p.detach().clone() for p in policy.parameters()]
    lines = []
    with pytest.warns(UserWarning, match="learning nothing: 100% of groups have all-equal rewards"):
        records = _trainer(task, policy, cfg, lambda p, r: 0.0, log=lines.append).train()
    assert len(lines) == 2 and "equal_groups 1.000" in lines[0]
    assert all(r["equal_groups"] == 1.0 for r in records)
    # no gradient and no weight decay (RLVRConfig's default 0): the policy stays where it was
    assert all(torch.equal(a, b) for a, b in zip(before, policy.parameters()))


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="unknown loss 'ppo'"):
        RLVRConfig(loss="ppo")
    with pytest.raises(ValueError, match="group_size >= 2"):
        RLVRConfig(group_size=1)
    with pytest.raises(ValueError, match="log_every must be >= 0"):
        RLVRConfig(log_every=-1)
    task, policy, _ = _setup()
    with pytest.raises(TypeError, match="config must be an RLVRConfig"):
        _trainer(task, policy, "grpo")
