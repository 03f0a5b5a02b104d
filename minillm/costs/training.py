"""What a Transformer costs: parameters, FLOPs (linear vs attention) and training memory.

Report §3.2 (limits of today's architecture) makes two quantitative claims:

1. Compute: attention grows with the *square* of the context — 32× more context, over 1000× more
   compute (32² = 1024).
2. Memory: training holds parameters, gradients and optimizer states; a 100-billion-parameter
   model needs 400 GB for its fp32 parameters alone (4 bytes each), and about 16 bytes per
   parameter (1.6 TB) with mixed-precision Adam.

FLOPs count 2 per multiply-add of the matrix products (the usual convention; element-wise work,
softmax and norms are ignored — a few %). For one sequence of T tokens and a GPT layer of width d:

    linear layers:  2 · T · (4d² + 2·d·d_ff)         Q, K, V, output projection + feed-forward
    attention:      2 · 2 · T² · d                   Q Kᵀ and (weights) V, every query × key

so per token the two are equal at T = (4d² + 2·d·d_ff) / (2d) = 6d for d_ff = 4d. Training costs
about 3× the forward pass (the backward pass computes two products for each one of the forward).

Bytes per parameter during training (Rajbhandari et al. 2020, ZeRO, §3.1):
    fp32 Adam:              4 (weights) + 4 (grads) + 8 (two Adam moments)            = 16
    mixed-precision Adam:   2 (bf16 weights) + 2 (bf16 grads) + 4 (fp32 master) + 8   = 16
Activation memory per GPT layer follows Korthikanti et al. 2022 ("Reducing Activation
Recomputation in Large Transformer Models", §4.1): s·b·d·(34 + 5·a·s/d) bytes with 2-byte
activations, dropout masks included; with full recomputation only each layer's input is kept.

What a model costs at inference — the KV cache, experts' total vs active parameters, weights
stored as fp32/bf16/int8/int4 — is minillm/costs/inference.py.

Docs: docs/quadratic-cost.md. CLI: ``minillm costs report``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from minillm.costs.params import (
    DECODERS,
    active_param_count,
    check_config,
    ff_active_matrix_params,
    ff_matrix_params,
    param_count,
    shape_of,
)
from minillm.models.gpt import GPTConfig

__all__ = [
    "Flops",
    "Memory",
    "active_param_count",
    "attention_flops",
    "attention_pairs",
    "block_flops",
    "ff_active_matrix_params",
    "forward_flops",
    "param_count",
    "report_numbers",
    "training_flops",
    "training_memory",
]

# Backward / forward FLOP ratios. A whole model (Kaplan et al. 2020): each forward product has
# two backward products (input and weight gradients), so training = 3 × forward. An attention
# kernel that recomputes its T×T scores (FlashAttention papers): five T×T products in the
# backward pass (S again, dP, dV, dQ, dK) to the forward's two, so forward + backward = 3.5 × forward.
TRAINING_FACTOR = 3.0
ATTENTION_FWD_BWD_FACTOR = 3.5
ATTENTION_MODES = ("fwd", "fwd+bwd")


@dataclass(frozen=True)
class Flops:
    linear: float
    attention: float

    @property
    def total(self) -> float:
        return self.linear + self.attention

    def to_dict(self) -> dict:
        return {**asdict(self), "total": self.total}


@dataclass(frozen=True)
class Memory:
    """Bytes needed during a training step."""

    params: float
    grads: float
    optimizer: float
    activations: float

    @property
    def total(self) -> float:
        return self.params + self.grads + self.optimizer + self.activations

    def to_dict(self) -> dict:
        return {**asdict(self), "total": self.total}


def check_positive(**values) -> None:
    """Each value a positive int (sizes, lengths, counts), else a ValueError naming it."""
    for name, v in values.items():
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")


def attention_pairs(t_q: int, t_k: int, causal: bool = False, window: int | None = None) -> int:
    """Query-key pairs an attention computes. Causal uses minillm's one rule (the queries are the
    last T_q of the T_k positions, so query i sees keys 0 … i + T_k − T_q): summing the visible
    keys max(0, n) for n = T_k − T_q + 1 … T_k gives (T_k(T_k+1) − m(m+1)) / 2 with m = max(T_k − T_q, 0).
    For T_q = T_k that is T(T+1)/2, just over half of T². With a causal sliding ``window`` W the
    query at position p sees min(p + 1, W) keys: about T·W pairs instead of T²/2."""
    check_positive(t_q=t_q, t_k=t_k)
    if not causal:
        return t_q * t_k
    m = max(t_k - t_q, 0)  # keys every query sees before its own diagonal
    if window is None:
        return (t_k * (t_k + 1) - m * (m + 1)) // 2
    check_positive(window=window)

    def visible_upto(n: int) -> int:  # Σ_{j=1..n} min(j, W)
        return n * (n + 1) // 2 if n <= window else window * (window + 1) // 2 + (n - window) * window

    return visible_upto(t_k) - visible_upto(m)


# --8<-- [start:flops]
def attention_flops(
    batch: int,
    heads: int,
    t_q: int,
    t_k: int,
    head_dim: int,
    causal: bool = False,
    mode: str = "fwd",
    window: int | None = None,
) -> float:
    """Matmul FLOPs of softmax(Q Kᵀ/√d) V: two products (Q Kᵀ and P V) of 2 FLOPs per multiply-add
    for every visited query-key pair and head dimension, 4 · B · H · pairs · d. ``mode="fwd+bwd"``
    adds the backward of a recomputing kernel (× 3.5, the FlashAttention convention)."""
    check_positive(batch=batch, heads=heads, head_dim=head_dim)
    if mode not in ATTENTION_MODES:
        raise ValueError(f"mode must be one of {ATTENTION_MODES}, got {mode!r}")
    fwd = 2 * 2 * batch * heads * attention_pairs(t_q, t_k, causal, window) * head_dim
    return float(fwd * (ATTENTION_FWD_BWD_FACTOR if mode == "fwd+bwd" else 1.0))


def block_flops(
    seq_len: int, d: int, d_ff: int | None = None, activation: str = "gelu", causal: bool = False, batch: int = 1
) -> dict[str, float]:
    """Forward FLOPs of one self-attention block on ``batch`` sequences of ``seq_len`` tokens:

    projections   Q, K, V and output, four d × d matrices     2 · T · 4d²
    attention     the T × T part (all heads together)         2 · 2 · pairs · d
    feed-forward  d → d_ff → d (three matrices for SwiGLU)    2 · T · 2·d·d_ff
    """
    check_positive(seq_len=seq_len, d=d, batch=batch)
    d_ff = 4 * d if d_ff is None else d_ff
    tokens = batch * seq_len
    return {
        "projections": float(2 * tokens * 4 * d * d),
        "attention": attention_flops(batch, 1, seq_len, seq_len, d, causal),  # H heads of d/H = one of d
        "feed-forward": float(2 * tokens * ff_matrix_params(d, d_ff, activation)),
    }


def forward_flops(config, seq_len: int, batch_size: int = 1, causal_skip: bool = False) -> Flops:
    """Forward-pass matmul FLOPs of a GPT on ``batch_size`` sequences of ``seq_len`` tokens.

    ``causal_skip=True`` counts only the query-key pairs a causal kernel must visit (about half;
    with a sliding window about T·W); the default counts the full T × T products, as naive and
    most dense kernels compute them. Grouped-query K/V projections are narrower (n_kv_head heads)
    and a mixture of experts counts the k experts each token uses, plus the router.
    For a Transformer config, source and target both have ``seq_len`` tokens.
    """
    check_config(config)
    if seq_len <= 0 or batch_size <= 0:
        raise ValueError(f"seq_len and batch_size must be positive, got {seq_len}, {batch_size}")
    t, b = seq_len, batch_size
    if isinstance(config, DECODERS):
        d, c = config.n_embd, shape_of(config)
        q_out, kv_out = c.n_head * c.head_dim, c.n_kv_head * c.head_dim
        projections = 2 * b * t * (2 * d * q_out + 2 * d * kv_out)  # q and out, then the narrower k and v
        feed_forward = 2 * b * t * ff_active_matrix_params(c)
        window = c.window if causal_skip else None
        attention = attention_flops(b, c.n_head, t, t, c.head_dim, causal_skip, window=window)
        linear = c.n_layer * (projections + feed_forward) + 2 * b * t * c.vocab_size * d  # + lm_head
        return Flops(float(linear), c.n_layer * attention)
    c, d = config, config.n_embd
    enc = block_flops(t, d, c.d_ff, c.activation, False, b)
    dec = block_flops(t, d, c.d_ff, c.activation, causal_skip, b)  # decoder self-attention
    cross = block_flops(t, d, c.d_ff, c.activation, False, b)  # cross-attention: projections + T × T, no FF
    linear = (
        c.n_encoder_layers * (enc["projections"] + enc["feed-forward"])
        + c.n_decoder_layers * (dec["projections"] + cross["projections"] + dec["feed-forward"])
        + 2 * b * t * c.tgt_vocab_size * d
    )
    attention = c.n_encoder_layers * enc["attention"] + c.n_decoder_layers * (dec["attention"] + cross["attention"])
    return Flops(linear, attention)


# --8<-- [end:flops]


def training_flops(config, seq_len: int, batch_size: int = 1, causal_skip: bool = False) -> Flops:
    """Forward + backward ≈ 3 × forward (Kaplan et al. 2020, §2.1)."""
    f = forward_flops(config, seq_len, batch_size, causal_skip)
    return Flops(TRAINING_FACTOR * f.linear, TRAINING_FACTOR * f.attention)


def training_memory(
    config,
    seq_len: int,
    batch_size: int = 1,
    precision: str = "mixed",
    recompute: bool = False,
    n_params: float | None = None,
) -> Memory:
    """Bytes for one AdamW training step of a GPT.

    precision: "fp32" (everything 4 bytes) or "mixed" (bf16 weights/grads/activations, fp32
    master weights and Adam moments). ``n_params`` overrides the parameter count (e.g. 100e9).
    Activations: Korthikanti et al. 2022 per layer, scaled to the activation dtype, plus the
    logits (activation dtype + an fp32 copy for the loss); with ``recompute`` only each layer's
    input and one layer's working set are kept.
    """
    if precision not in ("fp32", "mixed"):
        raise ValueError(f"precision must be 'fp32' or 'mixed', got {precision!r}")
    if not isinstance(config, DECODERS):
        raise TypeError("training_memory models decoder-only configs (GPTConfig, LlamaConfig)")
    n = param_count(config) if n_params is None else n_params
    if precision == "fp32":
        params, grads, optimizer, act_bytes = 4 * n, 4 * n, 8 * n, 4
    else:
        params, grads, optimizer, act_bytes = 2 * n, 2 * n, 12 * n, 2  # 12 = fp32 master + 2 moments
    s, b, d, a, L = seq_len, batch_size, config.n_embd, config.n_head, config.n_layer
    # Korthikanti et al. count 34·s·b·d + 5·a·s²·b bytes at 2-byte activations with 1-byte masks;
    # rescale the 2-byte part for fp32.
    per_layer = (s * b * d * 34 + 5 * a * s * s * b) * act_bytes / 2
    logits = s * b * config.vocab_size * (act_bytes + 4)
    if recompute:
        activations = L * s * b * d * act_bytes + per_layer + logits
    else:
        activations = L * per_layer + logits
    return Memory(float(params), float(grads), float(optimizer), float(activations))


def report_numbers(context_scale: int = 32, model: str = "gpt2", base_context: int = 1024) -> dict:
    """The report's §3.2 numbers, computed: attention and whole-model FLOP ratios and memory."""
    cfg = GPTConfig.from_name(model)  # one of GPT-2's sizes
    short = forward_flops(cfg, base_context)
    long = forward_flops(cfg, base_context * context_scale)
    n_100b = 100e9
    return {
        "context_scale": context_scale,
        "attention_flops_ratio": long.attention / short.attention,
        "model": model,
        "base_context": base_context,
        "whole_model_flops_ratio": long.total / short.total,
        "linear_flops_ratio": long.linear / short.linear,
        "attention_share_short": short.attention / short.total,
        "attention_share_long": long.attention / long.total,
        "crossover_context": 6 * cfg.n_embd,
        "params_100b_fp32_bytes": n_100b * 4,
        "params_100b_mixed_adam_bytes": n_100b * 16,
        "gpt2_params": param_count(cfg),
    }
