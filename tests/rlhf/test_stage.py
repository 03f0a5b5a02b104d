"""One shape for every stage (minillm/rlhf/stage.py): SFT, the reward model, DPO and PPO each return one
record per optimizer step with the shared keys, in time order, at the schedule's learning rate."""

import random

import pytest
from helpers.sort_task import TASK, TOK, tiny_gpt
from helpers.sort_task import ppo_trainer as _ppo
from helpers.sort_task import rankings as _rankings

from minillm.rlhf import (
    RECORD_KEYS,
    DPOConfig,
    DPOTrainer,
    RewardConfig,
    RewardModel,
    RewardModelTrainer,
    SFTConfig,
    SFTTrainer,
)
from minillm.train.step import lr_at


def _check_records(records, n, lr, max_steps=None):
    assert [r["step"] for r in records] == list(range(1, n + 1))
    for r in records:
        assert set(RECORD_KEYS) <= set(r) and all(isinstance(r[k], (int, float)) for k in RECORD_KEYS)
    assert [r["time_s"] for r in records] == sorted(r["time_s"] for r in records)
    if max_steps is None:  # one optimizer step per record: the lr is the schedule's at that step
        assert [r["lr"] for r in records] == pytest.approx([lr_at(s, lr, n) for s in range(n)])


def test_every_stage_returns_records_with_the_shared_keys():
    rng = random.Random(0)
    digits = [TASK.sample_digits(rng) for _ in range(8)]
    pairs = [(TASK.prompt(d), "".join(sorted(d)) + "\n") for d in digits]
    policy = tiny_gpt()
    _check_records(SFTTrainer(policy, pairs, TOK, 0, SFTConfig(max_steps=3, batch_size=4)).train(), 3, 1e-3)
    rm = RewardModel(tiny_gpt(1))
    records = RewardModelTrainer(rm, _rankings(4, seed=1), TOK, 0, RewardConfig(max_steps=2, batch_size=2)).train()
    _check_records(records, 2, 1e-3)
    triples = [(p, r, r[::-1]) for p, r in pairs]
    records = DPOTrainer(policy, triples, TOK, 0, DPOConfig(max_steps=2, batch_size=4)).train()
    _check_records(records, 2, 5e-4)
    assert 0 <= records[0]["accuracy"] <= 1
    small = {"max_steps": 2, "batch_size": 4, "minibatch_size": 2, "ppo_epochs": 1}
    records = _ppo(policy, rm, **small).train()
    _check_records(records, 2, 3e-4, max_steps=8)
    assert [r["lr"] for r in records] == [3e-4, 3e-4]  # PPO's default: a constant learning rate
    assert {"rm_score", "kl", "value_loss", "true_score"} <= set(records[0])
    ppo = _ppo(policy, rm, lr_schedule="cosine", **small)
    assert ppo.config.updates == 2 * 1 * 2
    records = ppo.train()  # the schedule spans every minibatch update of the run
    assert records[-1]["lr"] == pytest.approx(lr_at(ppo.config.updates - 1, 3e-4, ppo.config.updates))
