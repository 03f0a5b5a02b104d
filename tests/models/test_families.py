"""The two decoder families (minillm.models.families): a config picks its class, a saved config names its
family, and checkpoints written before GPT-2 and the later family were split still load to the same logits.

tests/fixtures/legacy holds a GPT-2 and a later-family checkpoint written by the pre-split code (main at
c3677e0, tests/fixtures/legacy/make_fixtures.py) and the logits that code computed on ``idx``; loading them
now must give those logits (fp32, 1e-6): the rename table (wte.embedding -> wte, attn_block.norm -> ln_1,
q/k/v stacked into qkv_proj, ...) and the family routing, end to end.
"""

import json
from pathlib import Path

import pytest
import torch

import minillm
from minillm.models import GPT, GPTConfig, Llama, LlamaConfig
from minillm.models.families import FAMILIES, build_model, config_from_dict, load_model, model_config
from minillm.models.presets import GPT2_SIZES, PRESETS

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


@pytest.mark.parametrize(
    "config",
    [
        GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8, pos_embedding="sinusoidal"),
        LlamaConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8, d_ff=12, n_kv_head=1, window=3),
    ],
    ids=["gpt", "llama"],
)
def test_a_config_names_its_family_and_comes_back_from_its_dict(config):
    fields = config.to_dict()
    assert fields["family"] == ("gpt" if isinstance(config, GPTConfig) else "llama")
    assert config_from_dict(fields) == config
    assert type(build_model(config)) is FAMILIES[fields["family"]]
    with pytest.raises(ValueError, match=r"my.json: unknown model family 'bert'; choose one of \['gpt', 'llama'\]"):
        config_from_dict({**fields, "family": "bert"}, "my.json")
    with pytest.raises(ValueError, match=r"my.json: unknown \w+Config key\(s\) \['colour'\]"):
        config_from_dict({**fields, "colour": 1}, "my.json")
    with pytest.raises(ValueError, match=r"my.json: .*n_layer must be a positive integer"):
        config_from_dict({**fields, "n_layer": 0}, "my.json")


def test_named_shapes_pick_their_family():
    for name in PRESETS:
        assert type(model_config(name)) is (GPTConfig if name in GPT2_SIZES else LlamaConfig)
    assert model_config("gpt2", n_layer=2).n_layer == 2
    with pytest.raises(TypeError, match="expected a GPTConfig or LlamaConfig, got dict"):
        build_model({"n_layer": 1})
