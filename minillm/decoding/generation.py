"""Autoregressive generation: greedy, temperature, top-k and top-p (nucleus) sampling, KV cache.

Report §1.2.1, output part (输出部分): a linear layer + softmax turns the last hidden state into a
distribution over the next token. Generation repeats: pick a token from that distribution,
append it, run the model again.

    temperature τ:  p ∝ exp(logits / τ)            τ → 0 is greedy (argmax), τ > 1 flattens
    top-k:          keep the k most likely tokens
    top-p (Holtzman et al. 2020): keep the smallest set of tokens whose probability mass ≥ p

With ``use_cache=True`` each step feeds only the newest token and reuses the keys/values of the
earlier ones (minillm.nn.kv_cache); the result is the same token for token.

Batched generation of prompts of different lengths: ``left_pad`` puts the padding on the left, so
every row's newest token sits in the last column; ``attention_mask`` (0 = padding) hides the
padding from every query and starts each row's positions at its first real token, so each row
gets the tokens it would get alone (tests/decoding/test_generation.py::test_batched_tokens_equal_one_by_one).

Any model with ``block_size``, ``new_kv_caches()`` and ``decode_step(idx, kv_caches) -> logits``
works: GPT implements them, and Transformer does for its decoder.

Docs: docs/transformer.md#generation.
"""

from __future__ import annotations

import math
import numbers
from contextlib import contextmanager

import torch
from torch import Tensor, nn

__all__ = [
    "check_decoding_inputs",
    "check_sampling",
    "generate",
    "input_major_weights",
    "left_pad",
    "left_padding",
    "padding_inputs",
    "sample_next",
    "top_k_filter",
    "top_p_filter",
]


def _is_real(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _is_int(x) -> bool:
    """A Python or NumPy integer; bool is not one (True would silently mean 1)."""
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def check_sampling(temperature: float, top_k: int | None, top_p: float | None) -> None:
    """The sampling settings every decoder and the CLI check before any work."""
    if not (_is_real(temperature) and math.isfinite(temperature) and temperature >= 0.0):  # NaN and inf too
        raise ValueError(f"temperature must be a finite number >= 0 (0 = greedy), got {temperature!r}")
    if top_k is not None and (not _is_int(top_k) or top_k < 1):
        raise ValueError(f"top_k must be a positive integer or None, got {top_k!r}")
    if top_p is not None and not (_is_real(top_p) and 0.0 < top_p <= 1.0):
        raise ValueError(f"top_p must be a number in (0, 1], got {top_p!r}")


def top_k_filter(logits: Tensor, k: int) -> Tensor:
    """Set every logit below the k-th largest (per row) to -inf."""
    k = min(k, logits.shape[-1])
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]  # (..., 1)
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: Tensor, p: float) -> Tensor:
    """Keep the smallest set of most likely tokens whose probabilities sum to at least p.

    A token is dropped when the mass of the tokens more likely than it is already >= p, which is
    the same as: the mass from it down to the least likely token is <= 1 - p. That tail is summed
    in float64 from the least likely token up, so tiny probabilities are not rounded away: a
    running sum from the top reaches 1.0 in float32 before the last tokens, and p = 1 would then
    drop tokens that have non-zero probability. Here p = 1 keeps every one of them.
    """
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)  # (..., V)
    probs = torch.softmax(sorted_logits.double(), dim=-1)
    tail = probs.flip(-1).cumsum(-1).flip(-1)  # (..., V): mass of this token and every less likely one
    drop_sorted = tail <= (1.0 - p) * tail[..., :1]  # tail[..., 0] is the total (1 up to rounding)
    drop_sorted[..., :1] = False  # the most likely token always stays
    drop = drop_sorted.scatter(-1, order, drop_sorted)  # back to vocabulary order
    return logits.masked_fill(drop, float("-inf"))


