"""Any Hugging Face model directory minillm reads or writes, routed by family.

``config.json``'s ``model_type`` names the family on the way in; on the way out, the config's
class does (a GPTConfig is GPT-2; a LlamaConfig the layout it is shaped like, ``hf_llama.family_of``).
GPT-2 directories go to minillm.models.hf_gpt2; Llama, Qwen2, Qwen3, Qwen3-MoE and Mixtral to
minillm.models.hf_llama, whose one key map (``weight_map``) renames every tensor both ways.
minillm.models.families and ``save_pretrained`` call these two functions. Nothing is downloaded.
Docs: docs/beyond.md#loading-llama-and-qwen-weights.
"""

from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import save_file
from torch import Tensor

from minillm.models import hf_gpt2
from minillm.models.hf_llama import IGNORED_SUFFIXES, config_from_hf, config_to_hf, weight_map
from minillm.models.pretrained import read_hf_config, read_hf_weights
from minillm.utils.fileio import atomic_write

__all__ = ["read_hf_dir", "write_hf_dir"]


def read_hf_dir(path: str | Path) -> tuple[str, dict, dict[str, Tensor]]:
    """(family "gpt" or "llama", its config fields, minillm state dict in float32) of any Hugging Face
    directory minillm reads, chosen by config.json's model_type. Missing or unexpected tensors are
    listed by name."""
    path = Path(path)
    hf = read_hf_config(path)
    if hf.get("model_type", "gpt2") == "gpt2":
        return ("gpt", *hf_gpt2.read_gpt2_dir(path))
    config = config_from_hf(hf, path)
    raw = {k: v for k, v in read_hf_weights(path).items() if not k.endswith(IGNORED_SUFFIXES)}
    if config["tie_embeddings"]:
        raw.pop("lm_head.weight", None)  # the same matrix as embed_tokens
    rows = weight_map(hf["model_type"], config)
    expected = {name for name, _ in rows}
    missing, unexpected = sorted(expected - set(raw)), sorted(set(raw) - expected)
    if missing or unexpected:
        raise ValueError(
            f"{path}: the weights do not match a {config['n_layer']}-layer {hf['model_type']} model: "
            f"missing keys {missing}, unexpected keys {unexpected}"
        )
    state = {ours: raw[name].float() for name, ours in rows}
    if config["tie_embeddings"]:
        state["lm_head.weight"] = state["wte.weight"]
    return "llama", config, state


def write_hf_dir(config, state: dict[str, Tensor], path: str | Path) -> Path:
    """Write config.json + model.safetensors that ``transformers.AutoModelForCausalLM`` opens: GPT-2's
    layout for a GPTConfig, else the one a LlamaConfig is shaped like (``family_of``)."""
    fields = config.to_dict()
    if fields.pop("family") == "gpt":
        return hf_gpt2.write_gpt2_dir(fields, state, path)
    config = fields
    hf_config = config_to_hf(config)  # refuses before anything is written
    tensors = {
        name: state[ours].detach().float().cpu().contiguous()
        for name, ours in weight_map(hf_config["model_type"], config)
    }
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    atomic_write(path / "model.safetensors", lambda tmp: save_file(tensors, str(tmp), metadata={"format": "pt"}))
    atomic_write(path / "config.json", lambda tmp: tmp.write_text(json.dumps(hf_config, indent=2)))
    return path
