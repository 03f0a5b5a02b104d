"""Multi-digit addition, answered directly or after a digit-by-digit chain of thought.

The chain writes what a person does on paper, least significant digit first, with the carry:

    direct:  "58+67="  →  "125"
    chain:   "58+67="  →  "8+7=15,5+6+1=12;125"

Report §1.2.2-3 (思维链提示): the chain turns one hard step (all carries at once) into several
easy ones. examples/07_chain_of_thought.py trains the same GPT on each format and compares.
"""

from __future__ import annotations

import random

from minillm.prompting import ChainOfThoughtTemplate, FewShotTemplate

__all__ = ["addition_chain", "addition_pair", "random_operand", "ALPHABET", "DIRECT", "CHAIN"]

ALPHABET = "0123456789+=,;\n"
# The two training formats, written with the prompting module's templates.
DIRECT = FewShotTemplate(example="{input}={output}\n", query="{input}=", separator="")
CHAIN = ChainOfThoughtTemplate(example="{input}={chain};{output}\n", query="{input}=", separator="", answer_marker=";")


def addition_chain(a: int, b: int) -> str:
    """Digit-by-digit steps from the right, e.g. (58, 67) → "8+7=15,5+6+1=12"."""
    if a < 0 or b < 0:
        raise ValueError(f"operands must be non-negative, got {a}, {b}")
    da, db = str(a)[::-1], str(b)[::-1]
    steps, carry = [], 0
    for i in range(max(len(da), len(db))):
        x = int(da[i]) if i < len(da) else 0
        y = int(db[i]) if i < len(db) else 0
        total = x + y + carry
        steps.append(f"{x}+{y}" + ("+1" if carry else "") + f"={total}")
        carry = total // 10
    return ",".join(steps)


def addition_pair(a: int, b: int, fmt: str) -> tuple[str, str]:
    """(prompt, completion) strings for a + b in format "direct" or "chain"."""
    query = f"{a}+{b}"
    if fmt == "direct":
        full = DIRECT.example.format(input=query, output=a + b)
        prompt = DIRECT.query.format(input=query)
    elif fmt == "chain":
        full = CHAIN.example.format(input=query, chain=addition_chain(a, b), output=a + b)
        prompt = CHAIN.query.format(input=query)
    else:
        raise ValueError(f"unknown format {fmt!r}; choose 'direct' or 'chain'")
    return prompt, full[len(prompt) :]


def random_operand(n_digits: int, rng: random.Random) -> int:
    """A uniformly random number with exactly ``n_digits`` digits (0 allowed for 1 digit)."""
    if n_digits == 1:
        return rng.randrange(10)
    return rng.randrange(10 ** (n_digits - 1), 10**n_digits)
