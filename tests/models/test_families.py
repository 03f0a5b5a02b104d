"""The two decoder families (minillm/models/families.py): a config picks its class, a saved config names
its family and comes back from its dict, named shapes pick theirs. Checkpoints written before GPT-2 and
the later family were split: tests/models/test_saved.py."""

import pytest

from minillm.models import GPTConfig, LlamaConfig
from minillm.models.families import FAMILIES, build_model, config_from_dict, model_config
from minillm.models.presets import GPT2_SIZES, PRESETS


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
    renamed = {k: v for k, v in fields.items() if k not in ("n_embd", "block_size")}
    with pytest.warns(DeprecationWarning) as caught:  # old keys read through the one rename table
        assert config_from_dict({**renamed, "d_model": config.n_embd, "max_len": 8}, "my.json") == config
    assert sorted(str(w.message).split(";")[0] for w in caught) == [
        "my.json: key 'd_model' is now 'n_embd'",
        "my.json: key 'max_len' is now 'block_size'",
    ]


def test_named_shapes_pick_their_family():
    for name in PRESETS:
        assert type(model_config(name)) is (GPTConfig if name in GPT2_SIZES else LlamaConfig)
    assert model_config("gpt2", n_layer=2).n_layer == 2
    with pytest.raises(TypeError, match="expected a GPTConfig or LlamaConfig, got dict"):
        build_model({"n_layer": 1})
