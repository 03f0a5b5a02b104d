"""The digit-sorting task (minillm/rlhf/tasks.py): the true score by hand and against an independent
count, demonstrations with one slip at the error rate, and the synthetic labeler's ranking."""

import random
from collections import Counter

import pytest
from helpers.sort_task import TASK
from hypothesis import given, settings
from hypothesis import strategies as st

from minillm.rlhf import SyntheticLabeler, true_score


def test_true_score_by_hand():
    assert true_score("3142", "1234") == 1.0
    assert true_score("3142", "1324") == pytest.approx(2 / 4)  # places 0 and 3 right
    assert true_score("3142", "234") == 0.0  # the 1 dropped: every digit one place early
    assert true_score("3142", "12344") == pytest.approx(4 / 5)  # one digit too many: over the longer
    assert true_score("3142", "4321") == 0.0
    assert true_score("3142", "") == 0.0
    assert true_score("31", "13") == 1.0
    assert true_score("5", "55") == pytest.approx(1 / 2)
    with pytest.raises(ValueError, match="must not be empty"):
        true_score("", "1")


@settings(max_examples=200, deadline=None)
@given(st.text("0123456789", min_size=1, max_size=8), st.text("0123456789", max_size=10))
def test_true_score_is_the_share_of_right_places(digits, reply):
    target = sorted(digits)
    right = 0
    for i in range(min(len(reply), len(digits))):  # an independent count, place by place
        if reply[i] == target[i]:
            right += 1
    assert true_score(digits, reply) == pytest.approx(right / max(len(reply), len(digits)))
    assert true_score(digits, "".join(target)) == 1.0


def test_demonstrations_carry_one_slip_at_the_error_rate():
    rng, digits = random.Random(0), "931745"
    assert {TASK.demonstration(digits, rng) for _ in range(50)} == {"134579\n"}  # no slips by default
    slips = Counter()
    for _ in range(300):
        reply = TASK.demonstration(digits, rng, error_rate=1.0)[:-1]
        if len(reply) == 5:
            slips["drop"] += 1
            assert any(reply == "134579"[:i] + "134579"[i + 1 :] for i in range(6))
        elif len(reply) == 7:
            slips["repeat"] += 1
            assert any(reply == "134579"[: i + 1] + "134579"[i:] for i in range(6))
        else:
            slips["swap"] += 1
            assert sorted(reply) == sorted(digits) and sum(a != b for a, b in zip(reply, "134579")) == 2
    assert min(slips.values()) > 60, slips  # each kind about a third of the time
    rate = sum(TASK.demonstration(digits, rng, 0.4) != "134579\n" for _ in range(2000)) / 2000
    assert rate == pytest.approx(0.4, abs=0.04)
    with pytest.raises(ValueError, match="error_rate"):
        TASK.demonstration(digits, rng, 1.5)


def test_labeler_ranks_by_true_score_without_noise():
    lab = SyntheticLabeler(noise=0.0)
    assert lab.rank("3142", ["1243", "1234", "9"]) == [1, 0, 2]  # scores 0.5, 1.0, 0.0
    with pytest.raises(ValueError, match="at least 2 replies"):
        lab.rank("31", ["13"])
    with pytest.raises(ValueError, match="noise"):
        SyntheticLabeler(noise=-1)
