"""One step of byte-pair encoding (report §1.2.1, input part: tokenizer).

BPE training repeats: find the most frequent adjacent pair of ids, give it a new id, replace it.
``most_frequent_pair(ids)``: the most common adjacent pair (ties: the pair seen first).
``merge(ids, pair, new_id)``: replace every non-overlapping occurrence of ``pair``, left to right.

Grade it: pytest exercises/test_ex06_bpe_merge.py
"""

from __future__ import annotations


def most_frequent_pair(ids: list[int]) -> tuple[int, int]:
    raise NotImplementedError("ex06_bpe_merge: write this function")


def merge(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    raise NotImplementedError("ex06_bpe_merge: write this function")
