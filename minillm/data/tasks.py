"""Generated sequence-to-sequence tasks on digit strings: reverse, sort, copy.

Used by examples/02_transformer_reverse.py: small enough to learn on a CPU in minutes, hard enough
that the decoder must use cross-attention to the right source positions.

Vocabulary (13 tokens): 0 = <pad>, 1 = <bos>, 2 = <eos>, 3..12 = digits 0..9.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["DigitTask", "make_digit_batch", "PAD", "BOS", "EOS", "RULES"]

PAD, BOS, EOS = 0, 1, 2
# The answer to each task, for a list of digits (or a digit string: minillm.rlhf.tasks sorts its prompts
# with the same rule).
RULES = {"reverse": lambda digits: list(reversed(digits)), "sort": sorted, "copy": list}
TASKS = tuple(RULES)


@dataclass
class DigitTask:
    """A digit-string task; lengths are drawn uniformly from [min_digits, max_digits]."""

    task: str = "reverse"
    min_digits: int = 1
    max_digits: int = 12

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}; choose one of {TASKS}")
        if not 1 <= self.min_digits <= self.max_digits:
            raise ValueError(
                f"need 1 <= min_digits <= max_digits, got min_digits={self.min_digits}, max_digits={self.max_digits}"
            )

    vocab_size = 13

    def target_digits(self, digits: list[int]) -> list[int]:
        return RULES[self.task](digits)

    def decode(self, ids) -> str:
        """Token ids → digit string (special tokens dropped)."""
        return "".join(str(int(i) - 3) for i in ids if int(i) >= 3)


def make_digit_batch(task: DigitTask, batch_size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Random (src, tgt) pair of (B, max_digits + 1) and (B, max_digits + 2) padded tensors.

    src = digits + <eos>; tgt = <bos> + answer digits + <eos>. Pad with 0.
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    src = torch.full((batch_size, task.max_digits + 1), PAD, dtype=torch.long)
    tgt = torch.full((batch_size, task.max_digits + 2), PAD, dtype=torch.long)
    lengths = torch.randint(task.min_digits, task.max_digits + 1, (batch_size,), generator=generator)
    digits = torch.randint(0, 10, (batch_size, task.max_digits), generator=generator)
    for b in range(batch_size):
        n = int(lengths[b])
        d = digits[b, :n].tolist()
        src[b, :n] = torch.tensor(d) + 3
        src[b, n] = EOS
        tgt[b, 0] = BOS
        tgt[b, 1 : n + 1] = torch.tensor(task.target_digits(d)) + 3
        tgt[b, n + 1] = EOS
    return src, tgt
