"""How many parameters a model has, from its config alone: one view of a decoder, then the formulas.

Report §3.2: parameters, FLOPs and memory depend only on a model's shape. GPTConfig (models/gpt.py)
has GPT-2's fields and answers the rest by GPT-2's fixed choices (LayerNorm, learned positions,
tied embeddings, n_kv_head = n_head, d_ff = 4·n_embd); LlamaConfig (models/llama.py) makes each a
field. ``shape_of`` turns either into a ``DecoderShape`` so that each formula is written once: the
parameter counts here, FLOPs and training memory in minillm/costs/training.py, the KV cache and
experts in inference.py. GPT-2 small: 12 layers × (4d² + 2·d·4d) + the tied V×d embedding
+ 1024×d positions + biases and norms = 124,439,808 parameters.

Docs: docs/quadratic-cost.md, docs/beyond.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from minillm.models.gpt import GPTConfig
from minillm.models.llama import LlamaConfig
from minillm.models.transformer import TransformerConfig

__all__ = [
    "DECODERS",
    "DecoderShape",
    "active_param_count",
    "check_config",
    "ff_active_matrix_params",
    "ff_matrix_params",
    "param_count",
    "shape_of",
]

DECODERS = (GPTConfig, LlamaConfig)


@dataclass(frozen=True)
class DecoderShape:
    """What the cost formulas read of a decoder, one view for both families: a LlamaConfig's fields,
    with GPT-2's fixed choices filled in for a GPTConfig (``shape_of``)."""

    vocab_size: int
    block_size: int
    n_layer: int
    n_head: int
    n_embd: int
    n_kv_head: int
    head_dim: int
    d_ff: int
    bias: bool
    qkv_bias: bool
    norm: str
    activation: str
    learned_positions: bool
    tie_embeddings: bool
    qk_norm: bool = False
    window: int | None = None
    n_experts: int = 0
    expert_top_k: int = 2
    expert_d_ff: int = 0
    n_shared_experts: int = 0
    attn_backend: str = "sdpa"
    dropout: float = 0.0


def shape_of(config) -> DecoderShape:
    """The ``DecoderShape`` of a GPTConfig or LlamaConfig."""
    c = config
    if isinstance(c, DecoderShape):
        return c
    if isinstance(c, GPTConfig):
        return DecoderShape(
            c.vocab_size, c.block_size, c.n_layer, c.n_head, c.n_embd, c.n_kv_head, c.head_dim, c.d_ff, c.bias,
            c.bias, "layernorm", c.activation, c.pos_embedding == "learned", True, attn_backend=c.attn_backend,
            dropout=c.dropout,
        )  # fmt: skip
    if not isinstance(c, LlamaConfig):
        raise TypeError(f"expected a GPTConfig or LlamaConfig, got {type(c).__name__}")
    return DecoderShape(
        c.vocab_size, c.block_size, c.n_layer, c.n_head, c.n_embd, c.n_kv_head, c.head_dim, c.d_ff, c.bias,
        c.qkv_bias, c.norm, c.activation, False, c.tie_embeddings, c.qk_norm, c.window, c.n_experts, c.expert_top_k,
        c.expert_d_ff, c.n_shared_experts, c.attn_backend, c.dropout,
    )  # fmt: skip


def check_config(config) -> None:
    """A GPTConfig, LlamaConfig or TransformerConfig, else a TypeError naming what came."""
    if not isinstance(config, (*DECODERS, TransformerConfig)):
        raise TypeError(f"expected a GPTConfig, LlamaConfig or TransformerConfig, got {type(config).__name__}")


def ff_matrix_params(d: int, d_ff: int, activation: str) -> int:
    """Weight entries of one feed-forward d → d_ff → d (SwiGLU: three matrices)."""
    return (3 if activation == "swiglu" else 2) * d * d_ff


def _ff_bias_params(d: int, d_ff: int, activation: str) -> int:
    return (2 if activation == "swiglu" else 1) * d_ff + d


def _gpt_ff_params(c: DecoderShape, width: int) -> int:
    return ff_matrix_params(c.n_embd, width, c.activation) + _ff_bias_params(c.n_embd, width, c.activation) * c.bias


def _gpt_layer_params(c: DecoderShape) -> tuple[int, int, int]:
    """(attention + norms, every feed-forward parameter, the feed-forward parameters one token uses)."""
    d, hd, q_out, kv_out = c.n_embd, c.head_dim, c.n_head * c.head_dim, c.n_kv_head * c.head_dim
    qkv_bias = c.qkv_bias
    attn = d * q_out + 2 * d * kv_out + q_out * d  # q, k, v, out projections
    attn += (q_out + 2 * kv_out) * qkv_bias + d * c.bias + (2 * hd if c.qk_norm else 0)
    norms = 2 * d * (2 if c.norm == "layernorm" and c.bias else 1)
    if not c.n_experts:
        ff = _gpt_ff_params(c, c.d_ff)
        return attn + norms, ff, ff
    expert, router = _gpt_ff_params(c, c.expert_d_ff), d * c.n_experts
    shared = _gpt_ff_params(c, c.n_shared_experts * c.expert_d_ff) if c.n_shared_experts else 0
    return attn + norms, router + c.n_experts * expert + shared, router + c.expert_top_k * expert + shared


def ff_active_matrix_params(config, all_experts: bool = False) -> int:
    """Feed-forward weight-matrix entries one token multiplies by: the k chosen experts, the router and
    the shared experts (``all_experts``: as if every expert ran, the dense model of the same size)."""
    c = shape_of(config)
    d = c.n_embd
    if not c.n_experts:
        return ff_matrix_params(d, c.d_ff, c.activation)
    k = c.n_experts if all_experts else c.expert_top_k
    shared = ff_matrix_params(d, c.n_shared_experts * c.expert_d_ff, c.activation)
    return d * c.n_experts + k * ff_matrix_params(d, c.expert_d_ff, c.activation) + shared


def param_count(config) -> int:
    """Number of unique parameters, from the config alone (tied matrices counted once)."""
    check_config(config)
    if isinstance(config, DECODERS):
        d, c = config.n_embd, shape_of(config)
        ln = (2 if c.bias and c.norm == "layernorm" else 1) * d
        attn_norms, ff, _ = _gpt_layer_params(c)
        n = c.vocab_size * d + c.n_layer * (attn_norms + ff) + ln
        n += c.block_size * d if c.learned_positions else 0
        n += 0 if c.tie_embeddings else c.vocab_size * d
        return n
    c, d = config, config.n_embd
    attn = 4 * d * d + 4 * d
    ff = ff_matrix_params(d, c.d_ff, c.activation) + _ff_bias_params(d, c.d_ff, c.activation)
    encoder = c.n_encoder_layers * (attn + ff + 2 * 2 * d)
    decoder = c.n_decoder_layers * (2 * attn + ff + 3 * 2 * d)
    embeddings = c.src_vocab_size * d + (0 if c.share_embeddings else c.tgt_vocab_size * d)
    output = 0 if c.share_embeddings else c.tgt_vocab_size * d + c.tgt_vocab_size
    final_norms = 2 * 2 * d if c.norm_first else 0
    return encoder + decoder + embeddings + output + final_norms


def active_param_count(config) -> int:
    """Parameters one token's forward pass uses: all but the experts the router did not pick."""
    _, ff, active = _gpt_layer_params(shape_of(config))
    return param_count(config) - config.n_layer * (ff - active)
