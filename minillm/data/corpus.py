"""Text corpora that are already on the machine: no internet needed.

``python_docs_text()`` returns the reference manual's topic pages that every CPython install ships
in ``pydoc_data.topics`` (about 0.47 MB of English prose and code on Python 3.11) — a good size for
a character-level GPT on a laptop.
"""

from __future__ import annotations

__all__ = ["python_docs_text"]


def python_docs_text(max_chars: int | None = None) -> str:
    """The pydoc topic pages joined in a fixed (sorted) order, optionally cut to ``max_chars``."""
    try:
        from pydoc_data.topics import topics
    except ImportError as err:  # some minimal Python builds strip pydoc_data
        raise RuntimeError("this Python has no pydoc_data package; pass your own text instead") from err
    text = "\n\n".join(topics[name].strip() for name in sorted(topics))
    if max_chars is not None:
        if max_chars <= 0:
            raise ValueError(f"max_chars must be positive, got {max_chars}")
        text = text[:max_chars]
    return text