def sample_next(
    logits: Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Pick one token per row of (B, V) logits; returns (B,) token ids."""
    check_sampling(temperature, top_k, top_p)
    if bool(torch.isnan(logits).any()):  # a NaN anywhere means the model itself broke (weights, inputs)
        raise ValueError("the logits contain NaN: the model's weights or inputs are not finite")
    if temperature == 0.0:
        return logits.argmax(dim=-1)
    logits = logits.float() / temperature
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    probs = torch.softmax(logits, dim=-1)  # (B, V)
    return torch.multinomial(probs, num_samples=1, generator=generator).squeeze(-1)  # (B,)


def check_decoding_inputs(caller: str, model, idx: Tensor, max_new_tokens: int, eos_id: int | None = None) -> None:
    """What every decoder (``generate``, ``beam_search``) checks before it touches the model.

    ``eos_id`` must be a token of the model's vocabulary (``model.vocab_size`` where the model has
    one): an id outside it can never be produced, so generation would silently never stop.
    """
    for attr in ("block_size", "new_kv_caches", "decode_step"):
        if not hasattr(model, attr):
            raise TypeError(f"{caller}() needs a model with `{attr}` (GPT or Transformer), got {type(model).__name__}")
    if not isinstance(idx, Tensor):
        raise TypeError(f"idx must be a (B, T) tensor of token ids, got {type(idx).__name__}")
    if idx.dim() != 2 or idx.shape[1] == 0 or idx.dtype not in (torch.int64, torch.int32):
        raise ValueError(
            f"idx must be a non-empty (B, T) int64 tensor of token ids, got {tuple(idx.shape)} {idx.dtype}"
        )
    if idx.shape[0] == 0:
        raise ValueError(f"idx has an empty batch: shape {tuple(idx.shape)} has B = 0 rows; pass at least one prompt")
    if not _is_int(max_new_tokens) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be a non-negative integer, got {max_new_tokens!r}")
    vocab = getattr(model, "vocab_size", None)
    if eos_id is not None and (not _is_int(eos_id) or eos_id < 0 or (vocab is not None and eos_id >= vocab)):
        allowed = f"[0, {vocab})" if vocab is not None else "a token id >= 0"
        raise ValueError(f"eos_id must be None or a token id in {allowed}, got {eos_id!r}")


def left_pad(prompts, pad_id: int = 0) -> tuple[Tensor, Tensor]:
    """Prompts of different lengths (lists of ids or 1-D tensors) → ``idx`` (B, T_max) padded on
    the left with ``pad_id`` and the ``attention_mask`` (B, T_max) bool, False on the padding."""
    rows = [torch.as_tensor(p, dtype=torch.long) for p in prompts]
    if not rows or any(r.dim() != 1 or r.numel() == 0 for r in rows):
        raise ValueError("prompts must be a non-empty list of non-empty 1-D token id sequences")
    if not _is_int(pad_id) or pad_id < 0:
        raise ValueError(f"pad_id must be a token id >= 0, got {pad_id!r}")
    width = max(r.numel() for r in rows)
    idx = torch.full((len(rows), width), pad_id, dtype=torch.long)  # (B, T_max)
    mask = torch.zeros(len(rows), width, dtype=torch.bool)  # (B, T_max)
    for b, r in enumerate(rows):
        idx[b, width - r.numel() :] = r
        mask[b, width - r.numel() :] = True
    return idx, mask


def left_padding(attention_mask: Tensor, idx: Tensor) -> Tensor:
    """Check a (B, T) mask (1/True = token, 0/False = left padding); return each row's padding count (B,)."""
    if not isinstance(attention_mask, Tensor) or attention_mask.shape != idx.shape:
        got = tuple(attention_mask.shape) if isinstance(attention_mask, Tensor) else type(attention_mask).__name__
        raise ValueError(f"attention_mask must be a tensor of idx's shape {tuple(idx.shape)}, got {got}")
    if attention_mask.is_floating_point() or not bool(((attention_mask == 0) | (attention_mask == 1)).all()):
        raise ValueError("attention_mask must hold only 0/1 (or False/True), as bool or integer")
    real = attention_mask.bool().to(idx.device)
    pad = (~real).sum(dim=1)  # (B,)
    cols = torch.arange(idx.shape[1], device=idx.device)  # (T,)
    if not bool(((cols[None] >= pad[:, None]) == real).all()):
        raise ValueError("attention_mask must pad on the left only: each row is 0...0 1...1 (see left_pad)")
    if bool((pad == idx.shape[1]).any()):
        raise ValueError("every row of attention_mask needs at least one real token")
    return pad


def padding_inputs(pad: Tensor, past: int, stored: int, t_new: int) -> dict[str, Tensor]:
    """What a model needs to run left-padded rows as if each were alone: ``mask`` (B, 1, 1, T_k),
    True on real tokens, hides the padding from every query, and ``pos`` (B, T_new) starts each row's
    positions at its first real token. ``pad`` (B,) counts each row's padding columns in the window
    the model sees; ``past`` positions are cached, the last ``stored`` of them still held (a sliding
    window's cache holds fewer); ``t_new`` tokens are new."""
    key_cols = torch.arange(past - stored, past + t_new, device=pad.device)  # (T_k,) the columns the keys sit in
    mask = (key_cols >= pad[:, None])[:, None, None]  # (B, 1, 1, T_k)
    pos = (torch.arange(past, past + t_new, device=pad.device) - pad[:, None]).clamp_min(0)  # (B, T_new)
    return {"pos": pos, "mask": mask}


