"""The one training step (minillm/train/step.py): accumulation, schedule, clipping, parameter groups.

References are independent of the code under test: a full-batch backward in float64, the schedule
formula written out by hand, gradient norms from torch.autograd.grad, AdamW's decoupled decay
applied by hand.
"""

import contextlib
import copy
import math

import pytest
import torch
from torch import nn

from minillm import GPT, GPTConfig
from minillm.train.step import (
    BETAS,
    MIN_LR_RATIO,
    TrainStep,
    default_warmup,
    lr_at,
    make_optimizer,
    param_groups,
)


def tiny_gpt() -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=16, dropout=0.0)).double()


def lm_loss(model):
    return lambda xy: model(*xy)[1]


def constant_lr_step(model, optimizer, **kw) -> TrainStep:
    """A step whose schedule is flat (no warm-up, floor = peak), so lr = 1 exactly."""
    return TrainStep(model, optimizer, lr=1.0, max_steps=10, warmup_steps=0, min_lr=1.0, **kw)


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_grad_accum_two_equals_one_batch_of_twice_the_size(optimizer):
    x = torch.randint(0, 11, (8, 8))
    y = torch.randint(0, 11, (8, 8))
    full, accum = tiny_gpt(), tiny_gpt()

    def opt(m):
        if optimizer == "sgd":  # parameters move by exactly -lr·g: comparing them compares gradients
            return torch.optim.SGD(m.parameters(), lr=1.0)
        return make_optimizer(m, lr=1.0)

    one = TrainStep(full, opt(full), lr=1e-2, max_steps=10)(0, [(x, y)], lm_loss(full))
    step = TrainStep(accum, opt(accum), lr=1e-2, max_steps=10, grad_accum=2)
    two = step(0, [(x[:4], y[:4]), (x[4:], y[4:])], lm_loss(accum))
    torch.testing.assert_close(two.loss, one.loss, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(two.grad_norm, one.grad_norm, rtol=1e-12, atol=1e-12)
    for a, b in zip(accum.parameters(), full.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    assert all(p.grad is None for p in accum.parameters())  # gradients freed between steps


def test_recorded_lr_follows_warmup_then_cosine_to_a_tenth():
    model = nn.Linear(3, 1)
    max_steps, warmup, peak = 12, 3, 0.5
    step = TrainStep(model, make_optimizer(model, lr=peak), lr=peak, max_steps=max_steps, warmup_steps=warmup)
    floor = peak * MIN_LR_RATIO
    for s in range(max_steps):
        result = step(s, [torch.randn(2, 3)], lambda x: model(x).pow(2).mean())
        if s < warmup:
            expected = peak * (s + 1) / warmup
        else:
            expected = floor + (peak - floor) * 0.5 * (1 + math.cos(math.pi * (s - warmup) / (max_steps - warmup)))
        assert result.lr == pytest.approx(expected, rel=1e-12)
        assert all(g["lr"] == result.lr for g in step.optimizer.param_groups)
    assert lr_at(max_steps, peak, max_steps) == pytest.approx(floor)
    assert default_warmup(2000) == 100 and default_warmup(3) == 1


@pytest.mark.parametrize("clip", [0.0, 1e-3, 1e6])
def test_clipping_rescales_the_update_to_grad_clip(clip):
    model = tiny_gpt()
    x, y = torch.randint(0, 11, (4, 8)), torch.randint(0, 11, (4, 8))
    before = copy.deepcopy(model)
    grads = torch.autograd.grad(before(x, y)[1], list(before.parameters()))
    norm = torch.sqrt(sum(g.pow(2).sum() for g in grads))
    step = constant_lr_step(model, torch.optim.SGD(model.parameters(), lr=1.0), grad_clip=clip)
    result = step(0, [(x, y)], lm_loss(model))
    torch.testing.assert_close(result.grad_norm, norm)  # the norm before clipping is reported
    update = torch.sqrt(sum((p0 - p1).pow(2).sum() for p0, p1 in zip(before.parameters(), model.parameters())))
    expected = norm if clip == 0 or norm <= clip else torch.tensor(clip, dtype=torch.float64)
    torch.testing.assert_close(update, expected, rtol=1e-5, atol=0)


def test_weight_decay_only_on_matrices_and_embeddings():
    model = tiny_gpt()
    decay, no_decay = param_groups(model, weight_decay=0.1)
    names = {id(p): n for n, p in model.named_parameters()}
    decayed = {names[id(p)] for p in decay["params"]}
    assert decayed and all(model.get_parameter(n).dim() >= 2 for n in decayed)
    assert no_decay["weight_decay"] == 0.0 and decay["weight_decay"] == 0.1
    skipped = {names[id(p)] for p in no_decay["params"]}
    assert any(n.endswith("bias") for n in skipped) and any("ln" in n or "norm" in n for n in skipped)
    assert decayed | skipped == set(names.values())
    # behaviour: with a zero gradient, AdamW only decays, p ← p · (1 − lr · wd), and only the matrices
    before = copy.deepcopy(model)
    opt = make_optimizer(model, lr=1.0, weight_decay=0.1)
    assert opt.param_groups[0]["betas"] == BETAS
    constant_lr_step(model, opt)(0, [None], lambda _: sum(p.sum() for p in model.parameters()) * 0.0)
    for (n, p0), p1 in zip(before.named_parameters(), model.parameters()):
        factor = 0.9 if n in decayed else 1.0
        torch.testing.assert_close(p1, p0 * factor)


def test_autocast_and_ddp_no_sync_around_the_right_micro_batches():
    model = nn.Linear(4, 1)
    seen, synced = [], []

    class FakeDDP:  # records when the all-reduce would be skipped
        @contextlib.contextmanager
        def no_sync(self):
            synced.append(False)
            yield

    def loss_fn(x):
        seen.append(torch.is_autocast_enabled("cpu"))
        return model(x).float().pow(2).mean(), {"n": 2.0}

    step = TrainStep(
        model,
        make_optimizer(model, lr=1e-3),
        lr=1e-3,
        max_steps=5,
        grad_accum=3,
        autocast_dtype=torch.bfloat16,
        ddp=FakeDDP(),
    )
    result = step(0, [torch.randn(2, 4) for _ in range(3)], loss_fn)
    assert seen == [True, True, True] and synced == [False, False]  # the last micro-batch all-reduces
    assert result.figures == {"n": pytest.approx(2.0)}


def test_bad_arguments_fail_before_any_work():
    model = nn.Linear(2, 1)
    opt = make_optimizer(model, lr=1e-3)
    with pytest.raises(ValueError, match="grad_accum=2"):
        TrainStep(model, opt, lr=1e-3, max_steps=3, grad_accum=2)(0, [torch.ones(1, 2)], lambda x: model(x).sum())
    assert model.weight.grad is None
    with pytest.raises(ValueError, match="grad_clip"):
        TrainStep(model, opt, lr=1e-3, max_steps=3, grad_clip=-1.0)
    with pytest.raises(ValueError, match="warmup_steps"):
        TrainStep(model, opt, lr=1e-3, max_steps=3, warmup_steps=4)
    for bad in (0.0, -1e-3, float("inf"), float("nan")):  # inf/nan would train to NaN and save it
        with pytest.raises(ValueError, match="lr must be a positive finite number"):
            make_optimizer(model, lr=bad)
        with pytest.raises(ValueError, match="lr must be a positive finite number"):
            TrainStep(model, opt, lr=bad, max_steps=3)
    for bad in (-0.1, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="weight_decay must be a finite number"):
            make_optimizer(model, lr=1e-3, weight_decay=bad)
        with pytest.raises(ValueError, match="grad_clip must be a finite number"):
            TrainStep(model, opt, lr=1e-3, max_steps=3, grad_clip=bad)
    for betas in ((0.9, 1.0), (float("nan"), 0.9)):
        with pytest.raises(ValueError, match="betas"):
            make_optimizer(model, lr=1e-3, betas=betas)
    with pytest.raises(ValueError, match="no trainable parameters"):
        make_optimizer(nn.Linear(2, 1).requires_grad_(False), lr=1e-3)
