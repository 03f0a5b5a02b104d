"""The loss curve of a run, drawn from its ``metrics.jsonl`` (one JSON record per line).

Records with ``loss`` are the logged training loss (mean over the log interval, dropout on);
records with ``val_loss`` come from the periodic evaluation on the held-out split. Because the
file is appended to, a resumed run draws its whole history; on resume, records past the
checkpoint's step (written by the run that crashed after it) are dropped first.
"""

from __future__ import annotations

import json
from pathlib import Path

from minillm.utils.fileio import atomic_write

__all__ = ["plot_metrics", "read_metrics", "truncate_metrics"]


def read_metrics(path: str | Path) -> list[dict]:
    """The records of ``path``. A line that is not a JSON object is skipped: a crash or a full disk
    mid-append leaves a torn last line, and one torn line must not stop every later run from plotting."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no metrics file at {path}")
    records = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def truncate_metrics(path: str | Path, step: int) -> int:
    """Keep only the records of ``path`` up to ``step`` (and no torn line); returns how many were dropped.

    A resumed run restarts from its checkpoint's step, so records a crashed run appended after that
    checkpoint would otherwise appear twice. Rewritten atomically (minillm.utils.fileio).
    """
    path = Path(path)
    if not path.is_file():
        return 0
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    kept = []
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and isinstance(record.get("step"), int) and record["step"] <= step:
            kept.append(line)
    if len(kept) != len(lines):
        text = "".join(line + "\n" for line in kept)
        atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return len(lines) - len(kept)


def plot_metrics(path: str | Path, out: str | Path) -> Path | None:
    """Train and validation loss against step, saved to ``out``; None if matplotlib is missing."""
    from minillm.utils.plotting import pyplot

    records = read_metrics(path)
    plt = pyplot()
    if plt is None:
        return None
    train = [(r["step"], r["loss"]) for r in records if "loss" in r]
    val = [(r["step"], r["val_loss"]) for r in records if "val_loss" in r]
    fig, ax = plt.subplots(figsize=(6, 4))
    if train:
        ax.plot(*zip(*train), label="train (logged mean, dropout on)")
    if val:
        ax.plot(*zip(*val), "o-", label="validation")
    ax.set(xlabel="step", ylabel="cross-entropy (nats/token)", title=f"training loss — {Path(path).parent}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return Path(out)
