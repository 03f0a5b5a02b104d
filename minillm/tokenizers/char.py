"""Character-level tokenizer: one token per distinct character of a text.

The simplest way to turn text into the integer ids an embedding layer (report §1.2.1, input part)
needs. It is the tokenizer of choice for tiny models: no training, nothing unknown inside the
training text, and every id is readable.

Docs: docs/transformer.md#tokenizers.
"""

from __future__ import annotations

from pathlib import Path

from minillm.tokenizers.ids import check_text, check_token_ids
from minillm.tokenizers.jsonfile import JSONFile

__all__ = ["CharTokenizer"]


class CharTokenizer(JSONFile):
    """Maps each character of a fixed alphabet to an id (ids follow the given order)."""

    def __init__(self, chars: str | list[str]):
        if not isinstance(chars, (str, list, tuple)):
            raise TypeError(f"CharTokenizer takes a string or a list of characters, got {type(chars).__name__}")
        chars = list(chars)
        if not chars:
            raise ValueError("CharTokenizer needs at least one character")
        if any(not isinstance(c, str) or len(c) != 1 for c in chars):
            raise ValueError("CharTokenizer characters must be single characters")
        if len(set(chars)) != len(chars):
            raise ValueError("CharTokenizer characters must be distinct")
        check_text("".join(chars), "CharTokenizer")  # the alphabet is saved as text: it needs a UTF-8 form
        self.chars = chars
        self.stoi = {c: i for i, c in enumerate(chars)}

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        """The alphabet of ``text``, sorted by code point."""
        check_text(text, "CharTokenizer.from_text")
        if not text:
            raise ValueError("cannot build a CharTokenizer from empty text")
        return cls(sorted(set(text)))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        """Text → ids; a character outside the alphabet is a ValueError naming it (there is no
        unknown token: the alphabet is exactly the training text's)."""
        check_text(text, "encode")
        unknown = next((c for c in text if c not in self.stoi), None)
        if unknown is not None:
            raise ValueError(f"character {unknown!r} is not in the tokenizer's alphabet of {self.vocab_size}")
        return [self.stoi[c] for c in text]

    def decode(self, ids) -> str:
        """Integer ids in [0, vocab_size) → text (minillm.tokenizers.ids checks them)."""
        return "".join(self.chars[i] for i in check_token_ids(ids, self.vocab_size))

    # -- files: ``save`` / ``load`` come from JSONFile; ``minillm.tokenizers.load_tokenizer`` reads either kind --
    TYPE = "minillm-char"

    def to_dict(self) -> dict:
        return {"type": self.TYPE, "version": 1, "chars": self.chars}

    @classmethod
    def from_dict(cls, data: dict, source: str | Path = "data") -> CharTokenizer:
        if data.get("type") != cls.TYPE or not isinstance(data.get("chars"), list):
            raise ValueError(f"{source} is not a minillm character tokenizer file")
        return cls(data["chars"])

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"
