"""File io (minillm/utils/fileio.py): an output directory that cannot be written is found before any work."""

import sys

import pytest

from minillm.utils.fileio import check_writable_dir


def test_unwritable_output_is_found_before_work(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="exists and is not a directory"):
        check_writable_dir(tmp_path / "file")
    with pytest.raises(ValueError, match="cannot write to output directory"):
        check_writable_dir(tmp_path / "file" / "sub")
    if sys.platform == "linux":  # read-only even for root, unlike a chmod
        with pytest.raises(ValueError, match="cannot write to output directory /proc/self"):
            check_writable_dir("/proc/self")
