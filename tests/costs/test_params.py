"""shape_of: one view of GPT-2 and the later family for the cost formulas (minillm/costs/params.py)."""

import pytest

from minillm.costs.params import DecoderShape, shape_of
from minillm.models import GPTConfig, LlamaConfig, TransformerConfig


def test_gpt2_answers_with_its_fixed_choices():
    s = shape_of(GPTConfig(vocab_size=10, block_size=8, n_layer=2, n_head=4, n_embd=32, bias=False))
    assert (s.n_kv_head, s.head_dim, s.d_ff) == (4, 8, 128)  # every head its own K/V, 4·n_embd wide
    assert (s.norm, s.learned_positions, s.tie_embeddings, s.qkv_bias, s.n_experts) == (
        "layernorm",
        True,
        True,
        False,
        0,
    )
    assert not shape_of(GPTConfig(pos_embedding="sinusoidal")).learned_positions


def test_llama_fields_are_copied_and_a_shape_is_its_own_shape():
    c = LlamaConfig(vocab_size=10, block_size=8, n_layer=1, n_head=4, n_kv_head=2, n_embd=32, d_ff=48,
                    qk_norm=True, window=4, n_experts=4, expert_d_ff=16)  # fmt: skip
    s = shape_of(c)
    assert (s.n_kv_head, s.head_dim, s.d_ff, s.expert_d_ff, s.window, s.qk_norm) == (2, 8, 48, 16, 4, True)
    assert not s.learned_positions and s.norm == "rmsnorm"
    assert shape_of(s) is s and isinstance(s, DecoderShape)


def test_other_configs_are_refused_by_type():
    with pytest.raises(TypeError, match="GPTConfig or LlamaConfig, got TransformerConfig"):
        shape_of(TransformerConfig(10, 10))
