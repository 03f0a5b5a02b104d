"""The report card: what each stage of the tiny assistant changed, on held-out data (report §1.2.2).

Generic figures, for any checkpoint and tokenizer:

    bits per byte    (Σ over predicted tokens of -log₂ p(token | the tokens before it)) / UTF-8 bytes
                     of those tokens; tokenizer-independent, so models with different vocabularies
                     compare (the text is cut into windows of block_size; each starts afresh)
    exact match      share of generated answers equal to their reference, after stripping spaces

The assistant's figures (``assistant_card``), one column per model (base / SFT / PPO / DPO):
exact match on each question set of minillm/rlhf/knowledge.py, the **hallucination rate** (share
of questions about made-up people answered with anything but "I don't know"), the **refusal rate**
on real people (over-refusal), and the **KL to the SFT model** of replies sampled at temperature 1
(Σ over reply tokens of log π - log π_SFT, averaged over replies, as rlhf/evaluate.py).
Docs: docs/assistant.md#the-report-card.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from minillm.rlhf.knowledge import QUESTION_SETS, Question, is_refusal
from minillm.rlhf.sampling import generate_replies, pack_replies, reply_token_logprobs
from minillm.tokenizers.chat import ChatFormat

__all__ = ["answers", "assistant_card", "bits_per_byte", "exact_match", "format_card", "kl_to_reference"]


def _byte_lengths(tokenizer, ids: list[int]) -> list[int]:
    """UTF-8 bytes each token stands for: a byte-level BPE's token may hold part of a character."""
    vocab = getattr(tokenizer, "vocab", None)  # BPETokenizer: the bytes of every ordinary token
    if vocab is not None:
        return [len(vocab[i]) if i < len(vocab) else len(tokenizer.decode([i]).encode("utf-8")) for i in ids]
    return [len(tokenizer.decode([i]).encode("utf-8")) for i in ids]


@torch.no_grad()
def bits_per_byte(model, tokenizer, text: str) -> float:
    """Bits per UTF-8 byte of ``text`` under ``model`` (module docstring); the first token is context only."""
    if not isinstance(text, str) or not text:
        raise ValueError("bits_per_byte needs a non-empty text")
    ids = tokenizer.encode(text)
    if len(ids) < 2:
        raise ValueError(f"the text encodes to {len(ids)} token(s); bits per byte needs at least 2")
    was_training, block = model.training, model.block_size
    model.eval()
    nats, n_bytes = 0.0, 0
    try:
        for start in range(0, len(ids) - 1, block):
            x = torch.tensor([ids[start : start + block]])  # (1, T)
            y = torch.tensor([ids[start + 1 : start + block + 1]])  # (1, T') with T' <= T
            logits = model(x[:, : y.shape[1]])[0].float()  # (1, T', V)
            nats += torch.nn.functional.cross_entropy(logits[0], y[0], reduction="sum").item()
            n_bytes += sum(_byte_lengths(tokenizer, y[0].tolist()))
    finally:
        model.train(was_training)
    return nats / math.log(2) / n_bytes


def exact_match(replies: Sequence[str], references: Sequence[str]) -> float:
    """Share of ``replies`` equal to their reference after stripping surrounding spaces."""
    if len(replies) != len(references) or not replies:
        raise ValueError(
            f"exact_match needs equally many replies and references, got {len(replies)} and {len(references)}"
        )
    return sum(r.strip() == ref.strip() for r, ref in zip(replies, references)) / len(replies)


def _reply_text(chat: ChatFormat, ids: list[int]) -> str:
    return chat.tokenizer.decode(ids[: ids.index(chat.end_id)] if chat.end_id in ids else ids)


def answers(model, chat: ChatFormat, messages: Sequence[list[dict]], max_new_tokens: int = 24) -> list[str]:
    """The greedy reply of ``model`` to each conversation (text up to ``<|end|>``)."""
    prompts = [chat.prompt(m) for m in messages]
    replies = generate_replies(model, prompts, max_new_tokens, chat.end_id, temperature=0.0)
    return [_reply_text(chat, r) for r in replies]


@torch.no_grad()
def kl_to_reference(
    model, ref, chat: ChatFormat, messages: Sequence[list[dict]], seed: int, max_new_tokens: int = 24
) -> float:
    """Mean over replies sampled from ``model`` (temperature 1) of Σ log π(y_t) - log π_ref(y_t)."""
    prompts = [chat.prompt(m) for m in messages]
    gen = torch.Generator().manual_seed(seed)
    replies = generate_replies(model, prompts, max_new_tokens, chat.end_id, 1.0, gen)
    idx, mask, _ = pack_replies(prompts, replies, chat.end_id)  # (B, T), (B, T-1)
    kl = reply_token_logprobs(model, idx, mask)[0] - reply_token_logprobs(ref, idx, mask)[0]  # (B, T-1)
    return kl.sum(1).mean().item()


def assistant_card(
    models: dict, sft, chat: ChatFormat, sets: dict[str, list[Question]], heldout_text: str, seed: int = 0
) -> dict:
    """{model name: {figure: value}} for every model (module docstring); ``sets`` as question_sets."""
    missing = [s for s in QUESTION_SETS if not sets.get(s)]
    if missing:
        raise ValueError(f"the report card needs non-empty question sets {missing}")
    card = {}
    for name, model in models.items():
        row = {"bits_per_byte": bits_per_byte(model, chat.tokenizer, heldout_text)}
        said = {s: answers(model, chat, [q.messages for q in qs]) for s, qs in sets.items()}
        for s in QUESTION_SETS[:-1]:
            row[f"em_{s}"] = exact_match(said[s], [q.reference for q in sets[s]])
        row["hallucination"] = sum(not is_refusal(r) for r in said["made_up"]) / len(said["made_up"])
        real = said["tuned"] + said["held_out_people"]
        row["refusal"] = sum(map(is_refusal, real)) / len(real)
        probe = [q.messages for s in ("held_out_people", "made_up") for q in sets[s]]
        row["kl_to_sft"] = kl_to_reference(model, sft, chat, probe, seed)
        row["example"] = {s: (sets[s][0].text, said[s][0]) for s in ("held_out_people", "made_up")}
        card[name] = row
    return card


ROWS = [
    ("bits_per_byte", "bits per byte, held-out biographies", "{:.3f}"),
    ("em_tuned", "exact match, tuned people", "{:.1%}"),
    ("em_held_out_people", "exact match, held-out people", "{:.1%}"),
    ("em_held_out_phrasings", "exact match, held-out phrasings", "{:.1%}"),
    ("em_cross_language", "exact match, across languages", "{:.1%}"),
    ("hallucination", "hallucination rate, made-up people", "{:.1%}"),
    ("refusal", "refusal rate, real people", "{:.1%}"),
    ("kl_to_sft", "KL to SFT (nats per reply)", "{:.2f}"),
]


def format_card(card: dict) -> str:
    """The report card as a table: one row per figure, one column per model."""
    names = list(card)
    lines = [f"{'':<38}" + "".join(f"{n:>10}" for n in names)]
    for key, label, fmt in ROWS:
        cells = "".join(f"{fmt.format(card[n][key]):>10}" if key in card[n] else f"{'-':>10}" for n in names)
        lines.append(f"{label:<38}{cells}")
    return "\n".join(lines)
