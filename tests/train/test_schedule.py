"""Trainer wiring: the learning-rate schedule its config asks for, and bf16 autocast close to fp32.

tests/train/test_step.py checks the schedule formula and gradient accumulation of the one training
step (minillm/train/step.py) by hand; this file checks the wiring: that ``Trainer`` hands
``warmup_steps`` and ``min_lr`` from its ``TrainConfig`` to that step, read back from the ``lr``
it records in metrics.jsonl. The config is chosen so that the step's defaults (5 % warm-up = 1
step here, floor = 10 % of the peak) give different numbers at every step but the middle ones.
"""

import json
import math

import pytest

from minillm.data.tokens import prepare_tokens
from minillm.train import TrainConfig, Trainer

PEAK, FLOOR, WARMUP, STEPS = 4e-3, 1.2e-3, 3, 9  # floor 30 % of the peak; default would be 10 %


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    src = tmp_path_factory.mktemp("src") / "corpus.txt"
    src.write_text("the cat sat on the mat; the dog sat on the log.\n" * 30, encoding="utf-8")
    out = tmp_path_factory.mktemp("data")
    prepare_tokens([str(src)], out, tokenizer="char", val_fraction=0.2)
    return out


def hand_schedule(step: int) -> float:
    """Linear warm-up to PEAK over WARMUP steps, then cosine from PEAK down to FLOOR at STEPS."""
    if step < WARMUP:
        return PEAK * (step + 1) / WARMUP
    progress = (step - WARMUP) / (STEPS - WARMUP)
    return FLOOR + (PEAK - FLOOR) * 0.5 * (1 + math.cos(math.pi * progress))


def tiny_config(data_dir, out_dir, **overrides) -> TrainConfig:
    return TrainConfig.from_dict(
        {
            "data_dir": str(data_dir),
            "out_dir": str(out_dir),
            "n_layer": 1,
            "n_head": 2,
            "n_embd": 16,
            "block_size": 8,
            "batch_size": 4,
            "grad_accum": 2,
            "max_steps": STEPS,
            "warmup_steps": WARMUP,
            "lr": PEAK,
            "min_lr": FLOOR,
            "log_interval": 1,
            "eval_interval": STEPS,
            "eval_iters": 1,
            "checkpoint_interval": STEPS,
            "sample_tokens": 0,
            "progress": False,
            "device": "cpu",
            **overrides,
        }
    )


def test_trainer_records_the_configured_warmup_and_floor(data_dir, tmp_path):
    config = tiny_config(data_dir, tmp_path)
    Trainer(config, log=lambda *_: None).train()
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    lrs = [r["lr"] for r in records if "lr" in r]  # one per step (log_interval=1), in order
    expected = [hand_schedule(s) for s in range(STEPS)]
    assert lrs == pytest.approx(expected, rel=1e-9)
    assert lrs[0] == pytest.approx(PEAK / 3)  # warm-up: a third of the peak at the first step
    assert lrs[-1] < FLOOR * 1.2  # near the configured floor at the end, far above a 10 % floor (4e-4)


def test_bf16_autocast_training_tracks_fp32(data_dir, tmp_path):
    """Same seed, same batches, dropout off: the bf16-autocast run's losses stay within 0.2 % of fp32's
    (measured: 7e-5); checking only that they are finite would miss a wrong cast."""
    histories = {}
    for dtype in ("float32", "bfloat16"):
        trainer = Trainer(
            tiny_config(data_dir, tmp_path / dtype, dtype=dtype, max_steps=4, dropout=0.0), log=lambda *_: None
        )
        trainer.train()
        histories[dtype] = trainer.loss_history
    assert len(histories["float32"]) == 4
    assert histories["bfloat16"] == pytest.approx(histories["float32"], rel=2e-3)
    assert histories["bfloat16"] != histories["float32"]  # autocast did run: bf16 rounding shows
