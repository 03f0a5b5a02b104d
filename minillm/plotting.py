"""Optional plotting: matplotlib is an extra (`pip install "minillm[plot]"`), never a requirement."""

from __future__ import annotations

__all__ = ["pyplot"]


def pyplot():
    """``matplotlib.pyplot`` with the file-only Agg backend, or None (after saying so) if not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib is not installed, so no plot: pip install 'minillm[plot]')")
        return None
    return plt
