"""Tokenizers: text ↔ token ids (report §1.2.1, input part). Docs: docs/transformer.md#tokenizers.

``load_tokenizer(path)`` is the one loader: the file's ``type`` field picks the class.
"""

from __future__ import annotations

from pathlib import Path

from minillm.tokenizers.bpe import BPETokenizer
from minillm.tokenizers.char import CharTokenizer
from minillm.tokenizers.jsonfile import read_tokenizer_json

__all__ = ["BPETokenizer", "CharTokenizer", "TOKENIZER_TYPES", "load_tokenizer"]

TOKENIZER_TYPES = {cls.TYPE: cls for cls in (CharTokenizer, BPETokenizer)}


def load_tokenizer(path: str | Path) -> CharTokenizer | BPETokenizer:
    """The tokenizer saved in ``path`` by ``CharTokenizer.save`` or ``BPETokenizer.save``."""
    data = read_tokenizer_json(path)
    cls = TOKENIZER_TYPES.get(data["type"])
    if cls is None:
        raise ValueError(
            f"{path} is not a minillm tokenizer file (type {data['type']!r}; known: {sorted(TOKENIZER_TYPES)})"
        )
    return cls.from_dict(data, path)
