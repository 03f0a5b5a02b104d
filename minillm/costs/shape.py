"""One view of a decoder for the cost formulas: GPT-2 and the later family read the same way.

Report §3.2: parameters, FLOPs and memory depend only on a model's shape. GPTConfig (models/gpt.py)
has GPT-2's fields and answers the rest by GPT-2's fixed choices (LayerNorm, learned positions,
tied embeddings, n_kv_head = n_head, d_ff = 4·n_embd); LlamaConfig (models/llama.py) makes each a
field. ``shape_of`` turns either into a ``DecoderShape`` so that minillm/costs/training.py and
inference.py write each formula once.

Docs: docs/quadratic-cost.md, docs/beyond.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from minillm.models.gpt import GPTConfig
from minillm.models.llama import LlamaConfig

__all__ = ["DECODERS", "DecoderShape", "shape_of"]

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
