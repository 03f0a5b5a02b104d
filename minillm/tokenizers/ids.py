"""Text and token ids as tokenizers accept them, checked once for every tokenizer.

``decode`` is where generated ids come back to text, so it is where a float tensor, a string or an
id from another vocabulary would otherwise be truncated (``int(0.7) == 0``) or indexed silently.
``encode`` and training take text that must have a UTF-8 form: a lone surrogate (half of a UTF-16
pair, e.g. "\\ud800", left by a bad decode) is no character, so it is refused, never replaced.
Docs: docs/transformer.md#tokenizers.
"""

from __future__ import annotations

import numbers

import torch

__all__ = ["check_text", "check_token_ids"]


def check_token_ids(ids, vocab_size: int) -> list[int]:
    """``ids`` (a list, tuple, NumPy array or integer tensor) as a list of ints in [0, vocab_size).

    A string, a float, a bool or a float tensor is a TypeError; an id outside the vocabulary a
    ValueError naming it.
    """
    if isinstance(ids, torch.Tensor):
        if ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
            raise TypeError(f"token ids must be an integer tensor, got {ids.dtype}")
        ids = ids.reshape(-1).tolist()
    if isinstance(ids, (str, bytes)) or not hasattr(ids, "__iter__"):
        raise TypeError(f"token ids must be a sequence of integers, got {type(ids).__name__}")
    out = []
    for i in ids:
        if not isinstance(i, numbers.Integral) or isinstance(i, bool):
            raise TypeError(f"token ids must be integers, got {i!r} ({type(i).__name__})")
        if not 0 <= i < vocab_size:
            raise ValueError(f"token id {int(i)} is outside the vocabulary [0, {vocab_size})")
        out.append(int(i))
    return out


def check_text(text, caller: str) -> str:
    """``text`` if it is a str with a UTF-8 form; a TypeError for anything else (bytes included),
    a ValueError naming the position and code point of a lone surrogate."""
    if not isinstance(text, str):
        hint = " (decode bytes first: data.decode('utf-8'))" if isinstance(text, (bytes, bytearray)) else ""
        raise TypeError(f"{caller} expects a str, got {type(text).__name__}{hint}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ValueError(
            f"{caller}: text has a lone surrogate U+{ord(text[err.start]):04X} at position {err.start}; it is "
            "half of a UTF-16 pair, not a character, and has no UTF-8 form: repair the text that produced it"
        ) from None
    return text
