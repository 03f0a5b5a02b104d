r"""Byte-level byte-pair encoding (BPE), trained here from your own text.

Report §1.2.1, input part: before the source-text embedding layer, text must become token ids.
Byte-level BPE (Sennrich et al. 2016; GPT-2, Radford et al. 2019) starts from the 256 byte values,
so *any* Unicode text — Chinese included — is representable with no unknown token, then learns
merges: repeatedly replace the most frequent adjacent pair of tokens by one new token.

Training is incremental: pair counts are kept in a dict with an index from each pair to the words
that contain it, so a merge only revisits the words it changes, and a heap finds the next most
frequent pair. That keeps 1 MB of text → a few thousand merges at seconds, not minutes.

Text is first split into chunks (words, numbers, punctuation runs, whitespace) and merges never
cross a chunk boundary, as in GPT-2. The split is GPT-2's published pattern (openai/gpt-2,
src/encoder.py), whose Unicode classes \p{L} (letters) and \p{N} (numbers) need the ``regex``
package: Python's ``re`` has no \p{N}, and its nearest letter class counts ², ³ and ½ as letters.
Special tokens are never merged: training and encoding both cut the text at them first.

Docs: docs/transformer.md#tokenizers.
"""

from __future__ import annotations

import heapq
import re
from collections import Counter, defaultdict
from pathlib import Path

import regex

from minillm.tokenizers.ids import check_text, check_token_ids
from minillm.tokenizers.jsonfile import JSONFile

__all__ = ["SPLIT_PATTERN", "SPLIT_PATTERNS", "BPETokenizer", "compile_pattern"]

