"""Llama.from_pretrained / save_pretrained against transformers for the Llama family (hf_llama.py):
Llama, Qwen2, Qwen3, Qwen3-MoE and Mixtral. Small random transformers models with every tensor
perturbed, saved to a temp dir by transformers itself → equal logits (fp32, 1e-4) and the same 20
greedy tokens; both config.json layouts; sharded weights; minillm → directory → transformers;
every refusal names what it refuses. Skipped without transformers."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from helpers.decoders import gpt2_like_llama_config

from minillm.decoding.generation import generate
from minillm.models import GPT, Llama, LlamaConfig
from minillm.models.families import load_model
from minillm.models.hf_llama import FAMILIES, config_from_hf, config_to_hf, weight_map

transformers = pytest.importorskip("transformers")

VOCAB, T = 61, 16
COMMON = {
    "vocab_size": VOCAB,
    "hidden_size": 64,
    "intermediate_size": 96,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,  # grouped-query: 2 query heads per K/V head
    "max_position_embeddings": 64,
    "rms_norm_eps": 1e-6,
    "rope_parameters": {"rope_type": "default", "rope_theta": 5000.0},
}
MOE = {"num_experts_per_tok": 2, "router_aux_loss_coef": 0.01}
CASES = {  # name: (transformers class name, config class name, config overrides)
    "llama-tied": ("LlamaForCausalLM", "LlamaConfig", {"tie_word_embeddings": True}),
    "llama-biases": ("LlamaForCausalLM", "LlamaConfig", {"attention_bias": True, "mlp_bias": True}),
    "qwen2": ("Qwen2ForCausalLM", "Qwen2Config", {}),
    "qwen2-window": (
        "Qwen2ForCausalLM",
        "Qwen2Config",
        {"use_sliding_window": True, "sliding_window": 5, "max_window_layers": 0},
    ),
    "qwen3-tied": ("Qwen3ForCausalLM", "Qwen3Config", {"head_dim": 24, "tie_word_embeddings": True}),  # 24 ≠ 64/4
    "qwen3_moe": (
        "Qwen3MoeForCausalLM",
        "Qwen3MoeConfig",
        {**MOE, "head_dim": 8, "num_experts": 4, "moe_intermediate_size": 32, "norm_topk_prob": False},
    ),
    "mixtral": ("MixtralForCausalLM", "MixtralConfig", {**MOE, "num_local_experts": 4}),
}


def hf_model(case: str, seed: int = 0, **overrides):
    """A small transformers model of ``case`` with every tensor perturbed (norms ≠ 1, biases ≠ 0) and
    large enough weights that attention and the output are sharp: a 1e-4 error or a wrong argmax shows."""
    cls, config_cls, extra = CASES[case]
    torch.manual_seed(seed)
    config = getattr(transformers, config_cls)(**COMMON, **extra, **overrides, attn_implementation="eager")
    model = getattr(transformers, cls)(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return model


def tokens(batch=2, length=T):
    return torch.randint(0, VOCAB, (batch, length), generator=torch.Generator().manual_seed(1))


@torch.no_grad()
def greedy_transformers(model, prompt, n):
    """The argmax continuation, recomputed from scratch each step (no cache, no generation config)."""
    for _ in range(n):
        prompt = torch.cat([prompt, model(prompt).logits[:, -1:].argmax(-1)], dim=1)
    return prompt


@pytest.mark.parametrize("case", CASES)
def test_from_pretrained_matches_transformers(tmp_path, case):
    ref = hf_model(case)
    ref.save_pretrained(tmp_path)
    ours = Llama.from_pretrained(tmp_path).eval()
    assert type(ours) is Llama and type(load_model(tmp_path)) is Llama
    with pytest.raises(ValueError, match=r"holds a Llama model, not a GPT; use Llama.from_pretrained or minillm.load"):
        GPT.from_pretrained(tmp_path)
    x = tokens()
    with torch.no_grad():
        want = ref(x).logits
        assert want.std() > 1.0  # sharp logits: 1e-4 is a tight tolerance
        torch.testing.assert_close(ours(x)[0], want, atol=1e-4, rtol=0)
    assert ours.num_parameters() == sum(p.numel() for p in ref.parameters())
    prompt = x[:, :4]
    assert torch.equal(generate(ours, prompt, 20, temperature=0.0), greedy_transformers(ref, prompt, 20))


def released_layout(config: dict) -> dict:
    """config.json as released Llama / Qwen2.5 directories have it: top-level rope_theta and
    torch_dtype, no rope_parameters or layer_types; Qwen's window switched off but still sized."""
    old = {k: v for k, v in config.items() if k not in ("rope_parameters", "dtype", "layer_types")}
    old |= {"rope_theta": config["rope_parameters"]["rope_theta"], "torch_dtype": "bfloat16"}
    if config["model_type"] in ("qwen2", "qwen3"):
        old |= {"use_sliding_window": False, "sliding_window": 32768, "max_window_layers": 21}
    return old


