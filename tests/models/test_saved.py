"""Reading saved model directories without the model classes (minillm/models/saved.py): legacy configs
by hand, then the pre-split checkpoints end to end.

tests/fixtures/legacy holds a GPT-2 and a later-family checkpoint written by the pre-split code (main at
c3677e0, tests/fixtures/legacy/make_fixtures.py) and the logits that code computed on ``idx``; loading them
now must give those logits (fp32, 1e-6): the rename table (wte.embedding -> wte, attn_block.norm -> ln_1,
q/k/v stacked into qkv_proj, ...) and the family routing, end to end. A pre-split config GPT-2 cannot
express is refused by name.
"""

import dataclasses
import json
from pathlib import Path

import pytest
import torch

import minillm
from minillm.models import GPT, GPTConfig, Llama, LlamaConfig
from minillm.models.families import config_from_dict, load_model
from minillm.models.saved import GPT2_FIXED, GPT2_KEPT, UNREAD, legacy_fields

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


def test_the_tables_cover_every_field_the_old_config_wrote():
    derived = {"d_ff", "head_dim", "n_kv_head", "qkv_bias", "pos_embedding"}
    switches = set(OLD_GPT2) - set(GPT2_KEPT) - set(GPT2_FIXED) - set(UNREAD) - derived
    assert switches == {"qk_norm", "window", "n_experts"}  # the later family's on/off ideas
    assert set(GPT2_KEPT) | {"pos_embedding"} == {f.name for f in dataclasses.fields(GPTConfig)}


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


# -- pre-split checkpoints, end to end -------------------------------------------------------------
LEGACY = Path(__file__).resolve().parents[1] / "fixtures" / "legacy"
EXPECTED = json.loads((LEGACY / "logits.json").read_text())
FAMILY_OF = {"gpt2": GPT, "llama": Llama}


@pytest.mark.parametrize("name", ["gpt2", "llama"])
@pytest.mark.parametrize("loader", ["minillm.load", "load_model", "from_pretrained"])
def test_pre_split_checkpoints_load_to_the_logits_they_were_saved_with(name, loader):
    path = LEGACY / name
    if loader == "minillm.load":
        model, tokenizer = minillm.load(path)
        assert tokenizer is None  # the fixture saved no tokenizer
        assert not model.training
    elif loader == "load_model":
        model = load_model(path).eval()
    else:
        model = FAMILY_OF[name].from_pretrained(path).eval()
    assert type(model) is FAMILY_OF[name]
    idx = torch.tensor(EXPECTED["idx"])
    want = torch.tensor(EXPECTED[name])
    assert want.shape == (*idx.shape, 37) and want.abs().max() > 0.1  # real logits, not zeros
    with torch.no_grad():
        got, _ = model(idx)
    torch.testing.assert_close(got, want, atol=1e-6, rtol=0)


def test_pre_split_configs_become_this_releases_configs():
    gpt = load_model(LEGACY / "gpt2")
    assert gpt.config == GPTConfig(vocab_size=37, block_size=16, n_layer=2, n_head=2, n_embd=16)
    assert gpt.lm_head.weight is gpt.wte.weight  # tied, as it was saved
    llama = load_model(LEGACY / "llama")
    assert llama.config == LlamaConfig(
        vocab_size=37, block_size=16, n_layer=2, n_head=4, n_kv_head=2, n_embd=16, head_dim=8, d_ff=24,
        bias=False, qkv_bias=False, norm="rmsnorm", activation="swiglu", qk_norm=True, tie_embeddings=False,
        n_experts=4, expert_top_k=2, expert_d_ff=12, window=6,
    )  # fmt: skip
    assert llama.lm_head.weight is not llama.wte.weight
    names = set(gpt.state_dict())
    assert "blocks.1.attn.qkv_proj.weight" in names and "blocks.1.ln_2.bias" in names and "wpe.weight" in names
    assert not any("embedding." in n or "attn_block" in n or "q_proj" in n for n in names)
    # each family's from_pretrained refuses the other's checkpoint, and says where to go
    with pytest.raises(ValueError, match=r"holds a Llama model, not a GPT; use Llama.from_pretrained or minillm.load"):
        GPT.from_pretrained(LEGACY / "llama")
    with pytest.raises(ValueError, match=r"holds a GPT model, not a Llama; use GPT.from_pretrained or minillm.load"):
        Llama.from_pretrained(LEGACY / "gpt2")


def _legacy(**fields) -> dict:
    """A pre-split model config (no "family"): the old GPTConfig's fields at their defaults, then ``fields``."""
    old = json.loads((LEGACY / "gpt2" / "ckpt-0000007" / "state.json").read_text())["configs"]["model"]
    return {**old, **fields}


def test_pre_split_configs_gpt2_cannot_express_are_refused_by_name():
    assert "family" not in _legacy()
    assert config_from_dict(_legacy(activation="relu")) == GPTConfig(
        vocab_size=37, block_size=16, n_layer=2, n_head=2, n_embd=16, activation="relu"
    )  # GPT-2 keeps its one variant argument
    for fields, named in [
        ({"norm": "rmsnorm"}, "norm='rmsnorm'"),
        ({"tie_embeddings": False}, "tie_embeddings=False"),
        ({"n_kv_head": 1}, "n_kv_head=1"),
        ({"d_ff": 20}, "d_ff=20"),
        ({"qk_norm": True}, "qk_norm=True"),
        ({"norm_eps": 1e-6}, "norm_eps=1e-06"),
        ({"n_experts": 2}, "n_experts=2"),
    ]:
        with pytest.raises(ValueError, match=r"state.json: this model predates the GPT-2 / Llama split and GPT-2 "
                           r"cannot express .*" + named):  # fmt: skip
            config_from_dict(_legacy(**fields), "state.json")
    # rotary positions went to the later family, whatever else the config holds
    rope = config_from_dict(_legacy(pos_embedding="rope", norm="rmsnorm", n_kv_head=1))
    assert type(rope) is LlamaConfig and (rope.n_kv_head, rope.norm, rope.d_ff) == (1, "rmsnorm", 4 * 16)


def test_a_pre_split_gpt_with_a_sliding_window_is_refused():
    """GPT-2 attends to its whole context: a pre-split learned-position model with a window computed
    something else, and loading it without the window would change its logits silently."""
    with pytest.raises(ValueError, match=r"state.json: this model predates .* cannot express window=4"):
        config_from_dict(_legacy(window=4), "state.json")


@pytest.mark.parametrize("pos", ["learned", "sinusoidal"])
def test_pre_split_gpt2_keeps_its_position_kind(pos):
    """A pre-split GPT with the sinusoidal table must come back with it (it has no wpe weight to load)."""
    config = config_from_dict(_legacy(pos_embedding=pos))
    assert type(config) is GPTConfig and config.pos_embedding == pos
