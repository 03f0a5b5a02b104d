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


# -- edges: defaults, micro-batches -----------------------------------------------------------------
# The training step at its edges (tests/MUTATION.md): the defaults' arithmetic, micro-batches from a
# generator, figures averaged over unequal micro-batches, and the trainable-only parameter lists.
# cosine_lr's own edges: tests/train/test_schedule.py.


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


@pytest.mark.parametrize(
    "scale,max_norm",
    [(1.0, 0.0), (1.0, 10.0), (1.0, 1.0), (1e-6, 1e-6)],
    ids=["measure-only", "below-max", "clipped", "epsilon-matters"],
)
def test_clip_grad_norm_counts_a_sharded_gradient_whole(scale, max_norm):
    """A DTensor gradient (tensor parallelism, minillm/train/parallel.py) beside a plain one: the same norm
    and the same scaled gradients as torch's clip_grad_norm_ on plain copies (one process, a mesh of one)."""
    dist = pytest.importorskip("torch.distributed")
    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("needs torch.distributed with gloo")
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import Shard, distribute_tensor

    from minillm.train.step import clip_grad_norm, is_dtensor

    started = not dist.is_initialized()
    if started:
        dist.init_process_group("gloo", rank=0, world_size=1, store=dist.HashStore())
    try:
        mesh = init_device_mesh("cpu", (1,))
        grads = [scale * torch.tensor([3.0, 0.0, 0.0]), scale * torch.tensor([[0.0, 4.0], [0.0, 0.0]])]
        sharded = [nn.Parameter(distribute_tensor(torch.zeros(3), mesh, [Shard(0)])), nn.Parameter(torch.zeros(2, 2))]
        sharded[0].grad = distribute_tensor(grads[0].clone(), mesh, [Shard(0)])
        sharded[1].grad = grads[1].clone()
        plain = [nn.Parameter(torch.zeros(3)), nn.Parameter(torch.zeros(2, 2))]
        for p, g in zip(plain, grads):
            p.grad = g.clone()
        assert is_dtensor(sharded[0].grad) and not is_dtensor(sharded[1].grad)
        total = clip_grad_norm(sharded, max_norm)
        want = torch.nn.utils.clip_grad_norm_(plain, max_norm) if max_norm else torch.nn.utils.get_total_norm(grads)
        torch.testing.assert_close(total, want, rtol=1e-6, atol=0)
        torch.testing.assert_close(sharded[0].grad.full_tensor(), plain[0].grad, rtol=1e-6, atol=0)
        torch.testing.assert_close(sharded[1].grad, plain[1].grad, rtol=1e-6, atol=0)
        if max_norm == 1.0:
            assert plain[0].grad.tolist() == pytest.approx([3 / 5, 0, 0], rel=1e-5)  # the reference did clip
    finally:
        if started:
            dist.destroy_process_group()
