"""Past the memory wall (report §3.2): split the training state over N processes, with PyTorch's engines.

Under ``torchrun --nproc_per_node=N`` each mode keeps a different share of the model on each rank:

    ddp     every rank holds the whole model, gradients and AdamW states; gradients all-reduced
    zero1   DDP, but rank r keeps and updates AdamW's states for 1/N of the tensors only, then
            broadcasts its updated weights (ZeroRedundancyOptimizer; Rajbhandari et al. 2020, stage 1)
    fsdp    every block's weights, gradients and states are cut into N shards; a block's weights are
            gathered just before it runs and freed after (FSDP2 ``fully_shard``; ZeRO stage 3)
    tp      tensor parallel: each block's attention heads and feed-forward hidden units are split over
            the N ranks, which all read the same batch (``parallelize_module``; Shoeybi et al. 2019)
    tp+fsdp both on a (N/t) × t mesh: a block is split over the t ranks of a row (t ≤ 8), and each
            slice is sharded over the N/t rows, which read different slices of the batch

and ``activation_checkpointing`` keeps only each block's input in forward and runs the block again
in backward (Chen et al. 2016). The data-parallel modes give each rank 1/N of the global batch;
the ranks of a tensor-parallel group share one slice. The same code runs NCCL on GPUs
(train/distributed.py).

Tensor parallelism of GPT-2's fused Q/K/V matrix (models/gpt.py, 3·n_embd rows: all of Q, then K,
then V). Column parallelism hands rank r the r-th contiguous block of rows, which would be all of Q
and part of K on rank 0. So before sharding the rows are regrouped per rank — [Q heads of rank 0,
K heads of rank 0, V heads of rank 0, Q heads of rank 1, ...] (``qkv_rows_by_rank``) — and each rank's
block is exactly its heads' Q, K and V, which the attention's ``chunk(3)`` splits as usual. The
checkpoint writes the rows back in GPT-2's order, so files are the same under every mode.

Checkpoints are gathered: ``full_model_state`` and ``full_optimizer_state`` return whole tensors
(every rank calls them: gathering is a collective), so a run saved under one mode opens on one
process and resumes under any other. Docs: docs/quadratic-cost.md#past-the-memory-wall.
"""

from __future__ import annotations

import functools

import torch
import torch.distributed as dist
from torch import nn

from minillm.train.step import is_dtensor, make_optimizer

__all__ = [
    "PARALLEL_MODES",
    "apply_activation_checkpointing",
    "check_parallel",
    "data_rank",
    "full_model_state",
    "full_optimizer_state",
    "load_optimizer_state",
    "make_parallel_optimizer",
    "qkv_rows_by_rank",
    "shard_model",
    "tensor_parallel_size",
]

PARALLEL_MODES = ("ddp", "zero1", "fsdp", "tp", "tp+fsdp")
MAX_TP = 8  # tp+fsdp splits layers over at most one 8-GPU node, where the links are fast


def check_parallel(mode: str, model_config, world_size: int, batch_size: int, grad_accum: int) -> None:
    """Every way a parallel run can be mis-specified, refused before any work (one line each)."""
    if mode not in PARALLEL_MODES:
        raise ValueError(f"unknown parallel mode {mode!r}; choose one of {PARALLEL_MODES}")
    if mode != "ddp" and world_size == 1:
        raise ValueError(
            f"--parallel {mode} splits the model over several processes: launch with "
            f"torchrun --nproc_per_node=N -m minillm train --parallel {mode} ... (N >= 2)"
        )
    c = model_config
    if mode == "tp+fsdp":
        if world_size < 4:
            raise ValueError(f"--parallel tp+fsdp needs a mesh of at least 2 x 2 processes, got {world_size}")
    t = tensor_parallel_size(mode, world_size, c)
    if t > 1:
        n_kv = getattr(c, "n_kv_head", c.n_head)
        if c.n_head % t or n_kv % t:
            raise ValueError(
                f"--parallel {mode} splits the attention heads over {t} processes: n_head={c.n_head} "
                f"and n_kv_head={n_kv} must be divisible by {t}"
            )
        if c.d_ff % t:
            raise ValueError(f"--parallel {mode} splits the feed-forward: d_ff={c.d_ff} is not divisible by {t}")
        if getattr(c, "n_experts", 0):
            raise ValueError(f"--parallel {mode} does not split mixture-of-experts layers; use fsdp or zero1")
    dp = world_size // t
    if batch_size % (dp * grad_accum):
        raise ValueError(
            f"batch_size={batch_size} must be divisible by data-parallel processes x grad_accum = {dp} x {grad_accum}"
        )


