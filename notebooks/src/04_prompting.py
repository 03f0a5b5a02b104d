# Notebook source (percent format): tools/make_notebooks.py writes notebooks/04_prompting.ipynb from it.
# ruff: noqa: F821  (QUICK is defined by the setup cell that tools/make_notebooks.py puts first)

# %% [markdown]
# # §1.2.2-3 Prompting: instructions, few-shot and chain of thought
#
# The report's third technique: instead of changing the model, rewrite the task as text the model
# knows how to continue — an instruction, a few ⟨input, output⟩ demonstrations, or
# ⟨input, chain of thought, output⟩ triples. The chapter: [docs/prompting.md](../docs/prompting.md).

# %% [markdown]
# ## The builders
#
# Templates are format strings checked for exactly the placeholders they need.

# %%
from minillm.prompting import chain_of_thought_prompt, extract_answer, few_shot_prompt, instruction_prompt

print(instruction_prompt("Sort the digits.", "3 1 2"))
print("---")
print(few_shot_prompt([("3 1 2", "1 2 3"), ("9 7", "7 9")], "5 4 6"))
print("---")
print(chain_of_thought_prompt([("2+3*4", "3*4=12, 2+12=14.", "14")], "1+2*3"))
assert extract_answer("3*4=12, 2+12=14. The answer is 14.") == "14"
assert extract_answer("3*4=12, 2+") is None  # a chain cut short has no answer

# %% [markdown]
# ## Does a chain of thought help? A small experiment
#
# Two identical GPTs, the same initial weights and the same number of training tokens, learn
# addition in two formats: the answer directly, or the digit-by-digit steps first (with the carry).
#
# **Be careful with the conclusion.** The report describes chain-of-thought prompting as an ability
# that *appears with scale*: a large model trained on ordinary text starts to write useful steps
# when a prompt shows it a few. Our small models are *trained* on the chain format, so what we
# measure is whether writing the steps makes the task easier to learn and to get right — not
# whether a prompt can call the ability out of a model that never saw it. No model of this size
# would show the emergent effect.

# %%
import random
from functools import partial

import torch

from minillm import GPT, CharTokenizer, GPTConfig, generate
from minillm.data.arithmetic import ALPHABET, CHAIN, addition_pair, random_operand
from minillm.data.packing import pack_examples, sample_windows
from minillm.train import train_lm

for fmt in ("direct", "chain"):
    prompt, completion = addition_pair(58, 67, fmt)
    print(f"{fmt:7s} {prompt + completion!r}")

# %%
tok = CharTokenizer(ALPHABET)
steps, max_digits, width = (25, 1, 32) if QUICK else (400, 2, 64)


def stream(fmt: str, n: int = 4000, seed: int = 0):
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        d = rng.randint(1, max_digits)
        prompt, completion = addition_pair(random_operand(d, rng), random_operand(d, rng), fmt)
        pairs.append(("\n" + prompt if not pairs else prompt, completion))
    return pack_examples(pairs, tok.encode)  # one token stream, and which tokens carry the loss


@torch.no_grad()
def accuracy(model, fmt: str, n: int = 100, seed: int = 10_000) -> float:
    rng = random.Random(seed)
    problems = [(random_operand(max_digits, rng), random_operand(max_digits, rng)) for _ in range(n)]
    prompts = torch.tensor([tok.encode("\n" + addition_pair(a, b, fmt)[0]) for a, b in problems])  # (n, T)
    out = generate(model, prompts, 10 * max_digits + 4, temperature=0.0, eos_id=tok.stoi["\n"])
    right = 0
    for (a, b), row in zip(problems, out[:, prompts.shape[1] :].tolist()):
        text = tok.decode(row).split("\n", 1)[0]
        answer = extract_answer(text + "\n", marker=CHAIN.answer_marker) if fmt == "chain" else text
        right += answer == str(a + b)
    return right / n


results = {}
for fmt in ("direct", "chain"):
    tokens, learn = stream(fmt)
    torch.manual_seed(0)  # the same initial weights for both formats
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=48, n_layer=2, n_head=4, n_embd=width))
    gen = torch.Generator().manual_seed(0)
    train_lm(model, partial(sample_windows, tokens, learn, 48, 32, gen), steps, lr=2e-3, log_every=steps)
    results[fmt] = accuracy(model, fmt, n=40 if QUICK else 200)
print(results, "(QUICK trains for a few steps only: set QUICK = False for real numbers)" if QUICK else "")

# %% [markdown]
# **Next:** [docs/prompting.md](../docs/prompting.md) for the measured tables, and
# `python examples/07_chain_of_thought.py` / `examples/08_few_shot.py` for the full experiments.
