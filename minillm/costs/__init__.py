"""§3.2 in numbers: what a Transformer costs to train (``training``: parameters, FLOPs, training
memory), to run (``inference``: KV cache, experts, bytes per weight) and per step (``memory``: the
activation model), and split over N GPUs (``sharding``: DDP, ZeRO, FSDP, tensor parallel; how many 80 GB
GPUs a model needs). Pure functions of a config, re-exported here: ``minillm.costs.training_memory(config)``.

Docs: docs/quadratic-cost.md, docs/beyond.md.
"""

from minillm.costs.inference import (
    BYTES_PER_WEIGHT,
    ON_DEVICE_SIZES,
    SCALE_BYTES,
    expert_costs,
    kv_cache_bytes,
    on_device_table,
    storage_bytes,
)
from minillm.costs.memory import (
    SAVED_EXTRA,
    STEP_PRECISIONS,
    activation_bytes,
    step_memory,
)
from minillm.costs.sharding import (
    GPU_BYTES,
    STRATEGIES,
    fits_table,
    peak_bytes,
    per_rank_memory,
    smallest_n,
)
from minillm.costs.training import (
    Flops,
    Memory,
    active_param_count,
    attention_flops,
    attention_pairs,
    block_flops,
    check_positive,
    ff_active_matrix_params,
    forward_flops,
    param_count,
    report_numbers,
    training_flops,
    training_memory,
)

__all__ = [
    "BYTES_PER_WEIGHT",
    "GPU_BYTES",
    "ON_DEVICE_SIZES",
    "SAVED_EXTRA",
    "SCALE_BYTES",
    "STEP_PRECISIONS",
    "STRATEGIES",
    "Flops",
    "Memory",
    "activation_bytes",
    "active_param_count",
    "attention_flops",
    "attention_pairs",
    "block_flops",
    "check_positive",
    "expert_costs",
    "ff_active_matrix_params",
    "fits_table",
    "forward_flops",
    "kv_cache_bytes",
    "on_device_table",
    "param_count",
    "peak_bytes",
    "per_rank_memory",
    "report_numbers",
    "smallest_n",
    "step_memory",
    "storage_bytes",
    "training_flops",
    "training_memory",
]
