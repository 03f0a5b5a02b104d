"""Replies and their log-probabilities: the two computations PPO, DPO and the pipeline share.

Report §1.2.2-1, steps 2-3: the policy *samples* replies (for labelers to rank, for PPO to learn
from), and the losses need log π(reply | prompt), the sum of the reply tokens' log-probabilities

    log π(y | x) = Σ_t log p(y_t | x, y_<t)        (prompt and padding positions excluded)

``token_logprobs`` gives the per-token terms (PPO uses them per token, DPO sums them);
``generate_replies`` samples with the KV cache, batching prompts of equal length together so no
prompt needs left-padding; ``pack_replies`` lays prompt + reply rows out for the losses, and
``check_rollout_setup`` is what PPO and GRPO check before any work.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from minillm.decoding.generation import generate
from minillm.models.gpt import GPT

__all__ = ["check_rollout_setup", "generate_replies", "pack_replies", "reply_token_logprobs", "token_logprobs"]


def token_logprobs(model: GPT, inputs: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
    """log p(target_t | inputs_≤t) and the entropy of that distribution, both (B, T); 0 where target = -100."""
    logits = model(inputs)[0].float()  # (B, T, V)
    logp = torch.log_softmax(logits, dim=-1)  # (B, T, V)
    keep = targets != -100  # (B, T)
    token_logp = logp.gather(-1, targets.clamp_min(0)[..., None]).squeeze(-1) * keep  # (B, T)
    entropy = -(logp.exp() * logp).sum(-1) * keep  # (B, T)
    return token_logp, entropy


def reply_token_logprobs(model: GPT, seq: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """``token_logprobs`` of a whole sequence (B, T) with a reply mask (B, T-1) (True: token t+1 is a reply
    token): log p(seq[t+1] | seq[≤t]) and entropy on the reply tokens, 0 elsewhere; (B, T-1) each."""
    return token_logprobs(model, seq[:, :-1], seq[:, 1:].masked_fill(~mask, -100))


@torch.no_grad()
def generate_replies(
    model: GPT,
    prompts: Sequence[Sequence[int]],
    max_new_tokens: int,
    eos_id: int,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
) -> list[list[int]]:
    """One sampled reply per prompt (token ids, up to and including the first ``eos_id``)."""
    if not prompts or any(len(p) == 0 for p in prompts):
        raise ValueError("generate_replies needs a non-empty list of non-empty prompts")
    by_len: dict[int, list[int]] = {}
    for i, p in enumerate(prompts):
        by_len.setdefault(len(p), []).append(i)
    replies: list[list[int]] = [[] for _ in prompts]
    for n, rows in by_len.items():  # equal-length prompts generate as one batch
        batch = torch.tensor([list(prompts[i]) for i in rows])  # (b, n)
        out = generate(model, batch, max_new_tokens, temperature=temperature, eos_id=eos_id, generator=generator)
        for i, row in zip(rows, out[:, n:].tolist()):  # (b, max_new_tokens) after the prompt
            replies[i] = row[: row.index(eos_id) + 1] if eos_id in row else row
    return replies


def pack_replies(
    prompt_ids: Sequence[Sequence[int]], replies: Sequence[Sequence[int]], pad_id: int
) -> tuple[Tensor, Tensor, Tensor]:
    """Prompt + reply rows right-padded with ``pad_id``: ids (B, T), the reply mask (B, T-1) (True: token
    t+1 is a reply token, the convention of ``reply_token_logprobs``) and the real lengths (B,)."""
    rows = [list(p) + list(r) for p, r in zip(prompt_ids, replies)]
    seq = torch.full((len(rows), max(map(len, rows))), pad_id, dtype=torch.long)  # (B, T)
    mask = torch.zeros(len(rows), seq.shape[1] - 1, dtype=torch.bool)  # (B, T-1)
    for i, (p, row) in enumerate(zip(prompt_ids, rows)):
        seq[i, : len(row)] = torch.tensor(row)
        mask[i, len(p) - 1 : len(row) - 1] = True
    return seq, mask, torch.tensor([len(r) for r in rows])


def check_rollout_setup(
    policy: GPT, reward_model, prompt_sampler: Callable[[random.Random], str], tokenizer, max_new_tokens: int
) -> None:
    """What a trainer that samples from ``policy`` checks before any work: a reward model reads the
    policy's tokens, and a prompt plus ``max_new_tokens`` fits in the policy's context."""
    trunk = getattr(reward_model, "trunk", None)  # a RewardModel; GRPO also takes a plain function
    if trunk is not None and trunk.config.vocab_size != policy.config.vocab_size:
        raise ValueError(
            f"reward model vocabulary ({trunk.config.vocab_size}) differs from the "
            f"policy's ({policy.config.vocab_size}): they must read the same tokens"
        )
    prompt = tokenizer.encode(prompt_sampler(random.Random(0)))
    if len(prompt) + max_new_tokens > policy.config.block_size:
        raise ValueError(
            f"prompt ({len(prompt)} tokens) + max_new_tokens={max_new_tokens} exceed "
            f"block_size={policy.config.block_size}"
        )
