"""metrics.jsonl (minillm/train/metrics.py): a line torn by a crash is skipped when read, and dropped,
with every record past the checkpoint's step, when a run resumes."""

import json

from minillm.train.metrics import read_metrics, truncate_metrics


# -- files ------------------------------------------------------------------------------------------
def test_torn_metrics_lines_are_tolerated_and_trimmed_on_resume(tmp_path):
    path = tmp_path / "metrics.jsonl"
    lines = [{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.5}, {"step": 3, "loss": 1.0}]
    path.write_text("".join(json.dumps(r) + "\n" for r in lines) + '{"step": 4, "lo')
    assert read_metrics(path) == lines
    assert truncate_metrics(path, 2) == 2  # step 3 and the torn line
    assert read_metrics(path) == lines[:2]
    assert path.read_text().endswith("\n")
