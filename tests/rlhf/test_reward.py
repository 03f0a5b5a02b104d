"""The reward model (minillm/rlhf/reward.py): it learns the labeler's ranking of held-out pairs, and
rankings and trainers it cannot use are refused."""

import pytest
import torch
from helpers.sort_task import TOK, tiny_gpt
from helpers.sort_task import rankings as _rankings

from minillm.rlhf import Ranking, RewardConfig, RewardModel, RewardModelTrainer


@pytest.mark.learning
@pytest.mark.slow
def test_reward_model_learns_the_labelers_ranking(seed, record_property):
    rm = RewardModel(tiny_gpt(seed))
    config = RewardConfig(max_steps=300, lr=2e-3, seed=seed)
    trainer = RewardModelTrainer(rm, _rankings(400, seed=1 + seed), TOK, pad_id=0, config=config)
    held_out = _rankings(100, seed=100 + seed)
    before = trainer.accuracy(held_out)
    losses = [r["loss"] for r in trainer.train()]
    after = trainer.accuracy(held_out)
    record_property("accuracy", float(after))
    assert before < 0.6  # zero-initialised head: all rewards equal, no pair is "right"
    # Chance is 0.5. Under the strict true score (share of places right) the accuracy varies more from seed to
    # seed than it did: over avx2/avx512 x 1 thread x seeds 0-2, 0.658 to 0.873 (minimum 0.658, avx2 seed 0);
    # under default x 1 thread the minimum is 0.792, at 2 threads (default/avx2/avx512) 0.697.
    # The floor, 0.6, leaves 0.058.
    assert after >= 0.6, f"held-out pairwise accuracy {after:.2f}"
    assert sum(losses[-10:]) / 10 < losses[0]


def test_rankings_bad_input():
    with pytest.raises(ValueError, match="at least 2 replies"):
        Ranking("\n1>", ["1\n"], [0])
    with pytest.raises(ValueError, match="only ties"):
        Ranking("\n12>", ["12\n", "21\n"], [0, 0])
    with pytest.raises(ValueError, match="non-empty"):
        RewardModelTrainer(RewardModel(tiny_gpt()), [], TOK, pad_id=0)
    long = Ranking("\n1>", ["1" * 30 + "\n", "1\n"], [0, 1])
    with pytest.raises(ValueError, match="exceeds the model's block_size=16"):
        RewardModelTrainer(RewardModel(tiny_gpt()), [long], TOK, pad_id=0)
    with pytest.raises(TypeError, match="GPT trunk"):
        RewardModel(torch.nn.Linear(2, 2))
