"""Config dataclasses as command lines and JSON files: one set of rules for every config in minillm.

Configs are dataclasses and scripts expose them through argparse. This module holds the
machinery so each config states only its fields and its own range checks:

    check_fields(cfg)                      every value matches its annotation (bool is a real bool,
                                           int a real int, float finite: no inf/nan), else ValueError
    add_config_arguments(parser, Cls)      one flag per field: n_layer -> --n-layer, bool -> --x/--no-x,
                                           plus --config FILE.json with the same flat names
    config_from_args(Cls, args)            explicit flag > --config file > dataclass default
    to_flat_dict(cfg) / from_flat_dict(Cls, d)   the flat view, also what checkpoints store
    RENAMED, renamed_keys, refuse_renamed  the one rename table (docs/glossary.md#one-name-per-idea):
                                           old keys still load for a release, old keywords are refused

A field whose type is itself a dataclass (``TrainConfig.model: GPTConfig``) is *composed*: its fields
appear flat beside the outer ones (``--n-layer``, ``{"n_layer": 4}``), so the flags stay the names a
student reads in the inner dataclass. Flat names must therefore be unique across the nesting.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import math
import types
import typing
import warnings
from pathlib import Path

from minillm.utils.fileio import read_json

__all__ = [
    "RENAMED",
    "add_config_arguments",
    "check_fields",
    "check_value",
    "config_from_args",
    "flat_fields",
    "from_flat_dict",
    "read_config_file",
    "refuse_renamed",
    "renamed_keys",
    "to_flat_dict",
]

# One name per idea (docs/glossary.md): the names the 2017 encoder-decoder and the nn/ pieces used
# before this release, and the ones that replaced them. Saved configs with an old key still load for
# this release (renamed_keys, with a DeprecationWarning); a Python call with an old keyword is a
# TypeError naming the new one (refuse_renamed).
RENAMED = {"d_model": "n_embd", "n_heads": "n_head", "max_len": "block_size"}


def renamed_keys(values: dict, cls, source: str = "config") -> dict:
    """``values`` with each old key (RENAMED) that ``cls`` knows only by its new name renamed, and a
    DeprecationWarning naming the new key; a dict that holds both names of one field is refused."""
    names = set(flat_fields(cls))
    out = dict(values)
    for old, new in RENAMED.items():
        if old not in out or old in names or new not in names:
            continue  # not an old key here: a field of its own (a task's max_len), or unknown to cls
        if new in out:
            raise ValueError(f"{source}: both {old!r} and its new name {new!r} are given; keep {new!r}")
        warnings.warn(
            f"{source}: key {old!r} is now {new!r}; rewrite the file with {new!r} (the old key is read this release)",
            DeprecationWarning,
            stacklevel=2,
        )
        out[new] = out.pop(old)
    return out


def refuse_renamed(obj):
    """Decorate a function or a class (its ``__init__``): a keyword the rename table dropped is a
    TypeError naming its new name, instead of Python's bare "unexpected keyword argument"."""
    if isinstance(obj, type):
        obj.__init__ = refuse_renamed(obj.__init__)
        return obj

    @functools.wraps(obj)
    def checked(*args, **kwargs):
        old = [k for k in kwargs if k in RENAMED]
        if old:
            name = obj.__qualname__.removesuffix(".__init__")
            moves = ", ".join(f"{k}= is now {RENAMED[k]}=" for k in old)
            raise TypeError(f"{name}() got a renamed keyword: {moves} (docs/glossary.md#one-name-per-idea)")
        return obj(*args, **kwargs)

    return checked


def _hints(cls) -> dict:
    """Field types as real objects (annotations are strings under ``from __future__ import annotations``)."""
    return typing.get_type_hints(cls)


def _type_name(hint) -> str:
    return getattr(hint, "__name__", None) if isinstance(hint, type) else str(hint).replace("typing.", "")


