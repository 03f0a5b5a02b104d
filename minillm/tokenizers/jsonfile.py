"""A tokenizer on disk is one small JSON file whose ``type`` field says which class reads it.

Written through the atomic writer (minillm.utils.fileio): a crash mid-save leaves the old file, never
half a new one. Read as plain data: JSON only, nothing in a file is ever executed.
"""

from __future__ import annotations

import json
from pathlib import Path

from minillm.utils.fileio import atomic_write, read_json

__all__ = ["JSONFile", "read_tokenizer_json", "write_tokenizer_json"]


def write_tokenizer_json(path: str | Path, data: dict) -> Path:
    text = json.dumps(data, ensure_ascii=False)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate has no UTF-8 form; JSON's \\uXXXX escape keeps it exactly
            text = json.dumps(data)
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def read_tokenizer_json(path: str | Path) -> dict:
    """The JSON object in ``path``; FileNotFoundError if there is none, ValueError if it is not
    a JSON object with a string ``type``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no tokenizer file at {path}")
    data = read_json(path, "tokenizer file")
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise ValueError(f"{path} is not a minillm tokenizer file (no 'type' field)")
    return data


class JSONFile:
    """``save(path)`` / ``cls.load(path)`` for a tokenizer class with ``TYPE``, ``to_dict()`` and
    ``from_dict(data, source)`` (which checks the type and the fields)."""

    TYPE = ""

    def to_dict(self) -> dict:
        raise NotImplementedError

    @classmethod
    def from_dict(cls, data: dict, source: str | Path = "data"):
        raise NotImplementedError

    def save(self, path: str | Path) -> None:
        write_tokenizer_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path):
        return cls.from_dict(read_tokenizer_json(path), path)
