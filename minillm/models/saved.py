"""What a saved model directory holds, read without knowing the model classes: (family, config fields, weights).

Report §1.2 (a model is pre-trained once and used many times). ``read_pretrained(path)`` reads any
directory ``locate`` accepts (models/pretrained.py): a minillm checkpoint or run directory, whose
state.json names the family (``"family"`` in the model config), or a Hugging Face directory, whose
config.json names it in ``model_type`` (models/hf.py). ``LanguageModel.from_pretrained`` builds the
model from what it returns and ``fill`` loads the weights; minillm.models.families picks the class.

Checkpoints written before GPT-2 and the later family were split hold one config with every field
and no ``family``; ``legacy_fields`` reads them for this release: rotary positions went to the later family,
learned or sinusoidal ones to GPT-2, and the weights are renamed (GPT-2's q/k/v stacked into
``qkv_proj``, the norms to ``ln_1``/``ln_2``). A legacy config GPT-2 cannot express and that has no
rotary positions is refused with the fields that stand in the way.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import Tensor, nn

from minillm.models.hf import read_hf_dir
from minillm.models.pretrained import CheckpointError, Pretrained, locate

__all__ = ["GPT2_FIXED", "GPT2_KEPT", "UNREAD", "fill", "legacy_fields", "read_pretrained"]

# How a pre-split config reads as GPT-2 (the format is history: these lists never grow). GPT-2 keeps
# its own fields; it fixes three more; settings only rotary positions or experts read may hold
# anything; every other setting is a later-family switch, which GPT-2 can express only when it is off
# (False, None or 0).
GPT2_KEPT = ("vocab_size", "block_size", "n_layer", "n_head", "n_embd", "dropout", "bias", "activation", "attn_backend")
GPT2_FIXED = {"norm": "layernorm", "norm_eps": 1e-5, "tie_embeddings": True}
UNREAD = ("rope_theta", "expert_top_k", "expert_d_ff", "n_shared_experts", "expert_norm_topk", "aux_loss_coef")
_RENAMED = {"wte.embedding.": "wte.", "wpe.embedding.": "wpe.", "attn_block.norm.": "ln_1.", "mlp_block.norm.": "ln_2."}


def _gpt2_holds(name: str, value) -> bool:
    """Whether GPT-2 can express a pre-split setting it has no field for: a fixed one at GPT-2's value, a switch off."""
    return value == GPT2_FIXED[name] if name in GPT2_FIXED else not value


def legacy_fields(fields: dict, source) -> tuple[str, dict]:
    """(family, fields of its config) for a model config written before the split (module docstring)."""
    fields = dict(fields)
    width, heads = fields.get("n_embd", 768), fields.get("n_head", 12)
    if fields.get("pos_embedding", "learned") == "rope":
        del fields["pos_embedding"]
        fields["d_ff"] = fields.get("d_ff") or 4 * width  # the old default
        return "llama", fields
    derived = {"d_ff": 4 * width, "head_dim": width // heads, "n_kv_head": heads, "qkv_bias": fields.get("bias", True)}
    switches = [k for k in fields if k not in (*GPT2_KEPT, "pos_embedding", *derived, *UNREAD)]
    blocking = [f"{k}={fields[k]!r}" for k, v in derived.items() if fields.get(k) not in (None, v)]
    blocking += [f"{k}={fields[k]!r}" for k in switches if not _gpt2_holds(k, fields[k])]
    if blocking:
        raise ValueError(
            f"{source}: this model predates the GPT-2 / Llama split and GPT-2 cannot express {', '.join(blocking)}; "
            "load it with the release that wrote it"
        )
    kept = {k: v for k, v in fields.items() if k in GPT2_KEPT}
    return "gpt", {"pos_embedding": fields.get("pos_embedding", "learned"), **kept}


def _legacy_state(state: dict[str, Tensor], n_layer: int, family: str) -> dict[str, Tensor]:
    """A pre-split state dict under this release's names (module docstring)."""
    out = {}
    for name, value in state.items():
        for old, new in _RENAMED.items():
            name = name.replace(old, new)
        out[name] = value
    if family == "gpt":
        for i in range(n_layer):
            for kind in ("weight", "bias"):
                parts = [out.pop(f"blocks.{i}.attn.{p}_proj.{kind}", None) for p in "qkv"]
                if all(p is not None for p in parts):
                    out[f"blocks.{i}.attn.qkv_proj.{kind}"] = torch.cat(parts)  # (3·n_embd, …)
    return out


def read_pretrained(path) -> tuple[str, dict, dict[str, Tensor], Path]:
    """(family, config fields, state dict, the file the config came from) of a checkpoint, run or
    Hugging Face directory. Never downloads; a checkpoint's files are checked before they are read."""
    found = path if isinstance(path, Pretrained) else locate(path)
    if found.kind == "huggingface":
        family, fields, state = read_hf_dir(found.path)
        return family, fields, state, found.path / "config.json"
    source = found.path / "state.json"
    fields = dict(found.model_config)
    family = fields.pop("family", None)
    try:
        state = load_file(found.path / "model.safetensors")
    except Exception as err:  # noqa: BLE001 — safetensors' own header errors: the file is damaged
        raise CheckpointError(f"{found.path / 'model.safetensors'} is not a readable safetensors file: {err}") from None
    if family is None:  # written before the split
        family, fields = legacy_fields(fields, source)
        state = _legacy_state(state, fields.get("n_layer", 12), family)
    return family, fields, state, source


def fill(model: nn.Module, state: dict[str, Tensor], source) -> nn.Module:
    """Load ``state`` into ``model`` in place; a tied output layer may be stored under either of its
    two names. A tensor of the wrong shape, or a missing or unexpected one, is named."""
    target = model.state_dict()
    if model.lm_head.weight is model.wte.weight:  # tied: stored once, under one of its two names
        tied = state.get("lm_head.weight", state.get("wte.weight"))
        state = {**state, "lm_head.weight": tied, "wte.weight": tied}
    for name, value in state.items():
        if name in target and value is not None and value.shape != target[name].shape:
            raise ValueError(
                f"{source}: {name} has shape {tuple(value.shape)}, the config implies {tuple(target[name].shape)}"
            )
    missing, unexpected = sorted(set(target) - set(state)), sorted(set(state) - set(target))
    if missing or unexpected:
        raise CheckpointError(f"weights in {source} do not fit this model: missing {missing}, unexpected {unexpected}")
    model.load_state_dict(state, strict=True)
    return model
