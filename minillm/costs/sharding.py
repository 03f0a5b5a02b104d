"""Memory per GPU when the training state is split across N of them (report §3.2, past the memory wall).

``training_memory`` (costs/training.py) is what one model replica holds: 16 bytes per parameter with
mixed-precision Adam (2 weights + 2 gradients + 12 fp32 master and moments) plus activations. Every
strategy below divides some of those parts by the number of GPUs that share them:

    strategy   params        grads         optimizer     activations (per micro-batch of one replica)
    ddp        P             G             O             A                  every rank holds everything
    zero1      P             G             O / N         A                  ZeRO stage 1: optimizer states
    zero2      P             G / N         O / N         A                  stage 2: + gradients
    fsdp       P / N         G / N         O / N         A                  stage 3 (FSDP): + parameters
    tp         Pₜ            Gₜ            Oₜ            Aₜ                 layers split over t = N ranks
    tp+fsdp    Pₜ / (N/t)    Gₜ / (N/t)    Oₜ / (N/t)    Aₜ                 a t × N/t mesh

(Rajbhandari et al. 2020, "ZeRO", §5; Zhao et al. 2023, "PyTorch FSDP"; Shoeybi et al. 2019,
"Megatron-LM", §3.) Tensor parallelism splits each block's weight matrices — the heads of Q, K, V
and the output projection, the feed-forward's hidden units — over t ranks: Xₜ = X_replicated +
X_blocks / t, with the embeddings, norms and biases replicated. Its activations follow Korthikanti
et al. 2022 (§4.2.2, without sequence parallelism): per layer s·b·d·(10 + 24/t) + 5·a·s²·b/t bytes
at 2-byte activations; the logits are not split (minillm keeps the output layer whole).

FSDP gathers one layer's full weights to run it, and, in backward, that layer's full gradients
before it scatters them: ``peak_bytes`` adds that transient (one layer's params + grads) to the
steady parts. Activation checkpointing (``recompute``) keeps each layer's input and one layer's
working set, as in ``training_memory``.

Docs: docs/quadratic-cost.md#past-the-memory-wall. Measured on CPU: examples/14_memory_wall.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from minillm.costs.params import DECODERS, ff_active_matrix_params, param_count, shape_of
from minillm.costs.training import Memory, check_positive, training_memory
from minillm.models.gpt import GPTConfig

__all__ = [
    "GPU_BYTES",
    "MAX_TP",
    "STRATEGIES",
    "Fit",
    "block_matrix_params",
    "fits_table",
    "hundred_billion_gpt",
    "peak_bytes",
    "per_rank_memory",
    "smallest_n",
    "tensor_parallel_size",
]

STRATEGIES = ("ddp", "zero1", "zero2", "fsdp", "tp", "tp+fsdp")
GPU_BYTES = 80e9  # an 80 GB GPU (A100 80GB, H100 80GB): the report's question
MAX_TP = 8  # tensor parallelism stays inside one 8-GPU node, where the links are fast (Megatron-LM practice)


def hundred_billion_gpt() -> GPTConfig:
    """The report's 100 B model, given a shape: GPT-3's recipe (Brown et al. 2020, table 2.1) at 80
    layers of width 10,240 and 80 heads of 128: 12·L·d² + embeddings = 101.2 B parameters."""
    return GPTConfig(n_layer=80, n_embd=10240, n_head=80, block_size=2048)


def block_matrix_params(config) -> int:
    """Weight-matrix entries of all blocks, the part tensor parallelism splits: per layer Q, K, V and
    the output projection (d·q + 2·d·kv + q·d) and every feed-forward matrix (experts and router too)."""
    c = shape_of(config)
    q_out, kv_out = c.n_head * c.head_dim, c.n_kv_head * c.head_dim
    attention = 2 * c.n_embd * q_out + 2 * c.n_embd * kv_out
    return c.n_layer * (attention + ff_active_matrix_params(config, all_experts=True))


def tensor_parallel_size(config, strategy: str, n: int) -> int:
    """t, the ranks one layer is split over: N for "tp"; for "tp+fsdp" the largest of 8, 4, 2 that leaves
    at least two data-parallel groups and divides N and the heads (Qwen3-30B-A3B's 4 K/V heads: t = 4),
    as ``minillm train --parallel tp+fsdp`` chooses it (minillm/train/parallel.py); 1 otherwise."""
    if strategy == "tp":
        return n
    if strategy != "tp+fsdp":
        return 1
    c = shape_of(config)
    for t in (8, 4, 2):
        if t <= min(MAX_TP, n // 2) and n % t == 0 and c.n_head % t == 0 and c.n_kv_head % t == 0:
            return t
    return 1


def _check(config, strategy: str, n: int) -> int:
    if not isinstance(config, DECODERS):
        raise TypeError(
            f"per_rank_memory models decoder-only configs (GPTConfig, LlamaConfig), got {type(config).__name__}"
        )
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of {STRATEGIES}")
    check_positive(n=n)
    t = tensor_parallel_size(config, strategy, n)
    c = shape_of(config)
    if c.n_head % t or c.n_kv_head % t:
        raise ValueError(
            f"{strategy} over {t} ranks splits the heads: n_head={c.n_head} and n_kv_head={c.n_kv_head} "
            f"must both be divisible by {t}"
        )
    return t


# --8<-- [start:per-rank]
def per_rank_memory(
    config,
    seq_len: int,
    micro_batch: int = 1,
    strategy: str = "ddp",
    n: int = 1,
    precision: str = "mixed",
    recompute: bool = False,
) -> Memory:
    """Bytes one of ``n`` ranks holds during a training step under ``strategy`` (the module's table).
    ``micro_batch``: sequences of ``seq_len`` tokens one model replica processes per step (a tensor-
    parallel group shares one)."""
    t = _check(config, strategy, n)
    check_positive(seq_len=seq_len, micro_batch=micro_batch)
    whole = training_memory(config, seq_len, micro_batch, precision, recompute)
    per_param = whole.params / param_count(config)  # 2 (mixed) or 4 (fp32) bytes
    split = block_matrix_params(config) * (1 - 1 / t)  # entries this rank does not hold
    kept = 1 - split / param_count(config)  # the fraction of the model one tensor-parallel rank holds
    params, grads, optimizer = whole.params * kept, whole.grads * kept, whole.optimizer * kept
    dp = n // t  # ranks that hold the same slice of the model (data parallel)
    if strategy in ("zero1", "zero2", "fsdp", "tp+fsdp"):
        optimizer /= dp
    if strategy in ("zero2", "fsdp", "tp+fsdp"):
        grads /= dp
    if strategy in ("fsdp", "tp+fsdp"):
        params /= dp
    activations = whole.activations
    if t > 1:  # Korthikanti et al. §4.2.2: 24 of the 34 s·b·d and all of the 5·a·s² per layer are split
        s, b, d, a, L = seq_len, micro_batch, config.n_embd, config.n_head, config.n_layer
        act_bytes = per_param if precision == "fp32" else 2
        saved = (24 * s * b * d + 5 * a * s * s * b) * (1 - 1 / t) * act_bytes / 2
        activations -= saved if recompute else L * saved  # recompute: only one layer's working set is split
    return Memory(params, grads, optimizer, activations)


# --8<-- [end:per-rank]


def peak_bytes(
    config,
    seq_len: int,
    micro_batch: int = 1,
    strategy: str = "ddp",
    n: int = 1,
    precision: str = "mixed",
    recompute: bool = False,
) -> float:
    """``per_rank_memory(...).total`` plus FSDP's transient: one layer gathered whole (its params and,
    in backward, its gradients, before the reduce-scatter), t-split under tp+fsdp."""
    m = per_rank_memory(config, seq_len, micro_batch, strategy, n, precision, recompute)
    t = tensor_parallel_size(config, strategy, n)
    if strategy not in ("fsdp", "tp+fsdp") or n // t == 1:
        return m.total
    whole = training_memory(config, seq_len, micro_batch, precision, recompute)
    per_param = (whole.params + whole.grads) / param_count(config)
    layer = block_matrix_params(config) / config.n_layer / t
    return m.total + per_param * layer


@dataclass(frozen=True)
class Fit:
    """The smallest number of GPUs of ``gpu_bytes`` that holds a training step, and its bytes per GPU."""

    strategy: str
    recompute: bool
    n: int | None  # None: no N up to the search limit fits (DDP never divides anything)
    bytes_per_gpu: float  # at that n; when none fits, at the largest N tried (the floor)


def smallest_n(
    config,
    strategy: str,
    seq_len: int,
    micro_batch: int = 1,
    recompute: bool = False,
    gpu_bytes: float = GPU_BYTES,
    precision: str = "mixed",
    max_n: int = 4096,
) -> Fit:
    """The smallest N (a power of two, up to ``max_n``) whose ``peak_bytes`` per rank is ≤ ``gpu_bytes``.
    N with heads not divisible by the tensor-parallel size are skipped; "tp" stops at ``MAX_TP``."""
    if not gpu_bytes > 0:
        raise ValueError(f"gpu_bytes must be positive, got {gpu_bytes}")
    check_positive(max_n=max_n)
    n, last = 1, float("nan")
    while n <= max_n and not (strategy == "tp" and n > MAX_TP):
        try:
            peak = peak_bytes(config, seq_len, micro_batch, strategy, n, precision, recompute)
        except ValueError:
            if strategy not in STRATEGIES:
                raise
            n *= 2  # heads not divisible by this t: try the next N
            continue
        last = peak
        if peak <= gpu_bytes:
            return Fit(strategy, recompute, n, peak)
        n *= 2
    return Fit(strategy, recompute, None, last)


def fits_table(config, seq_len: int, micro_batch: int = 1, gpu_bytes: float = GPU_BYTES) -> list[Fit]:
    """``smallest_n`` for every strategy, without and with activation checkpointing."""
    return [smallest_n(config, s, seq_len, micro_batch, r, gpu_bytes) for s in STRATEGIES for r in (False, True)]
