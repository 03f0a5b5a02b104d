"""PPO's shaped reward by hand, and the rollout's reply mask checked against the tokens themselves.

InstructGPT / Ziegler et al. (2019): every reply token t earns r_t = -β (log π(y_t) - log π_ref(y_t)),
and the last reply token also earns the reward model's score. With γ = λ = 1, GAE's return at a
reply token is the reward still to come, R_t = Σ_{t' ≥ t} r_t', which PPOTrainer.score reports;
this test rebuilds it from the two models' logits, by hand. A penalty with the wrong sign (paying
the policy for drifting away) moves the returns by 2β·Σ KL, here over 0.5.
"""

import copy

import torch

from minillm import GPT, GPTConfig
from minillm.rlhf import PPOConfig, PPOTrainer, RewardModel, SortTask

TASK = SortTask(3, 5)
BETA = 0.5


def tiny_gpt(seed):
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=TASK.tokenizer.vocab_size, block_size=16, n_layer=1, n_head=2, n_embd=32))


def make_trainer(policy, **kw):
    rm = RewardModel(tiny_gpt(1))
    with torch.no_grad():  # the zero-initialised head scores everything 0: give it opinions
        rm.head.weight.normal_(0.0, 1.0)
        rm.head.bias.fill_(0.7)
    base = {"max_steps": 1, "batch_size": 8, "max_new_tokens": 6, "minibatch_size": 8, "gamma": 1.0, "lam": 1.0}
    config = PPOConfig(**{**base, **kw})  # γ = λ = 1: GAE's returns are the plain rewards to go

    def sampler(rng):
        return TASK.prompt(TASK.sample_digits(rng))

    return PPOTrainer(policy, rm, sampler, TASK.tokenizer, TASK.eos_id, config)


def token_logp(model, seq):
    """log p(seq[t+1] | seq[≤t]) for every t: (B, T-1), straight from the logits."""
    with torch.no_grad():
        logp = torch.log_softmax(model(seq[:, :-1])[0].double(), dim=-1)  # (B, T-1, V)
    return logp.gather(-1, seq[:, 1:, None]).squeeze(-1)  # (B, T-1)


def test_ppo_returns_are_the_hand_computed_shaped_reward_to_go():
    policy = tiny_gpt(0)
    reference = copy.deepcopy(policy)  # π_ref as it was when PPO started
    trainer = make_trainer(policy, kl_coef=BETA, target_kl=0.0)  # target_kl=0: β stays fixed
    with torch.no_grad():  # move the policy away from the reference so the KL term is not zero
        for p in policy.parameters():
            p.add_(0.3 * torch.randn_like(p))
    roll = trainer.rollout()
    out = trainer.score(roll)
    seq, mask = roll["seq"], roll["mask"]
    kl = (token_logp(policy, seq) - token_logp(reference, seq)) * mask  # (B, T-1) k1 on reply tokens
    rm_score = trainer.rm(seq, roll["lengths"]).double()  # (B,)
    for i in range(len(seq)):
        reply = mask[i].nonzero().squeeze(-1)  # positions t whose next token is a reply token
        rewards = -BETA * kl[i, reply]  # per-token penalty
        rewards[-1] += rm_score[i]  # the score arrives with the last reply token
        to_go = rewards.flip(0).cumsum(0).flip(0)  # R_t = Σ_{t' ≥ t} r_t'
        torch.testing.assert_close(out["returns"][i, reply].double(), to_go, atol=1e-4, rtol=1e-4)
        assert out["returns"][i, ~mask[i]].abs().max() == 0  # nothing outside the reply
    torch.testing.assert_close(out["kl"].double(), kl.sum(1), atol=1e-4, rtol=1e-4)
    assert (2 * BETA * kl.sum(1)).abs().max() > 0.5  # a flipped sign would miss by this much


def test_rollout_mask_marks_exactly_the_generated_reply():
    """Checked against the tokens, not against the rollout's own bookkeeping: before the mask lies the
    encoded prompt, under it a reply that ends at its first EOS (or at max_new_tokens), after it padding."""
    trainer = make_trainer(tiny_gpt(0), batch_size=16)
    roll = trainer.rollout()
    eos, max_new = TASK.eos_id, trainer.config.max_new_tokens
    lengths = set()
    for prompt, row, mask in zip(roll["prompts"], roll["seq"].tolist(), roll["mask"]):
        ids = TASK.tokenizer.encode(prompt)
        targets = row[1:]  # mask[t] is about the token at t + 1
        picked = [tok for tok, m in zip(targets, mask.tolist()) if m]
        start = mask.tolist().index(True)
        assert row[: len(ids)] == ids and start == len(ids) - 1  # the first masked target is the first reply token
        assert mask[start : start + len(picked)].all()  # one contiguous run
        assert 1 <= len(picked) <= max_new
        assert eos not in picked[:-1] and (picked[-1] == eos or len(picked) == max_new)
        assert all(tok == eos for tok in row[len(ids) + len(picked) :])  # right-padding after the reply
        lengths.add(len(picked))
    assert len(lengths) > 1  # replies of different lengths: the mask is not one fixed window


def test_reference_is_the_policy_as_ppo_found_it():
    trainer = make_trainer(tiny_gpt(0), kl_coef=BETA, target_kl=0.0)
    out = trainer.score(trainer.rollout())
    assert out["kl"].abs().max() < 1e-5  # no update yet: π = π_ref, so no penalty


def test_records_carry_the_reply_diagnostics():
    trainer = make_trainer(tiny_gpt(1), max_new_tokens=2)  # 2 tokens: too few for a sorted reply and EOS
    row = trainer.train()[0]
    assert row["truncated"] == row["no_eos"] and row["no_eos"] > 0.5 and "equal_groups" not in row
