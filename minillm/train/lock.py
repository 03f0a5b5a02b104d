"""One run per output directory: an exclusive lock file, taken before anything is written.

Two ``minillm train`` processes writing one ``--out-dir`` would delete each other's temporary
checkpoint directories and interleave ``metrics.jsonl``, so a checkpoint could hold the other run's
weights. The first run creates ``out_dir/.minillm.lock`` atomically (``O_CREAT | O_EXCL``) holding
its host name and process id; a second run finds it and stops with one clear error before doing
any work. A lock left by a process that no longer exists (``kill -9``, a power cut) is stale: the
next run on the same host takes it over. Under torchrun rank 0 alone takes the lock (it alone
writes; minillm.train.distributed).

Docs: docs/training.md (checkpoints and resuming).
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

__all__ = ["LOCK_NAME", "RunLock", "RunLockedError"]

LOCK_NAME = ".minillm.lock"


class RunLockedError(ValueError):
    """Another live process holds the run directory's lock."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: existence check only
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


class RunLock:
    """``RunLock(out_dir).acquire()`` … ``release()``; also a context manager."""

    def __init__(self, out_dir: str | Path):
        self.path = Path(out_dir) / LOCK_NAME
        self.held = False

    def acquire(self) -> RunLock:
        """Take the lock (creating ``out_dir``), replacing a stale one; RunLockedError if it is held."""
        if self.held:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        me = {"host": socket.gethostname(), "pid": os.getpid()}
        for _ in range(3):  # a stale lock is removed, then the exclusive create is tried again
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._owner()
                if owner is not None and not self._stale(owner):
                    raise RunLockedError(
                        f"{self.path.parent} is in use by another minillm run (pid {owner.get('pid')} on "
                        f"{owner.get('host')}); wait for it or choose another --out-dir. If no such run exists, "
                        f"delete {self.path}"
                    ) from None
                self.path.unlink(missing_ok=True)  # stale (dead pid) or unreadable: take it over
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(me, f)
            self.held = True
            return self
        raise RunLockedError(f"could not take the lock {self.path}: another process keeps creating it")

    def _owner(self) -> dict | None:
        try:
            owner = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None  # torn by a crash between create and write: treat as stale
        return owner if isinstance(owner, dict) and isinstance(owner.get("pid"), int) else None

    @staticmethod
    def _stale(owner: dict) -> bool:
        if owner.get("host") != socket.gethostname():
            return False  # cannot see another machine's processes: assume it is alive
        return not _alive(owner["pid"])

    def release(self) -> None:
        if self.held:
            self.held = False
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> RunLock:  # noqa: PYI034
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
