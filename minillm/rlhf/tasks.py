"""A synthetic preference task and labeler, so RLHF runs with no human data.

Report §1.2.2-1, step 2: human labelers rank several replies of the model; the rankings train a
reward model. Here the "human" is a function: every prompt is a digit string, the wished-for
reply is the same digits sorted, and a hidden *true score* says how good a reply is — the share
of places that hold the right digit:

    true_score = #{i : reply[i] == sorted(prompt)[i]} / max(len(reply), len(prompt))

Strict on purpose: a dropped or doubled digit shifts every later place, so a reply with the
right digits in a slightly wrong order or length scores well below 1. The labeler writes
demonstrations in a hurry: a share ``error_rate`` of them carry one slip (two digits swapped, one
dropped or one written twice), so a policy that imitates them lands below the ceiling and the
later stages have room to climb. The labeler ranks K replies by true score plus Gaussian noise
(labelers disagree and err) and never shows the score itself — only the ranking, as real labelers
do. Because the true score is known, we can check what the reward model learned and whether PPO
improves the *true* quality or only games the reward model (reward hacking).

    prompt  "\\n3142>"     reply "1234\\n"    true score 1.0
    prompt  "\\n3142>"     reply "1324\\n"    true score 2/4 = 0.5   (two places right)
    prompt  "\\n3142>"     reply "234\\n"     true score 0/4 = 0.0   (the 1 dropped: every digit one place early)
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from minillm.data.tasks import RULES
from minillm.tokenizers import CharTokenizer

__all__ = ["SortTask", "SyntheticLabeler", "true_score"]

ALPHABET = "0123456789>\n"
SLIPS = ("swap", "drop", "repeat")  # the labeler's slips in a demonstration


def true_score(prompt_digits: str, reply: str) -> float:
    """Hidden quality of ``reply`` (digits, no end marker) for ``prompt_digits``, in [0, 1]: the share
    of places holding the digit the sorted prompt has there, over the longer of the two."""
    n = len(prompt_digits)
    if n == 0:
        raise ValueError("prompt_digits must not be empty")
    target = "".join(sorted(prompt_digits))
    return sum(a == b for a, b in zip(reply, target)) / max(len(reply), n)


@dataclass
class SortTask:
    """Prompts of ``min_digits``..``max_digits`` random digits; replies end with a newline (EOS)."""

    min_digits: int = 3
    max_digits: int = 6

    def __post_init__(self):
        if not 1 <= self.min_digits <= self.max_digits:
            raise ValueError(f"need 1 <= min_digits <= max_digits, got {self.min_digits}, {self.max_digits}")
        self.tokenizer = CharTokenizer(ALPHABET)
        self.eos_id = self.tokenizer.stoi["\n"]

    def prompt(self, digits: str) -> str:
        return f"\n{digits}>"

    def sample_digits(self, rng: random.Random) -> str:
        return "".join(rng.choice("0123456789") for _ in range(rng.randint(self.min_digits, self.max_digits)))

    def demonstration(self, digits: str, rng: random.Random, error_rate: float = 0.0) -> str:
        """A labeler-written reply: the sorted digits, at ``error_rate`` with one slip — two digits
        swapped, one dropped or one written twice (chosen with equal chance)."""
        if not 0 <= error_rate <= 1:
            raise ValueError(f"error_rate must be in [0, 1], got {error_rate}")
        chars = RULES["sort"](digits)  # the sort task of minillm.data.tasks
        if rng.random() < error_rate and len(chars) > 1:
            slip, i = rng.choice(SLIPS), rng.randrange(len(chars))
            if slip == "swap":
                j = rng.choice([k for k in range(len(chars)) if k != i])
                chars[i], chars[j] = chars[j], chars[i]
            elif slip == "drop":
                del chars[i]
            else:  # "repeat"
                chars.insert(i, chars[i])
        return "".join(chars) + "\n"

    def sample_prompt(self, rng: random.Random) -> str:
        return self.prompt(self.sample_digits(rng))

    def score(self, prompt: str, reply: str) -> float:
        """The hidden true score of a reply text (as generated) to a prompt text."""
        return true_score(prompt.strip()[:-1], self.parse_reply(reply))

    def parse_reply(self, text: str) -> str:
        """Generated text after the prompt → reply digits (up to the first newline)."""
        return "".join(c for c in text.split("\n", 1)[0] if c.isdigit())


class SyntheticLabeler:
    """Ranks replies by true score + N(0, noise²); ties broken by the noise."""

    def __init__(self, noise: float = 0.05, seed: int = 0):
        if noise < 0:
            raise ValueError(f"noise must be >= 0, got {noise}")
        self.noise = noise
        self.rng = random.Random(seed)

    def rank(self, prompt_digits: str, replies: list[str]) -> list[int]:
        """Ranks (0 = best) of each reply."""
        if len(replies) < 2:
            raise ValueError(f"a ranking needs at least 2 replies, got {len(replies)}")
        noisy = [true_score(prompt_digits, r) + self.rng.gauss(0.0, self.noise) for r in replies]
        order = sorted(range(len(replies)), key=lambda i: -noisy[i])
        ranks = [0] * len(replies)
        for rank, i in enumerate(order):
            ranks[i] = rank
        return ranks
