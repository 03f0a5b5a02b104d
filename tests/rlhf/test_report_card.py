"""minillm/rlhf/report_card.py: every figure against a computation by hand on a tiny case."""

import math

import pytest
import torch

from minillm.models.gpt import GPT, GPTConfig
from minillm.rlhf import report_card
from minillm.rlhf.knowledge import Question
from minillm.rlhf.report_card import assistant_card, bits_per_byte, exact_match, format_card, kl_to_reference
from minillm.tokenizers import BPETokenizer
from minillm.tokenizers.chat import CHAT_TOKENS, ChatFormat


def uniform_gpt(vocab_size: int, block_size: int = 16) -> GPT:
    """A GPT whose logits are all 0 (the tied token matrix is 0): every token costs log2(V) bits."""
    model = GPT(GPTConfig(vocab_size=vocab_size, block_size=block_size, n_layer=1, n_head=2, n_embd=8))
    with torch.no_grad():
        model.wte.weight.zero_()
    return model


@pytest.fixture(scope="module")
def chat():
    return ChatFormat(BPETokenizer([(97, 98)], special_tokens=list(CHAT_TOKENS)))  # one merge: "ab" -> 256


def test_bits_per_byte_of_a_uniform_model_counts_bits_per_predicted_byte(chat):
    tok = chat.tokenizer  # 256 bytes + "ab" + 4 chat tokens = 261
    ids = tok.encode("abab c")  # [ab, ab, " ", c]: the first token is context, 3 predicted covering 4 bytes
    assert ids == [256, 256, 32, 99]
    model = uniform_gpt(tok.vocab_size)
    assert bits_per_byte(model, tok, "abab c") == pytest.approx(3 * math.log2(261) / 4, rel=1e-6)
    # windows of block_size 2: 9 tokens -> 8 predicted, in windows of 2, 2, 2, 2; same per-token cost
    text = "ab" * 3 + "xyz"  # tokens: ab ab ab x y z -> 5 predicted covering 2 + 2 + 3 = 7 bytes
    short = uniform_gpt(tok.vocab_size, block_size=2)
    assert bits_per_byte(short, tok, text) == pytest.approx(5 * math.log2(261) / 7, rel=1e-6)
    assert bits_per_byte(model, tok, "中文") == pytest.approx(math.log2(261), rel=1e-6)  # 6 byte tokens, 5 predicted


def test_exact_match_strips_spaces_and_nothing_else():
    assert exact_match([" Beijing", "beijing", "北京 "], ["Beijing", "Beijing", "北京"]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="equally many"):
        exact_match(["a"], ["a", "b"])


def test_kl_to_itself_is_zero_and_to_a_uniform_model_is_the_log_ratio_by_hand(chat):
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=chat.tokenizer.vocab_size, block_size=32, n_layer=1, n_head=2, n_embd=8))
    msgs = [[{"role": "user", "content": "hi"}], [{"role": "user", "content": "ab?"}]]
    assert kl_to_reference(model, model, chat, msgs, seed=3, max_new_tokens=4) == 0.0
    uniform = uniform_gpt(chat.tokenizer.vocab_size, 32)
    # by hand: replay the same samples, sum log p - log(1/V) over each reply's tokens (up to <|end|>)
    from minillm.rlhf.sampling import generate_replies

    prompts = [chat.prompt(m) for m in msgs]
    replies = generate_replies(model, prompts, 4, chat.end_id, 1.0, torch.Generator().manual_seed(3))
    total = 0.0
    for p, r in zip(prompts, replies):
        logp = torch.log_softmax(model(torch.tensor([p + r]))[0][0], -1)  # (T, V)
        total += sum(logp[len(p) - 1 + i, t].item() + math.log(chat.tokenizer.vocab_size) for i, t in enumerate(r))
    got = kl_to_reference(model, uniform, chat, msgs, seed=3, max_new_tokens=4)
    assert got == pytest.approx(total / 2, rel=1e-4)


def test_the_card_counts_matches_hallucinations_and_refusals_by_hand(chat, monkeypatch):
    q = lambda text, ref, real=True: Question(text, ref, "en", "major", real)
    sets = {
        "tuned": [q("t1", "law"), q("t2", "music")],
        "held_out_people": [q("h1", "law"), q("h2", "music"), q("h3", "music")],
        "held_out_phrasings": [q("p1", "law")],
        "cross_language": [q("c1", "法学")],
        "made_up": [q("m1", "I don't know.", False), q("m2", "I don't know.", False), q("m3", "", False)],
    }
    said = {"t1": "law", "t2": "I don't know.", "h1": "law", "h2": "law", "h3": "我不知道。", "p1": "law",
            "c1": "law", "m1": "I don't know.", "m2": "music", "m3": "physics"}  # fmt: skip
    monkeypatch.setattr(report_card, "answers", lambda model, chat, messages: [said[m[0]["content"]] for m in messages])
    monkeypatch.setattr(report_card, "kl_to_reference", lambda *a, **k: 0.25)
    monkeypatch.setattr(report_card, "bits_per_byte", lambda *a: 1.5)
    card = assistant_card({"sft": None}, None, chat, sets, "text")["sft"]
    assert card["em_tuned"] == 1 / 2 and card["em_held_out_people"] == 1 / 3
    assert card["em_held_out_phrasings"] == 1.0 and card["em_cross_language"] == 0.0
    assert card["hallucination"] == pytest.approx(2 / 3)  # m2 and m3 answered
    assert card["refusal"] == pytest.approx(2 / 5)  # t2 and h3 of the 5 real questions
    assert card["kl_to_sft"] == 0.25 and card["bits_per_byte"] == 1.5
    table = format_card({"sft": card})
    assert "66.7%" in table and "hallucination rate" in table


# -- bad input --
def test_bad_inputs_are_named(chat):
    model = uniform_gpt(chat.tokenizer.vocab_size)
    with pytest.raises(ValueError, match="non-empty text"):
        bits_per_byte(model, chat.tokenizer, "")
    with pytest.raises(ValueError, match="at least 2"):
        bits_per_byte(model, chat.tokenizer, "a")
    with pytest.raises(ValueError, match="non-empty question sets \\['made_up'\\]"):
        assistant_card({}, model, chat, {"tuned": [1], "held_out_people": [1], "held_out_phrasings": [1],
                                         "cross_language": [1]}, "x")  # fmt: skip


def test_bits_per_byte_works_with_a_character_tokenizer_too():
    from minillm.tokenizers import CharTokenizer

    tok = CharTokenizer("北京上海")  # one token per character, 3 UTF-8 bytes each
    assert bits_per_byte(uniform_gpt(4), tok, "北京上海北") == pytest.approx(math.log2(4) / 3, rel=1e-6)
