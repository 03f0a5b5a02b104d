"""The learning-rate schedule (minillm/train/schedule.py, ``cosine_lr``): linear warm-up, then a cosine
down to a floor, by hand and at every boundary of its arguments; and the Trainer's wiring of it.

tests/train/test_step.py checks gradient accumulation and the schedule defaults of the one training
step (minillm/train/step.py) by hand; the wiring tests check that ``Trainer`` hands
``warmup_steps`` and ``min_lr`` from its ``TrainConfig`` to that step, read back from the ``lr``
it records in metrics.jsonl. The config is chosen so that the step's defaults (5 % warm-up = 1
step here, floor = 10 % of the peak) give different numbers at every step but the middle ones.
The same wiring file checks that bf16 autocast tracks fp32.
"""

import json
import math

import pytest

from minillm.data.tokens import prepare_tokens
from minillm.train import TrainConfig, Trainer, cosine_lr

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


# -- the Trainer's wiring -------------------------------------------------------------------------
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


# -- by hand ----------------------------------------------------------------------------------------
def test_cosine_lr_hand_values():
    assert cosine_lr(0, 1.0, 100, warmup_steps=10) == pytest.approx(0.1)
    assert cosine_lr(9, 1.0, 100, warmup_steps=10) == pytest.approx(1.0)
    assert cosine_lr(10, 1.0, 100, warmup_steps=10, min_lr=0.1) == pytest.approx(1.0)
    assert cosine_lr(55, 1.0, 100, warmup_steps=10, min_lr=0.1) == pytest.approx(0.1 + 0.9 * 0.5)  # halfway
    assert cosine_lr(100, 1.0, 100, warmup_steps=10, min_lr=0.1) == pytest.approx(0.1)
    assert cosine_lr(40, 2.0, 100) == pytest.approx(1.0 + math.cos(math.pi * 0.4))


def test_cosine_lr_bad_arguments():
    with pytest.raises(ValueError, match="warmup_steps"):
        cosine_lr(0, 1.0, 10, warmup_steps=11)
    with pytest.raises(ValueError, match="min_lr"):
        cosine_lr(0, 1.0, 10, min_lr=2.0)


# -- edges ------------------------------------------------------------------------------------------
# Every boundary of cosine_lr's argument checks, warm-up as long as the run, a one-step run (tests/MUTATION.md).
def test_cosine_lr_edges_by_hand():
    assert cosine_lr(2, 1.0, 10, warmup_steps=3) == pytest.approx(1.0)  # last warm-up step reaches the peak
    assert cosine_lr(3, 1.0, 10, warmup_steps=3, min_lr=0.2) == 1.0  # first cosine step: progress 0
    assert cosine_lr(4, 1.0, 11, warmup_steps=3, min_lr=0.2) == pytest.approx(
        0.2 + 0.8 * 0.5 * (1 + math.cos(math.pi / 8))
    )
    assert cosine_lr(9, 1.0, 10, min_lr=0.2) == pytest.approx(0.2 + 0.8 * 0.5 * (1 + math.cos(math.pi * 0.9)))
    assert cosine_lr(10, 1.0, 10, min_lr=0.2) == 0.2 and cosine_lr(50, 1.0, 10, min_lr=0.2) == 0.2
    assert cosine_lr(0, 3.0, 10) == 3.0  # no warm-up by default, min_lr 0 by default
    assert cosine_lr(10, 3.0, 10) == 0.0
    # warm-up as long as the run: every step is warm-up (no division by zero after it)
    assert cosine_lr(4, 1.0, 5, warmup_steps=5) == pytest.approx(1.0)
    assert cosine_lr(5, 1.0, 5, warmup_steps=5, min_lr=0.1) == 0.1
    assert cosine_lr(1, 2.0, 5, warmup_steps=4, min_lr=2.0) == pytest.approx(1.0)  # a flat floor = the peak
    assert cosine_lr(0, 1.0, 1) == 1.0  # a one-step run


@pytest.mark.parametrize(
    "args, ok",
    [
        ((0, 1.0, 1, 0, 0.0), True),
        ((0, 1.0, 0, 0, 0.0), False),
        ((0, 1.0, -1, 0, 0.0), False),
        ((0, 1.0, 5, -1, 0.0), False),
        ((0, 1.0, 5, 5, 0.0), True),
        ((0, 1.0, 5, 6, 0.0), False),
        ((0, 1.0, 5, 0, 1.0), True),
        ((0, 1.0, 5, 0, 1.0 + 1e-9), False),
        ((0, 1.0, 5, 0, -1e-9), False),
    ],
)
def test_cosine_lr_argument_boundaries(args, ok):
    if ok:
        assert cosine_lr(*args) > 0
    else:
        with pytest.raises(ValueError):
            cosine_lr(*args)
