"""Optional plotting: matplotlib is an extra (`pip install "minillm[plot]"`), never a requirement.

Figures here are drawn with matplotlib's object API — ``matplotlib.figure.Figure`` on an Agg
canvas — and saved to files. Nothing calls ``matplotlib.use`` or registers a figure with pyplot,
so the process-wide backend stays what the caller chose (a notebook keeps its inline plots) and
no figure lingers in pyplot's list of open figures.
"""

from __future__ import annotations

__all__ = ["pyplot", "subplots"]


def subplots(nrows: int = 1, ncols: int = 1, **kwargs):
    """``(figure, axes)`` like ``matplotlib.pyplot.subplots``, on a private Agg canvas for
    ``figure.savefig``; or None (after saying so) if matplotlib is not installed."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        print("(matplotlib is not installed, so no plot: pip install 'minillm[plot]')")
        return None
    fig_keys = {"figsize", "dpi", "layout", "facecolor"}
    fig = Figure(**{k: v for k, v in kwargs.items() if k in fig_keys})
    FigureCanvasAgg(fig)  # attaches itself: savefig renders with Agg whatever the global backend is
    return fig, fig.subplots(nrows, ncols, **{k: v for k, v in kwargs.items() if k not in fig_keys})


class _Figures:
    """The two pyplot calls minillm's scripts use (``subplots`` and ``close``), without pyplot."""

    @staticmethod
    def subplots(nrows: int = 1, ncols: int = 1, **kwargs):
        return subplots(nrows, ncols, **kwargs)

    @staticmethod
    def close(fig=None) -> None:
        """Nothing to do: the figure was never registered with pyplot; it is freed with its last reference."""


def pyplot():
    """An object with pyplot's ``subplots(...)`` and ``close(fig)`` that leaves the global
    matplotlib backend alone, or None (after saying so) if matplotlib is not installed.
    New code can call ``subplots`` directly."""
    try:
        import matplotlib  # noqa: F401 — only to report a missing install here, once
    except ImportError:
        print("(matplotlib is not installed, so no plot: pip install 'minillm[plot]')")
        return None
    return _Figures()
