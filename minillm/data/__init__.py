"""Offline data: text that ships with Python or this repo, and generated tasks. No downloads."""

from minillm.data.corpus import python_docs_text
from minillm.data.tasks import DigitTask, make_digit_batch

__all__ = ["python_docs_text", "DigitTask", "make_digit_batch"]
