"""Token files: text → tokenizer → a memory-mapped array of token ids on disk, and batches from it.

Pre-training (report §1.2) reads a corpus far larger than memory, so it is tokenised once and
stored as a flat array of ids; training then reads random windows of ``block_size + 1`` tokens
straight from the memory map. ``prepare_tokens`` writes a data directory:

    train.bin, val.bin   token ids (uint16 when the vocabulary fits, else uint32)
    tokenizer.json       the char or BPE tokenizer that produced them
    meta.json            dtype, vocabulary size, token counts, sources

Batches are a pure function of (seed, step): the same seed always gives the same batches, on
any number of processes, and a resumed run needs no data-loader state to continue exactly.

Sources are files, directories (their *.txt and *.md files), or two names for text already on the
machine: ``python-docs`` (the pages every CPython ships in pydoc_data) and ``minillm-docs`` (this
project's own docs, the Chinese chapters included). Nothing is downloaded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from minillm.data.corpus import python_docs_text
from minillm.tokenizers import BPETokenizer, CharTokenizer, load_tokenizer
from minillm.utils.fileio import atomic_write, check_writable_dir, read_json

__all__ = ["BUILTIN_SOURCES", "TokenData", "prepare_tokens", "read_sources", "write_token_files"]

BUILTIN_SOURCES = ("python-docs", "minillm-docs")
TEXT_SUFFIXES = (".txt", ".md")


def _project_docs() -> Path:
    docs = Path(__file__).resolve().parents[2] / "docs"
    if not docs.is_dir():
        raise FileNotFoundError(
            f"'minillm-docs' needs the repository's docs/ folder next to the package; {docs} does not exist "
            "(install from a git clone with `pip install -e .`)"
        )
    return docs


def read_sources(sources: list[str]) -> list[tuple[str, str]]:
    """(name, text) for every source; raises before reading anything if one does not exist."""
    if not sources:
        raise ValueError("no text sources given; pass files, directories, 'python-docs' or 'minillm-docs'")
    files: list[Path | str] = []
    for src in sources:
        if src in BUILTIN_SOURCES:
            files.append(src)
            continue
        path = Path(src)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix in TEXT_SUFFIXES and p.is_file())
            if not found:
                raise ValueError(f"directory {path} has no {'/'.join(TEXT_SUFFIXES)} files")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"text source {src!r} is neither a file, a directory nor one of {BUILTIN_SOURCES}")
    texts = []
    for f in files:
        if f == "python-docs":
            texts.append((f, python_docs_text()))
        elif f == "minillm-docs":
            docs = sorted(p for p in _project_docs().rglob("*.md"))
            texts.extend((str(p), p.read_text(encoding="utf-8")) for p in docs)
        else:
            try:
                texts.append((str(f), f.read_text(encoding="utf-8")))
            except UnicodeDecodeError as err:
                raise ValueError(f"{f} is not UTF-8 text: {err}") from None
    if not any(text.strip() for _, text in texts):
        raise ValueError(f"the sources {sources} contain no text")
    return texts


def prepare_tokens(
    sources: list[str],
    out_dir: str | Path,
    tokenizer: str = "char",
    vocab_size: int = 2048,
    val_fraction: float = 0.1,
) -> dict:
    """Tokenise ``sources`` into ``out_dir`` (see the module docstring); returns the meta dict.

    The validation split is the last ``val_fraction`` of each document, so both splits see every
    document's style but never share text. BPE is trained on the training part only.
    """
    if isinstance(sources, (str, Path)):
        raise TypeError(f"sources must be a list of files, directories or names, got the single {sources!r}")
    if not isinstance(val_fraction, (int, float)) or isinstance(val_fraction, bool):
        raise TypeError(f"val_fraction must be a number, got {val_fraction!r}")
    if not isinstance(vocab_size, int) or isinstance(vocab_size, bool):
        raise TypeError(f"vocab_size must be an integer, got {vocab_size!r}")
    if tokenizer not in ("char", "bpe"):
        raise ValueError(f"unknown tokenizer {tokenizer!r}; choose 'char' or 'bpe'")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    if tokenizer == "bpe" and vocab_size <= 256:
        raise ValueError(f"a byte-level BPE vocabulary needs more than 256 tokens, got vocab_size={vocab_size}")
    check_writable_dir(out_dir, "output directory")  # before the (possibly long) tokenising
    texts = read_sources(sources)
    train_parts, val_parts = [], []
    for _, text in texts:
        cut = int(len(text) * (1.0 - val_fraction))
        train_parts.append(text[:cut])
        val_parts.append(text[cut:])
    train_text, val_text = "\n\n".join(train_parts), "\n\n".join(val_parts)
    if tokenizer == "char":
        tok = CharTokenizer.from_text(train_text + val_text)
    else:
        tok = BPETokenizer.train(train_text, vocab_size=vocab_size)
    tok_ids = [tok.encode(train_text), tok.encode(val_text)]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok.save(out / "tokenizer.json")
    sources = [name for name, _ in texts]
    return write_token_files(out, *tok_ids, tok.vocab_size, tokenizer, sources, len(train_text) + len(val_text))


def write_token_files(
    out_dir: str | Path, train_ids, val_ids, vocab_size: int, tokenizer: str, sources: list[str], chars: int = 0
) -> dict:
    """Write train.bin, val.bin and meta.json (the format ``TokenData`` reads); returns the meta dict.
    The tokens are stored as uint16 when the vocabulary fits, else uint32."""
    dtype = np.uint16 if vocab_size <= 2**16 else np.uint32
    train_ids, val_ids = np.asarray(train_ids, dtype=dtype), np.asarray(val_ids, dtype=dtype)
    out = Path(out_dir)
    atomic_write(out / "train.bin", lambda tmp: tmp.write_bytes(train_ids.tobytes()))
    atomic_write(out / "val.bin", lambda tmp: tmp.write_bytes(val_ids.tobytes()))
    meta = {
        "format": "minillm-tokens",
        "version": 1,
        "dtype": np.dtype(dtype).name,
        "vocab_size": vocab_size,
        "tokenizer": tokenizer,
        "train_tokens": int(train_ids.size),
        "val_tokens": int(val_ids.size),
        "chars": chars,
        "sources": sources,
    }
    meta_json = json.dumps(meta, indent=1, ensure_ascii=False)
    atomic_write(out / "meta.json", lambda tmp: tmp.write_text(meta_json, encoding="utf-8"))
    return meta


TOKEN_DTYPES = ("uint16", "uint32")


def _check_meta(meta: dict, meta_path: Path) -> None:
    """The keys ``TokenData`` reads, each of the type ``write_token_files`` writes, naming the key."""
    if meta.get("dtype") not in TOKEN_DTYPES:
        raise ValueError(f"{meta_path}: 'dtype' must be one of {TOKEN_DTYPES}, got {meta.get('dtype')!r}")
    for key, low in (("vocab_size", 1), ("train_tokens", 0), ("val_tokens", 0)):
        value = meta.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"{meta_path}: {key!r} must be an integer >= {low}, got {value!r}")


@dataclass
class TokenData:
    """A prepared data directory, memory-mapped; ``batch()`` draws deterministic windows from it."""

    data_dir: Path
    meta: dict
    train: np.ndarray
    val: np.ndarray

    @classmethod
    def open(cls, data_dir: str | Path) -> TokenData:
        data_dir = Path(data_dir)
        meta_path = data_dir / "meta.json"
        if not meta_path.is_file():
            raise FileNotFoundError(
                f"{data_dir} is not a prepared data directory (no meta.json); run `minillm prepare`"
            )
        meta = read_json(meta_path, "data file")
        if not isinstance(meta, dict) or meta.get("format") != "minillm-tokens":
            raise ValueError(f"{meta_path} was not written by `minillm prepare`")
        _check_meta(meta, meta_path)
        splits = {}
        for split in ("train", "val"):
            path = data_dir / f"{split}.bin"
            if not path.is_file():
                raise FileNotFoundError(f"missing {path}; run `minillm prepare` again")
            itemsize = np.dtype(meta["dtype"]).itemsize
            size = path.stat().st_size
            if size != meta[f"{split}_tokens"] * itemsize:
                raise ValueError(
                    f"{path} has {size} bytes but meta.json promises {meta[f'{split}_tokens']} tokens of "
                    f"{meta['dtype']}: the file is truncated or from another run"
                )
            splits[split] = np.memmap(path, dtype=meta["dtype"], mode="r") if size else np.zeros(0, meta["dtype"])
        return cls(data_dir, meta, splits["train"], splits["val"])

    @property
    def vocab_size(self) -> int:
        return int(self.meta["vocab_size"])

    def tokenizer(self) -> CharTokenizer | BPETokenizer:
        return load_tokenizer(self.data_dir / "tokenizer.json")

    def check_block_size(self, block_size: int) -> None:
        for split in ("train", "val"):
            n = len(getattr(self, split))
            if n < block_size + 1:  # one window: block_size inputs and the next token as the last target
                raise ValueError(
                    f"the {split} split of {self.data_dir} has {n} tokens, too few for block_size={block_size} "
                    f"(need at least {block_size + 1}); use more text or a smaller block_size"
                )

    def batch(self, split: str, batch_size: int, block_size: int, seed: int, step: int) -> tuple[Tensor, Tensor]:
        """(inputs, targets), each (batch_size, block_size) int64: random windows, a function of
        (seed, split, step) only. Under DDP every process draws the same global batch and keeps
        its own slice of the rows."""
        if split not in ("train", "val"):
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")
        data = getattr(self, split)
        self.check_block_size(block_size)
        rng = np.random.default_rng([seed, 0 if split == "train" else 1, step])
        # every window of block_size + 1 tokens: starts 0 … len - block_size - 1 (the bound is exclusive)
        starts = rng.integers(0, len(data) - block_size, size=batch_size)  # (B,)
        windows = np.stack([np.asarray(data[s : s + block_size + 1], dtype=np.int64) for s in starts])  # (B, T+1)
        if windows.size and int(windows.max()) >= self.vocab_size:  # per batch: no full scan of a large file
            raise ValueError(
                f"{self.data_dir / (split + '.bin')} holds token id {int(windows.max())}, outside the vocabulary of "
                f"{self.vocab_size} in meta.json: the files come from different runs of `minillm prepare`"
            )
        windows = torch.from_numpy(windows)
        return windows[:, :-1], windows[:, 1:]
