"""Held-out figures (minillm/rlhf/evaluate.py): the labeler's demonstrations score 1 without slips,
the reward model's pair accuracy counted by hand, a policy judged against itself drifts by exactly
0 and scores what its own samples score, and the summary table holds one row per policy."""

import pytest
import torch
from helpers.sort_task import TASK, tiny_gpt

from minillm.rlhf import Ranking, RewardModel
from minillm.rlhf import evaluate as evaluate_module
from minillm.rlhf.evaluate import (
    POLICY_LABELS,
    demonstration_score,
    evaluate_policy,
    sampled_true_score,
    summary_table,
    true_pair_accuracy,
)

DIGITS = ["3142", "975", "20813", "664"]


def test_demonstrations_without_slips_score_one():
    assert demonstration_score(TASK, DIGITS, 0.0) == 1.0
    assert demonstration_score(TASK, DIGITS, 1.0) < 1.0  # one slip in every demonstration


@pytest.mark.parametrize(
    "scores, right",
    [
        ([3.0, 2.0, 1.0], 3),  # the true order: the task scores the replies 1, 1/2 and 0
        ([1.0, 2.0, 3.0], 0),
        ([3.0, 1.0, 2.0], 2),  # the last two swapped
        ([1.0, 1.0, 1.0], 0),  # a tie orders nothing
    ],
)
def test_pair_accuracy_counts_the_pairs_the_reward_model_orders_right(scores, right, monkeypatch):
    # "3142": "1234" is right in 4 places, "1432" in 2 (1 and 3: true score 1/2), "4321" in none
    ranking = Ranking(TASK.prompt("3142"), ["1234\n", "1432\n", "4321\n"], [0, 1, 2])
    monkeypatch.setattr(evaluate_module, "ranking_rewards", lambda *_: (torch.tensor([scores]), None))
    assert true_pair_accuracy(RewardModel(tiny_gpt()), [ranking], TASK) == pytest.approx(right / 3)


def test_a_policy_against_itself_drifts_by_zero():
    policy, rm = tiny_gpt(0), RewardModel(tiny_gpt(1))
    with torch.no_grad():
        rm.head.bias.fill_(0.25)  # the zero-initialised head scores every reply 0.25 more than nothing
    figures = evaluate_policy(policy, policy, rm, TASK, DIGITS, seed=3)
    assert figures["kl"] == 0.0
    assert figures["true"] == sampled_true_score(policy, TASK, DIGITS, seed=3)  # the same samples
    assert figures["rm"] == pytest.approx(0.25)
    assert figures["example"].startswith("3142>")


def test_summary_table_has_one_row_per_policy():
    row = {"true": 0.5, "rm": 1.25, "kl": 0.75, "example": "31>13"}
    evaluation = {name: row for name in POLICY_LABELS}
    evaluation |= {"demos_true": 0.9, "rm_accuracy": 0.8, "rm_true_accuracy": 0.7}
    lines = summary_table(evaluation).splitlines()
    assert len(lines) == 2 + len(POLICY_LABELS) + 1
    assert lines[1].split() == ["labeler", "demos", "0.900"]
    assert lines[2] == f"{'SFT (reference)':<18} {0.5:>10.3f} {1.25:>9.2f} {0.75:>10.2f}   31>13"
    assert lines[-1] == "reward model held-out accuracy: 80.0% (labels), 70.0% (true score)"
