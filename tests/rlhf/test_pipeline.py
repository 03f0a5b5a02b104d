"""SFT masking, the synthetic labeler, a reward model that learns the ranking, PPO, DPO, and the
one shape every stage shares (config fields, records with step/loss/lr/time_s, run_pipeline)."""

import copy
import random
from collections import Counter

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from minillm import GPT, GPTConfig
from minillm.rlhf import (
    RECORD_KEYS,
    DPOConfig,
    DPOTrainer,
    PipelineConfig,
    PPOConfig,
    PPOTrainer,
    Ranking,
    RewardConfig,
    RewardModel,
    RewardModelTrainer,
    SFTConfig,
    SFTTrainer,
    SortTask,
    SyntheticLabeler,
    generate_replies,
    run_pipeline,
    sft_batch,
    token_logprobs,
    true_score,
)
from minillm.rlhf.evaluate import evaluate_policy
from minillm.train.step import lr_at

TASK = SortTask(3, 5)
TOK = TASK.tokenizer
ENC = TOK.encode


def tiny_gpt(seed=0):
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=TASK.tokenizer.vocab_size, block_size=16, n_layer=2, n_head=2, n_embd=48))


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


def test_sft_batch_masks_prompt_and_padding():
    inputs, targets = sft_batch([("\n31>", "13\n"), ("\n5>", "5\n")], ENC, pad_id=0, block_size=16)
    assert inputs.shape == targets.shape == (2, 6)
    assert targets[0].tolist() == [-100, -100, -100] + ENC("13\n")
    assert targets[1].tolist() == [-100, -100] + ENC("5\n") + [-100, -100]


def test_prompt_tokens_get_zero_gradient():
    model = tiny_gpt()
    inputs, targets = sft_batch([("\n3142>", "1234\n")], ENC, pad_id=0, block_size=16)
    emb = model.wte(inputs).detach().requires_grad_()

    # Run the model from the embeddings so we can read the gradient at every input position.
    x = model.drop(emb + model.wpe(torch.arange(emb.shape[1])))  # GPT-2's input part: token + position
    for block in model.blocks:
        x = block(x)
    logits = model.lm_head(model.ln_f(x))
    loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100)
    d_logits = torch.autograd.grad(loss, logits)[0]  # (1, T, V)
    prompt_positions = targets[0] == -100
    assert torch.all(d_logits[0, prompt_positions] == 0)
    assert torch.all(d_logits[0, ~prompt_positions].abs().sum(-1) > 0)


def test_sft_bad_input():
    with pytest.raises(ValueError, match="non-empty"):
        SFTTrainer(tiny_gpt(), [], TOK, pad_id=0)
    with pytest.raises(ValueError, match="exceed block_size"):
        SFTTrainer(tiny_gpt(), [("\n" + "1" * 20 + ">", "1\n")], TOK, pad_id=0)
    with pytest.raises(ValueError, match="max_steps must be positive"):
        SFTConfig(max_steps=0)
    with pytest.raises(ValueError, match="lr='1e-3' is not a valid float"):
        SFTConfig(lr="1e-3")
    with pytest.raises(ValueError, match="finite"):
        DPOConfig(lr=float("inf"))
    with pytest.raises(ValueError, match="max_steps=True is not a valid int"):
        PPOConfig(max_steps=True)


def _rankings(n, seed):
    rng, lab = random.Random(seed), SyntheticLabeler(noise=0.05, seed=seed)
    out = []
    for _ in range(n):
        d = TASK.sample_digits(rng)
        good = "".join(sorted(d))
        swapped = list(good)
        i, j = rng.sample(range(len(d)), 2)
        swapped[i], swapped[j] = swapped[j], swapped[i]
        replies = [good, "".join(swapped), good[:-1], "".join(rng.choice("0123456789") for _ in d)]
        replies = [r + "\n" for r in replies]
        out.append(Ranking(TASK.prompt(d), replies, lab.rank(d, [r.strip() for r in replies])))
    return out


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
    # seed than it did: over avx2/avx512 x 1 thread x seeds 0-2, 0.658 to 0.873 (minimum 0.658, avx2 seed 0).
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


# ------------------------------------------------------------------ PPO and DPO
def _sft_policy(steps=150, seed=0):
    rng = random.Random(seed)
    demos = [(TASK.prompt(d), TASK.demonstration(d, rng, 0.3)) for d in (TASK.sample_digits(rng) for _ in range(500))]
    policy = tiny_gpt(seed)
    SFTTrainer(policy, demos, TOK, TASK.eos_id, SFTConfig(max_steps=steps, batch_size=32, lr=3e-3, seed=seed)).train()
    return policy


