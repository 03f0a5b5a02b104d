"""Read and write GPT-2 weights in the Hugging Face layout, from and to a local directory.

Report §1.2 (pre-trained models you already have). The layout is ``config.json`` plus
``model.safetensors`` (or the older ``pytorch_model.bin``). GPT-2's original code stores every
projection as a "Conv1D" whose weight is (in, out) — the transpose of ``nn.Linear``'s (out, in) —
and fuses the query, key and value projections into one ``c_attn`` of width 3·d, as minillm's
GPT does. So the one key map below (``weight_map``) says, per Hugging Face tensor, which minillm
tensor it is and whether it is transposed; loading and saving both walk it:

    transformer.h.{i}.attn.c_attn   = blocks.{i}.attn.qkv_proj          (transposed)
    transformer.h.{i}.attn.c_proj   = blocks.{i}.attn.out_proj          (transposed)
    transformer.h.{i}.mlp.c_fc      = blocks.{i}.mlp.fc1                (transposed)
    transformer.h.{i}.mlp.c_proj    = blocks.{i}.mlp.fc2                (transposed)
    transformer.h.{i}.ln_1 / ln_2   = blocks.{i}.ln_1 / ln_2
    transformer.wte / wpe / ln_f    = wte / wpe / ln_f

This module knows files and names only: it returns (GPTConfig fields, state dict) and takes them
back, so ``minillm.models.gpt`` imports it and never the reverse. Nothing is downloaded: point
``GPT.from_pretrained`` at a directory you already have. Docs: docs/training.md.
"""

from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import save_file
from torch import Tensor

from minillm.models.pretrained import read_hf_config, read_hf_weights
from minillm.utils.fileio import atomic_write

__all__ = ["config_from_hf", "config_to_hf", "read_gpt2_dir", "weight_map", "write_gpt2_dir"]

ACTIVATION_TO_HF = {"gelu_tanh": "gelu_new", "gelu": "gelu", "relu": "relu"}
HF_TO_ACTIVATION = {**{hf: ours for ours, hf in ACTIVATION_TO_HF.items()}, "gelu_pytorch_tanh": "gelu_tanh"}
# (Hugging Face config key, GPTConfig field): read one way, written the other.
CONFIG_KEYS = (
    ("vocab_size", "vocab_size"),
    ("n_positions", "block_size"),
    ("n_layer", "n_layer"),
    ("n_head", "n_head"),
    ("n_embd", "n_embd"),
    ("resid_pdrop", "dropout"),
)
# Per block: (Hugging Face module, minillm module, stored as Conv1D (in, out)).
LAYER_KEYS = (
    ("attn.c_attn", "attn.qkv_proj", True),
    ("attn.c_proj", "attn.out_proj", True),
    ("mlp.c_fc", "mlp.fc1", True),
    ("mlp.c_proj", "mlp.fc2", True),
    ("ln_1", "ln_1", False),
    ("ln_2", "ln_2", False),
)
IGNORED_SUFFIXES = (".attn.bias", ".attn.masked_bias")  # causal-mask buffers in old checkpoints, not weights


def weight_map(n_layer: int) -> list[tuple[str, str, bool]]:
    """(Hugging Face name, minillm name, transposed) for every tensor of an ``n_layer`` GPT-2; a
    Conv1D weight is stored transposed. The output layer is wte itself (tied) and not stored twice."""
    rows = [
        ("transformer.wte.weight", "wte.weight", False),
        ("transformer.wpe.weight", "wpe.weight", False),
        ("transformer.ln_f.weight", "ln_f.weight", False),
        ("transformer.ln_f.bias", "ln_f.bias", False),
    ]
    for i in range(n_layer):
        for hf, ours, conv1d in LAYER_KEYS:
            for kind in ("weight", "bias"):
                rows.append(
                    (f"transformer.h.{i}.{hf}.{kind}", f"blocks.{i}.{ours}.{kind}", conv1d and kind == "weight")
                )
    return rows


