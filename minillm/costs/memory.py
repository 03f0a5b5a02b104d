"""What one training step of minillm's own GPT really holds in memory (report §3.2, the memory wall).

``minillm.costs.training_memory`` is the textbook account (16 bytes per parameter with Adam, and
Megatron-style activations). This module models what autograd actually saves in *minillm's* layers
and attention backends, fitted with ``torch.autograd.graph.saved_tensors_hooks``, so that
``minillm costs check`` (minillm/commands/bench/memory.py) can compare an estimate with a measured peak:

    peak ≈ 16 bytes × parameters + activation_bytes(config, T, B) + the largest backward transient

Docs: benchmarks/README.md (the measured ratios).
"""

from __future__ import annotations

from minillm.costs.training import Memory, check_positive, param_count
from minillm.models.gpt import GPTConfig

__all__ = ["SAVED_EXTRA", "STEP_PRECISIONS", "activation_bytes", "step_memory"]

# Bytes autograd saves per GPT block beyond the projections and feed-forward, per attention path,
# counted with torch.autograd.graph.saved_tensors_hooks (unique storages) on minillm's GPT-2 block (models/gpt.py):
# (per token per width d, per token per head, per (batch, head, query, key) score).
# sdpa keeps q, k, v, out and a float32 log-sum-exp per head; chunked also keeps the output in
# its own (B, H, T, hd) layout, which out_proj then copies; sdpa with dropout takes PyTorch's math
# path and naive keeps the softmax's T×T output (and dropout's mask); its (T, T) boolean causal mask,
# T² bytes per layer, is left out (under 1 % of the total at any batch·heads ≥ 2). Under bf16 autocast
# the T×T tensors are bf16 and the matmuls' casted inputs are kept too.
SAVED_EXTRA = {  # (precision, backend, dropout?) -> (bytes/(N·d), bytes/(N·H), bytes/(B·H·T²))
    ("fp32", "sdpa", False): (0, 4, 0),
    ("fp32", "chunked", False): (4, 4, 0),
    ("fp32", "sdpa", True): (8, 0, 12),
    ("fp32", "naive", False): (0, 0, 4),
    ("fp32", "naive", True): (8, 0, 12),
    ("bf16", "sdpa", False): (0, 4, 0),
    ("bf16", "chunked", False): (2, 4, 0),
    ("bf16", "sdpa", True): (10, 0, 12),
    ("bf16", "naive", False): (0, 0, 2),
    ("bf16", "naive", True): (4, 0, 6),
}
STEP_PRECISIONS = ("fp32", "bf16")


def activation_bytes(config: GPTConfig, seq_len: int, batch_size: int = 1, precision: str = "fp32") -> float:
    """Bytes autograd keeps for backward in one forward pass of minillm's GPT (dense, GPT-2 block).

    Per block, N = B·T tokens, d_ff the feed-forward width, fp32: 4·(8·N·d + 2·N·d_ff) — the
    input and output of each layer norm's input, the q/k/v/out projections' inputs and outputs,
    the feed-forward's two d_ff-wide tensors — plus 16·N of norm statistics; bf16 autocast keeps the
    fp32 residual stream (2 × 4 bytes) and bf16 copies of the rest, one cast of the norm output for
    the fused Q/K/V product, and bf16 copies of the block's weight matrices.
    ``SAVED_EXTRA`` adds what the attention path keeps. Outside the blocks: ln_f's input, the
    lm_head input (and its bf16 copy and weight under autocast), the fp32 log-softmax (N·V) and
    the token ids; dropout adds its masks (4 bytes per value).
    """
    if not isinstance(config, GPTConfig):
        raise TypeError(f"activation_bytes models GPT configs, got {type(config).__name__}")
    check_positive(seq_len=seq_len, batch_size=batch_size)
    if precision not in STEP_PRECISIONS:
        raise ValueError(f"precision must be one of {STEP_PRECISIONS}, got {precision!r}")
    c, n, t = config, batch_size * seq_len, seq_len
    backend = "sdpa" if c.attn_backend == "auto" else c.attn_backend
    key = (precision, backend, c.dropout > 0)
    if key not in SAVED_EXTRA:
        raise ValueError(f"no activation model for backend={backend!r}, dropout={c.dropout}, precision={precision!r}")
    d, dff, v = c.n_embd, c.d_ff, c.vocab_size
    if precision == "fp32":
        block = 4 * (8 * n * d + 2 * n * dff) + 16 * n
        outside = 8 * n * d + 4 * n * v + 16 * n
    else:  # one bf16 cast of the norm output feeds the fused Q/K/V product
        block = 20 * n * d + 4 * n * dff + 2 * (4 * d * d + 2 * d * dff) + 16 * n
        outside = 6 * n * d + 2 * v * d + 4 * n * v + 16 * n
    per_d, per_head, per_score = SAVED_EXTRA[key]
    block += per_d * n * d + per_head * n * c.n_head + per_score * batch_size * c.n_head * t * t
    if c.dropout > 0:
        outside += 4 * n * d  # the embedding dropout's mask
    return float(c.n_layer * block + outside)


def step_memory(config: GPTConfig, seq_len: int, batch_size: int = 1, precision: str = "fp32") -> Memory:
    """Peak bytes of one AdamW step of minillm's GPT as ``minillm.train.step.TrainStep`` runs it
    (the Adam moments already allocated): fp32 weights, gradients and two moments (16 bytes per
    parameter; bf16 autocast keeps fp32 weights too) and ``activation_bytes``, plus the larger of
    two moments of backward: the loss's (the log-softmax's output gradient and input gradient,
    2 · N · V fp32, before any weight gradient exists) or the end of backward (every gradient,
    plus naive attention's two T×T score gradients). ``activations`` holds that excess over the
    gradients. ``minillm costs check`` compares the total with measured peaks."""
    n = param_count(config)
    acts = activation_bytes(config, seq_len, batch_size, precision)
    tokens, grads = batch_size * seq_len, 4.0 * n
    loss_moment = 2 * 4 * tokens * config.vocab_size
    score_grads = 0.0
    if config.attn_backend == "naive":
        score_grads = 2 * (4 if precision == "fp32" else 2) * batch_size * config.n_head * seq_len * seq_len
    transient = max(loss_moment, grads + score_grads) - grads
    return Memory(4.0 * n, grads, 8.0 * n, acts + transient)
