"""minillm/explain/page.py: the numbers embedded in the page equal the model's, the page needs no
network, its size stays sane, and bad input is refused before the forward pass."""

from __future__ import annotations

import html
import math
import re

import numpy as np
import pytest
import torch

from minillm.explain import explain, read_page
from minillm.explain.page import WEIGHT_SCALE
from minillm.models import GPT, GPTConfig, Llama, LlamaConfig, Transformer, TransformerConfig
from minillm.tokenizers import CharTokenizer

TOK = CharTokenizer.from_text("abcdefgh </script><h1>")


def _explicit_attention(model, ids):
    """(L, H, T, T) softmax(QKᵀ/√d + causal mask) of a GPT, written out here from the weights."""
    x = model.wte(torch.tensor([ids])) + model.wpe(torch.arange(len(ids)))
    maps = []
    for block in model.blocks:
        h = block.ln_1(x)
        q, k, _ = block.attn.qkv_proj(h).chunk(3, dim=-1)
        q = q.view(1, len(ids), model.config.n_head, -1).transpose(1, 2)
        k = k.view(1, len(ids), model.config.n_head, -1).transpose(1, 2)
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
        scores = scores.masked_fill(torch.ones(len(ids), len(ids)).triu(1).bool(), float("-inf"))
        maps.append(torch.softmax(scores, dim=-1)[0])
        x = block(x)
    return torch.stack(maps)


def test_the_pages_numbers_are_the_models(tmp_path):
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=TOK.vocab_size, block_size=16, n_layer=2, n_head=3, n_embd=24)).eval()
    ids = TOK.encode("bad cafe hag")
    path = explain(model, TOK, "bad cafe hag", top=4).save(tmp_path / "page.html")
    seen = read_page(path)
    with torch.no_grad():
        want = _explicit_attention(model, ids)
        logits = model(torch.tensor([ids]))[0][0, -1]
    got = seen["maps"]["self-attention"]
    assert got.shape == (2, 3, 12, 12)
    assert np.abs(got - want.numpy()).max() <= 1e-4
    assert np.abs(got - want.numpy()).max() <= 0.5 / WEIGHT_SCALE + 1e-7  # the uint16 rounding, no more
    np.testing.assert_array_equal(seen["logits"], logits.numpy())  # float32, bit for bit
    assert seen["lens_ids"].shape == (2, 12, 4)
    assert [t["text"] for t in seen["data"]["tokens"]] == list("bad cafe hag")
    assert seen["data"]["vocab"] == TOK.chars


def test_grouped_query_and_experts_travel_in_the_page():
    torch.manual_seed(1)
    c = LlamaConfig(vocab_size=TOK.vocab_size, block_size=16, n_layer=2, n_head=4, n_kv_head=2, n_embd=16, d_ff=24,
                    n_experts=3, expert_top_k=2, window=4)  # fmt: skip
    page = explain(Llama(c), TOK, "abcabcab")
    seen = read_page(page)
    m = page.data["maps"][0]
    assert (m["heads"], m["n_kv_head"], m["window"], m["causal"]) == (4, 2, 4, True)
    assert seen["chosen"].shape == (2, 8, 2) and seen["chosen"].max() < 3
    np.testing.assert_allclose(seen["gates"].sum(-1), 1.0, rtol=1e-6)
    assert seen["maps"]["self-attention"][0, 0, 7, :4].max() == 0  # outside the window of 4


def test_encoder_decoder_has_three_maps():
    torch.manual_seed(2)
    model = Transformer(TransformerConfig(TOK.vocab_size, TOK.vocab_size, n_embd=16, n_head=2, n_encoder_layers=1,
                                          n_decoder_layers=2, d_ff=16, block_size=16))  # fmt: skip
    seen = read_page(explain(model, TOK, "abcde", target=" edc"))
    assert {k: v.shape for k, v in seen["maps"].items()} == {
        "encoder self-attention": (1, 2, 5, 5),
        "decoder self-attention": (2, 2, 4, 4),
        "cross-attention": (2, 2, 4, 5),
    }
    assert [t["text"] for t in seen["data"]["source"]] == list("abcde")