def config_from_hf(hf: dict, source: str | Path = "config.json") -> dict:
    """GPTConfig fields from a Hugging Face GPT-2 config.json; variants minillm cannot run are refused."""
    if hf.get("model_type", "gpt2") != "gpt2":
        raise ValueError(f"{source} holds a {hf.get('model_type')!r} model; only GPT-2 ('gpt2') is supported")
    missing = [key for key, _ in CONFIG_KEYS[:5] if key not in hf]
    if missing:
        raise ValueError(f"{source}: config.json lacks {missing}")
    for key, _ in CONFIG_KEYS[:5]:  # sizes: the weight map and the model are built from them
        if not isinstance(hf[key], int) or isinstance(hf[key], bool) or hf[key] <= 0:
            raise ValueError(f"{source}: config.json {key}={hf[key]!r} is not a positive integer")
    n_embd = hf["n_embd"]
    act = hf.get("activation_function", "gelu_new")
    unsupported = {
        "activation_function": (act not in HF_TO_ACTIVATION, f"{act!r}; known: {sorted(HF_TO_ACTIVATION)}"),
        "tie_word_embeddings": (hf.get("tie_word_embeddings", True) is not True, "an output layer apart from wte"),
        "n_inner": (hf.get("n_inner") not in (None, 4 * n_embd), "a feed-forward width other than 4·n_embd"),
        "layer_norm_epsilon": (abs(hf.get("layer_norm_epsilon", 1e-5) - 1e-5) > 1e-12, "LayerNorm eps other than 1e-5"),
        "scale_attn_weights": (hf.get("scale_attn_weights", True) is not True, "unscaled attention"),
        "scale_attn_by_inverse_layer_idx": (bool(hf.get("scale_attn_by_inverse_layer_idx")), "per-layer scaling"),
    }
    bad = [f"{k} ({why})" for k, (is_bad, why) in unsupported.items() if is_bad]
    if bad:
        raise ValueError(f"{source}: this GPT-2 variant is not supported by minillm: {', '.join(bad)}")
    fields = {ours: hf.get(key, 0.0) for key, ours in CONFIG_KEYS}  # only resid_pdrop may be absent
    return {**fields, "activation": HF_TO_ACTIVATION.get(act), "pos_embedding": "learned", "bias": True}


def config_to_hf(config: dict) -> dict:
    """A Hugging Face GPT-2 config.json for GPTConfig fields; a model GPT-2 cannot express is refused."""
    problems = []
    if config["pos_embedding"] != "learned":
        problems.append(f"pos_embedding={config['pos_embedding']!r} (GPT-2 has learned positions)")
    if not config["bias"]:
        problems.append("bias=False (GPT-2 has biases)")
    if problems:
        raise ValueError("the GPT-2 layout cannot express this model: " + "; ".join(problems))
    dropout = config["dropout"]
    return {
        "model_type": "gpt2",
        "architectures": ["GPT2LMHeadModel"],
        **{key: config[ours] for key, ours in CONFIG_KEYS},
        "n_ctx": config["block_size"],
        "n_inner": None,
        "activation_function": ACTIVATION_TO_HF[config["activation"]],
        "tie_word_embeddings": True,
        "embd_pdrop": dropout,
        "attn_pdrop": dropout,
        "layer_norm_epsilon": 1e-5,
    }


def read_gpt2_dir(path: str | Path) -> tuple[dict, dict[str, Tensor]]:
    """(GPTConfig fields, minillm state dict in float32) of the GPT-2 directory ``path``.
    Missing or unexpected tensors are an error that lists them by their Hugging Face names."""
    path = Path(path)
    config = config_from_hf(read_hf_config(path), path)
    raw = {}
    for key, value in read_hf_weights(path).items():  # GPT2Model's names lack GPT2LMHeadModel's "transformer."
        if not key.endswith(IGNORED_SUFFIXES):
            raw[key if key.startswith(("transformer.", "lm_head.")) else "transformer." + key] = value
    raw.pop("lm_head.weight", None)  # the same matrix as wte
    rows = weight_map(config["n_layer"])
    expected = {hf_name for hf_name, _, _ in rows}
    missing, unexpected = sorted(expected - set(raw)), sorted(set(raw) - expected)
    if missing or unexpected:
        raise ValueError(
            f"{path}: the weights do not match a {config['n_layer']}-layer GPT-2: "
            f"missing keys {missing}, unexpected keys {unexpected}"
        )
    state = {}
    for hf_name, name, conv1d in rows:
        value = raw[hf_name].float()
        state[name] = value.t() if conv1d else value  # (in, out) → nn.Linear's (out, in)
    state["lm_head.weight"] = state["wte.weight"]
    return config, state


def write_gpt2_dir(config: dict, state: dict[str, Tensor], path: str | Path) -> Path:
    """Write config.json + model.safetensors that ``transformers.GPT2LMHeadModel`` opens, from
    GPTConfig fields and a minillm state dict."""
    hf_config = config_to_hf(config)  # refuses before anything is written
    state = {k: v.detach().float().cpu() for k, v in state.items()}
    tensors = {}
    for hf_name, name, conv1d in weight_map(config["n_layer"]):
        tensors[hf_name] = (state[name].t() if conv1d else state[name]).contiguous()  # Conv1D: (in, out)
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    atomic_write(path / "model.safetensors", lambda tmp: save_file(tensors, str(tmp), metadata={"format": "pt"}))
    atomic_write(path / "config.json", lambda tmp: tmp.write_text(json.dumps(hf_config, indent=2)))
    return path