@pytest.mark.parametrize("case", ["llama-tied", "qwen2", "qwen3-tied", "qwen3_moe", "mixtral"])
def test_both_config_layouts_read_the_same(tmp_path, case):
    hf_model(case).save_pretrained(tmp_path)
    new = json.loads((tmp_path / "config.json").read_text())
    assert "rope_parameters" in new and "dtype" in new and "rope_theta" not in new  # what transformers 5 writes
    fields = config_from_hf(new)
    assert fields == config_from_hf(released_layout(new))
    assert fields["rope_theta"] == 5000.0 and fields["n_kv_head"] == 2


def test_sharded_weights_are_read(tmp_path):
    ref = hf_model("qwen3-tied")
    ref.save_pretrained(tmp_path, max_shard_size="40KB")
    assert (tmp_path / "model.safetensors.index.json").is_file() and not (tmp_path / "model.safetensors").exists()
    x = tokens()
    with torch.no_grad():
        torch.testing.assert_close(Llama.from_pretrained(tmp_path)(x)[0], ref(x).logits, atol=1e-4, rtol=0)


SHAPES = {  # minillm configs shaped like each family, and the layout save_pretrained must pick
    "llama": {"tie_embeddings": True},
    "qwen2": {"qkv_bias": True, "window": 5},
    "qwen3": {"qk_norm": True, "head_dim": 24},
    "qwen3_moe": {"qk_norm": True, "head_dim": 8, "n_experts": 4, "expert_d_ff": 32},
    "mixtral": {"n_experts": 4, "expert_top_k": 2},
}


@pytest.mark.parametrize("family", SHAPES)
def test_save_pretrained_opens_in_transformers(tmp_path, family):
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=VOCAB, block_size=64, n_layer=2, n_head=4, n_kv_head=2, n_embd=64, d_ff=96, bias=False,
        norm="rmsnorm", activation="swiglu", rope_theta=5000.0, norm_eps=1e-6,
        **{"tie_embeddings": False, **SHAPES[family]},
    )  # fmt: skip
    ours = Llama(config).eval()
    with torch.no_grad():
        for p in ours.parameters():
            p.add_(0.3 * torch.randn_like(p))
    ours.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["model_type"] == family
    ref = transformers.AutoModelForCausalLM.from_pretrained(tmp_path, attn_implementation="eager").eval()
    assert type(ref).__name__ == FAMILIES[family].architecture
    x = tokens()
    with torch.no_grad():
        torch.testing.assert_close(ref(x).logits, ours(x)[0], atol=1e-4, rtol=0)
    again = Llama.from_pretrained(tmp_path)  # and back: the same config and exactly the same weights
    assert type(again) is Llama and again.config == config
    assert list(again.state_dict()) == list(ours.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(ours.state_dict().values(), again.state_dict().values()))


