"""The verifiable-reward addition task and its held-out figures (minillm/rlhf/verifiable.py)."""

import math
import random

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from minillm import GPT, GPTConfig
from minillm.rlhf.verifiable import AdditionTask, evaluate, pass_at_k


def test_the_reward_checks_the_number_after_the_marker():
    task = AdditionTask()
    prompt, reply = task.pair(58, 67)
    assert (prompt, reply) == ("58+67=", "8+7=15,5+6+1=12;125\n")
    assert task.answer(prompt) == 125 and task.reward(prompt, reply) == 1.0
    for wrong in ("8+7=15,5+6+1=12;124\n", "8+7=15,5+6+1=12", "8+7=15,5+6+1=12;", ";1 25", "", "125"):
        assert task.reward(prompt, wrong) == 0.0, wrong


def test_prompts_have_the_asked_digits_and_held_out_prompts_are_new():
    task = AdditionTask(2, 3)
    rng = random.Random(0)
    for _ in range(200):
        a, b = task.operands(rng)
        assert 10 <= a < 1000 and 10 <= b < 1000
    train = [task.sample_prompt(random.Random(i)) for i in range(300)]
    held = task.held_out(100, seed=1, exclude=train)
    assert len(set(held)) == 100 and not set(held) & set(train)
    assert task.max_reply_tokens() == len("9+9=18,9+9+1=19,9+9+1=19;1998\n")


def test_bad_tasks_are_refused_before_any_work():
    with pytest.raises(ValueError, match="min_digits <= max_digits"):
        AdditionTask(3, 2)
    with pytest.raises(ValueError, match="answers cannot be parsed: marker '#'"):
        AdditionTask(marker="#")
    with pytest.raises(ValueError, match="could not draw 500 held-out prompts"):
        AdditionTask(1, 1).held_out(500, seed=0)


# -- pass@k: Chen et al. 2021's estimator --
def test_pass_at_k_hand_values():
    assert pass_at_k(8, 0, 8) == 0.0 and pass_at_k(8, 8, 1) == 1.0
    assert pass_at_k(8, 2, 1) == pytest.approx(2 / 8)
    assert pass_at_k(4, 1, 2) == pytest.approx(1 - 3 / 6)  # C(3,2) / C(4,2)
    with pytest.raises(ValueError, match="0 <= c <= n"):
        pass_at_k(4, 5, 1)


@given(st.integers(1, 10), st.data())
def test_pass_at_k_is_the_chance_that_a_random_k_subset_holds_a_right_sample(n, data):
    c, k = data.draw(st.integers(0, n)), data.draw(st.integers(1, n))
    without = math.comb(n - c, k) / math.comb(n, k)  # every one of the k drawn is wrong
    assert pass_at_k(n, c, k) == pytest.approx(1 - without)
    assert k == 1 or pass_at_k(n, c, k) >= pass_at_k(n, c, k - 1)


# -- evaluate: replies we choose (the sampler is patched) --
def test_evaluate_counts_right_answers_lengths_eos_and_votes(monkeypatch):
    task = AdditionTask(2, 2)
    enc = task.tokenizer.encode
    scripted = [
        enc("8+7=15,5+6+1=12;125\n"),
        enc("8+7=15;124\n"),
        enc("8+7=15;124\n"),  # 58+67: 1 of 3 right, vote 124
        enc("0+0=0;20\n"),
        enc("0+0=0;20\n"),
        enc("0+0=0,1+1="),  # 10+10: 2 of 3 right, one cut off
    ]
    monkeypatch.setattr("minillm.rlhf.verifiable.generate_replies", lambda *a, **k: scripted)
    e = evaluate(torch.nn.Linear(1, 1), task, ["58+67=", "10+10="], n_samples=3, seed=0)
    assert e["accuracy"] == pytest.approx((1 / 3 + 2 / 3) / 2)
    assert e["pass_at_k"][2] == pytest.approx((pass_at_k(3, 1, 2) + pass_at_k(3, 2, 2)) / 2)
    assert e["best_of_n"] == 1.0 and e["majority"] == 0.5  # the vote gets 10+10 right, 58+67 wrong
    assert e["eos_frac"] == pytest.approx(5 / 6)
    assert e["reply_len"] == pytest.approx(sum(map(len, scripted)) / 6)


def test_evaluate_on_a_small_gpt_returns_every_figure():
    task = AdditionTask(1, 1)
    model = GPT(GPTConfig(vocab_size=task.tokenizer.vocab_size, block_size=32, n_layer=1, n_head=2, n_embd=16))
    e = evaluate(model, task, task.held_out(5, seed=0), n_samples=3, seed=0)
    assert set(e) == {"accuracy", "pass_at_k", "majority", "best_of_n", "reply_len", "eos_frac", "samples"}
    assert list(e["pass_at_k"]) == [1, 2, 3] and 0 <= e["eos_frac"] <= 1
    with pytest.raises(ValueError, match="n_samples >= 1"):
        evaluate(model, task, ["1+1="], n_samples=0)


def test_the_prompt_sampler_never_draws_a_held_out_prompt():
    task = AdditionTask(1, 1)
    held = task.held_out(90, seed=0)  # 90 of the 100 one-digit sums
    sample, rng = task.prompt_sampler(exclude=held), random.Random(0)
    drawn = {sample(rng) for _ in range(300)}
    assert drawn and not drawn & set(held) and len(drawn) <= 10