MIN_TOKENS_FOR_LAYOUT = 32  # shorter decodes skip the copies of input_major_weights (they cost ~25 steps)


@contextmanager
def input_major_weights(model, max_new_tokens: int):
    """While a decode lasts, every CPU ``nn.Linear`` of ``model`` that widens (in_features <= out_features:
    Q/K/V, the feed-forward's first layer, the output layer) holds its weight input-major: the same
    values, laid out (in, out) in memory as GPT-2's own Conv1D stores them, still seen as (out, in).

    Each step multiplies a few rows by every matrix, and a CPU BLAS streams a widening matrix up to
    1.8x faster laid out that way (benchmarks/README.md, "Weight layout"). The copies cost about 25
    steps' worth of those products, so a decode of fewer than ``MIN_TOKENS_FOR_LAYOUT`` tokens skips
    them; each weight gets its own storage back on exit, even after an error. Training keeps
    nn.Linear's row-major layout: a non-contiguous parameter breaks ``.view`` and safetensors' save."""
    swapped = []
    if max_new_tokens >= MIN_TOKENS_FOR_LAYOUT and not torch.is_grad_enabled() and isinstance(model, nn.Module):
        for m in model.modules():
            w = m.weight if type(m) is nn.Linear and m.out_features >= m.in_features else None
            # a plain CPU tensor not laid out yet (a tied or nested one is skipped the second time)
            if w is not None and type(w.data) is Tensor and w.device.type == "cpu" and w.is_contiguous():
                swapped.append((w, w.data))
                w.data = w.data.t().contiguous().t()
    try:
        yield
    finally:
        for w, data in swapped:
            w.data = data


@torch.no_grad()  # decoding needs no gradients
def generate(
    model,
    idx: Tensor,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    eos_id: int | None = None,
    use_cache: bool = True,
    generator: torch.Generator | None = None,
    attention_mask: Tensor | None = None,
) -> Tensor:
    """Extend the prompts ``idx`` (B, T) by up to ``max_new_tokens`` tokens; returns (B, T + n).

    ``attention_mask`` (B, T), 0 on left padding (``left_pad`` builds both), runs prompts of
    different lengths in one batch: the model's ``decode_step`` gets the ``pos`` and ``mask`` of
    ``padding_inputs`` (GPT and Llama take them).

    Once a row has produced ``eos_id`` it keeps producing ``eos_id``; generation stops early when
    every row has. Prompts longer than the model's context keep their last ``block_size`` tokens, as
    does the sequence once it outgrows the context (a sliding window; with the cache on, the
    cache is then rebuilt each step, which gives exactly the no-cache result).
    """
    check_decoding_inputs("generate", model, idx, max_new_tokens, eos_id)
    check_sampling(temperature, top_k, top_p)
    pad = None if attention_mask is None else left_padding(attention_mask, idx)  # (B,) in out's columns
    extra = {}

    was_training = model.training
    model.eval()
    try:  # the caller's training mode comes back even if a step raises
        with input_major_weights(model, max_new_tokens):  # faster one-row products (above)
            block_size = model.block_size
            caches = model.new_kv_caches() if use_cache else None
            out, pending = idx, idx  # pending: tokens the model has not seen yet
            finished = torch.zeros(idx.shape[0], dtype=torch.bool, device=idx.device)
            for _ in range(max_new_tokens):
                if caches is None:
                    if pad is not None:  # columns cut off on the left take their padding with them
                        cut = (pad - max(out.shape[1] - block_size, 0)).clamp_min(0)
                        extra = padding_inputs(cut, 0, 0, min(out.shape[1], block_size))
                    logits = model.decode_step(out[:, -block_size:], None, **extra)  # (B, T, V)
                else:
                    if caches[0].length + pending.shape[1] > block_size:  # window full: start the cache over
                        for cache in caches:
                            cache.reset()
                        pending = out[:, -block_size:]
                    if pad is not None:  # the cache holds out's columns from `first` on (since its last reset)
                        first = out.shape[1] - pending.shape[1] - caches[0].length
                        cut = (pad - first).clamp_min(0)
                        extra = padding_inputs(cut, caches[0].length, caches[0].stored, pending.shape[1])
                    logits = model.decode_step(pending, caches, **extra)  # (B, T_pending, V)
                next_token = sample_next(logits[:, -1], temperature, top_k, top_p, generator)  # (B,)
                if eos_id is not None:
                    next_token = next_token.masked_fill(finished, eos_id)
                    finished |= next_token == eos_id
                out = torch.cat([out, next_token[:, None]], dim=1)  # (B, T + 1)
                pending = next_token[:, None]  # (B, 1)
                if eos_id is not None and bool(finished.all()):
                    break
    finally:
        model.train(was_training)
    return out
