"""The RLHF tests' small world: the digit-sorting task with its tokenizer, a two-layer GPT over its
vocabulary, labeled rankings of good and damaged replies, and a small PPO trainer."""

import random

import torch

from minillm import GPT, GPTConfig
from minillm.rlhf import PPOConfig, PPOTrainer, Ranking, SortTask, SyntheticLabeler

TASK = SortTask(3, 5)
TOK = TASK.tokenizer
ENC = TOK.encode


def tiny_gpt(seed=0):
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=TASK.tokenizer.vocab_size, block_size=16, n_layer=2, n_head=2, n_embd=48))


def rankings(n, seed):
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


def ppo_trainer(policy, rm, **kw):
    cfg = PPOConfig(**{"max_steps": 6, "batch_size": 32, "max_new_tokens": 7, "minibatch_size": 16, **kw})
    return PPOTrainer(policy, rm, TASK.sample_prompt, TOK, TASK.eos_id, cfg, score_fn=TASK.score)
