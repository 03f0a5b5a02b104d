"""One loader: GPT.from_pretrained and minillm.load open what `minillm train` wrote, and say what they looked for."""

import json

import pytest
import torch

import minillm
from minillm import GPT, GPTConfig, load_tokenizer
from minillm.data.tokens import write_token_files
from minillm.models.pretrained import CheckpointError, locate
from minillm.tokenizers import CharTokenizer
from minillm.train import TrainConfig, Trainer
from minillm.train.checkpoint import list_checkpoints

TEXT = "attention is all you need; 注意力就是一切. " * 30


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A four-step Trainer run of a tiny GPT on token files written in a temporary directory."""
    data = tmp_path_factory.mktemp("data")
    tok = CharTokenizer.from_text(TEXT)
    tok.save(data / "tokenizer.json")
    ids = tok.encode(TEXT)
    cut = len(ids) * 4 // 5
    write_token_files(data, ids[:cut], ids[cut:], tok.vocab_size, "char", ["memory"], len(TEXT))
    out = tmp_path_factory.mktemp("run")
    config = TrainConfig.from_dict(
        {
            "data_dir": str(data),
            "out_dir": str(out),
            "n_layer": 1,
            "n_head": 2,
            "n_embd": 16,
            "block_size": 8,
            "batch_size": 4,
            "max_steps": 4,
            "lr": 1e-2,
            "eval_interval": 2,
            "eval_iters": 1,
            "checkpoint_interval": 2,
            "sample_tokens": 0,
            "progress": False,
            "device": "cpu",
        }
    )
    trainer = Trainer(config, log=lambda *_: None)
    trainer.train()
    trainer.close()
    return out, trainer.model.eval()


def logits(model, ids=((1, 2, 3, 4, 5, 6, 7, 0),)):
    with torch.no_grad():
        return model.eval()(torch.tensor(ids))[0]


def test_from_pretrained_of_a_run_directory_equals_the_trained_model(run):
    out, trained = run
    assert [p.name for p in list_checkpoints(out)] == ["ckpt-0000002", "ckpt-0000004"]
    again = GPT.from_pretrained(out)  # the run directory: its newest checkpoint
    torch.testing.assert_close(logits(again), logits(trained), rtol=0, atol=0)
    assert again.config == trained.config
    torch.testing.assert_close(logits(GPT.from_pretrained(out / "ckpt-0000004")), logits(trained), rtol=0, atol=0)
    older = GPT.from_pretrained(out / "ckpt-0000002")  # an older checkpoint is a different model
    assert not torch.equal(logits(older), logits(trained))


def test_load_returns_the_model_and_a_tokenizer_that_round_trips(run):
    out, trained = run
    model, tok = minillm.load(out)
    assert not model.training
    torch.testing.assert_close(logits(model), logits(trained), rtol=0, atol=0)
    assert isinstance(tok, CharTokenizer) and tok.decode(tok.encode(TEXT[:50])) == TEXT[:50]
    assert tok.chars == load_tokenizer(out / "ckpt-0000004" / "tokenizer.json").chars
    found = locate(out)
    assert (found.kind, found.path.name, found.step) == ("checkpoint", "ckpt-0000004", 4)


def test_a_huggingface_directory_loads_without_a_tokenizer(tmp_path):
    torch.manual_seed(0)
    ours = GPT(GPTConfig(vocab_size=30, block_size=8, n_layer=1, n_head=2, n_embd=16))
    ours.save_pretrained(tmp_path)
    model, tok = minillm.load(tmp_path)
    assert tok is None and locate(tmp_path).kind == "huggingface"
    torch.testing.assert_close(logits(model), logits(ours), rtol=0, atol=0)


def test_other_directories_name_what_was_looked_for(tmp_path, run):
    (tmp_path / "notes.txt").write_text("not a model")
    for call in (GPT.from_pretrained, minillm.load):
        with pytest.raises(ValueError, match=r"looked for state\.json .*ckpt-\* .*config\.json"):
            call(tmp_path)
    with pytest.raises(FileNotFoundError, match="no directory"):
        minillm.load(tmp_path / "missing")
    out, _ = run
    bad = tmp_path / "ckpt-0000009"  # a checkpoint whose weights were altered after saving
    bad.mkdir()
    for f in (out / "ckpt-0000004").iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
    data = bytearray((bad / "model.safetensors").read_bytes())
    data[-1] ^= 0xFF
    (bad / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="truncated or altered"):
        GPT.from_pretrained(bad)
    state = json.loads((bad / "state.json").read_text())
    (bad / "model.safetensors").write_bytes((out / "ckpt-0000004" / "model.safetensors").read_bytes())
    (bad / "state.json").write_text(json.dumps({**state, "configs": {}}))  # digests still match: only the config is missing
    with pytest.raises(CheckpointError, match="no model config"):
        minillm.load(bad)
