"""Pack (prompt, completion) examples into one token stream with a loss mask.

Used to train small GPTs on generated tasks: examples are concatenated, and random windows of
``block_size`` tokens are cut from the stream. Only completion tokens are learned; prompt tokens
get the target -100, which ``GPT.forward`` ignores (the same masking SFT uses, report §1.2.2-2).
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import Tensor

__all__ = ["pack_examples", "sample_windows"]


def pack_examples(pairs: Sequence[tuple[str, str]], encode: Callable[[str], list[int]]) -> tuple[Tensor, Tensor]:
    """Concatenate ``prompt + completion`` for every pair → (tokens, learn_mask), both (N,)."""
    if not pairs:
        raise ValueError("pack_examples needs at least one (prompt, completion) pair")
    ids: list[int] = []
    learn: list[bool] = []
    for prompt, completion in pairs:
        p, c = encode(prompt), encode(completion)
        ids += p + c
        learn += [False] * len(p) + [True] * len(c)
    return torch.tensor(ids, dtype=torch.long), torch.tensor(learn, dtype=torch.bool)


def sample_windows(
    tokens: Tensor, learn: Tensor, block_size: int, batch_size: int, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """Random (B, block_size) inputs and next-token targets (-100 where not learned)."""
    if len(tokens) < block_size + 1:
        raise ValueError(
            f"token stream of length {len(tokens)} is too short for block_size={block_size} "
            f"(a window needs {block_size + 1} tokens)"
        )
    # every window of block_size + 1 tokens: starts 0 … len - block_size - 1 (the bound is exclusive)
    starts = torch.randint(0, len(tokens) - block_size, (batch_size,), generator=generator)
    offsets = starts[:, None] + torch.arange(block_size + 1)  # (B, T + 1)
    window, mask = tokens[offsets], learn[offsets]  # (B, T + 1)
    targets = window[:, 1:].masked_fill(~mask[:, 1:], -100)  # (B, T)
    return window[:, :-1], targets