# GPT-2's split (openai/gpt-2, src/encoder.py): contractions, letter runs, number runs (kept whole:
# " 1891" is one chunk), other non-space runs, whitespace. Every character falls in one branch, so the
# chunks always join back to the original text.
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
# The same with GPT-4's digit rule (cl100k): number runs cut into groups of at most three digits, so a
# small vocabulary never spends tokens on long numbers ("1891" -> "189", "1").
GPT2_DIGITS3_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}{1,3}| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
# What minillm's tokenizer files of version 1 meant by "gpt2": GPT-4's digit rule, and [^\W\d_] letters
# (which count ², ³, ½ as letters). Kept so those files encode as they were trained; not for new ones.
MINILLM_V1_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?[^\W\d_]+| ?\d{1,3}| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+|[\s\S]"""
SPLIT_PATTERN = GPT2_PATTERN
# The split patterns a tokenizer *file* may name. A regular expression read from a file is never
# compiled: a tampered one can silently drop text or make encode() hang (catastrophic backtracking).
# Code may pass any pattern; a file may only name one of these (or hold one's exact text).
SPLIT_PATTERNS = {"gpt2": GPT2_PATTERN, "gpt2-digits3": GPT2_DIGITS3_PATTERN, "minillm-v1": MINILLM_V1_PATTERN}
FILE_VERSION = 2  # version 1 named MINILLM_V1_PATTERN "gpt2"


def compile_pattern(pattern: str):
    r"""A split pattern compiled with ``regex`` (\p{..} classes); ``re`` for the version-1 pattern, as it was."""
    return re.compile(pattern) if pattern == MINILLM_V1_PATTERN else regex.compile(pattern)


def _merge(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """Replace every non-overlapping occurrence of ``pair`` in ``ids`` (left to right) by ``new_id``."""
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


class BPETokenizer(JSONFile):
    """Byte-level BPE with special tokens. Build one with ``BPETokenizer.train(text, vocab_size)``."""

    def __init__(
        self, merges: list[tuple[int, int]], special_tokens: list[str] | None = None, pattern: str = SPLIT_PATTERN
    ):
        self.merges = [tuple(m) for m in merges]
        self.pattern = pattern
        self._split = compile_pattern(pattern)
        # vocab[id] = the bytes the token stands for
        self.vocab: list[bytes] = [bytes([b]) for b in range(256)]
        self.ranks: dict[tuple[int, int], int] = {}
        for rank, (a, b) in enumerate(self.merges):
            if not (0 <= a < len(self.vocab) and 0 <= b < len(self.vocab)):
                raise ValueError(f"merge {rank} = {(a, b)} refers to a token that does not exist yet")
            self.ranks[(a, b)] = rank
            self.vocab.append(self.vocab[a] + self.vocab[b])
        if special_tokens is not None and not isinstance(special_tokens, (list, tuple)):
            raise TypeError(f"special_tokens must be a list of strings, got {type(special_tokens).__name__}")
        special_tokens = list(special_tokens or [])
        if len(set(special_tokens)) != len(special_tokens) or any(
            not isinstance(s, str) or not s for s in special_tokens
        ):
            raise ValueError(f"special tokens must be distinct, non-empty strings, got {special_tokens}")
        for s in special_tokens:
            check_text(s, f"special token {s!r}")  # it is saved as text: it needs a UTF-8 form
        self.special_tokens = {s: len(self.vocab) + i for i, s in enumerate(special_tokens)}
        self._special_by_id = {i: s for s, i in self.special_tokens.items()}
        self._special_split = (
            re.compile("(" + "|".join(re.escape(s) for s in sorted(special_tokens, key=len, reverse=True)) + ")")
            if special_tokens
            else None
        )
        self._cache: dict[str, list[int]] = {}

    # -- training ----------------------------------------------------------------------------
    @classmethod
    def train(
        cls, text: str, vocab_size: int, special_tokens: list[str] | None = None, pattern: str = SPLIT_PATTERN
    ) -> BPETokenizer:
        """Learn ``vocab_size - 256 - len(special_tokens)`` merges from ``text``.

        Training stops early when no adjacent pair is left to merge (tiny texts), so the final
        vocabulary can be smaller than asked; ``tokenizer.vocab_size`` tells the truth.
        """
        check_text(text, "BPETokenizer.train")
        if not text:
            raise ValueError("cannot train a BPE tokenizer on empty text")
        if not isinstance(vocab_size, int) or isinstance(vocab_size, bool):
            raise TypeError(f"vocab_size must be an int, got {vocab_size!r} ({type(vocab_size).__name__})")
        special_tokens = list(special_tokens or [])
        n_merges = vocab_size - 256 - len(special_tokens)
        if n_merges < 0:
            raise ValueError(
                f"vocab_size={vocab_size} is too small: 256 byte tokens + {len(special_tokens)} special tokens "
                "do not fit"
            )
        split = compile_pattern(pattern)
        # Special strings are never merged into ordinary tokens, and the text on either side of one is
        # split on its own, as encode() does: no chunk (" Once") spans a document boundary.
        parts = cls(merges=[], special_tokens=special_tokens).split_at_special(text)
        chunk_counts = Counter(chunk for part in parts if part not in special_tokens for chunk in split.findall(part))
        words = [list(chunk.encode("utf-8")) for chunk in chunk_counts]
        freqs = list(chunk_counts.values())

        pair_counts: dict[tuple[int, int], int] = defaultdict(int)
        where: dict[tuple[int, int], set[int]] = defaultdict(set)  # pair -> ids of words containing it
        for wi, word in enumerate(words):
            for pair in zip(word, word[1:]):
                pair_counts[pair] += freqs[wi]
                where[pair].add(wi)
        heap = [(-count, pair) for pair, count in pair_counts.items()]
        heapq.heapify(heap)

        merges: list[tuple[int, int]] = []
        for new_id in range(256, 256 + n_merges):
            # Pop until an entry matches its pair's current count (older entries are stale).
            best = None
            while heap:
                neg_count, pair = heapq.heappop(heap)
                if -neg_count > 0 and pair_counts.get(pair, 0) == -neg_count:
                    best = pair
                    break
            if best is None:
                break
            merges.append(best)
            changed = set()
            for wi in where.pop(best):
                old, f = words[wi], freqs[wi]
                new = _merge(old, best, new_id)
                if len(new) == len(old):
                    continue  # stale index entry: the pair left this word in an earlier merge
                for pair in zip(old, old[1:]):
                    pair_counts[pair] -= f
                    changed.add(pair)
                for pair in zip(new, new[1:]):
                    pair_counts[pair] += f
                    where[pair].add(wi)
                    changed.add(pair)
                words[wi] = new
            pair_counts.pop(best, None)
            for pair in changed:
                count = pair_counts.get(pair, 0)
                if count > 0:
                    heapq.heappush(heap, (-count, pair))
                else:
                    pair_counts.pop(pair, None)
        return cls(merges, special_tokens, pattern)

    # -- encoding ----------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return len(self.vocab) + len(self.special_tokens)

    def _encode_chunk(self, chunk: str) -> list[int]:
        cached = self._cache.get(chunk)
        if cached is not None:
            return cached
        ids = list(chunk.encode("utf-8"))
        while len(ids) >= 2:
            # Apply the earliest-learned merge present, exactly as training did.
            pair = min(zip(ids, ids[1:]), key=lambda p: self.ranks.get(p, float("inf")))
            if pair not in self.ranks:
                break
            ids = _merge(ids, pair, 256 + self.ranks[pair])
        if len(self._cache) < 100_000:
            self._cache[chunk] = ids
        return ids

    def _encode_ordinary(self, text: str) -> list[int]:
        ids: list[int] = []
        for chunk in self._split.findall(text):
            ids.extend(self._encode_chunk(chunk))
        return ids

    def split_at_special(self, text: str) -> list[str]:
        """``text`` cut before and after every special token (the longest first): the special
        tokens stand alone in the list, with the (possibly empty) text between them."""
        return self._special_split.split(text) if self._special_split is not None else [text]

    def encode(self, text: str, allow_special: bool = True) -> list[int]:
        """Text → token ids. Special-token strings become their ids when ``allow_special``."""
        check_text(text, "encode")
        if not allow_special or self._special_split is None:
            return self._encode_ordinary(text)
        ids: list[int] = []
        for part in self.split_at_special(text):
            if part in self.special_tokens:
                ids.append(self.special_tokens[part])
            elif part:
                ids.extend(self._encode_ordinary(part))
        return ids

    def decode(self, ids, errors: str = "replace") -> str:
        """Token ids → text. Byte sequences that are not valid UTF-8 (possible mid-generation)
        become U+FFFD with the default ``errors="replace"``."""
        parts: list[bytes] = []
        for i in check_token_ids(ids, self.vocab_size):  # integers in [0, vocab_size), else an error
            parts.append(self.vocab[i] if i < len(self.vocab) else self._special_by_id[i].encode("utf-8"))
        return b"".join(parts).decode("utf-8", errors=errors)

    # -- files: ``save`` / ``load`` come from JSONFile; ``minillm.tokenizers.load_tokenizer`` reads either kind --
    TYPE = "minillm-bpe"

    def to_dict(self) -> dict:
        return {
            "type": self.TYPE,
            "version": FILE_VERSION,
            "pattern": next((name for name, p in SPLIT_PATTERNS.items() if p == self.pattern), self.pattern),
            "special_tokens": list(self.special_tokens),
            "merges": [list(m) for m in self.merges],
        }

    @classmethod
    def from_dict(cls, data: dict, source: str | Path = "data") -> BPETokenizer:
        if data.get("type") != cls.TYPE:
            raise ValueError(f"{source} is not a minillm BPE tokenizer file")
        merges = data.get("merges")
        if not isinstance(merges, list) or not all(
            isinstance(m, list) and len(m) == 2 and all(isinstance(x, int) and not isinstance(x, bool) for x in m)
            for m in merges
        ):
            raise ValueError(f"{source}: 'merges' must be a list of [int, int] pairs")
        special = data.get("special_tokens", [])
        if not isinstance(special, list) or not all(isinstance(t, str) and t for t in special):
            raise ValueError(f"{source}: 'special_tokens' must be a list of non-empty strings, got {special!r}")
        pattern = data.get("pattern", "gpt2")
        if data.get("version", 1) == 1 and pattern == "gpt2":
            pattern = "minillm-v1"  # what "gpt2" meant when the file was written
        return cls([tuple(m) for m in merges], special, _known_pattern(pattern, source))

    def __repr__(self) -> str:
        special = list(self.special_tokens)
        return f"BPETokenizer(vocab_size={self.vocab_size}, merges={len(self.merges)}, special={special})"


def _known_pattern(pattern, source) -> str:
    """The split pattern a tokenizer file names: one of ``SPLIT_PATTERNS`` by name or by its exact
    text (files written before patterns were named). Anything else is refused, never compiled."""
    if pattern in SPLIT_PATTERNS:
        return SPLIT_PATTERNS[pattern]
    if pattern in SPLIT_PATTERNS.values():
        return pattern
    raise ValueError(
        f"{source}: split pattern {str(pattern)[:60]!r} is not one minillm knows; a tokenizer file may name "
        f"{sorted(SPLIT_PATTERNS)} (a regular expression from a file is never compiled)"
    )
