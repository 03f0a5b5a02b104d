"""minillm/explain/trace.py: the logit lens and the experts against a by-hand pass, the prompt checks,
the token labels, and a model left as it was."""

from __future__ import annotations

import pytest
import torch

from minillm.explain.trace import prompt_ids, token_label, trace, trace_seq2seq
from minillm.models import GPT, GPTConfig, Llama, LlamaConfig, Transformer, TransformerConfig
from minillm.tokenizers import BPETokenizer, CharTokenizer
from minillm.tokenizers.chat import CHAT_TOKENS

TOK = CharTokenizer.from_text("abcdefgh ")


def _gpt():
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=TOK.vocab_size, block_size=12, n_layer=3, n_head=2, n_embd=16))


def _moe_llama():
    torch.manual_seed(1)
    c = LlamaConfig(vocab_size=TOK.vocab_size, block_size=12, n_layer=2, n_head=4, n_kv_head=2, n_embd=16, d_ff=24,
                    n_experts=4, expert_top_k=2)  # fmt: skip
    return Llama(c)


def _by_hand(model, ids):
    """Each block's output and each MoE block's feed-forward input, block by block, no hooks."""
    idx = torch.tensor([ids])
    x = model.wte(idx) + (model.wpe(torch.arange(len(ids))) if hasattr(model, "wpe") else 0)
    outputs, moe_inputs = [], []
    for block in model.blocks:
        x = x + block.attn(block.ln_1(x))
        moe_inputs.append(block.ln_2(x))
        x = x + block.mlp(block.ln_2(x))
        outputs.append(x)
    return outputs, moe_inputs


@pytest.mark.parametrize("make", [_gpt, _moe_llama])
def test_logit_lens_rows_are_the_final_norm_and_head_on_each_layer(make):
    model = make().eval()
    ids = TOK.encode("cab bad fe")
    out = trace(model, ids, top=3)
    outputs, _ = _by_hand(model, ids)
    with torch.no_grad():
        for layer, h in enumerate(outputs):
            p = torch.softmax(model.lm_head(model.ln_f(h))[0], dim=-1)  # (T, V)
            want = p.topk(3, dim=-1)
            assert torch.equal(out["lens_ids"][layer], want.indices)
            torch.testing.assert_close(out["lens_probs"][layer], want.values)
        final = model(torch.tensor([ids]))[0][0, -1]
    torch.testing.assert_close(out["logits"], final)
    torch.testing.assert_close(
        out["lens_probs"][-1, -1], torch.softmax(final, -1).topk(3).values
    )  # last layer = output
    assert out["attention"].shape == (3 if make is _gpt else 2, model.config.n_head, len(ids), len(ids))


def test_experts_are_what_the_router_chose_for_each_token():
    model = _moe_llama().eval()
    ids = TOK.encode("hag feed")
    out = trace(model, ids)
    _, moe_inputs = _by_hand(model, ids)
    assert out["experts"]["layers"] == [0, 1] and out["experts"]["n_experts"] == 4
    with torch.no_grad():
        for layer, h in enumerate(moe_inputs):
            probs = torch.softmax(model.blocks[layer].mlp.router(h[0]), dim=-1)  # (T, E)
            gates, chosen = probs.topk(2, dim=-1)
            assert torch.equal(out["experts"]["chosen"][layer], chosen)
            torch.testing.assert_close(out["experts"]["gates"][layer], gates / gates.sum(-1, keepdim=True))
    assert _gpt_has_no_experts()


def _gpt_has_no_experts():
    return trace(_gpt(), TOK.encode("ab"))["experts"] is None


def test_the_model_is_left_as_it_was():
    model = _gpt().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trace(model, TOK.encode("abc"))
    assert model.training  # its mode comes back
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())  # no hook stays
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_seq2seq_maps_and_lens():
    torch.manual_seed(2)
    model = Transformer(TransformerConfig(TOK.vocab_size, TOK.vocab_size, n_embd=16, n_head=2, n_encoder_layers=2,
                                          n_decoder_layers=3, d_ff=32, block_size=16)).eval()  # fmt: skip
    src, tgt = TOK.encode("abcdef"), TOK.encode(" fed")
    out = trace_seq2seq(model, src, tgt, top=2)
    assert out["encoder"].shape == (2, 2, 6, 6) and out["decoder"].shape == (3, 2, 4, 4)
    assert out["cross"].shape == (3, 2, 4, 6)
    assert out["encoder"].triu(1).abs().max() > 0  # the encoder sees the whole source
    assert out["decoder"].triu(1).abs().max() == 0  # the decoder only the earlier targets
    for name in ("encoder", "decoder", "cross"):
        torch.testing.assert_close(out[name].sum(-1), torch.ones(out[name].shape[:-1]))
    with torch.no_grad():
        final = model(torch.tensor([src]), torch.tensor([tgt]))[0, -1]
    torch.testing.assert_close(out["logits"], final)
    torch.testing.assert_close(out["lens_probs"][-1, -1], torch.softmax(final, -1).topk(2).values)


# -- bad input --
@pytest.mark.parametrize(
    ("prompt", "match"),
    [
        ("", "the prompt is empty"),
        ("abz", r"cannot be encoded: character 'z' is not in the tokenizer's alphabet"),
        ("abcdefghabcde", "13 tokens long but the model's context holds 12"),
        ([], "the prompt is empty"),
        ([0, 99], r"token id 99 is outside the vocabulary \[0, 9\)"),
    ],
)
def test_bad_prompts_name_the_problem(prompt, match):
    with pytest.raises(ValueError, match=match):
        prompt_ids(TOK, prompt, 12, TOK.vocab_size)


def test_text_without_a_tokenizer_and_a_bad_top_are_refused():
    with pytest.raises(ValueError, match="no tokenizer"):
        prompt_ids(None, "abc", 12, 9)
    with pytest.raises(TypeError, match="text or a sequence of token ids"):
        prompt_ids(None, 3.5, 12, 9)
    with pytest.raises(ValueError, match="top must be a positive integer"):
        trace(_gpt(), [1, 2], top=0)


def test_token_labels_show_partial_utf8_bytes_and_role_tokens():
    tok = BPETokenizer([], special_tokens=list(CHAT_TOKENS))  # bytes only: "中" is three partial tokens
    ids = tok.encode("<|user|>中a<|end|><|assistant|>")  # the chat format's role tokens (tokenizers/chat.py)
    labels = [token_label(tok, i) for i in ids]
    assert labels[0] == {"text": "<|user|>", "bytes": None, "special": True}
    assert [label["bytes"] for label in labels[1:4]] == ["e4", "b8", "ad"]  # "中" is e4 b8 ad in UTF-8
    assert labels[4] == {"text": "a", "bytes": None, "special": False}
    assert [label["special"] for label in labels[5:]] == [True, True]
    assert token_label(TOK, TOK.encode(" ")[0]) == {"text": " ", "bytes": None, "special": False}
    assert token_label(None, 7)["text"] == "#7"