@pytest.mark.parametrize("case", CASES)
def test_one_key_map_covers_every_tensor_once(tmp_path, case):
    hf_model(case).save_pretrained(tmp_path)
    hf = json.loads((tmp_path / "config.json").read_text())
    config = config_from_hf(hf)
    rows = weight_map(hf["model_type"], config)
    ours = sorted(name for _, name in rows)
    tied = {"lm_head.weight"} if config["tie_embeddings"] else set()
    assert ours == sorted(set(Llama(LlamaConfig(**config)).state_dict()) - tied)  # each minillm tensor once
    assert {name for name, _ in rows} == set(load_file(tmp_path / "model.safetensors")) - tied


def write_config(path, **changes):
    config = json.loads((path / "config.json").read_text())
    config.update(changes)
    (path / "config.json").write_text(json.dumps(config))
    return config


@pytest.mark.parametrize("kind", ["llama3", "yarn", "linear", "dynamic"])
@pytest.mark.parametrize("key", ["rope_parameters", "rope_scaling"])
def test_rope_scaling_is_refused_by_name(tmp_path, kind, key):
    hf_model("llama-tied").save_pretrained(tmp_path)
    write_config(tmp_path, **{key: {"rope_type": kind, "factor": 8.0, "rope_theta": 5000.0}})
    with pytest.raises(ValueError, match=f"{key} asks for rope_type='{kind}'; minillm implements only plain RoPE"):
        Llama.from_pretrained(tmp_path)


REFUSED = {  # config.json changes minillm cannot run, and what the error must say
    "activation": ("llama-tied", {"hidden_act": "gelu"}, "hidden_act='gelu' is not supported"),
    "o_proj bias only": ("llama-tied", {"attention_bias": True}, "attention_bias=True, mlp_bias=False"),
    "qwen3 biases": ("qwen3-tied", {"attention_bias": True}, "attention_bias=True, mlp_bias=False"),
    "per-layer window": (
        "qwen2",
        {"use_sliding_window": True, "sliding_window": 4, "max_window_layers": 1, "layer_types": None},
        r"sliding windows on some layers only \(layer_types=\['full_attention', 'sliding_attention'\]\)",
    ),
    "dense layers between experts": ("qwen3_moe", {"mlp_only_layers": [1]}, r"mlp_only_layers=\[1\]"),
    "partial rotary": ("qwen2", {"rope_scaling": {"partial_rotary_factor": 0.5}}, "partial_rotary_factor=0.5 is not"),
    "partial rotary, top level": ("qwen2", {"partial_rotary_factor": 0.5}, "partial_rotary_factor=0.5 is not"),
    "unknown family": ("qwen2", {"model_type": "bloom"}, "model_type='bloom' is not supported; minillm reads gpt2, "),
    "size as a string": ("qwen2", {"hidden_size": "64"}, r"config.json hidden_size='64' is not a positive integer"),
    "missing size": ("qwen2", {"vocab_size": None}, "config.json lacks 'vocab_size'"),
    "rope not an object": ("qwen2", {"rope_parameters": 5}, "config.json rope_parameters must be an object"),
    "heads": ("qwen2", {"num_key_value_heads": 3}, "config.json: n_head=4 is not divisible by n_kv_head=3"),
}


@pytest.mark.parametrize("name", REFUSED)
def test_unsupported_configs_are_refused_by_name(tmp_path, name):
    case, changes, message = REFUSED[name]
    hf_model(case).save_pretrained(tmp_path)
    write_config(tmp_path, **changes)
    with pytest.raises(ValueError, match=message) as err:
        Llama.from_pretrained(tmp_path)
    assert str(tmp_path) in str(err.value)  # the error names the directory it read


def test_config_json_that_is_not_json_is_named(tmp_path):
    hf_model("qwen2").save_pretrained(tmp_path)
    (tmp_path / "config.json").write_text('{"model_type": "qwen2",')
    with pytest.raises(ValueError, match=r"config.json is not valid JSON"):
        Llama.from_pretrained(tmp_path)


def test_missing_and_unexpected_keys_are_listed(tmp_path):
    hf_model("qwen2").save_pretrained(tmp_path)
    weights = load_file(tmp_path / "model.safetensors")
    del weights["model.layers.1.self_attn.k_proj.bias"]
    weights["model.layers.1.adapter.weight"] = torch.zeros(2)
    save_file(weights, tmp_path / "model.safetensors")
    with pytest.raises(
        ValueError,
        match=r"2-layer qwen2 model: missing keys \['model.layers.1.self_attn.k_proj.bias'\], "
        r"unexpected keys \['model.layers.1.adapter.weight'\]",
    ):
        Llama.from_pretrained(tmp_path)