def tensor_parallel_size(mode: str, world_size: int, model_config) -> int:
    """t, the processes one layer is split over: all of them under tp; under tp+fsdp the largest of
    8, 4, 2 that leaves at least 2 data-parallel groups and divides the processes and the heads (the
    calculator, minillm/costs/sharding.py, assumes the same rule); else 1."""
    if mode == "tp":
        return world_size
    if mode != "tp+fsdp":
        return 1
    n_kv = getattr(model_config, "n_kv_head", model_config.n_head)
    for t in (8, 4, 2):
        if t <= min(MAX_TP, world_size // 2) and world_size % t == 0 and model_config.n_head % t == 0 and n_kv % t == 0:
            return t
    return 2  # check_parallel then names what does not divide


def data_rank(mode: str, rank: int, world_size: int, model_config) -> tuple[int, int]:
    """(which slice of the global batch this rank reads, how many slices): one per rank, except that
    the t ranks of a tensor-parallel group read the same slice (ranks are laid out (data, tensor))."""
    t = tensor_parallel_size(mode, world_size, model_config)
    return rank // t, world_size // t


def apply_activation_checkpointing(model: nn.Module) -> None:
    """Each block keeps only its input for backward and recomputes the rest (same dropout masks: the
    RNG state is saved and restored). The blocks' parameter names do not change."""
    from torch.utils.checkpoint import checkpoint

    for block in model.blocks:
        block.forward = functools.partial(checkpoint, block.forward, use_reentrant=False)


def qkv_rows_by_rank(n_embd: int, world_size: int) -> torch.Tensor:
    """Row order that puts rank r's Q, K and V heads side by side in the fused (3·n_embd) matrix:
    ``w[order]`` regroups, ``w[order.argsort()]`` restores GPT-2's [Q; K; V]."""
    part = n_embd // world_size
    rows = [torch.arange(which * n_embd + r * part, which * n_embd + (r + 1) * part) for r in range(world_size)
            for which in range(3)]  # fmt: skip
    return torch.cat(rows)


def _tensor_parallel(model: nn.Module, mesh) -> None:
    from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel, SequenceParallel, parallelize_module

    world_size = mesh.size()
    col, row = ColwiseParallel(), RowwiseParallel()
    for block in model.blocks:
        attn, plan = block.attn, {"attn.out_proj": row, "mlp.fc1": col, "mlp.fc2": row}
        if block.mlp.gate is not None:
            plan["mlp.gate"] = col
        if hasattr(attn, "qkv_proj"):  # GPT-2: regroup the fused rows per rank first (module docstring)
            order = qkv_rows_by_rank(attn.qkv_proj.out_features // 3, world_size)
            with torch.no_grad():
                for p in attn.qkv_proj.parameters():
                    p.copy_(p[order])
            attn.qkv_proj.rows_by_rank = order  # read back when the checkpoint is gathered
            plan["attn.qkv_proj"] = col
        else:
            plan.update({"attn.q_proj": col, "attn.k_proj": col, "attn.v_proj": col})
            attn.n_kv_head //= world_size
            if attn.q_norm is not None:  # one gain for every head, each rank holding some heads (axis 1):
                heads = SequenceParallel(sequence_dim=1, use_local_output=True)  # replicated, gradient summed
                plan.update({"attn.q_norm": heads, "attn.k_norm": heads})
        attn.n_head //= world_size  # this rank's heads
        parallelize_module(block, mesh, plan)


def shard_model(model: nn.Module, mode: str, world_size: int, device: torch.device) -> nn.Module:
    """Apply ``mode`` to ``model`` in place; returns what the training step calls (DDP's wrapper, or the
    model itself). Run after the weights are initialised or loaded: every rank starts from the same."""
    if mode in ("ddp", "zero1"):
        ids = [device.index] if device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids)
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    t = tensor_parallel_size(mode, world_size, model.config)
    mesh = init_device_mesh(device.type, (world_size // t, t), mesh_dim_names=("data", "tensor"))
    if t > 1:  # tp, tp+fsdp: each block's heads and hidden units over the t ranks of a row of the mesh
        _tensor_parallel(model, mesh["tensor"])
    if mode in ("fsdp", "tp+fsdp"):  # then each (slice of a) tensor cut over the mesh's column
        for block in model.blocks:  # one unit per block: gathered while it runs, freed after
            fully_shard(block, mesh=mesh["data"])
        fully_shard(model, mesh=mesh["data"])  # the rest: embeddings, final norm, the (tied) output layer
    return model


def make_parallel_optimizer(
    model: nn.Module, mode: str | None, lr: float, weight_decay: float, betas, device_type: str = "cpu"
) -> torch.optim.Optimizer:
    """train/step.py's AdamW (``make_optimizer``); under zero1 the same AdamW, but each rank keeps and
    updates the states of 1/N of the tensors (ZeroRedundancyOptimizer) and broadcasts its new weights."""
    adamw = make_optimizer(model, lr, weight_decay, betas, device_type)
    if mode in ("tp", "tp+fsdp"):  # fused and foreach kernels take one kind of tensor: tp mixes split and whole ones
        groups = [{"params": g["params"], "weight_decay": g["weight_decay"]} for g in adamw.param_groups]
        return torch.optim.AdamW(groups, lr=lr, betas=betas, fused=False, foreach=False)
    if mode != "zero1":
        return adamw
    from torch.distributed.optim import ZeroRedundancyOptimizer

    settings = {k: adamw.defaults[k] for k in ("lr", "betas", "fused")}
    first, *rest = adamw.param_groups
    opt = ZeroRedundancyOptimizer(
        first["params"], optimizer_class=torch.optim.AdamW, weight_decay=first["weight_decay"], **settings
    )
    for group in rest:
        if group["params"]:
            opt.add_param_group({"params": group["params"], "weight_decay": group["weight_decay"]})
    return opt


def _tp_order(name: str, model: nn.Module):
    """The row regrouping of a GPT-2 fused Q/K/V parameter under tensor parallelism, else None."""
    module = model.get_submodule(name.rpartition(".")[0])
    return getattr(module, "rows_by_rank", None)


def _reshard(model: nn.Module) -> None:
    """FSDP keeps the root's weights gathered after a forward without backward (evaluation); put the
    shards back, so the parameters are the ones the optimizer holds."""
    from torch.distributed.fsdp import FSDPModule

    if isinstance(model, FSDPModule):
        model.reshard()


def _full(value, order):
    if is_dtensor(value):
        value = value.full_tensor()
    return value if order is None or value.dim() == 0 else value[order.argsort()]  # AdamW's step is a scalar


def full_model_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Whole tensors under every mode, GPT-2's Q/K/V order restored (every rank must call it)."""
    _reshard(model)
    return {k: _full(v, _tp_order(k, model)).detach().cpu() for k, v in model.state_dict().items()}


def full_optimizer_state(optimizer, model: nn.Module) -> dict | None:
    """The optimizer's ``state_dict`` with whole tensors, as one process's AdamW writes it; every rank
    calls it, rank 0 gets the state (zero1 gathers it there), the others None."""
    from torch.distributed.optim import ZeroRedundancyOptimizer

    if isinstance(optimizer, ZeroRedundancyOptimizer):
        optimizer.consolidate_state_dict(to=0)
        return optimizer.state_dict() if dist.get_rank() == 0 else None
    _reshard(model)
    names = {id(p): n for n, p in model.named_parameters(remove_duplicate=True)}
    params = [names[id(p)] for g in optimizer.param_groups for p in g["params"]]
    state = optimizer.state_dict()
    for i, s in state["state"].items():
        order = _tp_order(params[i], model)
        state["state"][i] = {k: _full(v, order) for k, v in s.items()}
    return state if not dist.is_initialized() or dist.get_rank() == 0 else None


def load_optimizer_state(optimizer, state: dict, model: nn.Module) -> None:
    """Load a whole-tensor optimizer state (any mode wrote it) into this mode's optimizer."""
    from torch.distributed.optim import ZeroRedundancyOptimizer

    if isinstance(optimizer, ZeroRedundancyOptimizer):
        optimizer.load_state_dict(state)
        return
    names = {id(p): n for n, p in model.named_parameters(remove_duplicate=True)}
    params = [p for g in optimizer.param_groups for p in g["params"]]
    for i, s in state["state"].items():
        p = params[i]
        if is_dtensor(p):
            from torch.distributed.tensor import distribute_tensor

            order = _tp_order(names[id(p)], model)
            s = {k: v if v.dim() == 0 else distribute_tensor(v if order is None else v[order], p.device_mesh,
                                                            p.placements) for k, v in s.items()}  # fmt: skip
            state["state"][i] = s
    kernels = ("fused", "foreach")  # how this mode's AdamW runs, not what the saving mode used
    state["param_groups"] = [
        {**saved, **{k: mine[k] for k in kernels if k in mine}}
        for saved, mine in zip(state["param_groups"], optimizer.param_groups)
    ]
    optimizer.load_state_dict(state)
