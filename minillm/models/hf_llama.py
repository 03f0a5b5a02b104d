"""Read and write Llama-family weights (Llama, Qwen2, Qwen3, Qwen3-MoE, Mixtral) in the Hugging Face layout.

Report §1.2 (pre-trained models you already have) and §3.2 (what came after GPT-2). These
families share one skeleton — RMSNorm, RoPE, SwiGLU, grouped-query attention, untransposed
``nn.Linear`` weights — and differ in a few switches, which ``config.json``'s ``model_type``
names: Qwen2 adds q/k/v biases, Qwen3 QK-norm and a free head_dim, Qwen3-MoE and Mixtral
mixture-of-experts feed-forwards. So one key map (``weight_map``), walked by loading and by
saving, renames every tensor:

    model.embed_tokens / model.norm / lm_head     = wte / ln_f / lm_head
    model.layers.{i}.self_attn.{q,k,v}_proj       = blocks.{i}.attn.{q,k,v}_proj
    model.layers.{i}.self_attn.o_proj             = blocks.{i}.attn.out_proj
    model.layers.{i}.self_attn.{q,k}_norm         = blocks.{i}.attn.{q,k}_norm          (Qwen3)
    model.layers.{i}.input_layernorm              = blocks.{i}.ln_1
    model.layers.{i}.post_attention_layernorm     = blocks.{i}.ln_2
    model.layers.{i}.mlp.{gate,up,down}_proj      = blocks.{i}.mlp.{fc1,gate,fc2}       silu(fc1 x) ⊙ gate x
    model.layers.{i}.mlp.gate                     = blocks.{i}.mlp.router               (Qwen3-MoE)
    model.layers.{i}.mlp.experts.{e}.*_proj       = blocks.{i}.mlp.experts.{e}.*        (Qwen3-MoE)
    model.layers.{i}.block_sparse_moe.experts.{e}.w1/w3/w2 = ….experts.{e}.fc1/gate/fc2 (Mixtral)

``config_from_hf`` reads both config layouts found in the wild: top-level ``rope_theta`` and
``torch_dtype`` (released Llama and Qwen2.5 directories) and transformers 5's
``rope_parameters`` and ``dtype``. A setting that would change the math and that minillm does
not implement (RoPE scaling such as llama3 or yarn, per-layer sliding windows, an activation
other than SiLU, biases minillm cannot place) is refused by name, never ignored. ``config_to_hf``
picks the layout a LlamaConfig (models/llama.py) is shaped like.
minillm.models.hf reads and writes the directories. Nothing is downloaded.
Docs: docs/beyond.md#loading-llama-and-qwen-weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["FAMILIES", "IGNORED_SUFFIXES", "config_from_hf", "config_to_hf", "family_of", "weight_map"]


@dataclass(frozen=True)
class Family:
    """What one ``model_type`` switches on; ``defaults`` are transformers' for keys a config.json may omit."""

    architecture: str
    qk_norm: bool = False
    moe: str = ""  # the experts' module ("mlp", "block_sparse_moe"); "" for a dense feed-forward
    expert_names: tuple[str, str, str] = ("gate_proj", "up_proj", "down_proj")  # = fc1, gate, fc2
    window: str = "none"  # "none", "layers" (Qwen2/3: per layer_types) or "all" (one window, every layer)
    defaults: dict = field(default_factory=dict)


