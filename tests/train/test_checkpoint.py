"""Checkpoints (minillm/train/checkpoint.py): a resumed run is bit-identical to one that never stopped,
old checkpoints are pruned and never overwritten, a save that fails half-way (a crash, a full disk)
keeps the previous checkpoint, and damaged or foreign files are named."""

import errno
import json
import os

import pytest
import safetensors.torch
import torch
from helpers.corpus import prepared_data_dir
from helpers.tiny_run import TEXT, quiet, tiny

from minillm.models import GPT, GPTConfig
from minillm.train import CheckpointError, TrainConfig, Trainer, load_checkpoint, save_checkpoint
from minillm.train import checkpoint as ckpt_module
from minillm.train.checkpoint import list_checkpoints


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return prepared_data_dir(tmp_path_factory, TEXT, tokenizer="char")


# -- resume -----------------------------------------------------------------------------------------
def test_resume_is_bit_identical(data_dir, tmp_path):
    straight = Trainer(tiny(data_dir, tmp_path / "a"), log=quiet)
    straight.train()
    first = Trainer(tiny(data_dir, tmp_path / "b", max_steps=20), log=quiet)
    while first.step < 10:  # stop after 10 steps, as if the job were killed right after the checkpoint
        first.loss_history.append(first.train_step().item())
    first.save()
    del first
    resumed = Trainer(tiny(data_dir, tmp_path / "b", resume=True), log=quiet)
    assert resumed.step == 10
    resumed.train()
    assert straight.loss_history[10:] == resumed.loss_history  # exact float equality
    for (name, p), q in zip(straight.model.named_parameters(), resumed.model.parameters()):
        assert torch.equal(p, q), name
    for s, r in zip(straight.optimizer.state.values(), resumed.optimizer.state.values()):
        assert all(torch.equal(s[k], r[k]) for k in s)


def test_keep_last_and_refuse_to_overwrite(data_dir, tmp_path):
    Trainer(tiny(data_dir, tmp_path, max_steps=30, keep_last=2), log=quiet).train()
    assert [p.name for p in list_checkpoints(tmp_path)] == ["ckpt-0000020", "ckpt-0000030"]
    before = (tmp_path / "ckpt-0000030" / "model.safetensors").read_bytes()
    with pytest.raises(ValueError, match="already holds checkpoints.*nothing was overwritten"):
        Trainer(tiny(data_dir, tmp_path, max_steps=30), log=quiet)
    with pytest.raises(ValueError, match=r"changed config: lr: 0.003 -> 0.01"):
        Trainer(tiny(data_dir, tmp_path, max_steps=30, lr=1e-2, resume=True), log=quiet)
    with pytest.raises(CheckpointError, match=r"different model architecture.*n_layer"):
        Trainer(tiny(data_dir, tmp_path, max_steps=30, n_layer=3, resume=True), log=quiet)
    with pytest.raises(ValueError, match="has no checkpoint"):
        Trainer(tiny(data_dir, tmp_path / "fresh", resume=True), log=quiet)
    assert (tmp_path / "ckpt-0000030" / "model.safetensors").read_bytes() == before


# -- files ------------------------------------------------------------------------------------------
@pytest.fixture
def saved(data_dir, tmp_path):
    trainer = Trainer(tiny(data_dir, tmp_path, max_steps=10), log=quiet)
    trainer.train()
    return trainer, tmp_path / "ckpt-0000010"


def test_crash_during_save_keeps_previous_checkpoint(saved, monkeypatch):
    trainer, good = saved
    real_save = torch.save

    def half_then_crash(obj, f):  # write half the bytes, then the disk "fails"
        real_save(obj, f)
        size = os.path.getsize(f)
        with open(f, "r+b") as fh:
            fh.truncate(size // 2)
        raise OSError("disk full")

    monkeypatch.setattr(ckpt_module.torch, "save", half_then_crash)
    trainer.step = 11
    with pytest.raises(CheckpointError, match="disk full; the newest complete checkpoint .*ckpt-0000010 is intact"):
        trainer.save()
    monkeypatch.undo()
    assert list_checkpoints(good.parent) == [good]
    assert not [p for p in good.parent.iterdir() if p.name.startswith(".tmp")]
    ckpt = load_checkpoint(good.parent, trainer.model, trainer.optimizer)
    assert ckpt.step == 10


def test_truncated_and_foreign_files_are_named(saved, tmp_path):
    trainer, good = saved
    with pytest.raises(CheckpointError, match="is not a minillm checkpoint"):
        load_checkpoint(tmp_path / "metrics.jsonl")
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "missing")
    other = TrainConfig().to_dict()
    with pytest.raises(CheckpointError, match="different model architecture: n_embd"):
        load_checkpoint(good, model_config={**trainer.model_config.to_dict(), "n_embd": 64})
    weights = good / "model.safetensors"
    with open(weights, "r+b") as f:
        f.truncate(weights.stat().st_size - 7)
    with pytest.raises(CheckpointError, match="model.safetensors is truncated or altered"):
        load_checkpoint(good, trainer.model)
    (good / "state.json").write_text(json.dumps({"format": "something-else", "train": other}))
    with pytest.raises(CheckpointError, match="not a minillm checkpoint"):
        load_checkpoint(good)


def test_save_checkpoint_round_trips_a_bare_model(tmp_path):
    from minillm.models import GPT, GPTConfig

    model = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8))
    path = save_checkpoint(tmp_path, 5, model, configs={"model": model.config.to_dict()})
    clone = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8))
    load_checkpoint(path, clone, model_config=model.config.to_dict())
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), clone.state_dict().values()))
    assert clone.lm_head.weight is clone.wte.weight  # the tie survives


def _tiny():
    model = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8))
    return model, torch.optim.AdamW(model.parameters())


def test_a_full_disk_mid_save_is_one_line_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    model, opt = _tiny()
    good = save_checkpoint(tmp_path, 1, model, opt)

    def full(*args, **kw):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(safetensors.torch, "save_model", full)
    with pytest.raises(
        CheckpointError, match="No space left on device; the newest complete checkpoint .*ckpt-0000001 is intact"
    ):
        save_checkpoint(tmp_path, 2, model, opt)
    monkeypatch.undo()
    assert list_checkpoints(tmp_path) == [good] and sorted(p.name for p in tmp_path.iterdir()) == [good.name]
    assert load_checkpoint(tmp_path, model, opt).step == 1
