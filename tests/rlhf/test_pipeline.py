"""The RLHF stages together (minillm/rlhf/pipeline.py strings them): PPO raises the reward model's
score and masks only reply tokens, a failed stage save keeps the earlier checkpoint, the pipeline's
config is flat and checked, and run_pipeline returns each stage's records. Each stage alone:
tests/rlhf/test_sft.py, test_reward.py, test_dpo.py, test_stage.py, test_sampling.py, test_tasks.py."""

import copy
import random

import pytest
import torch
from helpers.sort_task import ENC, TASK, TOK, tiny_gpt
from helpers.sort_task import ppo_trainer as _ppo
from helpers.sort_task import rankings as _rankings

from minillm import GPT, GPTConfig
from minillm.rlhf import (
    RECORD_KEYS,
    PipelineConfig,
    PPOConfig,
    RewardConfig,
    RewardModel,
    RewardModelTrainer,
    SFTConfig,
    SFTTrainer,
    run_pipeline,
)
from minillm.rlhf.evaluate import evaluate_policy


# ------------------------------------------------------------------ PPO
def _sft_policy(steps=150, seed=0):
    rng = random.Random(seed)
    demos = [(TASK.prompt(d), TASK.demonstration(d, rng, 0.3)) for d in (TASK.sample_digits(rng) for _ in range(500))]
    policy = tiny_gpt(seed)
    SFTTrainer(policy, demos, TOK, TASK.eos_id, SFTConfig(max_steps=steps, batch_size=32, lr=3e-3, seed=seed)).train()
    return policy


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
    # seeds 0-2, 0.47 to 3.80, minimum 0.474 (seed 0, avx512); under default x 1 thread the minimum is 0.943,
    # at 2 threads (default/avx2/avx512) 1.023.
    # The floor, 0.2, leaves 0.27 below the grid minimum.
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