_SHARED = {"rms_norm_eps": 1e-6, "rope_theta": 10000.0, "tie_word_embeddings": False, "max_position_embeddings": 32768}
FAMILIES = {
    "llama": Family("LlamaForCausalLM", defaults={**_SHARED, "max_position_embeddings": 2048}),
    "qwen2": Family("Qwen2ForCausalLM", window="layers", defaults={**_SHARED, "num_key_value_heads": 32}),
    "qwen3": Family(
        "Qwen3ForCausalLM",
        qk_norm=True,
        window="layers",
        defaults={**_SHARED, "num_key_value_heads": 32, "head_dim": 128},
    ),
    "qwen3_moe": Family(
        "Qwen3MoeForCausalLM",
        qk_norm=True,
        moe="mlp",
        window="all",
        defaults={**_SHARED, "num_key_value_heads": 4, "num_experts": 128, "num_experts_per_tok": 8}
        | {"moe_intermediate_size": 768, "norm_topk_prob": False, "router_aux_loss_coef": 0.001},
    ),
    "mixtral": Family(
        "MixtralForCausalLM",
        moe="block_sparse_moe",
        expert_names=("w1", "w3", "w2"),
        window="all",
        defaults={**_SHARED, "rms_norm_eps": 1e-5, "rope_theta": 1e6, "max_position_embeddings": 131072}
        | {"num_key_value_heads": 8, "num_experts": 8, "num_experts_per_tok": 2, "router_aux_loss_coef": 0.001},
    ),
}
# (Hugging Face config key, LlamaConfig field, type): read one way, written the other; a key that is
# absent takes the family's default (transformers' own), and one without a default is required.
CONFIG_KEYS = (
    ("vocab_size", "vocab_size", int),
    ("hidden_size", "n_embd", int),
    ("num_hidden_layers", "n_layer", int),
    ("num_attention_heads", "n_head", int),
    ("intermediate_size", "d_ff", int),
    ("num_key_value_heads", "n_kv_head", int),
    ("max_position_embeddings", "block_size", int),
    ("rms_norm_eps", "norm_eps", float),
    ("tie_word_embeddings", "tie_embeddings", bool),
)
EXPERT_KEYS = (
    ("num_experts", "n_experts", int),  # Mixtral (and transformers 5's Qwen3-MoE) say num_local_experts
    ("num_experts_per_tok", "expert_top_k", int),
    ("router_aux_loss_coef", "aux_loss_coef", float),
)
_MODERN = {"norm": "rmsnorm", "activation": "swiglu", "dropout": 0.0}
IGNORED_SUFFIXES = (".rotary_emb.inv_freq",)  # a RoPE table some old checkpoints store; recomputed, not a weight


def _get(hf: dict, key: str, kind: type, family: Family, source) -> object:
    """``hf[key]`` (or the family's default), checked to be a ``kind``: positive for numbers."""
    value = hf[key] if key in hf else family.defaults.get(key)
    if value is None and key not in ("num_key_value_heads", "head_dim"):
        raise ValueError(f"{source}: config.json lacks {key!r}")
    number = isinstance(value, (int, float) if kind is float else int) and not isinstance(value, bool)
    ok = value is None or (isinstance(value, bool) if kind is bool else number and value >= (kind is int))
    if not ok:  # LlamaConfig refuses the values it cannot use (e.g. rms_norm_eps=0) by its own rules
        what = {bool: "true or false", int: "a positive integer", float: "a number >= 0"}[kind]
        raise ValueError(f"{source}: config.json {key}={value!r} is not {what}")
    return value


def _rope_theta(hf: dict, family: Family, source) -> float:
    """θ from ``rope_parameters`` (transformers 5) or top-level ``rope_theta``; scaled RoPE is refused."""
    for key in ("rope_parameters", "rope_scaling", None):
        rope = hf if key is None else hf.get(key)
        if rope is None:
            continue
        if not isinstance(rope, dict):
            raise ValueError(f"{source}: config.json {key} must be an object, got {rope!r}")  # noqa: TRY004 (a user file)
        kind = rope.get("rope_type", rope.get("type", "default")) if key else "default"
        if kind != "default":
            raise ValueError(
                f"{source}: {key} asks for rope_type={kind!r}; minillm implements only plain RoPE ('default'), "
                "not the llama3, yarn, linear, dynamic or longrope frequency scalings"
            )
        if rope.get("partial_rotary_factor", 1.0) != 1.0:  # RoPE on only part of each head
            raise ValueError(f"{source}: partial_rotary_factor={rope['partial_rotary_factor']} is not supported")
    theta = (hf.get("rope_parameters") or {}).get("rope_theta", hf.get("rope_theta", family.defaults["rope_theta"]))
    return _get({"rope_theta": theta}, "rope_theta", float, family, source)


def _window(hf: dict, family: Family, n_layer: int, source) -> int | None:
    """One sliding window for every layer, or None; a per-layer mix is refused."""
    on = hf.get("sliding_window") is not None and hf.get("use_sliding_window", family.moe == "block_sparse_moe")
    if family.window == "none" or not on:
        return None
    width = _get(hf, "sliding_window", int, family, source)
    if family.window == "layers":  # Qwen2/3: layers from max_window_layers on slide (transformers' rule)
        start = hf.get("max_window_layers", 28)
        if not isinstance(start, int) or isinstance(start, bool) or start < 0:
            raise ValueError(f"{source}: config.json max_window_layers={start!r} is not an integer >= 0")
        kinds = hf.get("layer_types") or [
            "sliding_attention" if i >= start else "full_attention" for i in range(n_layer)
        ]
        if set(kinds) != {"sliding_attention"}:
            if set(kinds) == {"full_attention"}:
                return None
            raise ValueError(
                f"{source}: sliding windows on some layers only (layer_types={kinds}); minillm uses one window "
                "for every layer"
            )
    return width


