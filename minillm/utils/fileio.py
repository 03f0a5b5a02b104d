"""Atomic file writes: a reader (or a crash) sees the old file or the new one, never half of one.

    write to a temporary file next to the target → fsync it → os.replace onto the target → fsync the directory

``os.replace`` is atomic on POSIX and Windows when both paths are on the same file system, which
a sibling temporary file guarantees. Used for checkpoints, token files, exported models and
benchmark JSON.

Two helpers for runs that must survive crashes: ``check_writable_dir`` finds a read-only or
misnamed output directory before any work, and ``check_free_space`` a disk too full for a checkpoint.

And the one reader of the JSON files minillm reads back (configs, checkpoints' state.json, meta.json,
tokenizer.json, Hugging Face config.json): ``read_json`` turns a missing, unreadable or malformed
file into one error naming the file.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

__all__ = ["atomic_write", "check_free_space", "check_writable_dir", "fsync_dir", "read_json"]


def read_json(path: str | Path, what: str, error: type[Exception] = ValueError) -> object:
    """The JSON value in ``path``, or one ``error`` naming ``what`` and the file: missing, a directory, not JSON."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise error(f"{what} {path} is a directory") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise error(f"{what} {path} is not valid JSON: {err}") from None


def check_writable_dir(path: str | Path, what: str = "output directory") -> Path:
    """Prove a file can be written in ``path`` (creating it to try); else one ValueError naming it.

    Called before any work, so a read-only or misnamed directory is found in a second, not after an
    hour of training. Directories it had to create are removed again: a check writes nothing.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{what} {path} exists and is not a directory")
    created = next((p for p in reversed([path, *path.parents]) if not p.exists()), None)  # outermost new one
    probe = path / f".minillm-write-test-{os.getpid()}"
    try:
        path.mkdir(parents=True, exist_ok=True)
        with open(probe, "wb") as f:
            f.write(b"ok")
            f.flush()
            os.fsync(f.fileno())
    except OSError as err:
        raise ValueError(f"cannot write to {what} {path}: {err.strerror or err}") from None
    finally:
        try:
            probe.unlink(missing_ok=True)
        except OSError:
            pass
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
    return path


def fsync_dir(path: str | Path) -> None:
    """Make a rename inside ``path`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # e.g. Windows
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_free_space(path: str | Path, need_bytes: int, what: str = "output directory") -> None:
    """ValueError unless ``path``'s file system has ``need_bytes`` free (a full disk found before work)."""
    free = shutil.disk_usage(path).free
    if free < need_bytes:
        raise ValueError(f"{what} {path} has {free / 1e6:.1f} MB free; this run needs about {need_bytes / 1e6:.1f} MB")


# --8<-- [start:atomic-write]
def atomic_write(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp_path)``, fsync the file, then rename it to ``path``; on error ``path`` is untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)
    return path


# --8<-- [end:atomic-write]
