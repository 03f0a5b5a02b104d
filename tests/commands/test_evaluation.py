"""minillm/commands/evaluation.py: `minillm eval` on any checkpoint — bits per byte, exact match, JSON."""

import json

import pytest
import torch

from minillm.commands.cli import main
from minillm.commands.evaluation import read_qa
from minillm.models.gpt import GPT, GPTConfig
from minillm.rlhf.report_card import answers, bits_per_byte
from minillm.tokenizers import BPETokenizer, CharTokenizer
from minillm.tokenizers.chat import CHAT_TOKENS, ChatFormat
from minillm.train.checkpoint import save_checkpoint


def checkpoint(tmp_path, tok):
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=32, n_layer=1, n_head=2, n_embd=16))
    tok.save(tmp_path / "tokenizer.json")
    path = save_checkpoint(tmp_path / "run", 1, model, configs={"model": model.config.to_dict()},
                           tokenizer_file=tmp_path / "tokenizer.json")  # fmt: skip
    return path, model.eval()


def test_text_and_qa_figures_equal_the_library_functions_and_go_to_json(tmp_path, capsys):
    tok = BPETokenizer([], special_tokens=list(CHAT_TOKENS))
    path, model = checkpoint(tmp_path, tok)
    text = tmp_path / "t.txt"
    text.write_text("张伟 was born in Chengdu.", encoding="utf-8")
    qa = tmp_path / "qa.jsonl"
    qa.write_text('{"question": "hi?", "answer": "x"}\n\n{"question": "yo?", "answer": "y"}\n', encoding="utf-8")
    out = tmp_path / "eval.json"
    assert main(["eval", "--ckpt", str(path), "--text", str(text), "--qa", str(qa), "--json", str(out)]) == 0
    figures = json.loads(out.read_text(encoding="utf-8"))
    assert figures[f"bits_per_byte:{text}"] == pytest.approx(
        bits_per_byte(model, tok, text.read_text(encoding="utf-8"))
    )
    said = answers(model, ChatFormat(tok), [[{"role": "user", "content": q}] for q in ("hi?", "yo?")])
    assert figures["exact_match"] == sum(a.strip() == r for a, r in zip(said, "xy")) / 2
    assert "bits per byte" in capsys.readouterr().out


# -- bad input --
def test_a_bad_qa_line_is_named_with_its_number(tmp_path):
    qa = tmp_path / "qa.jsonl"
    qa.write_text('{"question": "a", "answer": "b"}\n{"question": 3}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="qa.jsonl:2: each line must be a JSON object"):
        read_qa(qa)


def test_nothing_to_measure_missing_files_and_no_chat_format_are_one_line_errors(tmp_path, capsys):
    path, _ = checkpoint(tmp_path, CharTokenizer("abc?"))
    assert main(["eval", "--ckpt", str(path)]) == 2
    assert "nothing to measure" in capsys.readouterr().err
    assert main(["eval", "--ckpt", str(path), "--text", str(tmp_path / "none.txt")]) == 2
    assert "no file at" in capsys.readouterr().err
    qa = tmp_path / "qa.jsonl"
    qa.write_text('{"question": "a", "answer": "b"}\n', encoding="utf-8")
    assert main(["eval", "--ckpt", str(path), "--qa", str(qa)]) == 2
    assert "has no chat format" in capsys.readouterr().err
    assert main(["eval", "--ckpt", str(path), "--world"]) == 2
    assert "has no chat format" in capsys.readouterr().err