def _ppo(policy, rm, **kw):
    cfg = PPOConfig(**{"max_steps": 6, "batch_size": 32, "max_new_tokens": 7, "minibatch_size": 16, **kw})
    return PPOTrainer(policy, rm, TASK.sample_prompt, TOK, TASK.eos_id, cfg, score_fn=TASK.score)


@pytest.mark.learning
@pytest.mark.slow
def test_ppo_raises_the_reward_models_score(seed, record_property):
    """PPO's objective is the reward model's score: after 30 rollouts (β = 0) the policy's mean score on 200
    held-out prompts beats the SFT policy it started from, on the same prompts and sampling seed. (One rollout's
    mean over 32 prompts swings by ±0.5 from step to step, so the old first-vs-last-three check flipped with the
    CPU's vector width: 0.67 -> 0.64 on AVX-512 where AVX2 gave +0.3.)"""
    policy = _sft_policy(seed=seed)
    sft = copy.deepcopy(policy)
    rm = RewardModel.from_policy(policy)
    config = RewardConfig(max_steps=150, lr=2e-3, seed=seed)
    RewardModelTrainer(rm, _rankings(300, seed=1 + seed), TOK, TASK.eos_id, config).train()
    hist = _ppo(policy, rm, max_steps=30, kl_coef=0.0, target_kl=0.0, seed=seed).train()
    held_out = [TASK.sample_digits(random.Random(10_000 + i)) for i in range(200)]
    before, after = (evaluate_policy(p, sft, rm, TASK, held_out, seed=7)["rm"] for p in (sft, policy))
    record_property("rm_gain", float(after - before))
    # Gain with the strict true score (demonstrations with slips at 0.3): over avx2/avx512 x 1 thread x
    # seeds 0-2, 0.47 to 3.80, minimum 0.474 (seed 0, avx512). The floor, 0.2, leaves 0.27 below it.
    assert after > before + 0.2, f"held-out RM score {before:.2f} (SFT) -> {after:.2f} (PPO)"
    assert {"kl", "entropy", "clip_frac", "approx_kl", "value_loss", "explained_variance", "true_score"} <= set(hist[0])


def test_ppo_rollout_masks_only_reply_tokens():
    policy = tiny_gpt()
    trainer = _ppo(policy, RewardModel(tiny_gpt(1)))
    roll = trainer.rollout()
    for i, prompt in enumerate(roll["prompts"]):
        n = len(ENC(prompt))
        row = roll["mask"][i]
        assert not row[: n - 1].any() and row[n - 1 : n - 1 + roll["resp_len"][i]].all()
        assert row.sum() == roll["resp_len"][i]


def test_ppo_bad_input():
    with pytest.raises(ValueError, match="kl_coef"):
        PPOConfig(kl_coef=-0.1)
    with pytest.raises(ValueError, match="clip_eps"):
        PPOConfig(clip_eps=0.0)
    other_vocab = RewardModel(GPT(GPTConfig(vocab_size=50, block_size=16, n_layer=1, n_head=2, n_embd=16)))
    with pytest.raises(ValueError, match="vocabulary"):
        _ppo(tiny_gpt(), other_vocab)
    with pytest.raises(ValueError, match="exceed block_size"):
        _ppo(tiny_gpt(), RewardModel(tiny_gpt(1)), max_new_tokens=20)
    with pytest.raises(ValueError, match="ptx_batch"):
        _ppo(tiny_gpt(), RewardModel(tiny_gpt(1)), ptx_coef=0.5)


@pytest.mark.learning
def test_dpo_prefers_the_chosen_replies(seed, record_property):
    rng = random.Random(seed)
    triples = []
    for _ in range(200):
        d = TASK.sample_digits(rng)
        triples.append((TASK.prompt(d), "".join(sorted(d)) + "\n", "".join(sorted(d, reverse=True)) + "\n"))
    policy = tiny_gpt(seed)
    config = DPOConfig(max_steps=40, batch_size=16, lr=2e-3, seed=seed)
    hist = DPOTrainer(policy, triples, TOK, TASK.eos_id, config).train()
    record_property("below_0.5", float(0.5 - sum(h["loss"] for h in hist[-5:]) / 5))
    record_property("accuracy", float(hist[-1]["accuracy"]))
    assert hist[0]["loss"] == pytest.approx(0.6931, abs=1e-3)  # policy == reference: log 2
    # over default/avx2/avx512 x 1 thread x seeds 0-2: the last losses at most 0.26, accuracy 1.0 in every cell
    assert sum(h["loss"] for h in hist[-5:]) / 5 < 0.5
    assert hist[-1]["accuracy"] > 0.9


