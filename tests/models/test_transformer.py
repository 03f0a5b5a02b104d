"""The encoder-decoder Transformer (2017): its size against the paper, masks, errors, and that it learns."""

import pytest
import torch
import torch.nn.functional as F

from minillm import Transformer, TransformerConfig


def test_transformer_base_is_near_the_papers_65m():
    with torch.device("meta"):
        model = Transformer(TransformerConfig(37000, 37000, share_embeddings=True))
    n = model.num_parameters()
    assert n == 63_082_496  # 6·3,152,384 (encoder) + 6·4,204,032 (decoder) + 37,000·512 (shared embedding)
    assert abs(n - 65e6) / 65e6 < 0.05


def test_transformer_config_validation():
    with pytest.raises(ValueError, match="n_embd=30 is not divisible by n_head=8"):
        TransformerConfig(10, 10, n_embd=30)
    with pytest.raises(ValueError, match="share_embeddings needs one vocabulary"):
        TransformerConfig(10, 12, share_embeddings=True)
    with pytest.raises(ValueError, match="pad_id=10"):
        TransformerConfig(10, 10, pad_id=10)


# What TransformerConfig(13, 13, d_model=32, n_heads=4, n_encoder_layers=1, n_decoder_layers=2, d_ff=64,
# dropout=0.0, max_len=24, pad_id=0).to_dict() wrote in the release before the rename (commit 0c7bcf4).
OLD_DICT = {
    "src_vocab_size": 13, "tgt_vocab_size": 13, "d_model": 32, "n_heads": 4, "n_encoder_layers": 1,
    "n_decoder_layers": 2, "d_ff": 64, "dropout": 0.0, "max_len": 24, "norm_first": False,
    "share_embeddings": False, "activation": "relu", "pad_id": 0, "attn_backend": "sdpa",
}  # fmt: skip


def test_a_dict_of_the_old_names_loads_with_one_warning_per_renamed_key():
    with pytest.warns(DeprecationWarning) as caught:
        config = TransformerConfig.from_dict(OLD_DICT, source="old.json")
    messages = sorted(str(w.message) for w in caught)
    assert len(messages) == 3
    for old, new in (("d_model", "n_embd"), ("max_len", "block_size"), ("n_heads", "n_head")):
        assert any(f"old.json: key '{old}' is now '{new}'" in m for m in messages), (old, messages)
    assert (config.n_embd, config.n_head, config.block_size) == (32, 4, 24)
    assert config == TransformerConfig(
        13,
        13,
        n_embd=32,
        n_head=4,
        n_encoder_layers=1,
        n_decoder_layers=2,
        d_ff=64,
        dropout=0.0,
        block_size=24,
        pad_id=0,
    )


def test_to_dict_round_trips_without_a_warning_and_bad_dicts_are_named(recwarn):
    config = TransformerConfig(9, 9, n_embd=16, n_head=2, block_size=8)
    assert TransformerConfig.from_dict(config.to_dict()) == config
    assert not [w for w in recwarn if issubclass(w.category, DeprecationWarning)]
    with pytest.raises(ValueError, match="both 'max_len' and its new name 'block_size'"):
        TransformerConfig.from_dict({**config.to_dict(), "max_len": 8}, source="x.json")
    with pytest.raises(ValueError, match=r"x.json: unknown key\(s\) \['n_heds'\]"):
        TransformerConfig.from_dict({**config.to_dict(), "n_heds": 2}, source="x.json")


def test_an_old_keyword_is_a_type_error_naming_the_new_one():
    with pytest.raises(TypeError, match=r"^TransformerConfig\(\) got a renamed keyword: d_model= is now n_embd="):
        TransformerConfig(10, 10, d_model=64)
    with pytest.raises(TypeError, match="n_heads= is now n_head=, max_len= is now block_size="):
        TransformerConfig(10, 10, n_heads=2, max_len=8)


def tiny_transformer(**kw) -> Transformer:
    base = dict(
        src_vocab_size=13,
        tgt_vocab_size=13,
        n_embd=32,
        n_head=4,
        n_encoder_layers=2,
        n_decoder_layers=2,
        d_ff=64,
        dropout=0.0,
        block_size=24,
        pad_id=0,
    )
    return Transformer(TransformerConfig(**{**base, **kw}))


def test_transformer_padding_and_causality():
    model = tiny_transformer().eval()
    src = torch.tensor([[5, 6, 7, 0, 0], [8, 9, 10, 11, 12]])
    tgt = torch.tensor([[1, 4, 5, 6], [1, 7, 8, 9]])
    logits = model(src, tgt)
    assert logits.shape == (2, 4, 13)
    # Source padding is invisible: trimming it changes nothing for row 0.
    torch.testing.assert_close(model(src[:1, :3], tgt[:1]), logits[:1], atol=1e-5, rtol=1e-5)
    # A decoder position sees only earlier targets.
    changed = tgt.clone()
    changed[:, 3] = 2
    torch.testing.assert_close(model(src, changed)[:, :3], logits[:, :3])


def test_transformer_bad_input():
    model = tiny_transformer()
    with pytest.raises(ValueError, match="src length 30 exceeds block_size=24"):
        model(torch.ones(1, 30, dtype=torch.long), torch.ones(1, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="batch sizes differ"):
        model(torch.ones(2, 3, dtype=torch.long), torch.ones(1, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="src_mask"):
        model(
            torch.ones(1, 3, dtype=torch.long),
            torch.ones(1, 3, dtype=torch.long),
            src_mask=torch.ones(1, 4, dtype=torch.bool),
        )


@pytest.mark.learning
@pytest.mark.parametrize("norm_first", [False, True])
def test_tiny_transformer_overfits_a_batch(norm_first, seed, record_property):
    torch.manual_seed(seed)
    model = tiny_transformer(norm_first=norm_first)
    src = torch.randint(3, 13, (8, 6))
    tgt = torch.cat([torch.ones(8, 1, dtype=torch.long), src.flip(1), torch.full((8, 1), 2)], 1)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(150):
        loss = F.cross_entropy(model(src, tgt[:, :-1]).flatten(0, 1), tgt[:, 1:].flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
    record_property("below_0.05", float(0.05 - loss.item()))
    assert loss.item() < 0.05  # at most 0.003 over default/avx2/avx512 x 1 thread x seeds 0-2
    out = model.translate(src, max_new_tokens=7, bos_id=1, eos_id=2)
    assert torch.equal(out, tgt)
