"""The schedule and the training step at their edges (tests/MUTATION.md): every boundary of
cosine_lr's argument checks, the defaults' arithmetic, micro-batches from a generator, figures
averaged over unequal micro-batches, and the trainable-only parameter lists."""

import math

import pytest
import torch
from torch import nn

from minillm.train.schedule import cosine_lr
from minillm.train.step import (
    FUSED_ADAMW_ON_CPU,
    GRAD_CLIP,
    MIN_LR_RATIO,
    WARMUP_FRACTION,
    WEIGHT_DECAY,
    StepResult,
    TrainStep,
    autocast,
    default_warmup,
    lr_at,
    make_optimizer,
    param_groups,
)


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


def test_defaults_arithmetic():
    assert (GRAD_CLIP, MIN_LR_RATIO, WARMUP_FRACTION, WEIGHT_DECAY) == (1.0, 0.1, 0.05, 0.1)
    assert [default_warmup(n) for n in (1, 19, 20, 39, 40, 1000)] == [1, 1, 1, 1, 2, 50]
    for bad in (0, -5):
        with pytest.raises(ValueError, match="max_steps"):
            default_warmup(bad)
    # lr_at fills in warm-up = 5 % and floor = 10 %, or takes the given ones
    assert lr_at(0, 1.0, 100) == pytest.approx(1.0 / 5)
    assert lr_at(100, 1.0, 100) == pytest.approx(0.1)
    assert lr_at(0, 1.0, 100, warmup_steps=2) == pytest.approx(0.5)
    assert lr_at(100, 1.0, 100, min_lr=0.3) == pytest.approx(0.3)
    assert lr_at(0, 1.0, 100, warmup_steps=0) == 1.0


def test_train_step_fills_in_the_schedule_defaults():
    model = nn.Linear(2, 1)
    step = TrainStep(model, make_optimizer(model, lr=1.0), lr=1.0, max_steps=100)
    assert (step.warmup_steps, step.min_lr, step.grad_clip, step.grad_accum) == (5, pytest.approx(0.1), 1.0, 1)
    assert [step.lr_at(s) for s in (0, 4, 100)] == [pytest.approx(0.2), pytest.approx(1.0), pytest.approx(0.1)]
    given = TrainStep(model, make_optimizer(model, lr=1.0), lr=1.0, max_steps=10, warmup_steps=0, min_lr=0.5)
    assert given.lr_at(0) == 1.0 and given.lr_at(10) == 0.5
    with pytest.raises(ValueError, match="grad_accum"):
        TrainStep(model, make_optimizer(model, lr=1.0), lr=1.0, max_steps=10, grad_accum=0)
    TrainStep(model, make_optimizer(model, lr=1.0), lr=1.0, max_steps=10, grad_clip=0.0)  # 0: clipping off


def test_micro_batches_from_a_generator_and_unequal_figures():
    torch.manual_seed(0)
    model = nn.Linear(3, 1, bias=False)
    step = TrainStep(model, torch.optim.SGD(model.parameters(), lr=1.0), lr=1.0, max_steps=4, warmup_steps=0,
                     min_lr=1.0, grad_accum=2, grad_clip=0.0)  # fmt: skip
    xs = [torch.ones(1, 3), 3 * torch.ones(1, 3)]
    w0 = model.weight.detach().clone()
    result = step(0, (x for x in xs), lambda x: (model(x).sum(), {"a": float(x[0, 0]), "b": 1.0}))
    assert isinstance(result, StepResult)
    assert result.figures == {"a": pytest.approx(2.0), "b": pytest.approx(1.0)}  # the mean of 1 and 3
    assert result.loss.item() == pytest.approx(float((w0 @ xs[0].T + w0 @ xs[1].T).sum()) / 2)
    # the gradient of the mean loss is the mean input (1 + 3) / 2 = 2 per weight, applied with lr 1
    torch.testing.assert_close(model.weight.detach(), w0 - 2.0)
    assert result.grad_norm.item() == pytest.approx(2.0 * math.sqrt(3))
    assert result.lr == 1.0
    with pytest.raises(ValueError, match="more than grad_accum=2"):
        step(1, (x for x in xs * 2), lambda x: model(x).sum())
    with pytest.raises(ValueError, match="more than grad_accum=2"):  # refused at the third, before its backward
        step(1, (x for x in [*xs, xs[0]]), lambda x: model(x).sum())
    with pytest.raises(ValueError, match="got 1 micro-batches"):
        step(1, (x for x in xs[:1]), lambda x: model(x).sum())
    plain = TrainStep(model, torch.optim.SGD(model.parameters(), lr=1.0), lr=1.0, max_steps=4)
    assert plain(0, [xs[0]], lambda x: model(x).sum()).figures == {}