def test_dpo_bad_input():
    with pytest.raises(ValueError, match="beta"):
        DPOConfig(beta=0)
    with pytest.raises(ValueError, match="non-empty"):
        DPOTrainer(tiny_gpt(), [], TOK, 0)
    with pytest.raises(ValueError, match="exceed block_size"):
        DPOTrainer(tiny_gpt(), [("\n1>", "1" * 30, "2\n")], TOK, 0)


def test_failed_stage_save_leaves_the_earlier_checkpoint_intact(tmp_path, monkeypatch):
    import safetensors.torch
    from safetensors.torch import load_model

    from minillm.rlhf.pipeline import save_stage

    first = tiny_gpt(0)
    path = save_stage(first, tmp_path / "sft.safetensors")
    before = path.read_bytes()

    def crash_halfway(model, filename, *a, **k):
        with open(filename, "wb") as f:
            f.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.torch, "save_model", crash_halfway)
    with pytest.raises(OSError, match="disk full"):
        save_stage(tiny_gpt(1), path)
    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path]  # no temp file left behind
    monkeypatch.undo()
    again = tiny_gpt(2)
    load_model(again, str(path))
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), first.state_dict().values()))


# ------------------------------------------------------------------ one shape for every stage
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


def test_token_logprobs_match_one_prefix_at_a_time():
    model = tiny_gpt().eval()
    inputs, targets = sft_batch([("\n31>", "13\n"), ("\n5>", "5\n")], ENC, pad_id=0, block_size=16)
    logp, entropy = token_logprobs(model, inputs, targets)
    for b in range(2):
        for t in range(inputs.shape[1]):
            if targets[b, t] == -100:
                assert logp[b, t] == 0 and entropy[b, t] == 0
                continue
            dist = torch.log_softmax(model(inputs[b : b + 1, : t + 1])[0][0, -1], -1)  # the prefix alone
            torch.testing.assert_close(logp[b, t], dist[targets[b, t]], atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(entropy[b, t], -(dist.exp() * dist).sum(), atol=1e-5, rtol=1e-5)


def test_generate_replies_groups_prompts_but_answers_each_alone():
    from minillm.decoding.generation import generate

    model, prompts = tiny_gpt(), [ENC("\n31>"), ENC("\n4567>"), ENC("\n92>")]
    replies = generate_replies(model, prompts, 6, TASK.eos_id, temperature=0.0)
    for p, reply in zip(prompts, replies):
        alone = generate(model, torch.tensor([p]), 6, temperature=0.0)[0, len(p) :].tolist()
        cut = alone[: alone.index(TASK.eos_id) + 1] if TASK.eos_id in alone else alone
        assert reply == cut
    with pytest.raises(ValueError, match="non-empty"):
        generate_replies(model, [[]], 3, TASK.eos_id)


def test_pipeline_config_is_flat_and_checked():
    import dataclasses

    assert all(f.type in ("int", "float", "bool", "str") for f in dataclasses.fields(PipelineConfig))
    quick = PipelineConfig(quick=True)
    assert (quick.sft_steps, quick.ppo_steps) == (300, 12)
    with pytest.raises(ValueError, match="sft_steps must be positive"):
        PipelineConfig(sft_steps=-5)
    with pytest.raises(ValueError, match="error_rate"):
        PipelineConfig(error_rate=1.5)
    with pytest.raises(TypeError, match="PipelineConfig"):
        run_pipeline({"quick": True})


@pytest.mark.slow  # ~10 s on an idle 2-core CPU: PPO's rollouts of 64 prompts
def test_run_pipeline_returns_each_stages_records(tmp_path):
    sizes = {"sft_steps": 3, "rm_prompts": 4, "rm_test_prompts": 4, "rm_steps": 2, "ppo_steps": 1, "dpo_steps": 2}
    config = PipelineConfig(**sizes, n_eval=4, out_dir=str(tmp_path))
    lines = []
    out = run_pipeline(config, log=lines.append)
    stages = (("sft", 3), ("reward_model", 2), ("ppo", 1), ("ppo_beta0", 1), ("grpo", 1), ("grpo_rule", 1), ("dpo", 2))
    for stage, n in stages:
        assert len(out[stage]) == n and set(RECORD_KEYS) <= set(out[stage][-1])
        assert (tmp_path / f"{stage}.safetensors").stat().st_size > 0
    ev = out["evaluation"]
    assert ev["sft"]["kl"] == pytest.approx(0.0, abs=1e-5)  # the reference against itself
    assert 0 <= ev["rm_true_accuracy"] <= 1 and 0 <= ev["ppo"]["true"] <= 1
    assert 0 <= ev["grpo"]["true"] <= 1 and 0 <= ev["grpo_rule"]["true"] <= 1
    assert len(lines) == 7 and (tmp_path / "records.json").is_file()
