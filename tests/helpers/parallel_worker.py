"""Run by tests/integration/test_parallel.py under `torchrun --nproc_per_node=2`: every parallel mode in one
launch (one process group, several runs), so the suite pays torchrun's start-up once.

argv[1] is a JSON file: {"runs": [TrainConfig dicts], "resume": [[from_dir, step, config dict], ...],
"llama": out_dir}. Each run trains GPT-2 through the Trainer (`minillm train`'s path); each resume copies
ckpt-<step> of an earlier run into a fresh directory and continues it under its own mode; "llama" trains
the later family through train/parallel.py and train/step.py directly (the Trainer builds GPT-2 only) and
writes the gathered weights (under each of "llama_modes", by default zero1, fsdp and tp). Rank 0 writes every run's losses. The runs share one process group: torchrun's
rendezvous does not let a process join a second one after leaving the first, so the CLI, which leaves it
at exit, runs in its own launch (tests/helpers/ddp_worker.py, failing_rank.py)."""

import json
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

from minillm.models.families import build_model
from minillm.models.llama import LlamaConfig
from minillm.train import TrainConfig, Trainer
from minillm.train import distributed as dist_utils
from minillm.train.parallel import full_model_state, make_parallel_optimizer, shard_model
from minillm.train.step import TrainStep

LLAMA = {"vocab_size": 40, "block_size": 12, "n_layer": 2, "n_head": 4, "n_kv_head": 2, "n_embd": 32, "d_ff": 48,
         "qk_norm": True}  # fmt: skip


def train_llama(mode: str, world_size: int, rank: int, checkpointing: bool) -> tuple[dict, list[float]]:
    """Four AdamW steps of a grouped-query, QK-norm, SwiGLU Llama on fixed batches of 8 rows."""
    from minillm.train.parallel import apply_activation_checkpointing, data_rank

    torch.manual_seed(0)
    model = build_model(LlamaConfig(**LLAMA))
    if checkpointing:
        apply_activation_checkpointing(model)
    forward = shard_model(model, mode, world_size, torch.device("cpu")) if world_size > 1 else model
    ddp = forward if mode in ("ddp", "zero1") and world_size > 1 else None
    opt = make_parallel_optimizer(model, mode if world_size > 1 else None, 3e-3, 0.1, (0.9, 0.95))
    step = TrainStep(model, opt, lr=3e-3, max_steps=4, warmup_steps=1, grad_accum=2, ddp=ddp)
    r, slices = data_rank(mode, rank, world_size, LlamaConfig(**LLAMA)) if world_size > 1 else (0, 1)
    per = 8 // slices
    g = torch.Generator().manual_seed(1)
    losses = []
    for i in range(4):
        x = torch.randint(0, 40, (8, 13), generator=g)[r * per : (r + 1) * per]
        batches = [(a[:, :-1], a[:, 1:]) for a in x.chunk(2)]
        loss = step(i, batches, lambda xy: forward(*xy)[1]).loss.detach()
        losses.append(dist_utils.all_reduce_mean(loss, dist_utils.DistInfo(rank, rank, world_size)).item())
    return full_model_state(model) if world_size > 1 else model.state_dict(), losses


def main() -> None:
    plan = json.loads(Path(sys.argv[1]).read_text())
    info = None
    for cfg in plan.get("runs", []):
        trainer = Trainer(TrainConfig.from_dict(cfg), log=lambda *_: None)
        trainer.train()
        info = trainer.dist
        if info.is_main:
            (Path(cfg["out_dir"]) / "losses.json").write_text(json.dumps(trainer.loss_history))
    for source, step, cfg in plan.get("resume", []):
        if info.is_main:
            Path(cfg["out_dir"]).mkdir(parents=True)
            name = f"ckpt-{step:07d}"
            shutil.copytree(Path(source) / name, Path(cfg["out_dir"]) / name)
        dist_utils.barrier(info)
        trainer = Trainer(TrainConfig.from_dict(cfg), log=lambda *_: None)
        trainer.train()
    if "llama" in plan:
        out = Path(plan["llama"])
        for mode in plan.get("llama_modes", ("zero1", "fsdp", "tp")):
            state, losses = train_llama(mode, info.world_size, info.rank, checkpointing=mode == "fsdp")
            if info.is_main:
                save_file({k: v.contiguous() for k, v in state.items()}, str(out / f"llama-{mode}.safetensors"))
                (out / f"llama-{mode}.json").write_text(json.dumps(losses))
    dist_utils.shutdown(info)


if __name__ == "__main__":
    main()
