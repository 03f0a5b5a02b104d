"""GRPO: group-relative advantages and the loss against hand values; the trainer's shape and bad input."""

import copy
import math
import random

import pytest
import torch

from minillm import GPT, GPTConfig
from minillm.rlhf import (
    GRPOConfig,
    GRPOTrainer,
    RewardModel,
    SFTConfig,
    SFTTrainer,
    SortTask,
    grpo_advantages,
    grpo_loss,
)
from minillm.rlhf.evaluate import sampled_true_score
from minillm.rlhf.sampling import pack_replies
from minillm.rlhf.stage import RECORD_KEYS


def test_advantages_hand_values():
    # group (1, 2, 3, 6): mean 3, sample std sqrt((4 + 1 + 0 + 9) / 3) = sqrt(14/3) = 2.1602
    adv = grpo_advantages(torch.tensor([[1.0, 2.0, 3.0, 6.0], [0.0, 1.0, 0.0, 1.0]]))
    s = math.sqrt(14 / 3) + 1e-4
    torch.testing.assert_close(adv[0], torch.tensor([-2 / s, -1 / s, 0.0, 3 / s]))
    # (0, 1, 0, 1): mean 0.5, sample std sqrt(4 · 0.25 / 3) = 0.57735 (population std would be 0.5)
    s = math.sqrt(1 / 3) + 1e-4
    torch.testing.assert_close(adv[1], torch.tensor([-0.5 / s, 0.5 / s, -0.5 / s, 0.5 / s]))


def test_equal_rewards_give_zero_and_groups_are_independent():
    adv = grpo_advantages(torch.tensor([[0.7, 0.7, 0.7], [100.0, 101.0, 102.0]]))
    assert torch.equal(adv[0], torch.zeros(3))
    torch.testing.assert_close(adv[1], grpo_advantages(torch.tensor([[0.0, 1.0, 2.0]]))[0])  # shift-invariant


@pytest.mark.parametrize("shape", [(4, 1), (4,), (2, 2, 2)])
def test_advantages_bad_shapes(shape):
    with pytest.raises(ValueError, match="G >= 2" if shape == (4, 1) else "prompts, G"):
        grpo_advantages(torch.zeros(shape))


def test_loss_hand_values():
    """Two replies (2 and 1 tokens); hand-computed surrogate, clip and k3 KL, mean per reply then over replies."""
    lp = torch.log(torch.tensor([[0.5, 0.4, 0.9], [0.2, 0.7, 0.7]]))
    old = torch.log(torch.tensor([[0.4, 0.4, 0.9], [0.3, 0.7, 0.7]]))
    ref = torch.log(torch.tensor([[0.5, 0.2, 0.9], [0.1, 0.7, 0.7]]))
    mask = torch.tensor([[True, True, False], [True, False, False]])
    adv = torch.tensor([1.0, -2.0])
    loss, fig = grpo_loss(lp, old, ref, adv, mask, clip_eps=0.2, beta=0.5)
    # reply 0, token 0: ρ = 1.25 → clipped to 1.2, min(1.25, 1.2)·1 = 1.2; k3 with π_ref/π = 1: 0
    # reply 0, token 1: ρ = 1, surrogate 1; π_ref/π = 0.5: k3 = 0.5 - 1 - ln 0.5 = 0.193147
    # reply 1, token 0: ρ = 2/3, A = -2: min(-4/3, 0.8·-2 = -1.6) = -1.6; π_ref/π = 0.5: k3 = 0.193147
    k3 = 0.5 - 1 - math.log(0.5)
    reply0 = -((1.2 - 0) + (1.0 - 0.5 * k3)) / 2
    reply1 = -(-1.6 - 0.5 * k3)
    assert loss.item() == pytest.approx((reply0 + reply1) / 2, rel=1e-6)
    assert fig["kl_k3"] == pytest.approx((k3 / 2 + k3) / 2, rel=1e-5)
    assert fig["clip_frac"] == pytest.approx(2 / 3)  # tokens 0 of both replies left [0.8, 1.2]


def test_loss_weighs_replies_equally_not_tokens():
    """A long reply does not outweigh a short one: per-reply means, then the mean over replies."""
    lp = torch.zeros(2, 4, requires_grad=True)
    mask = torch.tensor([[True, True, True, True], [True, False, False, False]])
    loss, _ = grpo_loss(lp, lp.detach(), lp.detach(), torch.tensor([1.0, 1.0]), mask, beta=0.0)
    loss.backward()
    torch.testing.assert_close(lp.grad, torch.tensor([[-1 / 8] * 4, [-1 / 2, 0, 0, 0]]))


def test_loss_bad_inputs():
    z = torch.zeros(2, 3)
    m = torch.ones(2, 3, dtype=torch.bool)
    with pytest.raises(ValueError, match="clip_eps"):
        grpo_loss(z, z, z, torch.zeros(2), m, clip_eps=0.0)
    with pytest.raises(ValueError, match="beta"):
        grpo_loss(z, z, z, torch.zeros(2), m, beta=-0.1)
    with pytest.raises(ValueError, match=r"advantages must be \(B,\)"):
        grpo_loss(z, z, z, torch.zeros(2, 3), m)