def check_value(value, hint) -> bool:
    """Whether ``value`` is an instance of the annotation ``hint`` (the simple types configs use)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is typing.Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(check_value(value, a) for a in args)
    if hint is type(None):
        return value is None
    if origin is typing.Literal:
        return any(value == a and type(value) is type(a) for a in args)
    if origin in (tuple, list):
        if not isinstance(value, origin):
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:  # tuple[int, str]: fixed length
            return len(value) == len(args) and all(check_value(v, a) for v, a in zip(value, args))
        return not args or all(check_value(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:  # True is an int to Python, never to a config
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:  # an int is a fine float; inf and nan never are
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True  # an annotation these rules do not cover is left to the class's own checks


def check_fields(obj) -> None:
    """Check every field of a dataclass instance against its annotation; call it in ``__post_init__``."""
    cls = type(obj)
    for name, hint in _hints(cls).items():
        if name not in {f.name for f in dataclasses.fields(cls)}:
            continue  # ClassVar and the like
        value = getattr(obj, name)
        if not check_value(value, hint):
            finite = " (finite)" if _mentions_float(hint) and isinstance(value, float) else ""
            raise ValueError(
                f"{cls.__name__}: {name}={value!r} is not a valid {_type_name(hint)}{finite}"
                f" (got {type(value).__name__})"
            )


def _mentions_float(hint) -> bool:
    return hint is float or float in typing.get_args(hint)


# -- the flat view ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class FlatField:
    """One flat name: where it lives (``("model", "n_layer")``), its annotation and its default."""

    name: str
    path: tuple[str, ...]
    hint: object
    default: object
    help: str = ""  # field(metadata={"help": ...}): shown by --help


def _is_config(hint) -> bool:
    return isinstance(hint, type) and dataclasses.is_dataclass(hint)


def _default_of(f: dataclasses.Field):
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def flat_fields(cls, skip: frozenset[str] | set[str] | tuple = ()) -> dict[str, FlatField]:
    """The flat fields of a (possibly composed) config class, with their defaults; ``skip`` drops names."""
    out: dict[str, FlatField] = {}

    def walk(c, prefix: tuple[str, ...], defaults):
        hints = _hints(c)
        for f in dataclasses.fields(c):
            default = getattr(defaults, f.name) if defaults is not None else _default_of(f)
            if _is_config(hints[f.name]):
                inner = default if default is not dataclasses.MISSING else None
                walk(hints[f.name], prefix + (f.name,), inner)
                continue
            if f.name in skip:
                continue
            if f.name in out:
                raise TypeError(f"{cls.__name__}: flat name {f.name!r} appears twice in the composed config")
            out[f.name] = FlatField(f.name, prefix + (f.name,), hints[f.name], default, f.metadata.get("help", ""))

    walk(cls, (), None)
    return out


def to_flat_dict(obj) -> dict:
    """A config as one flat dict (composed configs flattened): JSON-ready, what checkpoints store."""
    out = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            out.update(to_flat_dict(value))
        else:
            out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


def _normalise(value, hint):
    """JSON has lists, not tuples, and ints where a float is meant: bring them to the annotated type."""
    if isinstance(value, list) and (hint is tuple or typing.get_origin(hint) is tuple):
        return tuple(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _checked(fields: dict, values: dict, source: str, cls=None) -> dict:
    """Refuse unknown names and mistyped values, naming the key; return the values normalised.
    With ``cls``, an old key of the rename table is first read under its new name."""
    if cls is not None:
        values = renamed_keys(values, cls, source)
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(f"{source}: unknown key(s) {unknown}; known keys: {sorted(fields)}")
    out = {}
    for name, value in values.items():
        hint = fields[name].hint
        out[name] = _normalise(value, hint)
        if not check_value(out[name], hint):
            raise ValueError(f"{source}: {name}={value!r} is not a valid {_type_name(hint)}")
    return out


def from_flat_dict(cls, values: dict, skip=(), base=None, source: str = "config"):
    """Build ``cls`` from flat names; missing names keep ``base``'s value (or the default).

    Unknown names are an error listing them; each value is type-checked first, so the error names the
    key (``bias='false' is not a valid bool``) rather than failing later inside the model.
    """
    return _build(cls, _checked(flat_fields(cls, skip), values, source, cls), base)


def _build(cls, values: dict, base):
    hints = _hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        if _is_config(hints[f.name]):
            inner_base = getattr(base, f.name) if base is not None else _default_of(f)
            inner_base = None if inner_base is dataclasses.MISSING else inner_base
            kwargs[f.name] = _build(hints[f.name], values, inner_base)
        elif f.name in values:
            kwargs[f.name] = values[f.name]
        elif base is not None:
            kwargs[f.name] = getattr(base, f.name)
    return cls(**kwargs)


def read_config_file(path: str | Path) -> dict:
    """The flat dict in a ``--config`` JSON file (checked against a class by ``from_flat_dict``)."""
    values = read_json(path, "config file")
    if not isinstance(values, dict):
        raise ValueError(f"config file {path} must hold a JSON object of flat names, got {type(values).__name__}")  # noqa: TRY004 (a user file, not a caller bug)
    return values


# -- argparse ----------------------------------------------------------------------------------


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _parse_as(hint):
    """The argparse ``type`` and ``nargs`` for an annotation."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and len(args) == 1:
        return _parse_as(args[0])
    if typing.get_origin(hint) in (tuple, list):
        return (args[0] if args and isinstance(args[0], type) else str), "+"
    if typing.get_origin(hint) is typing.Literal:
        return type(args[0]), None
    return (hint if hint in (int, float, str) else str), None