def test_the_page_needs_no_network_and_survives_any_prompt_text():
    torch.manual_seed(3)
    model = GPT(GPTConfig(vocab_size=TOK.vocab_size, block_size=32, n_layer=1, n_head=1, n_embd=8))
    prompt = "</script><h1>"  # the data block must not end early
    page = explain(model, TOK, prompt)
    text = page.html
    assert "Content-Security-Policy" in text and "default-src 'none'" in text  # the browser may fetch nothing
    assert not re.search(r"(src|href)\s*=|https?://|@import|url\((?!#)", text)  # url(#hatch): in the page
    assert text.count("</script>") == 2  # the data block's and the script's own: the prompt's is escaped
    assert read_page(page)["data"]["prompt"] == prompt
    frame = page._repr_html_()
    assert frame.startswith("<iframe srcdoc=") and html.unescape(frame.split('"')[1]) == text


@pytest.mark.slow
def test_a_12_layer_12_head_page_on_128_tokens_is_under_5_mb(tmp_path):
    """GPT-2 small's shape of attention (12 × 12) and vocabulary (50,257), narrow: the page's size does not
    depend on the width. The uint16 lower triangles make 3.2 MB of its 3.9 MB (base64)."""
    vocab = CharTokenizer([chr(0x10000 + i) for i in range(50257)])  # 50,257 tokens, each one character
    torch.manual_seed(4)
    model = GPT(GPTConfig(vocab_size=50257, block_size=128, n_layer=12, n_head=12, n_embd=24))
    prompt = "".join(vocab.chars[(i * 7919) % 50257] for i in range(128))
    size = explain(model, vocab, prompt).save(tmp_path / "big.html").stat().st_size
    assert 2.4e6 < size < 5e6, size


# -- bad input --
@pytest.mark.parametrize(
    ("kw", "error", "match"),
    [
        ({"target": "ab"}, ValueError, "target= is for an encoder-decoder"),
        ({"top": 0}, ValueError, "top must be a positive integer"),
        ({"temperature": -1.0}, ValueError, "temperature must be a finite number >= 0"),
        ({"top_p": 0.0}, ValueError, r"top_p must be a number in \(0, 1\]"),
        ({"prompt": "ab\ud800"}, ValueError, "lone surrogate"),
        ({"prompt": "abcdefghabcdefgha"}, ValueError, "17 tokens long but the model's context holds 16"),
        ({"model": "gpt"}, TypeError, "explain\\(\\) takes a GPT, Llama or Transformer, got str"),
    ],
)
def test_bad_input_is_refused_before_the_forward_pass(kw, error, match):
    model = GPT(GPTConfig(vocab_size=TOK.vocab_size, block_size=16, n_layer=1, n_head=1, n_embd=8))
    calls = []
    model.register_forward_pre_hook(lambda *a: calls.append(1))
    args = {"model": model, "tokenizer": TOK, "prompt": "abc", **kw}
    with pytest.raises(error, match=match):
        explain(args.pop("model"), args.pop("tokenizer"), args.pop("prompt"), **args)
    assert not calls


def test_an_encoder_decoder_needs_a_target():
    model = Transformer(TransformerConfig(TOK.vocab_size, TOK.vocab_size, n_embd=8, n_head=1, n_encoder_layers=1,
                                          n_decoder_layers=1, d_ff=8, block_size=8))  # fmt: skip
    with pytest.raises(ValueError, match="needs target="):
        explain(model, TOK, "abc")


def test_a_file_that_is_not_a_page_is_named(tmp_path):
    (tmp_path / "x.html").write_text("<html></html>")
    with pytest.raises(ValueError, match="is not a minillm explain page"):
        read_page(tmp_path / "x.html")


def test_the_docs_page_carries_todays_script_and_style():
    """docs/explain.md embeds example 16's page; after a change to page.js or page.css regenerate it:
    python examples/16_explain.py --out docs/assets/explain/char-gpt.html"""
    from importlib.resources import files
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "docs" / "assets" / "explain" / "char-gpt.html"
    text = path.read_text(encoding="utf-8")
    for name in ("page.js", "page.css"):
        assert files("minillm.explain").joinpath(name).read_text(encoding="utf-8") in text, f"{path} has an old {name}"
    assert read_page(path)["maps"]["self-attention"].shape[:2] == (4, 4)
