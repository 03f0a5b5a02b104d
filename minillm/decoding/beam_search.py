"""Beam search: keep the ``num_beams`` most probable continuations instead of only the best token.

Report §1.2.1, output part. Greedy decoding commits to the single most likely next token; a
sequence that starts with a slightly less likely token but continues much better is lost.
Beam search keeps k partial sequences ("beams") and, at every step, extends each by every token
and keeps the k best of the k·V candidates by total log-probability

    score(y_1 … y_t) = Σ_i log p(y_i | x, y_<i)

A beam that has produced ``eos_id`` is finished: its score is frozen and it keeps its slot, so
it stays in the race against longer beams whose scores can only fall. At the end each row
returns its best beam by ``score / length ** length_penalty`` (0 = raw log-probability; > 0
favours longer outputs, as in Wu et al. 2016, with the simpler length itself as the normaliser).
With ``num_beams = 1`` this is exactly greedy decoding.

Works with any model that ``generate()`` accepts (GPT, and Transformer through ``translate``).
Docs: docs/transformer.md#generation.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from minillm.decoding.generation import check_decoding_inputs, input_major_weights

__all__ = ["beam_search", "check_num_beams"]


def check_num_beams(num_beams) -> None:
    """``num_beams`` must be a positive integer (checked before any encoding or decoding)."""
    if not isinstance(num_beams, int) or isinstance(num_beams, bool) or num_beams < 1:
        raise ValueError(f"num_beams must be a positive integer, got {num_beams!r}")


@torch.no_grad()  # decoding needs no gradients
def beam_search(
    model,
    idx: Tensor,
    max_new_tokens: int,
    num_beams: int = 4,
    eos_id: int | None = None,
    length_penalty: float = 0.0,
    use_cache: bool = True,
) -> Tensor:
    """Extend each prompt row of ``idx`` (B, T) by up to ``max_new_tokens``; returns (B, T + n),
    each row's best beam, padded with ``eos_id`` after it finished.

    ``model`` sees B × num_beams rows, beam j of row b at position b·num_beams + j (what
    ``Tensor.repeat_interleave(num_beams, 0)`` gives — the layout ``Transformer.translate`` uses
    for its encoder output).
    """
    check_decoding_inputs("beam_search", model, idx, max_new_tokens, eos_id)
    check_num_beams(num_beams)
    if (
        isinstance(length_penalty, bool)
        or not isinstance(length_penalty, (int, float))
        or not math.isfinite(length_penalty)
    ):
        raise ValueError(f"length_penalty must be a finite number (0 = raw log-probability), got {length_penalty!r}")
    if idx.shape[1] + max_new_tokens > model.block_size:
        raise ValueError(
            f"prompt length {idx.shape[1]} + max_new_tokens {max_new_tokens} exceeds the model's context "
            f"{model.block_size}; beam search does not slide the window"
        )
    b, k = idx.shape[0], num_beams
    rows = torch.arange(b, device=idx.device)[:, None] * k  # (B, 1): first flat row of each batch row
    out = idx.repeat_interleave(k, dim=0)  # (B·k, T)
    scores = torch.full((b, k), float("-inf"), device=idx.device)
    scores[:, 0] = 0.0  # all beams start identical: let only the first one expand at step 1
    finished = torch.zeros(b, k, dtype=torch.bool, device=idx.device)
    lengths = torch.zeros(b, k, device=idx.device)  # generated tokens, eos included
    caches = model.new_kv_caches() if use_cache else None
    pending = out
    was_training = getattr(model, "training", False)
    model.eval()
    try:  # the caller's training mode comes back even if a step raises
        with input_major_weights(model, max_new_tokens):  # faster one-row products (generation.py)
            for _ in range(max_new_tokens):
                logits = model.decode_step(pending if caches is not None else out, caches)[:, -1]  # (B·k, V)
                logp = torch.log_softmax(logits.float(), dim=-1).view(b, k, -1)  # (B, k, V)
                if eos_id is not None:  # a finished beam may only "continue" with eos, at no cost
                    frozen = torch.full_like(logp[0, 0], float("-inf"))
                    frozen[eos_id] = 0.0
                    logp = torch.where(finished[:, :, None], frozen, logp)
                vocab = logp.shape[-1]
                candidates = (scores[:, :, None] + logp).view(b, k * vocab)  # (B, k·V)
                scores, flat = candidates.topk(k, dim=-1)  # (B, k) each
                beam, token = flat // vocab, flat % vocab  # which beam each survivor extends, with which token
                source = (rows + beam).view(-1)  # (B·k,) flat rows to copy
                out = torch.cat([out.index_select(0, source), token.view(-1, 1)], dim=1)  # (B·k, T + t)
                finished = finished.gather(1, beam)
                lengths = lengths.gather(1, beam) + (~finished).float()
                if eos_id is not None:
                    finished = finished | (token == eos_id)
                if caches is not None:
                    for cache in caches:
                        cache.reorder(source)
                pending = token.view(-1, 1)  # (B·k, 1)
                if eos_id is not None and bool(finished.all()):
                    break
    finally:
        model.train(was_training)
    normalised = scores / lengths.clamp(min=1.0) ** length_penalty  # (B, k)
    best = normalised.argmax(dim=-1)  # (B,)
    return out.view(b, k, -1)[torch.arange(b, device=idx.device), best]  # (B, T + n)
