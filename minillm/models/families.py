"""The two decoder families, and the one place a config or a saved directory picks its model class.

Report §1.2 and §3.2: GPT-2 is models/gpt.py, the later family (Llama, Qwen2/3, Qwen3-MoE, Mixtral)
models/llama.py. A config written by this release names its family (``to_dict()["family"]``);
models/saved.py reads a directory into (family, fields, weights), checkpoints written before the
split included. ``load_model`` and ``minillm.load`` return whichever class a directory holds;
``GPT.from_pretrained`` and ``Llama.from_pretrained`` only their own.
"""

from __future__ import annotations

from minillm.models.gpt import GPT, GPTConfig
from minillm.models.llama import Llama, LlamaConfig
from minillm.models.lm import LanguageModel
from minillm.models.presets import GPT2_SIZES, PRESETS
from minillm.models.saved import legacy_fields, read_pretrained

__all__ = ["FAMILIES", "build_model", "config_from_dict", "load_model", "model_config"]

FAMILIES = {GPT.family: GPT, Llama.family: Llama}


def model_config(name: str, **overrides) -> GPTConfig | LlamaConfig:
    """The GPTConfig (GPT-2's sizes) or LlamaConfig (the later models) of a named shape (models/presets.py)."""
    if name not in PRESETS:
        raise ValueError(f"unknown model name {name!r}; choose one of {sorted(PRESETS)}")
    return (GPTConfig if name in GPT2_SIZES else LlamaConfig).from_name(name, **overrides)


def config_from_dict(fields: dict, source="config") -> GPTConfig | LlamaConfig:
    """The config of saved ``fields`` (a checkpoint's model config, a --config file), of the family
    they name (a family-less dict is a pre-split config, models/saved.py); an unknown family, an
    unknown key or a bad value is one ValueError naming ``source``."""
    fields = dict(fields)
    family = fields.pop("family", None)
    if family is None:
        family, fields = legacy_fields(fields, source)
    if family not in FAMILIES:
        raise ValueError(f"{source}: unknown model family {family!r}; choose one of {sorted(FAMILIES)}")
    return FAMILIES[family].config_from_fields(fields, source)


def build_model(config: GPTConfig | LlamaConfig) -> LanguageModel:
    """A freshly initialised model of ``config``'s family."""
    for model_cls in FAMILIES.values():
        if isinstance(config, model_cls.config_class):
            return model_cls(config)
    raise TypeError(f"expected a GPTConfig or LlamaConfig, got {type(config).__name__}")


def load_model(path) -> LanguageModel:
    """The model in a checkpoint, run or Hugging Face directory, on the CPU, of the family it was
    saved as (GPT or Llama). Never downloads."""
    family, fields, state, source = read_pretrained(path)
    if family not in FAMILIES:
        raise ValueError(f"{source}: unknown model family {family!r}; choose one of {sorted(FAMILIES)}")
    return FAMILIES[family].from_parts(fields, state, source)
