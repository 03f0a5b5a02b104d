"""Reading saved model directories without the model classes (minillm/models/saved.py)."""

import pytest

from minillm.models.gpt import GPTConfig
from minillm.models.saved import UNREAD, gpt2_as_later_family, legacy_fields

# -- legacy configs (written before GPT-2 and the later family were split) --

OLD_GPT2 = {
    "vocab_size": 37,
    "block_size": 16,
    "n_layer": 2,
    "n_head": 2,
    "n_embd": 16,
    "dropout": 0.0,
    "bias": True,
    "activation": "gelu_tanh",
    "pos_embedding": "learned",
    "tie_embeddings": True,
    "attn_backend": "sdpa",
    "norm": "layernorm",
    "norm_eps": 1e-05,
    "d_ff": None,
    "head_dim": None,
    "n_kv_head": None,
    "qkv_bias": None,
    "rope_theta": 10000.0,
    "qk_norm": False,
    "window": None,
    "n_experts": 0,
    "expert_top_k": 2,
    "expert_d_ff": None,
    "n_shared_experts": 0,
    "expert_norm_topk": True,
    "aux_loss_coef": 0.01,
}  # fmt: skip  (tests/fixtures/legacy/gpt2's config, as the pre-split release wrote it)


def test_gpt2_is_the_later_family_with_its_switches_off():
    gpt2 = gpt2_as_later_family()
    assert (gpt2["norm"], gpt2["tie_embeddings"], gpt2["qk_norm"], gpt2["window"], gpt2["n_experts"]) == (
        "layernorm", True, False, None, 0,
    )  # fmt: skip
    assert not set(gpt2) & {"n_embd", "n_head", "pos_embedding", "activation"}  # GPT-2's own fields stay its own
    assert set(UNREAD) <= set(gpt2)


def test_an_old_gpt2_config_reads_as_gpt2_and_keeps_only_gpt2_fields():
    family, fields = legacy_fields(OLD_GPT2, "state.json")
    assert family == "gpt"
    assert GPTConfig(**fields).to_dict() == {**GPTConfig(**fields).to_dict(), **fields}
    assert fields["pos_embedding"] == "learned" and "qk_norm" not in fields and "norm" not in fields


def test_settings_only_rope_or_experts_read_may_hold_anything():
    family, _ = legacy_fields({**OLD_GPT2, "rope_theta": 5e5, "expert_top_k": 1, "aux_loss_coef": 0.0}, "s")
    assert family == "gpt"


@pytest.mark.parametrize(
    "field, value",
    [("qk_norm", True), ("window", 4), ("n_experts", 2), ("norm", "rmsnorm"), ("tie_embeddings", False),
     ("norm_eps", 1e-6), ("d_ff", 20), ("n_kv_head", 1), ("head_dim", 4)],
)  # fmt: skip
def test_what_gpt2_cannot_express_is_refused_by_name(field, value):
    with pytest.raises(ValueError, match=f"GPT-2 cannot express {field}={value!r}"):
        legacy_fields({**OLD_GPT2, field: value}, "s")


def test_rotary_positions_go_to_the_later_family():
    family, fields = legacy_fields({**OLD_GPT2, "pos_embedding": "rope", "qk_norm": True}, "s")
    assert family == "llama" and fields["qk_norm"] is True and fields["d_ff"] == 4 * 16