def add_config_arguments(parser: argparse.ArgumentParser, cls, skip=(), config_file: bool = True) -> None:
    """One flag per flat field of ``cls``; every default is ``None`` so "given" is known exactly.

    ``--n-layer 4`` given explicitly beats ``{"n_layer": 1}`` in ``--config`` even when 4 is the default.
    """
    for f in flat_fields(cls, skip).values():
        shown = "required" if f.default is dataclasses.MISSING else f"default: {f.default!r}"
        if f.help:  # a None default is explained by the help itself
            shown = f.help if f.default is None else f"{f.help} ({shown})"
        helptext = shown.replace("%", "%%")  # argparse formats help with %
        if f.hint is bool or set(typing.get_args(f.hint)) == {bool, type(None)}:  # bool, or bool | None
            parser.add_argument(_flag(f.name), action=argparse.BooleanOptionalAction, default=None, help=helptext)
            continue
        kind, nargs = _parse_as(f.hint)
        choices = typing.get_args(f.hint) if typing.get_origin(f.hint) is typing.Literal else None
        parser.add_argument(_flag(f.name), type=kind, nargs=nargs, choices=choices, default=None, help=helptext)
    if config_file:
        parser.add_argument(
            "--config", metavar="FILE.json", help=f"JSON object of {cls.__name__} fields (flat names, as the flags)"
        )


def explicit_values(cls, args: argparse.Namespace, skip=()) -> dict:
    """The flat fields given on the command line (argparse left the others at ``None``)."""
    out = {}
    for name in flat_fields(cls, skip):
        value = getattr(args, name, None)
        if value is not None:
            out[name] = tuple(value) if isinstance(value, list) else value
    return out


def config_from_args(cls, args: argparse.Namespace, skip=(), base=None):
    """``cls`` from parsed flags: explicit flag > ``--config`` file > ``base`` (default: the dataclass defaults)."""
    fields = flat_fields(cls, skip)
    values = {}
    config_path = getattr(args, "config", None)
    if config_path:
        values = _checked(fields, read_config_file(config_path), f"config file {config_path}", cls)
    values.update(_checked(fields, explicit_values(cls, args, skip), "command line"))
    return _build(cls, values, base)