def config_from_hf(hf: dict, source: str | Path = "config.json") -> dict:
    """LlamaConfig fields from a Llama-family config.json; settings minillm cannot run are refused by name."""
    model_type = hf.get("model_type")
    if model_type not in FAMILIES:
        raise ValueError(
            f"{source}: model_type={model_type!r} is not supported; minillm reads gpt2, {', '.join(FAMILIES)}"
        )
    family = FAMILIES[model_type]
    fields = {ours: _get(hf, key, kind, family, source) for key, ours, kind in CONFIG_KEYS}
    fields["n_kv_head"] = fields["n_kv_head"] or fields["n_head"]
    fields["head_dim"] = _get(hf, "head_dim", int, family, source)  # None: n_embd // n_head
    fields |= {"rope_theta": float(_rope_theta(hf, family, source)), "qk_norm": family.qk_norm}
    fields["window"] = _window(hf, family, fields["n_layer"], source)
    if hf.get("hidden_act", "silu") not in ("silu", "swish"):
        raise ValueError(f"{source}: hidden_act={hf['hidden_act']!r} is not supported; these families use 'silu'")
    attention_bias, mlp_bias = bool(hf.get("attention_bias", False)), bool(hf.get("mlp_bias", False))
    if model_type == "qwen2":  # Qwen2: biases on q, k, v and nowhere else, fixed by the architecture
        fields |= {"bias": False, "qkv_bias": True}
    elif attention_bias != mlp_bias or (attention_bias and model_type != "llama"):
        raise ValueError(
            f"{source}: attention_bias={attention_bias}, mlp_bias={mlp_bias} is not supported: minillm's `bias` "
            "covers the output projection and the feed-forward together (Llama with both true works)"
        )
    else:
        fields |= {"bias": attention_bias, "qkv_bias": attention_bias}
    if family.moe:
        n = hf.get("num_experts", hf.get("num_local_experts"))
        moe = {**hf, "num_experts": n} if n is not None else hf
        fields |= {ours: _get(moe, key, kind, family, source) for key, ours, kind in EXPERT_KEYS}
        if model_type == "qwen3_moe":
            fields["expert_d_ff"] = _get(hf, "moe_intermediate_size", int, family, source)
            fields["expert_norm_topk"] = _get(hf, "norm_topk_prob", bool, family, source)
            if hf.get("decoder_sparse_step", 1) != 1 or hf.get("mlp_only_layers"):
                raise ValueError(
                    f"{source}: decoder_sparse_step={hf.get('decoder_sparse_step')}, mlp_only_layers="
                    f"{hf.get('mlp_only_layers')}: dense layers between expert layers are not supported"
                )
        else:  # Mixtral: each expert is intermediate_size wide, gates always renormalised
            fields["expert_norm_topk"] = True
    return {**_MODERN, **fields, "tie_embeddings": bool(fields["tie_embeddings"])}


def family_of(config: dict) -> str:
    """The model_type a LlamaConfig's fields are shaped like."""
    if config["n_experts"]:
        return "qwen3_moe" if config["qk_norm"] else "mixtral"
    if config["qk_norm"]:
        return "qwen3"
    return "qwen2" if config["qkv_bias"] and not config["bias"] else "llama"


