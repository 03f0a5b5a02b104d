"""minillm.utils.configs: type checks, flat names for composed configs, flag > file > default."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field

import pytest

from minillm.models import GPTConfig, LlamaConfig
from minillm.utils.configs import (
    RENAMED,
    add_config_arguments,
    check_fields,
    check_value,
    config_from_args,
    flat_fields,
    from_flat_dict,
    refuse_renamed,
    renamed_keys,
    to_flat_dict,
)


@dataclass
class Inner:
    width: int = 8
    rate: float = 0.5
    on: bool = True

    def __post_init__(self):
        check_fields(self)


@dataclass
class Outer:
    name: str = "run"
    steps: int = 10
    limit: float | None = None
    sizes: tuple[int, ...] = field(default=(1, 2), metadata={"help": "sizes of 100% things"})
    inner: Inner = field(default_factory=lambda: Inner(width=4))

    def __post_init__(self):
        check_fields(self)


def parse(argv, cls=Outer, skip=()):
    parser = argparse.ArgumentParser()
    add_config_arguments(parser, cls, skip)
    return config_from_args(cls, parser.parse_args(argv), skip)


@pytest.mark.parametrize(
    "value, hint, ok",
    [
        (True, bool, True),
        (1, bool, False),
        ("false", bool, False),
        (3, int, True),
        (True, int, False),
        (3.0, int, False),
        (3, float, True),
        (0.5, float, True),
        (float("inf"), float, False),
        (float("nan"), float, False),
        (False, float, False),
        (None, float | None, True),
        ("x", float | None, False),
        ((1, 2), tuple[int, ...], True),
        ((1, "a"), tuple[int, ...], False),
        ([1, 2], tuple[int, ...], False),
    ],
)
def test_check_value(value, hint, ok):
    assert check_value(value, hint) is ok


def test_check_fields_names_class_key_value_and_type():
    with pytest.raises(ValueError, match=r"Inner: rate=inf is not a valid float"):
        Inner(rate=float("inf"))
    with pytest.raises(ValueError, match=r"Inner: on='false' is not a valid bool"):
        Inner(on="false")
    with pytest.raises(ValueError, match=r"Outer: steps=True is not a valid int"):
        Outer(steps=True)


def test_flat_fields_compose_inner_defaults_and_skip():
    flat = flat_fields(Outer)
    assert list(flat) == ["name", "steps", "limit", "sizes", "width", "rate", "on"]
    assert flat["width"].default == 4  # the outer default_factory's value, not Inner's own 8
    assert flat["width"].path == ("inner", "width")
    assert "width" not in flat_fields(Outer, skip={"width"})


def test_flat_dict_round_trip():
    cfg = Outer(steps=3, sizes=(5,), inner=Inner(width=2, on=False))
    flat = to_flat_dict(cfg)
    assert flat == {"name": "run", "steps": 3, "limit": None, "sizes": [5], "width": 2, "rate": 0.5, "on": False}
    assert from_flat_dict(Outer, json.loads(json.dumps(flat))) == cfg


def test_from_flat_dict_refuses_unknown_and_mistyped_keys():
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['widht'\]"):
        from_flat_dict(Outer, {"widht": 3})
    with pytest.raises(ValueError, match=r"on='false'"):
        from_flat_dict(Outer, {"on": "false"})
    assert from_flat_dict(Outer, {"rate": 1}).inner.rate == 1.0  # a JSON int is a fine float


def test_flags_defaults_and_bools():
    assert parse([]) == Outer()
    parser = argparse.ArgumentParser()
    add_config_arguments(parser, Outer)
    assert "sizes of 100% things (default: (1, 2))" in " ".join(parser.format_help().split())
    cfg = parse(["--width", "6", "--no-on", "--sizes", "3", "4", "--limit", "2.5"])
    assert cfg == Outer(sizes=(3, 4), limit=2.5, inner=Inner(width=6, on=False))


def test_explicit_flag_beats_config_file_even_when_equal_to_default(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"steps": 1, "width": 1, "name": "file"}))
    cfg = parse(["--config", str(path), "--steps", "10", "--width", "4"])  # 10 and 4 are the defaults
    assert (cfg.steps, cfg.inner.width, cfg.name) == (10, 4, "file")


@pytest.mark.parametrize(
    "content, match",
    [
        ({"on": "false"}, r"c\.json: on='false' is not a valid bool"),
        ({"rate": "0.1"}, r"c\.json: rate='0\.1' is not a valid float"),
        ({"steps": 2.0}, r"c\.json: steps=2\.0 is not a valid int"),
        ({"nope": 1}, r"c\.json: unknown key\(s\) \['nope'\]"),
        ([1, 2], r"must hold a JSON object"),
    ],
)
def test_config_file_errors_name_the_key(tmp_path, content, match):
    path = tmp_path / "c.json"
    path.write_text(json.dumps(content))
    with pytest.raises(ValueError, match=match):
        parse(["--config", str(path)])


def test_config_file_missing_or_broken(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        parse(["--config", str(tmp_path / "none.json")])
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValueError, match="not valid JSON"):
        parse(["--config", str(tmp_path / "bad.json")])


@pytest.mark.parametrize("text", ["inf", "nan", "-inf"])
def test_non_finite_refused_from_flag_and_file(tmp_path, text):
    with pytest.raises(ValueError, match=r"command line: rate=.* is not a valid float"):
        parse([f"--rate={text}"])
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"rate": float(text)}))  # Python's json writes Infinity / NaN
    with pytest.raises(ValueError, match=r"rate=.* is not a valid float"):
        parse(["--config", str(path)])


def test_optional_bool_fields_are_on_off_flags():
    """``bool | None`` (None: follow another field, as LlamaConfig.qkv_bias follows bias) gets --x / --no-x."""
    parser = argparse.ArgumentParser()
    add_config_arguments(parser, LlamaConfig)
    assert config_from_args(LlamaConfig, parser.parse_args(["--qkv-bias"])).qkv_bias is True
    assert config_from_args(LlamaConfig, parser.parse_args(["--bias", "--no-qkv-bias"])).qkv_bias is False
    assert config_from_args(LlamaConfig, parser.parse_args([])).qkv_bias is False  # None: as bias (False)
    assert config_from_args(LlamaConfig, parser.parse_args(["--bias"])).qkv_bias is True


# -- the rename table ----------------------------------------------------------------------------


@dataclass
class Renamed:
    n_embd: int = 8
    block_size: int = 4


@dataclass
class OwnMaxLen:  # a field that is called max_len and means something else (a task's string length)
    max_len: int = 3


def test_the_rename_table_is_the_glossarys():
    assert RENAMED == {"d_model": "n_embd", "n_heads": "n_head", "max_len": "block_size"}


def test_old_keys_are_read_under_their_new_names_with_a_warning():
    with pytest.warns(DeprecationWarning, match="f.json: key 'd_model' is now 'n_embd'"):
        assert renamed_keys({"d_model": 16, "block_size": 2}, Renamed, "f.json") == {"n_embd": 16, "block_size": 2}
    with pytest.warns(DeprecationWarning, match="key 'max_len' is now 'block_size'"):
        assert from_flat_dict(Renamed, {"max_len": 6}) == Renamed(8, 6)
    with pytest.raises(ValueError, match="f.json: both 'd_model' and its new name 'n_embd' are given"):
        renamed_keys({"d_model": 16, "n_embd": 16}, Renamed, "f.json")


def test_a_field_that_keeps_an_old_name_and_a_class_without_the_new_name_are_left_alone(recwarn):
    assert renamed_keys({"max_len": 5}, OwnMaxLen) == {"max_len": 5}
    assert from_flat_dict(OwnMaxLen, {"max_len": 5}) == OwnMaxLen(5)
    assert renamed_keys({"n_heads": 2}, Renamed) == {"n_heads": 2}  # Renamed has no n_head: unknown there
    assert not [w for w in recwarn if issubclass(w.category, DeprecationWarning)]
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['n_heads'\]"):
        from_flat_dict(Renamed, {"n_heads": 2})


def test_a_config_file_with_an_old_key_loads_with_a_warning(tmp_path):
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"max_len": 7}))
    parser = argparse.ArgumentParser()
    add_config_arguments(parser, Renamed)
    with pytest.warns(DeprecationWarning, match="old.json: key 'max_len' is now 'block_size'"):
        assert config_from_args(Renamed, parser.parse_args(["--config", str(path)])) == Renamed(8, 7)


def test_an_old_keyword_is_a_type_error_naming_the_new_one():
    @refuse_renamed
    def table(block_size, n_embd=2):
        return block_size, n_embd

    @refuse_renamed
    @dataclass
    class Config:
        n_head: int = 1

    assert table(3, n_embd=4) == (3, 4) and Config(n_head=2).n_head == 2  # new names pass through
    with pytest.raises(TypeError, match=r"^.*table\(\) got a renamed keyword: max_len= is now block_size=, "):
        table(max_len=3, d_model=4)
    with pytest.raises(TypeError, match=r"Config\(\) got a renamed keyword: n_heads= is now n_head="):
        Config(n_heads=2)


def _renamed_entry_points():
    from minillm.nn.attention import MultiHeadAttention
    from minillm.nn.embeddings import (
        LearnedPositionalEmbedding,
        RoPE,
        SinusoidalPositionalEncoding,
        TokenEmbedding,
        sinusoidal_table,
    )
    from minillm.nn.experts import MoEFeedForward
    from minillm.nn.feedforward import FeedForward
    from minillm.nn.kv_cache import KVCache, new_caches
    from minillm.nn.layers import DecoderLayer, EncoderLayer, Residual

    return [
        (MultiHeadAttention, (), dict(d_model=16, n_heads=4), "d_model= is now n_embd=, n_heads= is now n_head="),
        (EncoderLayer, (), dict(d_model=16, n_head=4, d_ff=8), "d_model= is now n_embd="),
        (DecoderLayer, (16,), dict(n_heads=4, d_ff=8), "n_heads= is now n_head="),
        (Residual, (), dict(d_model=16, dropout=0.0, norm_first=True), "d_model= is now n_embd="),
        (FeedForward, (), dict(d_model=16, d_ff=8), "d_model= is now n_embd="),
        (MoEFeedForward, (), dict(d_model=16, d_ff=8, n_experts=2), "d_model= is now n_embd="),
        (TokenEmbedding, (10,), dict(d_model=4), "d_model= is now n_embd="),
        (SinusoidalPositionalEncoding, (4,), dict(max_len=8), "max_len= is now block_size="),
        (LearnedPositionalEmbedding, (4,), dict(max_len=8), "max_len= is now block_size="),
        (RoPE, (4,), dict(max_len=8), "max_len= is now block_size="),
        (sinusoidal_table, (), dict(max_len=8, d_model=4), "max_len= is now block_size=, d_model= is now n_embd="),
        (KVCache, (), dict(max_len=8), "max_len= is now block_size="),
        (new_caches, (2,), dict(max_len=8), "max_len= is now block_size="),
    ]


@pytest.mark.parametrize(
    ("entry", "args", "old", "message"), _renamed_entry_points(), ids=[e[0].__name__ for e in _renamed_entry_points()]
)
def test_every_nn_entry_point_names_the_new_keyword(entry, args, old, message):
    with pytest.raises(TypeError, match=rf"^{entry.__name__}\(\) got a renamed keyword: {message}"):
        entry(*args, **old)
    new = {RENAMED.get(k, k): v for k, v in old.items()}
    assert entry(*args, **new) is not None  # the same call under the new names works
