"""GPT.from_pretrained / save_pretrained against transformers' GPT2LMHeadModel (skipped without it)."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from minillm.models import GPT, GPTConfig, Llama
from minillm.models.families import load_model
from minillm.models.hf_gpt2 import weight_map

transformers = pytest.importorskip("transformers")


def hf_model(seed=0, **kw):
    torch.manual_seed(seed)
    cfg = transformers.GPT2Config(
        vocab_size=61,
        n_positions=24,
        n_embd=32,
        n_layer=2,
        n_head=4,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        **kw,
    )
    model = transformers.GPT2LMHeadModel(cfg).eval()
    with torch.no_grad():  # random init has zero biases and unit LayerNorms; perturb so every weight matters
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


def tokens():
    return torch.randint(0, 61, (3, 24), generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("safe", [True, False], ids=["safetensors", "pytorch_model.bin"])
def test_from_pretrained_matches_transformers(tmp_path, safe):
    ref = hf_model()
    ref.save_pretrained(tmp_path, safe_serialization=safe)
    ours = GPT.from_pretrained(tmp_path).eval()
    assert type(ours) is GPT and type(load_model(tmp_path)) is GPT
    with pytest.raises(ValueError, match=r"holds a GPT model, not a Llama; use GPT.from_pretrained or minillm.load"):
        Llama.from_pretrained(tmp_path)
    x = tokens()
    with torch.no_grad():
        torch.testing.assert_close(ours(x)[0], ref(x).logits, atol=1e-4, rtol=0)
    assert ours.num_parameters() == sum(p.numel() for p in ref.parameters())


@pytest.mark.parametrize("activation", ["gelu_tanh", "gelu", "relu"])
def test_save_pretrained_opens_in_transformers(tmp_path, activation):
    torch.manual_seed(0)
    ours = GPT(GPTConfig(vocab_size=61, block_size=24, n_layer=2, n_head=4, n_embd=32, activation=activation)).eval()
    with torch.no_grad():  # non-zero biases, so the activation's negative side matters
        for p in ours.parameters():
            p.add_(0.05 * torch.randn_like(p))
    assert ours.lm_head.weight is ours.wte.weight  # GPT-2 ties its output layer to wte
    ours.save_pretrained(tmp_path)
    ref = transformers.GPT2LMHeadModel.from_pretrained(tmp_path).eval()
    x = tokens()
    with torch.no_grad():
        torch.testing.assert_close(ref(x).logits, ours(x)[0], atol=1e-4, rtol=0)
    assert ref.config.tie_word_embeddings is True
    assert ref.lm_head.weight.data_ptr() == ref.transformer.wte.weight.data_ptr()
    again = GPT.from_pretrained(tmp_path)  # and back: the same config, exactly the same weights
    assert again.config == ours.config
    assert all(torch.equal(a, b) for a, b in zip(ours.state_dict().values(), again.state_dict().values()))
    ref.save_pretrained(tmp_path / "by-transformers")  # and transformers' own file opens here
    with torch.no_grad():
        torch.testing.assert_close(GPT.from_pretrained(tmp_path / "by-transformers")(x)[0], ours(x)[0])


def test_one_key_map_covers_every_tensor_once():
    rows = weight_map(n_layer=2)  # one minillm tensor per Hugging Face tensor (c_attn is qkv_proj)
    ours = [name for _, name, _ in rows]
    model = GPT(GPTConfig(vocab_size=61, block_size=24, n_layer=2, n_head=4, n_embd=32))
    assert sorted(ours) == sorted(set(model.state_dict()) - {"lm_head.weight"})  # tied: lm_head is wte
    hf_names = [name for name, _, _ in rows]
    ref = hf_model()
    assert sorted(hf_names) == sorted(set(ref.state_dict()) - {"lm_head.weight"})  # each once
    assert ("transformer.h.1.attn.c_attn.weight", "blocks.1.attn.qkv_proj.weight", True) in rows
    # transposed exactly where GPT-2 stores a Conv1D (in, out) weight
    conv1d = {f"transformer.{n}.weight" for n, m in ref.transformer.named_modules() if type(m).__name__ == "Conv1D"}
    assert {hf for hf, _, transposed in rows if transposed} == conv1d
    for hf, name, transposed in rows:  # and the shapes agree once transposed
        want = ref.state_dict()[hf].shape
        assert (model.state_dict()[name].t() if transposed else model.state_dict()[name]).shape == want, hf


@pytest.mark.parametrize(
    "kw, why",
    [
        ({"tie_word_embeddings": False}, r"tie_word_embeddings \(an output layer apart from wte\)"),
        ({"activation_function": "silu"}, r"activation_function \('silu'; known: \['gelu', 'gelu_new'"),
        ({"n_inner": 48}, r"n_inner \(a feed-forward width other than 4·n_embd\)"),
    ],
    ids=["untied", "silu", "n_inner"],
)
def test_gpt2_variants_minillm_cannot_run_are_refused_by_name(tmp_path, kw, why):
    hf_model(**kw).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="this GPT-2 variant is not supported by minillm: " + why):
        GPT.from_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["model_type"] == "gpt2"


def test_missing_and_unexpected_keys_are_listed(tmp_path):
    hf_model().save_pretrained(tmp_path)
    weights = load_file(tmp_path / "model.safetensors")
    del weights["transformer.h.1.mlp.c_fc.bias"]
    weights["transformer.h.1.adapter.weight"] = torch.zeros(2)
    save_file(weights, tmp_path / "model.safetensors")
    with pytest.raises(
        ValueError,
        match=r"missing keys \['transformer.h.1.mlp.c_fc.bias'\], unexpected keys \['transformer.h.1.adapter.weight'\]",
    ):
        GPT.from_pretrained(tmp_path)


def test_bad_directories(tmp_path):
    with pytest.raises(ValueError, match="looked for state.json .* ckpt-\\* .* config.json"):
        GPT.from_pretrained(tmp_path)
    with pytest.raises(FileNotFoundError, match="no directory"):
        GPT.from_pretrained(tmp_path / "missing")
    hf_model().save_pretrained(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**cfg, "model_type": "bloom"}))
    with pytest.raises(ValueError, match="model_type='bloom' is not supported; minillm reads gpt2, llama"):
        GPT.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    data = (tmp_path / "model.safetensors").read_bytes()
    (tmp_path / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="cannot read the weights"):
        GPT.from_pretrained(tmp_path)
    tiny = dict(vocab_size=8, block_size=8, n_layer=1, n_head=2, n_embd=8)
    with pytest.raises(ValueError, match="cannot express this model: pos_embedding='sinusoidal'"):
        GPT(GPTConfig(**tiny, pos_embedding="sinusoidal")).save_pretrained(tmp_path / "out")
    with pytest.raises(ValueError, match="cannot express this model: bias=False"):
        GPT(GPTConfig(**tiny, bias=False)).save_pretrained(tmp_path / "out")
    assert not (tmp_path / "out").exists()  # refused before anything is written
