"""The digit tasks (minillm/data/tasks.py): batches of reverse / sort / copy pairs, and bad task names."""

import pytest
import torch

from minillm.data import DigitTask, make_digit_batch


def test_digit_task_batches():
    task = DigitTask("sort", 2, 4)
    src, tgt = make_digit_batch(task, 16, torch.Generator().manual_seed(0))
    for s, t in zip(src.tolist(), tgt.tolist()):
        digits = task.decode(s)
        assert 2 <= len(digits) <= 4 and task.decode(t) == "".join(sorted(digits))
        assert t[0] == 1 and t[len(digits) + 1] == 2
    with pytest.raises(ValueError, match="unknown task"):
        DigitTask("add")
    with pytest.raises(ValueError, match="min_digits"):
        DigitTask("copy", 5, 3)
