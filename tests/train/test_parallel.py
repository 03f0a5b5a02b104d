"""minillm/train/parallel.py on one process: the checks that refuse a mis-specified run before any work,
the Q/K/V regrouping, activation checkpointing, and the DTensor-aware clipping in train/step.py.
The modes themselves run under torchrun in tests/integration/test_parallel.py."""

import pytest
import torch
from helpers.corpus import prepared_data_dir

from minillm.commands.cli import main
from minillm.models.gpt import GPT, GPTConfig
from minillm.models.llama import LlamaConfig
from minillm.train.parallel import (
    apply_activation_checkpointing,
    check_parallel,
    data_rank,
    qkv_rows_by_rank,
    tensor_parallel_size,
)
from minillm.train.step import clip_grad_norm

GPT_TINY = GPTConfig(vocab_size=20, block_size=8, n_layer=2, n_head=2, n_embd=8)


@pytest.mark.parametrize(
    "mode, config, world, batch, accum, match",
    [
        (
            "zero2",
            GPT_TINY,
            2,
            8,
            1,
            r"unknown parallel mode 'zero2'; choose one of \('ddp', 'zero1', 'fsdp', 'tp', 'tp\+fsdp'\)",
        ),
        ("fsdp", GPT_TINY, 1, 8, 1, "launch with torchrun --nproc_per_node=N -m minillm train --parallel fsdp"),
        ("tp", GPTConfig(n_head=3, n_embd=12), 2, 8, 1, "n_head=3 and n_kv_head=3 must be divisible by 2"),
        ("tp", LlamaConfig(n_head=4, n_kv_head=1, n_embd=16, d_ff=32), 2, 8, 1, "n_kv_head=1 must be divisible by 2"),
        ("tp", LlamaConfig(n_head=4, n_embd=16, d_ff=30), 4, 8, 1, "d_ff=30 is not divisible by 4"),
        ("tp", LlamaConfig(n_head=4, n_embd=16, d_ff=32, n_experts=4), 2, 8, 1, "does not split mixture-of-experts"),
        ("zero1", GPT_TINY, 3, 8, 1, "batch_size=8 must be divisible by data-parallel processes x grad_accum = 3 x 1"),
        ("fsdp", GPT_TINY, 2, 8, 3, "data-parallel processes x grad_accum = 2 x 3"),
        ("tp+fsdp", GPT_TINY, 2, 8, 1, "needs a mesh of at least 2 x 2 processes, got 2"),
        ("tp+fsdp", GPTConfig(n_head=3, n_embd=12), 4, 8, 1, "n_head=3 and n_kv_head=3 must be divisible by 2"),
        (
            "tp+fsdp",
            GPT_TINY,
            4,
            5,
            1,
            "batch_size=5 must be divisible by data-parallel processes x grad_accum = 2 x 1",
        ),
    ],
)
def test_bad_runs_are_refused(mode, config, world, batch, accum, match):
    with pytest.raises(ValueError, match=match):
        check_parallel(mode, config, world, batch, accum)


def test_data_rank_by_hand():
    # 8 processes as a (data, tensor) mesh: tp+fsdp takes t = 4 (at least two data groups): ranks 0-3 read
    # slice 0, 4-7 slice 1; tp reads one slice; fsdp one per rank
    assert [data_rank("tp+fsdp", r, 8, GPTConfig(n_head=4, n_embd=16)) for r in (0, 3, 4, 7)] == [
        (0, 2),
        (0, 2),
        (1, 2),
        (1, 2),
    ]
    assert tensor_parallel_size("tp+fsdp", 8, GPTConfig(n_head=2, n_embd=16)) == 2  # the heads allow only 2
    assert data_rank("tp", 1, 2, GPT_TINY) == (0, 1)
    assert data_rank("fsdp", 1, 2, GPT_TINY) == (1, 2)


def test_tensor_parallel_needs_no_batch_split():
    check_parallel("tp", GPT_TINY, 2, 3, 1)  # both ranks read all 3 rows
    check_parallel("ddp", GPT_TINY, 1, 3, 1)  # one process: plain training
    check_parallel("tp+fsdp", LlamaConfig(n_head=4, n_embd=16, d_ff=32, qk_norm=True), 4, 8, 1)  # QK-norm too


