"""Atomic file writes: a reader (or a crash) sees the old file or the new one, never half of one.

    write to a temporary file next to the target → fsync it → os.replace onto the target → fsync the directory

``os.replace`` is atomic on POSIX and Windows when both paths are on the same file system, which
a sibling temporary file guarantees. Used for checkpoints, token files, exported models and
benchmark JSON.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

__all__ = ["atomic_write", "fsync_dir"]


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