def test_shapes_that_contradict_config_json_are_named(tmp_path):
    hf_model("qwen2").save_pretrained(tmp_path)
    write_config(tmp_path, intermediate_size=48)
    with pytest.raises(
        ValueError, match=r"config.json: blocks.0.mlp.fc1.weight has shape \(96, 64\), the config implies \(48, 64\)"
    ):
        Llama.from_pretrained(tmp_path)


def test_models_no_layout_expresses_are_refused_before_writing(tmp_path):
    rope = {"vocab_size": 8, "block_size": 8, "n_layer": 1, "n_head": 2, "n_embd": 8}  # GPT-2-like, rotary positions
    swiglu = dict(rope, norm="rmsnorm", activation="swiglu", bias=False)
    for fields, message in [
        (rope, r"norm='layernorm' \(they use 'rmsnorm'\); activation='gelu_tanh'"),
        ({**swiglu, "window": 4}, "window=4"),  # Llama has no sliding window
        ({**swiglu, "n_experts": 2, "expert_norm_topk": False}, "expert_norm_topk=False"),  # Mixtral renormalises
        ({**swiglu, "n_experts": 2, "n_shared_experts": 1}, "n_shared_experts=1"),
    ]:
        with pytest.raises(ValueError, match="cannot express this model in the Hugging Face .*" + message):
            config_to_hf(gpt2_like_llama_config(**fields).to_dict())
    with pytest.raises(ValueError, match="n_shared_experts=1"):
        Llama(gpt2_like_llama_config(**swiglu, n_experts=2, n_shared_experts=1)).save_pretrained(tmp_path / "out")
    assert not (tmp_path / "out").exists()


QWEN = {"vocab_size": 151936, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "torch_dtype": "bfloat16"}
RELEASED = {  # config.json of released models (Hugging Face hub, abridged to the keys that matter) → preset
    "qwen2.5-0.5b": {
        **QWEN, "model_type": "qwen2", "hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
        "num_attention_heads": 14, "num_key_value_heads": 2, "max_position_embeddings": 32768,
        "tie_word_embeddings": True, "use_sliding_window": False, "sliding_window": 32768, "max_window_layers": 21,
    },
    "qwen3-0.6b": {
        **QWEN, "model_type": "qwen3", "hidden_size": 1024, "intermediate_size": 3072, "num_hidden_layers": 28,
        "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 128, "max_position_embeddings": 40960,
        "tie_word_embeddings": True, "rope_scaling": None, "rope_theta": 1000000, "sliding_window": None,
    },
    "qwen3-30b-a3b": {
        **QWEN, "model_type": "qwen3_moe", "hidden_size": 2048, "intermediate_size": 6144, "num_hidden_layers": 48,
        "num_attention_heads": 32, "num_key_value_heads": 4, "head_dim": 128, "max_position_embeddings": 40960,
        "tie_word_embeddings": False, "num_experts": 128, "num_experts_per_tok": 8, "moe_intermediate_size": 768,
        "norm_topk_prob": True, "decoder_sparse_step": 1, "mlp_only_layers": [], "router_aux_loss_coef": 0.001,
    },
    "mixtral-8x7b": {
        "model_type": "mixtral", "vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 14336,
        "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8, "num_local_experts": 8,
        "num_experts_per_tok": 2, "max_position_embeddings": 32768, "rms_norm_eps": 1e-5, "rope_theta": 1e6,
        "router_aux_loss_coef": 0.02, "sliding_window": None, "tie_word_embeddings": False,
    },
}  # fmt: skip


@pytest.mark.parametrize("name", RELEASED)
def test_released_config_files_give_the_presets(name):
    assert LlamaConfig(**config_from_hf(RELEASED[name])) == LlamaConfig.from_name(name)