def test_pack_replies_masks_reply_tokens():
    seq, mask, lengths = pack_replies([[5, 6], [7]], [[1, 2], [3, 4, 9]], pad_id=0)
    assert seq.tolist() == [[5, 6, 1, 2], [7, 3, 4, 9]] and lengths.tolist() == [4, 4]
    # mask[t]: token t+1 is a reply token
    assert mask.tolist() == [[False, True, True], [True, True, True]]


def _setup(**config):
    task = SortTask(3, 4)
    policy = GPT(GPTConfig(vocab_size=task.tokenizer.vocab_size, block_size=16, n_layer=1, n_head=2, n_embd=16))
    cfg = GRPOConfig(**{"max_steps": 1, "batch_size": 2, "group_size": 3, "minibatch_size": 3, "epochs": 1, **config})
    return task, policy, cfg


def test_trainer_records_have_the_stage_shape():
    task, policy, cfg = _setup(max_steps=2)
    rm = RewardModel.from_policy(policy)
    records = GRPOTrainer(policy, rm, task.sample_prompt, task.tokenizer, task.eos_id, cfg, task.score).train()
    assert len(records) == 2
    for r in records:
        assert set(RECORD_KEYS) <= set(r) and {"rm_score", "kl", "true_score", "reply_len", "kl_k3"} <= set(r)
    assert records[0]["equal_groups"] == 1.0  # a fresh RM head is zero: every group ties, advantages 0


def test_config_and_trainer_bad_inputs():
    with pytest.raises(ValueError, match="group_size >= 2"):
        GRPOConfig(group_size=1)
    with pytest.raises(ValueError, match="kl_coef"):
        GRPOConfig(kl_coef=-1.0)
    task, policy, cfg = _setup()
    with pytest.raises(TypeError, match="RewardModel or a function"):
        GRPOTrainer(policy, "rm", task.sample_prompt, task.tokenizer, task.eos_id, cfg)
    with pytest.raises(ValueError, match="block_size"):
        GRPOTrainer(policy, task.score, task.sample_prompt, task.tokenizer, task.eos_id, GRPOConfig(max_new_tokens=20))


@pytest.mark.learning
@pytest.mark.slow
def test_grpo_learns_with_a_verifiable_reward(seed, record_property):
    """From a policy fine-tuned on the labeler's sloppy demonstrations (half with a slip), 40 GRPO rollouts
    against the task's own score function (a rule, no reward model) raise the mean true score on 200 held-out
    prompts, compared with the SFT policy it started from on the same prompts and sampling seed. (From a random
    policy the strict score, the share of places right, is near 0 for every reply of a group, so the advantages
    vanish: 60 rollouts gained -0.006 to 0.037.)"""
    torch.manual_seed(seed)
    task, rng = SortTask(3, 4), random.Random(seed)
    policy = GPT(GPTConfig(vocab_size=task.tokenizer.vocab_size, block_size=16, n_layer=2, n_head=2, n_embd=32))
    demos = [(task.prompt(d), task.demonstration(d, rng, 0.5)) for d in (task.sample_digits(rng) for _ in range(500))]
    sft_config = SFTConfig(max_steps=150, batch_size=32, lr=3e-3, seed=seed)
    SFTTrainer(policy, demos, task.tokenizer, task.eos_id, sft_config).train()
    sft = copy.deepcopy(policy)
    sizes = {"max_steps": 40, "batch_size": 8, "group_size": 4, "minibatch_size": 16, "epochs": 2}
    cfg = GRPOConfig(**sizes, lr=1e-3, kl_coef=0.0, seed=seed)
    GRPOTrainer(policy, task.score, task.sample_prompt, task.tokenizer, task.eos_id, cfg, task.score).train()
    held_out = [task.sample_digits(random.Random(10_000 + i)) for i in range(200)]
    before, after = (sampled_true_score(m, task, held_out, seed=7) for m in (sft, policy))
    record_property("gain", float(after - before))
    # Gain over default/avx2/avx512 x 1 thread x seeds 0-2: 0.045 to 0.080; over all 18 cells (1 and 2 threads)
    # the minimum is 0.045, seed 1 in every one. The floor, 0.02, leaves 0.025; the held-out mean of 200 prompts
    # moves about ±0.02 with the sampling alone.
    assert after >= before + 0.02, (before, after)


def test_records_carry_the_rollout_diagnostics():
    task, policy, cfg = _setup(max_steps=1, max_new_tokens=2)  # 2 tokens: too few for a sorted reply and EOS
    records = GRPOTrainer(policy, task.score, task.sample_prompt, task.tokenizer, task.eos_id, cfg).train()
    r = records[0]
    assert 0.0 <= r["equal_groups"] <= 1.0 and r["truncated"] == r["no_eos"] and r["no_eos"] > 0.5