def test_only_trainable_parameters_are_grouped_and_clipped():
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    model[0].requires_grad_(False)
    decay, no_decay = param_groups(model)
    assert decay["weight_decay"] == WEIGHT_DECAY
    assert [p.shape for p in decay["params"]] == [(1, 2)] and [p.shape for p in no_decay["params"]] == [(1,)]
    step = TrainStep(model, make_optimizer(model, lr=1.0), lr=1.0, max_steps=4)
    assert len(step.params) == 2


def test_optimizer_arguments_at_their_edges():
    model = nn.Linear(2, 1)
    opt = make_optimizer(model, lr=1e-3, weight_decay=0.0, betas=(0.0, 0.5))  # zeros are allowed
    assert opt.param_groups[0]["weight_decay"] == 0.0 and opt.param_groups[0]["betas"] == (0.0, 0.5)
    assert opt.defaults["fused"] is FUSED_ADAMW_ON_CPU  # fused AdamW on CUDA, and on CPU from torch 2.4
    assert make_optimizer(model, lr=1e-3, device_type="meta").defaults["fused"] is False  # nowhere else
    assert make_optimizer(model, lr=1e-3, device_type="cuda").defaults["fused"] is True
    assert make_optimizer(model, lr=0.5).param_groups[0]["lr"] == 0.5
    assert make_optimizer(model, lr=2e-3).param_groups[0]["weight_decay"] == WEIGHT_DECAY
    with pytest.raises(ValueError, match="betas"):
        make_optimizer(model, lr=1e-3, betas=(-0.1, 0.9))


def test_autocast_context():
    with autocast("cpu", None):
        assert not torch.is_autocast_enabled("cpu")
    for dtype in (torch.bfloat16, torch.float16):
        with autocast("cpu", dtype):
            assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == dtype


def test_a_bad_floor_is_refused_when_the_step_is_built():
    model = nn.Linear(2, 1)
    with pytest.raises(ValueError, match="min_lr"):
        TrainStep(model, make_optimizer(model, lr=1.0), lr=1.0, max_steps=10, min_lr=2.0)


def test_stale_gradients_are_dropped_not_zeroed():
    # a gradient left over from outside the step is discarded (set to None): a parameter the loss does not
    # use then gets no AdamW update at all; a zeroed gradient would still decay it
    model = nn.Linear(2, 2)
    unused = nn.Parameter(torch.ones(2, 2))
    model.register_parameter("unused", unused)
    (model.weight.sum() + unused.sum()).backward()
    step = TrainStep(model, make_optimizer(model, lr=0.1, weight_decay=0.5), lr=0.1, max_steps=4, warmup_steps=0)
    w0 = model.weight.detach().clone()
    step(0, [torch.ones(1, 2)], lambda x: model(x).sum())
    torch.testing.assert_close(unused.detach(), torch.ones(2, 2))
    assert not torch.equal(model.weight.detach(), w0)


def test_ddp_all_reduces_on_the_last_micro_batch_only():
    model = nn.Linear(2, 1)
    inside = []

    class FakeDDP:
        syncing = True

        def no_sync(self):
            ddp = self

            class Ctx:
                def __enter__(self):
                    ddp.syncing = False

                def __exit__(self, *exc):
                    ddp.syncing = True

            return Ctx()

    ddp = FakeDDP()

    def loss_fn(x):
        inside.append(ddp.syncing)
        return model(x).sum()

    step = TrainStep(model, make_optimizer(model, lr=1e-3), lr=1e-3, max_steps=4, grad_accum=3, ddp=ddp)
    step(0, [torch.ones(1, 2)] * 3, loss_fn)
    assert inside == [False, False, True]
