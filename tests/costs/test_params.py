"""How many parameters a model has (minillm/costs/params.py): ``param_count`` and ``active_param_count``
equal the real model's count on every config option (hypothesis over GPT-2, the later family and the
2017 Transformer; a parametrised list of every option), and ``shape_of``, one view of GPT-2 and the
later family for the cost formulas."""

import pytest
import torch
from helpers.decoders import gpt2_like_llama_config
from hypothesis import given, settings
from hypothesis import strategies as st

from minillm import Transformer, TransformerConfig
from minillm.costs import active_param_count, param_count
from minillm.costs.params import DecoderShape, shape_of
from minillm.models import GPTConfig, LlamaConfig
from minillm.models.families import build_model

SMALL = GPTConfig(vocab_size=10, block_size=16, n_layer=3, n_head=2, n_embd=8, attn_backend="naive")


def _numel(config: GPTConfig | LlamaConfig) -> int:
    """Unique parameters of the real model (tied matrices once): the independent count."""
    return sum(p.numel() for p in build_model(config).parameters())


# -- shape_of ---------------------------------------------------------------------------------------
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


# -- against the models ---------------------------------------------------------------------------
def _decoder_config(heads, hd, layers, vocab, block, bias, act, pos, tie, ff_mult, norm):
    """GPT-2 (learned or sinusoidal positions, an ungated activation; tying and width are fixed) or,
    for rotary positions, a Llama with any activation, tying, feed-forward width and norm."""
    shape = dict(vocab_size=vocab, block_size=block, n_layer=layers, n_head=heads, n_embd=heads * hd)
    if pos != "rope":
        act = "gelu" if act == "swiglu" else act  # SwiGLU is the later family's
        return GPTConfig(**shape, bias=bias, activation=act, pos_embedding=pos, attn_backend="naive")
    return LlamaConfig(
        **shape, bias=bias, activation=act, tie_embeddings=tie, d_ff=ff_mult * heads * hd, norm=norm,
        attn_backend="naive",
    )  # fmt: skip


gpt_configs = st.builds(
    _decoder_config,
    st.integers(1, 4),
    st.sampled_from([2, 4, 8]),
    st.integers(1, 3),
    st.integers(2, 300),
    st.integers(1, 64),
    st.booleans(),
    st.sampled_from(["relu", "gelu_tanh", "gelu", "swiglu"]),
    st.sampled_from(["learned", "sinusoidal", "rope"]),
    st.booleans(),
    st.sampled_from([1, 4]),
    st.sampled_from(["layernorm", "rmsnorm"]),
)


@settings(max_examples=25)
@given(gpt_configs)
def test_gpt_param_count_matches_model(cfg):
    with torch.device("meta"):
        model = build_model(cfg)
    assert param_count(cfg) == sum(p.numel() for p in model.parameters())


@settings(max_examples=25)
@given(
    st.integers(1, 3),
    st.integers(1, 3),
    st.sampled_from([8, 16]),
    st.booleans(),
    st.booleans(),
    st.sampled_from(["relu", "swiglu"]),
)
def test_transformer_param_count_matches_model(n_enc, n_dec, d, share, norm_first, act):
    cfg = TransformerConfig(
        40,
        40 if share else 55,
        n_embd=d,
        n_head=2,
        n_encoder_layers=n_enc,
        n_decoder_layers=n_dec,
        d_ff=3 * d,
        share_embeddings=share,
        norm_first=norm_first,
        activation=act,
    )
    with torch.device("meta"):
        model = Transformer(cfg)
    assert param_count(cfg) == model.num_parameters()


def test_dense_active_params_equal_all_params():
    assert active_param_count(SMALL) == param_count(SMALL) == _numel(SMALL)
    with pytest.raises(TypeError):
        active_param_count({"n_layer": 1})


@pytest.mark.parametrize(
    "family, kw",
    [
        ("gpt", {}),
        ("gpt", {"bias": False, "pos_embedding": "sinusoidal", "activation": "relu"}),
        ("llama", {}),  # LlamaConfig's own defaults: RMSNorm, SwiGLU, no biases, untied
        ("gpt2-like llama", {}),
        ("gpt2-like llama", {"bias": False, "activation": "relu", "tie_embeddings": False}),
        ("gpt2-like llama", {"activation": "swiglu", "norm": "rmsnorm"}),
        ("gpt2-like llama", {"n_kv_head": 1, "qkv_bias": True, "bias": False, "qk_norm": True, "head_dim": 6, "d_ff": 20}),
        ("gpt2-like llama", {"n_kv_head": 2, "qkv_bias": False, "norm": "rmsnorm"}),
        ("gpt2-like llama", {"n_experts": 3, "expert_top_k": 1, "expert_d_ff": 5, "n_shared_experts": 2, "activation": "swiglu"}),
        ("gpt2-like llama", {"n_experts": 2, "expert_top_k": 2, "bias": False, "qk_norm": True, "n_kv_head": 1}),
        ("gpt2-like llama", {"n_experts": 2, "expert_top_k": 1}),  # biases, no shared expert
    ],
)
def test_param_count_equals_the_model_on_every_option(family, kw):
    fields = {"vocab_size": 7, "block_size": 5, "n_layer": 2, "n_head": 4, "n_embd": 8, **kw}
    if family == "gpt":
        c = GPTConfig(**fields)
    elif family == "llama":
        c = LlamaConfig(**{"d_ff": 12, **fields})
    else:
        c = gpt2_like_llama_config(**fields)
    assert param_count(c) == _numel(c)
    if not getattr(c, "n_experts", 0):
        assert active_param_count(c) == param_count(c)
    elif c.expert_top_k < c.n_experts:  # some experts idle per token
        assert active_param_count(c) < param_count(c)
    else:
        assert active_param_count(c) == param_count(c)


@pytest.mark.parametrize(
    "share, norm_first, act", [(False, False, "relu"), (True, True, "swiglu"), (False, True, "gelu")]
)
def test_transformer_param_count_equals_the_model(share, norm_first, act):
    from minillm import Transformer

    c = TransformerConfig(src_vocab_size=9, tgt_vocab_size=9 if share else 7, n_embd=8, n_head=2, d_ff=12,
                          n_encoder_layers=2, n_decoder_layers=1, share_embeddings=share, norm_first=norm_first,
                          activation=act)  # fmt: skip
    assert param_count(c) == sum(p.numel() for p in Transformer(c).parameters())
