"""Run ``minillm`` and SIGKILL the process at one named moment of training, for the crash-and-resume tests.

    python tests/helpers/crash_at.py mid-save@10 train --data-dir=... --out-dir=...

The faults are injected here, by wrapping what the training and save paths call; the library
carries no hook for them. ``POINT@STEP`` kills the run:

- ``mid-step``: right after optimizer step STEP, before it is logged or saved;
- ``mid-save``: in the save of ``ckpt-STEP``, after its weights are written, before its state;
- ``after-rename``: right after ``ckpt-STEP`` is renamed into place, before the directory is fsync'ed;
- ``mid-cleanup``: in the save of ``ckpt-STEP``, after an old checkpoint moved to the trash, before
  the trash is deleted;
- ``mid-metrics``: half-way through writing the first metrics.jsonl record of step STEP (a torn
  line, as a full disk or a crash leaves one).

``hold@STEP`` kills nothing: after optimizer step STEP the run waits (holding its run lock) until the
file named by ``CRASH_AT_RELEASE`` exists, so a test can start a second run against a live one
however slowly the machine starts processes.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
from pathlib import Path

POINTS = ("mid-step", "mid-save", "after-rename", "mid-cleanup", "mid-metrics", "hold")


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _step_of(name: str) -> int | None:
    """``ckpt-0000010`` or ``.tmp-ckpt-0000010-123`` -> 10."""
    found = re.search(r"ckpt-(\d+)", name)
    return int(found.group(1)) if found else None


def install(point: str, step: int) -> None:
    """Wrap the function that runs just before ``point`` so that it kills the process afterwards."""
    if point not in POINTS:
        raise SystemExit(f"unknown fault point {point!r}; choose one of {POINTS}")
    if point == "hold":
        import time

        from minillm.train.trainer import Trainer

        train_step, release = Trainer.train_step, Path(os.environ["CRASH_AT_RELEASE"])

        def train_step_then_wait(self, *args, **kw):
            out = train_step(self, *args, **kw)
            deadline = time.monotonic() + 300
            while self.step == step and not release.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            return out

        Trainer.train_step = train_step_then_wait
    elif point == "mid-step":
        from minillm.train.trainer import Trainer

        train_step = Trainer.train_step

        def train_step_then_die(self, *args, **kw):
            out = train_step(self, *args, **kw)
            if self.step == step:
                _die()
            return out

        Trainer.train_step = train_step_then_die
    elif point == "mid-metrics":
        from minillm.train.trainer import Trainer

        record = Trainer._record

        def tear_then_die(self, rec):
            if rec.get("step") == step:
                line = json.dumps(rec, ensure_ascii=False) + "\n"
                with open(self.out_dir / "metrics.jsonl", "a", encoding="utf-8") as f:
                    f.write(line[: len(line) // 2])
                _die()
            return record(self, rec)

        Trainer._record = tear_then_die
    elif point == "mid-save":
        import safetensors.torch

        save_model = safetensors.torch.save_model  # imported by the checkpoint writer when it runs

        def save_model_then_die(model, filename, *args, **kw):
            out = save_model(model, filename, *args, **kw)
            if _step_of(Path(filename).parent.name) == step:
                _die()
            return out

        safetensors.torch.save_model = save_model_then_die
    else:  # after-rename, mid-cleanup: both are os.replace calls of the checkpoint writer
        replace = os.replace
        saving = {"step": None}

        def replace_then_die(src, dst, *args, **kw):
            replace(src, dst, *args, **kw)
            name = Path(dst).name
            if name.startswith("ckpt-"):  # a checkpoint renamed into place: its save is under way
                saving["step"] = _step_of(name)
                if point == "after-rename" and saving["step"] == step:
                    _die()
            elif name.startswith(".trash-") and point == "mid-cleanup" and saving["step"] == step:
                _die()

        os.replace = replace_then_die


def main(argv: list[str]) -> int:
    point, _, at = argv[0].partition("@")
    install(point, int(at))
    from minillm.commands.cli import main as minillm

    return minillm(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
