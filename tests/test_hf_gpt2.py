"""GPT.from_pretrained / save_pretrained against transformers' GPT2LMHeadModel (skipped without it)."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from minillm.models import GPT, GPTConfig
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
    x = tokens()
    with torch.no_grad():
        torch.testing.assert_close(ours(x)[0], ref(x).logits, atol=1e-4, rtol=0)
    assert ours.num_parameters() == sum(p.numel() for p in ref.parameters())


@pytest.mark.parametrize("tied", [True, False], ids=["tied", "untied"])
def test_save_pretrained_opens_in_transformers(tmp_path, tied):
    torch.manual_seed(0)
    ours = GPT(GPTConfig(vocab_size=61, block_size=24, n_layer=2, n_head=4, n_embd=32, tie_embeddings=tied)).eval()
    ours.save_pretrained(tmp_path)
    ref = transformers.GPT2LMHeadModel.from_pretrained(tmp_path).eval()
    x = tokens()
    with torch.no_grad():
        torch.testing.assert_close(ref(x).logits, ours(x)[0], atol=1e-4, rtol=0)
    assert ref.config.tie_word_embeddings == tied
    again = GPT.from_pretrained(tmp_path)  # and back: exactly the same weights
    assert all(torch.equal(a, b) for a, b in zip(ours.state_dict().values(), again.state_dict().values()))
    ref.save_pretrained(tmp_path / "by-transformers")  # and transformers' own file opens here
    with torch.no_grad():
        torch.testing.assert_close(GPT.from_pretrained(tmp_path / "by-transformers")(x)[0], ours(x)[0])


def test_one_key_map_covers_every_tensor_once():
    rows = weight_map(n_layer=2, tied=True)
    ours = [name for _, names, _ in rows for name in names]
    model = GPT(GPTConfig(vocab_size=61, block_size=24, n_layer=2, n_head=4, n_embd=32))
    assert sorted(ours) == sorted(set(model.state_dict()) - {"lm_head.weight"})  # tied: lm_head is wte
    hf_names = {name for name, _, _ in rows}
    assert hf_names == set(hf_model().state_dict()) - {"lm_head.weight"}
    assert {name for name, _, _ in weight_map(2, tied=False)} - hf_names == {"lm_head.weight"}


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
    with pytest.raises(ValueError, match="cannot express.*rope"):
        GPT(GPTConfig(vocab_size=8, block_size=8, n_layer=1, n_head=2, n_embd=8, pos_embedding="rope")).save_pretrained(
            tmp_path / "out"
        )