def config_to_hf(config: dict) -> dict:
    """The Hugging Face config.json for LlamaConfig fields, in the layout ``family_of`` picks; a model
    that layout cannot express is refused before anything is written."""
    model_type = family_of(config)
    c, family = config, FAMILIES[model_type]
    qkv_bias = c["bias"] if c["qkv_bias"] is None else c["qkv_bias"]
    problems = [f"{k}={c[k]!r} (they use {v!r})" for k, v in _MODERN.items() if k != "dropout" and c[k] != v]
    problems += [f"n_shared_experts={c['n_shared_experts']}"] if c["n_shared_experts"] else []
    if model_type == "llama" and (c["window"] is not None or qkv_bias != c["bias"]):
        problems.append(f"window={c['window']}, qkv_bias={c['qkv_bias']} with bias={c['bias']} (Llama)")
    if model_type not in ("llama", "qwen2") and (c["bias"] or qkv_bias):
        problems.append(f"bias={c['bias']}, qkv_bias={c['qkv_bias']} ({model_type} has no biases)")
    if model_type == "mixtral" and (not c["expert_norm_topk"] or c["expert_d_ff"] not in (None, c["d_ff"])):
        problems.append(f"expert_norm_topk={c['expert_norm_topk']}, expert_d_ff={c['expert_d_ff']} (Mixtral)")
    if problems:
        raise ValueError(
            f"cannot express this model in the Hugging Face {model_type} layout: {'; '.join(problems)}"
        )
    theta = c["rope_theta"]
    hf = {
        "model_type": model_type,
        "architectures": [family.architecture],
        **{key: c[ours] for key, ours, _ in CONFIG_KEYS},
        "intermediate_size": c["d_ff"] or 4 * c["n_embd"],
        "num_key_value_heads": c["n_kv_head"] or c["n_head"],
        "head_dim": c["head_dim"] or c["n_embd"] // c["n_head"],
        "hidden_act": "silu",
        "rope_parameters": {"rope_type": "default", "rope_theta": theta},
        "rope_theta": theta,  # what transformers 4 reads; 5 reads rope_parameters
        "dtype": "float32",
    }
    if model_type == "llama":
        hf |= {"attention_bias": c["bias"], "mlp_bias": c["bias"]}
    elif model_type != "qwen2":
        hf["attention_bias"] = False
    if family.window != "none":
        hf |= {"sliding_window": c["window"], "use_sliding_window": c["window"] is not None, "max_window_layers": 0}
    if family.moe:
        hf |= {"num_experts_per_tok": c["expert_top_k"], "router_aux_loss_coef": c["aux_loss_coef"]}
        hf["num_experts" if model_type == "qwen3_moe" else "num_local_experts"] = c["n_experts"]
    if model_type == "qwen3_moe":
        hf |= {"moe_intermediate_size": c["expert_d_ff"] or hf["intermediate_size"], "decoder_sparse_step": 1}
        hf |= {"norm_topk_prob": c["expert_norm_topk"], "mlp_only_layers": []}
    return hf


def weight_map(model_type: str, config: dict) -> list[tuple[str, str]]:
    """(Hugging Face name, minillm name) for every tensor of a ``model_type`` model with LlamaConfig
    fields ``config``: the same tensor, renamed (these families store nn.Linear's (out, in) as is)."""
    family = FAMILIES[model_type]
    qkv_bias = config["bias"] if config["qkv_bias"] is None else config["qkv_bias"]
    rows = [("model.embed_tokens.weight", "wte.weight"), ("model.norm.weight", "ln_f.weight")]
    for i in range(config["n_layer"]):
        hf, ours = f"model.layers.{i}.", f"blocks.{i}."
        pairs = [(f"self_attn.{p}_proj", f"attn.{p}_proj") for p in "qkv"] + [("self_attn.o_proj", "attn.out_proj")]
        biases = [f"self_attn.{p}_proj" for p in "qkv" if qkv_bias] + (["self_attn.o_proj"] if config["bias"] else [])
        if family.qk_norm:
            pairs += [("self_attn.q_norm", "attn.q_norm"), ("self_attn.k_norm", "attn.k_norm")]
        pairs += [("input_layernorm", "ln_1"), ("post_attention_layernorm", "ln_2")]
        ffn = list(zip(("gate_proj", "up_proj", "down_proj"), ("fc1", "gate", "fc2")))
        if family.moe:
            pairs.append((f"{family.moe}.gate", "mlp.router"))
            for e in range(config["n_experts"]):
                ffn_e = zip(family.expert_names, ("fc1", "gate", "fc2"))
                pairs += [(f"{family.moe}.experts.{e}.{a}", f"mlp.experts.{e}.{b}") for a, b in ffn_e]
        else:
            pairs += [(f"mlp.{a}", f"mlp.{b}") for a, b in ffn]
            biases += [f"mlp.{a}" for a, _ in ffn if config["bias"]]
        rows += [(f"{hf}{a}.weight", f"{ours}{b}.weight") for a, b in pairs]
        rows += [(f"{hf}{a}.bias", f"{ours}{dict(pairs)[a]}.bias") for a in biases]
    if not config["tie_embeddings"]:  # a tied output layer is the embedding itself, stored once
        rows.append(("lm_head.weight", "lm_head.weight"))
    return rows
