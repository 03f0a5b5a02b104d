"""The figures every RL stage prints and the warnings they raise (minillm/rlhf/diagnostics.py)."""

import pytest
import torch

from minillm.rlhf.diagnostics import THRESHOLDS, format_diagnostics, rollout_diagnostics, stuck_reasons

EOS = 9


def test_rollout_diagnostics_hand_values():
    rewards = torch.tensor([[1.0, 1.0], [0.0, 1.0], [0.0, 0.0]])  # groups 0 and 2 are all equal
    replies = [[1, EOS], [1, 2, 3], [EOS], [1, 2], [], [4, 5, 6]]  # max_new_tokens 3: two cut off, three no EOS
    d = rollout_diagnostics(rewards, replies, EOS, max_new_tokens=3)
    assert d == pytest.approx({"equal_groups": 2 / 3, "truncated": 2 / 6, "no_eos": 4 / 6})
    assert rollout_diagnostics(None, replies, EOS, max_new_tokens=3) == pytest.approx(
        {"truncated": 2 / 6, "no_eos": 4 / 6}
    )


def test_rollout_diagnostics_bad_input():
    with pytest.raises(ValueError, match=r"rewards must be a \(prompts, G replies\) tensor"):
        rollout_diagnostics(torch.zeros(4), [[1]] * 4, EOS, 3)
    with pytest.raises(ValueError, match="rewards hold 4 replies' scores but 3 replies"):
        rollout_diagnostics(torch.zeros(2, 2), [[1]] * 3, EOS, 3)


@pytest.mark.parametrize(
    "record, words",
    [
        ({"equal_groups": 1.0}, "all-equal rewards"),
        ({"truncated": 0.6, "no_eos": 0.6}, "hit max_new_tokens"),
        ({"truncated": 0.0, "no_eos": 0.7}, "never emit end-of-sequence"),
        ({"entropy": 0.001}, "stopped exploring"),
        ({"clip_frac": 0.8}, "updates are too large"),
    ],
)
def test_each_silent_failure_gets_its_warning(record, words):
    reasons = stuck_reasons(record)
    assert len(reasons) == 1 and words in reasons[0]


def test_a_healthy_record_gets_no_warning_and_the_thresholds_are_the_boundaries():
    healthy = {"equal_groups": 0.3, "truncated": 0.0, "no_eos": 0.0, "entropy": 0.5, "clip_frac": 0.05, "kl": 2.0}
    assert stuck_reasons(healthy) == []
    assert stuck_reasons({"equal_groups": THRESHOLDS["equal_groups"]}) != []
    assert stuck_reasons({"equal_groups": THRESHOLDS["equal_groups"] - 1e-9}) == []
    assert format_diagnostics(healthy) == (
        "equal_groups 0.300  truncated 0.000  no_eos 0.000  clip_frac 0.050  kl 2.000  entropy 0.500"
    )
