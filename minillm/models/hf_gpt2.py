"""Read and write GPT-2 weights in the Hugging Face layout, from and to a local directory.

The layout is ``config.json`` plus ``model.safetensors`` (or the older ``pytorch_model.bin``).
GPT-2's original code stores every projection as a "Conv1D" whose weight is (in, out) — the
transpose of ``nn.Linear``'s (out, in) — and fuses the query, key and value projections into
one ``c_attn`` of width 3·d. Converting is therefore: transpose, and split ``c_attn`` in three.

    transformer.h.{i}.attn.c_attn   → blocks.{i}.attn.{q,k,v}_proj     (split, transposed)
    transformer.h.{i}.attn.c_proj   → blocks.{i}.attn.out_proj         (transposed)
    transformer.h.{i}.mlp.c_fc      → blocks.{i}.mlp.fc1               (transposed)
    transformer.h.{i}.mlp.c_proj    → blocks.{i}.mlp.fc2               (transposed)
    transformer.h.{i}.ln_1 / ln_2   → blocks.{i}.attn_block.norm / mlp_block.norm
    transformer.wte / wpe / ln_f    → wte.embedding / wpe.embedding / ln_f

Nothing is downloaded: point ``GPT.from_pretrained`` at a directory you already have.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import Tensor

__all__ = ["load_gpt2_dir", "save_gpt2_dir"]

# Hugging Face activation names ↔ minillm's.
HF_TO_ACTIVATION = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu": "gelu", "relu": "relu"}
ACTIVATION_TO_HF = {"gelu_tanh": "gelu_new", "gelu": "gelu", "relu": "relu"}
IGNORED_SUFFIXES = (".attn.bias", ".attn.masked_bias")  # causal-mask buffers in old checkpoints, not weights


def _config_from_hf(hf: dict, path: Path):
    from minillm.models.gpt import GPTConfig

    act = hf.get("activation_function", "gelu_new")
    if act not in HF_TO_ACTIVATION:
        raise ValueError(f"{path}: activation_function={act!r} is not supported; known: {sorted(HF_TO_ACTIVATION)}")
    n_embd = hf["n_embd"]
    unsupported = {
        "n_inner": (hf.get("n_inner") not in (None, 4 * n_embd), "a feed-forward width other than 4·n_embd"),
        "layer_norm_epsilon": (abs(hf.get("layer_norm_epsilon", 1e-5) - 1e-5) > 1e-12, "LayerNorm eps other than 1e-5"),
        "scale_attn_weights": (hf.get("scale_attn_weights", True) is not True, "unscaled attention"),
        "scale_attn_by_inverse_layer_idx": (bool(hf.get("scale_attn_by_inverse_layer_idx")), "per-layer scaling"),
    }
    bad = [f"{k} ({why})" for k, (is_bad, why) in unsupported.items() if is_bad]
    if bad:
        raise ValueError(f"{path}: this GPT-2 variant is not supported by minillm: {', '.join(bad)}")
    return GPTConfig(
        vocab_size=hf["vocab_size"],
        block_size=hf["n_positions"],
        n_layer=hf["n_layer"],
        n_head=hf["n_head"],
        n_embd=n_embd,
        dropout=hf.get("resid_pdrop", 0.0),
        bias=True,
        activation=HF_TO_ACTIVATION[act],
        pos_embedding="learned",
        tie_embeddings=hf.get("tie_word_embeddings", True),
    )


def _read_weights(path: Path) -> dict[str, Tensor]:
    from safetensors.torch import load_file

    single, index, legacy = (
        path / "model.safetensors",
        path / "model.safetensors.index.json",
        path / "pytorch_model.bin",
    )
    try:
        if single.is_file():
            return load_file(single)
        if index.is_file():  # sharded: a JSON map from tensor name to shard file
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
            return {k: v for shard in shards for k, v in load_file(path / shard).items()}
        if legacy.is_file():  # weights_only: a pickle may carry code; this refuses anything but tensors
            return torch.load(legacy, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 — every reader's error means the same thing to the user
        raise ValueError(f"cannot read the weights in {path}: {type(err).__name__}: {err}") from None
    raise FileNotFoundError(f"{path} has no model.safetensors, model.safetensors.index.json or pytorch_model.bin")


def _hf_names(n_layer: int, tied: bool) -> set[str]:
    names = {"wte.weight", "wpe.weight", "ln_f.weight", "ln_f.bias"}
    for i in range(n_layer):
        for part in ("ln_1", "ln_2", "attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"):
            names |= {f"h.{i}.{part}.weight", f"h.{i}.{part}.bias"}
    return names if tied else names | {"lm_head.weight"}


def load_gpt2_dir(path: str | Path):
    """A minillm ``GPT`` with the weights of the GPT-2 checkpoint in ``path`` (see the module docstring)."""
    from minillm.models.gpt import GPT

    path = Path(path)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path} is not a Hugging Face model directory (no config.json)")
    hf = json.loads((path / "config.json").read_text())
    if hf.get("model_type", "gpt2") != "gpt2":
        raise ValueError(f"{path} holds a {hf.get('model_type')!r} model; only GPT-2 ('gpt2') is supported")
    config = _config_from_hf(hf, path)
    raw = _read_weights(path)
    sd = {}
    for key, value in raw.items():  # GPT2LMHeadModel prefixes "transformer.", GPT2Model does not
        if not key.endswith(IGNORED_SUFFIXES):
            sd[key.removeprefix("transformer.")] = value
    if config.tie_embeddings:
        sd.pop("lm_head.weight", None)  # the same matrix as wte
    expected = _hf_names(config.n_layer, config.tie_embeddings)
    missing, unexpected = sorted(expected - set(sd)), sorted(set(sd) - expected)
    if missing or unexpected:
        raise ValueError(
            f"{path}: the weights do not match a {config.n_layer}-layer GPT-2: "
            f"missing keys {missing}, unexpected keys {unexpected}"
        )

    model = GPT(config)
    ours = {}
    d = config.n_embd
    for i in range(config.n_layer):
        h, b = f"h.{i}.", f"blocks.{i}."
        q, k, v = sd[h + "attn.c_attn.weight"].t().split(d, dim=0)  # (3d, d) → three (d, d)
        qb, kb, vb = sd[h + "attn.c_attn.bias"].split(d)
        ours |= {
            b + "attn.q_proj.weight": q,
            b + "attn.k_proj.weight": k,
            b + "attn.v_proj.weight": v,
            b + "attn.q_proj.bias": qb,
            b + "attn.k_proj.bias": kb,
            b + "attn.v_proj.bias": vb,
        }
        for hf_name, name in (("attn.c_proj", "attn.out_proj"), ("mlp.c_fc", "mlp.fc1"), ("mlp.c_proj", "mlp.fc2")):
            ours[b + name + ".weight"] = sd[h + hf_name + ".weight"].t()
            ours[b + name + ".bias"] = sd[h + hf_name + ".bias"]
        for hf_name, name in (("ln_1", "attn_block.norm"), ("ln_2", "mlp_block.norm")):
            ours[b + name + ".weight"], ours[b + name + ".bias"] = (
                sd[h + hf_name + ".weight"],
                sd[h + hf_name + ".bias"],
            )
    ours |= {
        "wte.embedding.weight": sd["wte.weight"],
        "wpe.embedding.weight": sd["wpe.weight"],
        "ln_f.weight": sd["ln_f.weight"],
        "ln_f.bias": sd["ln_f.bias"],
    }
    ours["lm_head.weight"] = sd.get("lm_head.weight", sd["wte.weight"])
    target = model.state_dict()
    for name, value in ours.items():
        if value.shape != target[name].shape:
            raise ValueError(
                f"{path}: {name} has shape {tuple(value.shape)}, config.json implies {tuple(target[name].shape)}"
            )
    model.load_state_dict({k: v.float() for k, v in ours.items()}, strict=True)
    return model


def save_gpt2_dir(model, path: str | Path) -> Path:
    """Write ``model`` as config.json + model.safetensors that ``transformers.GPT2LMHeadModel`` opens."""
    from safetensors.torch import save_file

    from minillm.fileio import atomic_write

    c = model.config
    problems = []
    if c.pos_embedding != "learned":
        problems.append(f"pos_embedding={c.pos_embedding!r} (GPT-2 has learned positions)")
    if not c.bias:
        problems.append("bias=False (GPT-2 has biases)")
    if c.activation not in ACTIVATION_TO_HF:
        problems.append(f"activation={c.activation!r}")
    if problems:
        raise ValueError("the GPT-2 layout cannot express this model: " + "; ".join(problems))
    sd = {k: v.detach().float().cpu() for k, v in model.state_dict().items()}
    out = {
        "transformer.wte.weight": sd["wte.embedding.weight"],
        "transformer.wpe.weight": sd["wpe.embedding.weight"],
        "transformer.ln_f.weight": sd["ln_f.weight"],
        "transformer.ln_f.bias": sd["ln_f.bias"],
    }
    for i in range(c.n_layer):
        h, b = f"transformer.h.{i}.", f"blocks.{i}."
        out[h + "attn.c_attn.weight"] = torch.cat([sd[b + f"attn.{x}_proj.weight"] for x in "qkv"]).t()  # (d, 3d)
        out[h + "attn.c_attn.bias"] = torch.cat([sd[b + f"attn.{x}_proj.bias"] for x in "qkv"])
        for hf_name, name in (("attn.c_proj", "attn.out_proj"), ("mlp.c_fc", "mlp.fc1"), ("mlp.c_proj", "mlp.fc2")):
            out[h + hf_name + ".weight"] = sd[b + name + ".weight"].t()
            out[h + hf_name + ".bias"] = sd[b + name + ".bias"]
        for hf_name, name in (("ln_1", "attn_block.norm"), ("ln_2", "mlp_block.norm")):
            out[h + hf_name + ".weight"], out[h + hf_name + ".bias"] = sd[b + name + ".weight"], sd[b + name + ".bias"]
    if not c.tie_embeddings:
        out["lm_head.weight"] = sd["lm_head.weight"]
    hf_config = {
        "model_type": "gpt2",
        "architectures": ["GPT2LMHeadModel"],
        "vocab_size": c.vocab_size,
        "n_positions": c.block_size,
        "n_ctx": c.block_size,
        "n_embd": c.n_embd,
        "n_layer": c.n_layer,
        "n_head": c.n_head,
        "n_inner": None,
        "activation_function": ACTIVATION_TO_HF[c.activation],
        "resid_pdrop": c.dropout,
        "embd_pdrop": c.dropout,
        "attn_pdrop": c.dropout,
        "layer_norm_epsilon": 1e-5,
        "tie_word_embeddings": c.tie_embeddings,
    }
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.contiguous() for k, v in out.items()}
    atomic_write(path / "model.safetensors", lambda tmp: save_file(tensors, str(tmp), metadata={"format": "pt"}))
    atomic_write(path / "config.json", lambda tmp: tmp.write_text(json.dumps(hf_config, indent=2)))
    return path
