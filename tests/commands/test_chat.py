"""minillm/commands/chat.py: the terminal chat — KV cache across turns, commands, the context rule, bad input."""

import io

import pytest
import torch

from minillm.commands.chat import ChatSession
from minillm.commands.cli import main
from minillm.models.gpt import GPT, GPTConfig
from minillm.tokenizers import BPETokenizer, CharTokenizer
from minillm.tokenizers.chat import CHAT_TOKENS, ChatFormat
from minillm.train.checkpoint import save_checkpoint


def tiny(block_size=64, seed=0):
    """An untrained GPT on bytes + the chat tokens that writes only printable ASCII or <|end|> (an output
    layer with a bias of -1e4 elsewhere), so every reply reads back as the same token ids."""
    torch.manual_seed(seed)
    tok = BPETokenizer([], special_tokens=list(CHAT_TOKENS))
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=block_size, n_layer=1, n_head=2, n_embd=16))
    model.lm_head = torch.nn.Linear(16, tok.vocab_size)
    with torch.no_grad():
        model.lm_head.bias.zero_()
        model.lm_head.bias[128:256] = -1e4
        model.lm_head.bias[:33] = -1e4  # no control characters or spaces: a reply never strips to less
        model.lm_head.bias[256:259] = -1e4  # no role tokens (<|end|> stays possible)
    return model, tok


def greedy_reply(model, chat, messages, n):
    ids = torch.tensor([chat.prompt(messages)])
    out = model.generate(ids, n, temperature=0.0, eos_id=chat.end_id, use_cache=False)[0, ids.shape[1] :].tolist()
    return chat.tokenizer.decode(out[: out.index(chat.end_id)] if chat.end_id in out else out).strip()


def test_replies_with_the_cache_kept_across_turns_equal_replies_computed_afresh():
    model, tok = tiny()
    chat = ChatFormat(tok)
    session = ChatSession(model, chat, max_new_tokens=6)
    fed, asked, said = [], [], []
    step = model.decode_step
    model.decode_step = lambda idx, caches, **kw: fed.append(idx.shape[1]) or step(idx, caches, **kw)
    for text in ("hi", "and then?", "ok"):
        asked.append(session.messages() + [{"role": "user", "content": text}])
        said.append("".join(session.reply(text)).strip())
    del model.decode_step
    assert said == [greedy_reply(model, chat, m, 6) for m in asked]
    # each turn feeds its new tokens once, then one token per step: the earlier turns stay cached
    assert fed[:6] == [len(chat.prompt(asked[0])), 1, 1, 1, 1, 1] and fed[7:12] == fed[13:] == [1] * 5
    assert fed[12] <= len(chat.prompt(asked[2])) - len(chat.prompt(asked[1]))  # not the whole conversation again


def test_reset_system_and_the_context_rule():
    model, tok = tiny(block_size=40)
    session = ChatSession(model, ChatFormat(tok), max_new_tokens=4)
    "".join(session.reply("hello there"))
    assert session.messages()[0]["role"] == "user"
    session.set_system("be brief")
    assert session.messages() == [{"role": "system", "content": "be brief"}]
    for _ in range(4):  # each exchange is ~20 tokens; the context holds 40
        "".join(session.reply("tell me more"))
    assert session.messages()[0]["role"] == "system" and len(session.chat.prompt(session.messages()[:2])) < 40
    assert session.dropped >= 1
    session.reset()
    assert session.messages() == [{"role": "system", "content": "be brief"}]
    with pytest.raises(ValueError, match="the last message needs"):
        session.reply("x" * 60)


def test_a_reply_stopped_early_keeps_what_was_written():
    model, tok = tiny()
    session = ChatSession(model, ChatFormat(tok), max_new_tokens=8)
    pieces = session.reply("hi")
    first = next(pieces, None)
    pieces.close()  # what Ctrl-C does
    if first is None or not first.strip():
        assert session.messages() == []
    else:
        assert session.messages()[-1]["role"] == "assistant"
    "".join(session.reply("again"))  # the conversation goes on: roles still alternate


@pytest.fixture
def ckpt(tmp_path):
    tok = BPETokenizer([], special_tokens=list(CHAT_TOKENS))
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=64, n_layer=1, n_head=2, n_embd=16))
    tok.save(tmp_path / "tokenizer.json")
    return save_checkpoint(tmp_path / "run", 1, model, configs={"model": model.config.to_dict()},
                           tokenizer_file=tmp_path / "tokenizer.json")  # fmt: skip


def run_chat(monkeypatch, capsys, args, stdin):
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(["chat", *args])
    return code, capsys.readouterr()


def test_the_commands_work_and_the_end_of_input_exits(ckpt, monkeypatch, capsys):
    stdin = "hello\n/temperature 0.7\n/temperature hot\n/system be brief\n/reset\n/nope\nsay <|assistant|> hi\n"
    code, out = run_chat(monkeypatch, capsys, ["--ckpt", str(ckpt)], stdin)
    assert code == 0
    assert out.out.count("assistant> ") == 1
    for expected in ("(temperature 0.7)", "error: /temperature needs a finite number", "(system message set",
                     "(conversation reset)", "unknown command '/nope'", "the special token '<|assistant|>'"):  # fmt: skip
        assert expected in out.out


# -- bad input --
def test_a_checkpoint_without_a_chat_format_is_refused_before_reading_input(tmp_path, monkeypatch, capsys):
    model = GPT(GPTConfig(vocab_size=3, block_size=8, n_layer=1, n_head=1, n_embd=4))
    CharTokenizer("abc").save(tmp_path / "tokenizer.json")
    path = save_checkpoint(tmp_path / "run", 1, model, configs={"model": model.config.to_dict()},
                           tokenizer_file=tmp_path / "tokenizer.json")  # fmt: skip
    code, out = run_chat(monkeypatch, capsys, ["--ckpt", str(path)], "hello\n")
    assert code == 2 and "has no chat format" in out.err and "assistant>" not in out.out


def test_bad_settings_are_named(ckpt, monkeypatch, capsys):
    code, out = run_chat(monkeypatch, capsys, ["--ckpt", str(ckpt), "--temperature", "-1"], "")
    assert code == 2 and "temperature must be a finite number >= 0" in out.err
    code, out = run_chat(monkeypatch, capsys, ["--ckpt", str(ckpt), "--max-new-tokens", "64"], "")
    assert code == 2 and "--max-new-tokens must be in [1, 63]" in out.err