def test_cli_refuses_a_mode_without_torchrun_before_any_work(tmp_path_factory, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    data = prepared_data_dir(tmp_path_factory, "one process cannot shard. " * 20)
    out = tmp_path / "run"
    assert main(["train", "--data-dir", str(data), "--out-dir", str(out), "--block-size", "8", "--parallel", "tp"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("minillm train: error: --parallel tp splits the model")
    assert not out.exists()  # refused before the run directory was made
    assert main(["train", "--data-dir", str(data), "--parallel", "pipeline"]) == 2
    assert "unknown parallel mode 'pipeline'" in capsys.readouterr().err


def test_qkv_rows_by_rank_by_hand():
    # n_embd 4 over 2 ranks: Q rows 0-3, K rows 4-7, V rows 8-11; rank 0 gets Q0 Q1 K4 K5 V8 V9
    order = qkv_rows_by_rank(4, 2)
    assert order.tolist() == [0, 1, 4, 5, 8, 9, 2, 3, 6, 7, 10, 11]
    assert order.argsort()[order].tolist() == list(range(12))  # the inverse restores GPT-2's order
    assert qkv_rows_by_rank(4, 1).tolist() == list(range(12))


def test_regrouped_halves_compute_each_ranks_heads():
    """What each tensor-parallel rank computes, by hand on one process: its half of the regrouped rows
    gives its heads' q, k, v, and the two halves of out_proj's product sum to the whole attention."""
    torch.manual_seed(0)
    attn = GPT(GPT_TINY).blocks[0].attn
    x = torch.randn(2, 5, 8)
    whole = attn(x)
    order = qkv_rows_by_rank(8, 2)
    w, b = attn.qkv_proj.weight[order], attn.qkv_proj.bias[order]
    total = attn.out_proj.bias.clone()
    for r in range(2):
        q, k, v = torch.nn.functional.linear(x, w[12 * r : 12 * (r + 1)], b[12 * r : 12 * (r + 1)]).chunk(3, -1)
        q, k, v = (t.unsqueeze(1) for t in (q, k, v))  # one head of 4 per rank: (B, 1, T, 4)
        y = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True).squeeze(1)  # (B, T, 4)
        total = total + y @ attn.out_proj.weight[:, 4 * r : 4 * (r + 1)].T  # row-parallel: a partial sum
    torch.testing.assert_close(total, whole, rtol=1e-5, atol=1e-6)


def test_activation_checkpointing_changes_no_number():
    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=20, block_size=8, n_layer=2, n_head=2, n_embd=8, dropout=0.1)
    plain, ckpt = GPT(cfg), GPT(cfg)
    ckpt.load_state_dict(plain.state_dict())
    apply_activation_checkpointing(ckpt)
    assert list(ckpt.state_dict()) == list(plain.state_dict())  # names unchanged: checkpoints load either way
    idx = torch.randint(0, 20, (3, 8))
    for model in (plain, ckpt):
        torch.manual_seed(1)  # the same dropout masks; the recomputation replays them
        model(idx, idx)[1].backward()
    for (name, p), q in zip(plain.named_parameters(), ckpt.parameters()):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-6, atol=1e-7, msg=name)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.numel()) or t, lambda t: t):
        ckpt(idx, idx)[1].backward()
    kept = sum(saved)
    saved.clear()
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.numel()) or t, lambda t: t):
        plain(idx, idx)[1].backward()
    assert kept < sum(saved)  # fewer values kept for backward


def test_clip_grad_norm_matches_torch_on_plain_tensors():
    torch.manual_seed(0)
    a, b = torch.nn.Parameter(torch.randn(3)), torch.nn.Parameter(torch.randn(2, 2))
    a.grad, b.grad = torch.tensor([3.0, 0.0, 0.0]), torch.tensor([[0.0, 4.0], [0.0, 0.0]])
    assert clip_grad_norm([a, b], 0).item() == pytest.approx(5.0)  # 0: measure only
    assert clip_grad_norm([a, b], 1.0).item() == pytest.approx(5.0)
    assert a.grad.tolist() == pytest.approx([3 / 5, 0, 0], rel=1e-5)  # scaled to norm 1
