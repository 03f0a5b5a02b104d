"""Tokenizers: text ↔ token ids (report §1.2.1, input part). Docs: docs/transformer.md#tokenizers."""

from minillm.tokenizers.bpe import BPETokenizer
from minillm.tokenizers.char import CharTokenizer

__all__ = ["BPETokenizer", "CharTokenizer"]
