"""The loss curve of a run, drawn from its ``metrics.jsonl`` (one JSON record per line).

Records with ``loss`` are the logged training loss (mean over the log interval, dropout on);
records with ``val_loss`` come from the periodic evaluation on the held-out split. Because the
file is appended to, a resumed run draws its whole history.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["read_metrics", "plot_metrics"]


def read_metrics(path: str | Path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no metrics file at {path}")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def plot_metrics(path: str | Path, out: str | Path) -> Path | None:
    """Train and validation loss against step, saved to ``out``; None if matplotlib is missing."""
    from minillm.plotting import pyplot

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
