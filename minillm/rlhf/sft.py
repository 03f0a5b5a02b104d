"""Supervised fine-tuning (SFT) on (prompt, response) pairs, with the prompt masked out of the loss.

Report §1.2.2-1 step 1 (监督策略模型, the supervised policy) and §1.2.2-2 (指令微调 instruction
tuning, a form of 有监督微调 SFT on (instruction, output) pairs). The model reads the prompt but
is trained only to produce the response:

    loss = mean over response tokens t of  -log p(y_t | prompt, y_<t)

Prompt and padding positions get the target -100, which GPT.forward's cross-entropy ignores,
so they contribute exactly zero gradient (tests/rlhf/test_sft.py checks it).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from minillm.rlhf.stage import StageConfig, run_steps

__all__ = ["SFTConfig", "SFTTrainer", "sft_batch"]


def sft_batch(
    pairs: Sequence[tuple[str, str]], encode: Callable[[str], list[int]], pad_id: int, block_size: int
) -> tuple[Tensor, Tensor]:
    """Right-padded (inputs, targets) of shape (B, T) for next-token training on the responses."""
    if not pairs:
        raise ValueError("sft_batch needs at least one (prompt, response) pair")
    rows = []
    for prompt, response in pairs:
        p, r = encode(prompt), encode(response)
        if not r:
            raise ValueError(f"empty response for prompt {prompt!r}")
        if len(p) + len(r) - 1 > block_size:
            raise ValueError(
                f"prompt + response of {len(p) + len(r)} tokens exceed block_size={block_size} + 1: {prompt!r}"
            )
        rows.append((p + r, [-100] * len(p) + r))
    t = max(len(ids) for ids, _ in rows) - 1
    inputs = torch.full((len(rows), t), pad_id, dtype=torch.long)
    targets = torch.full((len(rows), t), -100, dtype=torch.long)
    for b, (ids, labels) in enumerate(rows):
        inputs[b, : len(ids) - 1] = torch.tensor(ids[:-1])
        targets[b, : len(ids) - 1] = torch.tensor(labels[1:])  # predict token t+1 from tokens ≤ t
    return inputs, targets


@dataclass
class SFTConfig(StageConfig):
    max_steps: int = 300
    batch_size: int = 32  # (prompt, response) pairs per step
    lr: float = 1e-3


class SFTTrainer:
    """Fine-tunes a GPT on (prompt, response) pairs; ``train()`` returns one record per step."""

    def __init__(
        self, model, pairs: Sequence[tuple[str, str]], tokenizer, pad_id: int, config: SFTConfig | None = None
    ):
        if not pairs:
            raise ValueError("SFTTrainer needs a non-empty list of (prompt, response) pairs")
        self.model, self.pairs, self.tokenizer, self.pad_id = model, list(pairs), tokenizer, pad_id
        self.config = config or SFTConfig()
        self.batch(self.pairs[:1])  # a pair that does not fit: fail now, not mid-training
        self.rng = random.Random(self.config.seed)

    def batch(self, pairs: Sequence[tuple[str, str]]) -> tuple[Tensor, Tensor]:
        return sft_batch(pairs, self.tokenizer.encode, self.pad_id, self.model.config.block_size)

    def train(self) -> list[dict]:
        """``max_steps`` steps on random batches of pairs; one record per step."""
        c = self.config
        sample = lambda: self.batch([self.rng.choice(self.pairs) for _ in range(c.batch_size)])
        return run_steps(self.model, c, sample, lambda xy: self.model(*xy)[1])
