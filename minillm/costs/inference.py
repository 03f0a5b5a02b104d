"""What a model costs at inference: the KV cache, mixture-of-experts' total vs active parameters, and
the bytes of its weights in fp32 / bf16 / int8 / int4 (beyond report §3.2; docs/beyond.md, docs/adaptation.md).

Training costs (parameters, FLOPs, training memory) are minillm/costs/training.py; this module builds on its
counts. At inference the KV cache, not the weights, grows with the context:

    KV-cache bytes = 2 (K and V) · n_layer · n_kv_head · head_dim · positions · batch · bytes/value

``kv_cache_bytes`` gives it for multi-head (n_kv_head = n_head), grouped-query, multi-query
(n_kv_head = 1) and sliding-window models (positions = min(T, W)). A mixture-of-experts model
holds every expert (``param_count``) but runs only k per token (``active_param_count``; the
FLOP functions count the active ones): ``expert_costs`` puts the two side by side.

Inference weights (on-device): ``storage_bytes`` / ``on_device_table`` give fp32/bf16/int8/int4 sizes
of 0.5B-7B models (minillm/adapt/quantize.py stores those formats; docs/adaptation.md).

CLI: ``minillm costs report`` (its "Beyond §3.2" part).
"""

from __future__ import annotations

from minillm.costs.params import shape_of
from minillm.costs.training import (
    active_param_count,
    check_positive,
    ff_active_matrix_params,
    forward_flops,
    param_count,
)

__all__ = [
    "BYTES_PER_WEIGHT",
    "ON_DEVICE_SIZES",
    "SCALE_BYTES",
    "expert_costs",
    "kv_cache_bytes",
    "on_device_table",
    "storage_bytes",
]


# --8<-- [start:on-device]
# Storage per weight for inference (on-device, 端侧): the weights alone, no gradients or optimizer.
BYTES_PER_WEIGHT = {"fp32": 4.0, "bf16": 2.0, "int8": 1.0, "int4": 0.5}
SCALE_BYTES = 4  # one float32 scale per group of quantized weights, as minillm.adapt.quantize stores them
ON_DEVICE_SIZES = (0.5e9, 1.5e9, 7e9)  # the small open models of 2024-25 (Qwen2.5 0.5B / 1.5B / 7B class)


def storage_bytes(n_params: float, fmt: str, group_size: int | None = None) -> float:
    """Bytes to store ``n_params`` weights as ``fmt`` (fp32, bf16, int8, int4); with ``group_size``
    one float32 scale per group is added (int8 per output channel: the row width; int4: 32-128)."""
    if fmt not in BYTES_PER_WEIGHT:
        raise ValueError(f"unknown format {fmt!r}; choose one of {sorted(BYTES_PER_WEIGHT)}")
    if not n_params > 0:
        raise ValueError(f"n_params must be positive, got {n_params!r}")
    if group_size is not None:
        check_positive(group_size=group_size)
    scales = 0.0 if group_size is None else n_params / group_size * SCALE_BYTES
    return n_params * BYTES_PER_WEIGHT[fmt] + scales


def on_device_table(sizes=ON_DEVICE_SIZES, int4_group: int = 128) -> list[dict]:
    """GB of weights of each model size in every format (int4 with one scale per ``int4_group`` weights;
    int8's per-row scales add under 0.5 % at widths ≥ 896 and are left out)."""
    return [
        {"params": n, **{f: storage_bytes(n, f, int4_group if f == "int4" else None) / 1e9 for f in BYTES_PER_WEIGHT}}
        for n in sizes
    ]


# --8<-- [end:on-device]


# --8<-- [start:kv-cache]
def kv_cache_bytes(config, seq_len: int, batch_size: int = 1, bytes_per_value: float = 2) -> float:
    """Bytes of the KV cache after ``seq_len`` tokens: 2 (K, V) · n_layer · n_kv_head · head_dim ·
    positions · batch · bytes per value, with positions = min(seq_len, window) for a sliding window.
    ``seq_len=1`` is the cost per token of context (of a full-attention model). bf16/fp16: 2 bytes."""
    c = shape_of(config)  # a GPTConfig or LlamaConfig, else TypeError
    check_positive(seq_len=seq_len, batch_size=batch_size)
    if not bytes_per_value > 0:
        raise ValueError(f"bytes_per_value must be positive, got {bytes_per_value!r}")
    positions = seq_len if c.window is None else min(seq_len, c.window)
    return float(2 * c.n_layer * c.n_kv_head * c.head_dim * positions * batch_size * bytes_per_value)


# --8<-- [end:kv-cache]


def expert_costs(config, seq_len: int = 1) -> dict:
    """Total vs active parameters and forward FLOPs of a (mixture-of-experts) GPT on ``seq_len`` tokens;
    "dense_flops" is the forward pass if every expert ran on every token."""
    shape_of(config)  # a GPTConfig or LlamaConfig, else TypeError
    active = forward_flops(config, seq_len)
    every = 2 * seq_len * config.n_layer * (ff_active_matrix_params(config, True) - ff_active_matrix_params(config))
    return {
        "total_params": param_count(config),
        "active_params": active_param_count(config),
        "active_flops": active.total,
        "dense_flops": active.total + every,
    }
