"""A task whose reward is a program: multi-digit addition with a chain of thought, and how to measure it.

Report §1.2.2-1 step 3 with the reward model replaced by a checker, as DeepSeek-R1 (2025) trains
reasoning: a reply earns 1 if the number after its final-answer marker is the sum, else 0. The model
is first SFT-ed on a little chain of thought (data/arithmetic.py's digit-by-digit format)

    "58+67="  →  "8+7=15,5+6+1=12;125\\n"

so that some sampled replies are right, which is all the reward can work with.

Held-out figures (``evaluate``), each over replies sampled at a temperature:
    accuracy      pass@1, the mean reward of one sample per problem
    pass@k        P(at least one of k samples is right), the unbiased estimator of Chen et al. 2021
                  from n ≥ k samples with c right: 1 - C(n - c, k) / C(n, k)
    majority      self-consistency (Wang et al. 2023): the most common parsed answer of n samples
    best-of-n     the verifier picks a right sample if there is one: pass@n, at n samples' cost
    reply length  mean tokens per reply;  EOS fraction: replies that ended before the length limit

Docs: docs/rlhf.md#reasoning-from-rewards. Example: examples/13_reasoning_from_rewards.py.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from minillm.data.arithmetic import ALPHABET, CHAIN, addition_pair, random_operand
from minillm.prompting import parse_number
from minillm.rlhf.sampling import generate_replies
from minillm.tokenizers import CharTokenizer

__all__ = ["AdditionTask", "evaluate", "pass_at_k"]


@dataclass
class AdditionTask:
    """Sums of two operands of ``min_digits``…``max_digits`` digits; the reply's answer follows ``marker``."""

    min_digits: int = 2
    max_digits: int = 3
    marker: str = CHAIN.answer_marker

    def __post_init__(self):
        if not 1 <= self.min_digits <= self.max_digits:
            raise ValueError(f"need 1 <= min_digits <= max_digits, got {self.min_digits}, {self.max_digits}")
        self.tokenizer = CharTokenizer(ALPHABET)
        self.eos_id = self.tokenizer.stoi["\n"]
        prompt, reply = self.pair(58, 67)
        if self.reward(prompt, reply) != 1.0:  # the reference reply must earn its reward
            raise ValueError(
                f"answers cannot be parsed: marker {self.marker!r} does not find the answer of the reference "
                f"reply {reply!r}; use the format's marker {CHAIN.answer_marker!r}"
            )

    def max_reply_tokens(self) -> int:
        """The longest reference reply: a chain step per digit (up to 9 characters), the answer, EOS."""
        a = b = 10**self.max_digits - 1
        return len(self.tokenizer.encode(self.pair(a, b)[1]))

    def operands(self, rng: random.Random) -> tuple[int, int]:
        d = rng.randint(self.min_digits, self.max_digits)
        return random_operand(d, rng), random_operand(rng.randint(self.min_digits, d), rng)

    def sample_prompt(self, rng: random.Random) -> str:
        return self.pair(*self.operands(rng))[0]

    def prompt_sampler(self, exclude: Sequence[str] = ()):
        """``sample_prompt`` that never returns a prompt of ``exclude`` (the held-out ones: RL never sees them)."""
        banned = set(exclude)

        def sample(rng: random.Random) -> str:
            while (p := self.sample_prompt(rng)) in banned:
                pass
            return p

        return sample

    def pair(self, a: int, b: int) -> tuple[str, str]:
        """(prompt, reference reply ending in the EOS newline), e.g. ("58+67=", "8+7=15,5+6+1=12;125\\n")."""
        return addition_pair(a, b, "chain")

    def answer(self, prompt: str) -> int:
        a, b = prompt.rstrip("=").split("+")
        return int(a) + int(b)

    def reward(self, prompt: str, reply: str) -> float:
        """1.0 if the reply's answer (after the last marker, first line only) is the sum, else 0.0."""
        return float(parse_number(reply, self.marker) == self.answer(prompt))

    def held_out(self, n: int, seed: int, exclude: Sequence[str] = ()) -> list[str]:
        """``n`` distinct prompts drawn with ``seed``, none of them in ``exclude`` (e.g. the SFT prompts)."""
        rng, seen, out = random.Random(seed), set(exclude), []
        for _ in range(100 * n):
            p = self.sample_prompt(rng)
            if p not in seen:
                seen.add(p)
                out.append(p)
                if len(out) == n:
                    return out
        raise ValueError(f"could not draw {n} held-out prompts: the task has too few distinct problems")


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples of which c are right (Chen et al. 2021): 1 - C(n-c, k) / C(n, k)."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


@torch.no_grad()
def evaluate(
    model, task: AdditionTask, prompts: Sequence[str], n_samples: int = 8, temperature: float = 1.0, seed: int = 0
) -> dict:
    """Sample ``n_samples`` replies per prompt; accuracy (pass@1), pass@k for k = 1 … n_samples, majority
    vote, best-of-n, mean reply length (tokens, EOS included) and the fraction of replies that ended."""
    if n_samples < 1 or not prompts:
        raise ValueError(f"need n_samples >= 1 and at least one prompt, got {n_samples}, {len(prompts)}")
    model.eval()
    ids = [task.tokenizer.encode(p) for p in prompts for _ in range(n_samples)]
    gen = torch.Generator().manual_seed(seed)
    replies = generate_replies(model, ids, task.max_reply_tokens() + 4, task.eos_id, temperature, gen)
    right, lengths, ended, majority = [], [], [], []
    for i, p in enumerate(prompts):
        group = replies[i * n_samples : (i + 1) * n_samples]
        texts = [task.tokenizer.decode(r) for r in group]
        right.append(sum(task.reward(p, t) for t in texts))
        lengths += [len(r) for r in group]
        ended += [bool(r) and r[-1] == task.eos_id for r in group]
        answers = [a for a in (parse_number(t, task.marker) for t in texts) if a is not None]
        majority.append(bool(answers) and Counter(answers).most_common(1)[0][0] == task.answer(p))
    n = len(prompts)
    passes = {k: sum(pass_at_k(n_samples, int(c), k) for c in right) / n for k in range(1, n_samples + 1)}
    return {
        "accuracy": passes[1],
        "pass_at_k": passes,
        "majority": sum(majority) / n,
        "best_of_n": passes[n_samples],
        "reply_len": sum(lengths) / len(lengths),
        "eos_frac": sum(ended) / len(ended),
        "samples": n_samples,
    }
