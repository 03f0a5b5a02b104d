"""``Trainer``: pre-train a GPT on a prepared token file (report §1.2: the pre-training stage).

One optimizer step:

    for each of grad_accum micro-batches:        loss_i = cross-entropy(model(x_i), y_i)
        backward(loss_i / grad_accum)            # gradients add up: the mean over the whole batch
    clip ‖g‖ to grad_clip;  lr = warm-up + cosine(step);  AdamW step (decay on matrices only)

Everything a serious run needs is here and nothing more: bf16 autocast and fused AdamW on CUDA,
optional torch.compile, DDP, ZeRO-1, FSDP or tensor parallelism under torchrun (train/parallel.py),
activation checkpointing, evaluation on the held-out split, samples, a tqdm bar,
metrics appended to ``metrics.jsonl``, a loss-curve PNG, and atomic checkpoints that resume
bit-for-bit: data batches and dropout masks are functions of (seed, step, rank), and the
optimizer state travels in the checkpoint, so ``10 steps + resume + 10 steps == 20 steps``.
"""

from __future__ import annotations

import dataclasses
import json
import time
import weakref
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from minillm.data.tokens import TokenData
from minillm.models.families import build_model
from minillm.train import distributed as dist_utils
from minillm.train.checkpoint import CheckpointError, latest_checkpoint, load_checkpoint, resume_point, save_checkpoint
from minillm.train.config import TrainConfig
from minillm.train.lock import RunLock
from minillm.train.metrics import plot_metrics, truncate_metrics
from minillm.train.parallel import (
    apply_activation_checkpointing,
    check_parallel,
    data_rank,
    full_model_state,
    full_optimizer_state,
    load_optimizer_state,
    make_parallel_optimizer,
    shard_model,
)
from minillm.train.step import TrainStep, autocast
from minillm.utils.fileio import check_free_space, check_writable_dir

__all__ = ["Trainer", "step_seed"]


def step_seed(seed: int, step: int, rank: int) -> int:
    """The torch seed of one step on one process (dropout masks): a pure function, so resume is exact."""
    return int(np.random.SeedSequence([seed, step, rank]).generate_state(1)[0])


class Trainer:
    """Build everything and check every input in ``__init__``; ``train()`` then runs the steps."""

    def __init__(self, config: TrainConfig, log=print):
        if not isinstance(config, TrainConfig):
            raise TypeError(f"Trainer expects a TrainConfig, got {type(config).__name__}")
        self.config = c = config
        self.log = log
        self.data = TokenData.open(c.data_dir)  # missing or damaged data: error now
        self.data.check_block_size(c.model.block_size)
        self.dist = dist_utils.init_distributed("cuda" if c.device != "cpu" and torch.cuda.is_available() else "cpu")
        self.device = dist_utils.resolve_device(c.device, self.dist.local_rank)
        check_parallel(c.parallel, c.model, self.dist.world_size, c.batch_size, c.grad_accum)
        # fsdp and tp hold a slice of each weight per rank (train/parallel.py); zero1 and ddp whole copies
        self.sharded = self.dist.enabled and c.parallel in ("fsdp", "tp", "tp+fsdp")
        if self.sharded and c.sample_tokens and self.dist.is_main:  # generating would need every rank in step
            log(f"no samples during training under --parallel {c.parallel}: run `minillm sample` on a checkpoint")
        self.out_dir = Path(c.out_dir)
        self.tokenizer, self.prompt_ids = None, []
        if c.sample_tokens:
            self.tokenizer = self.data.tokenizer()
            self.prompt_ids = self._prompt_ids(c.sample_prompt)

        self.model_config = dataclasses.replace(c.model, vocab_size=self.data.vocab_size)  # the data's vocabulary
        self.lock = RunLock(self.out_dir)  # one run per out_dir; rank 0 alone writes, so it alone locks
        if self.dist.is_main:
            check_writable_dir(self.out_dir, "--out-dir")  # read-only or misnamed: found now, not after training
            self.lock.acquire()
            weakref.finalize(self, self.lock.release)  # a Trainer that is gone writes nothing more
        try:
            self._build(c)
        except BaseException:
            self.lock.release()
            raise

    def _build(self, c: TrainConfig) -> None:
        resume_from = resume_point(c, self.model_config.to_dict())  # before any weights exist
        with self._own_rng():  # seeded: identical initial weights on every rank; the caller's RNG untouched
            torch.manual_seed(c.seed)
            self.model = build_model(self.model_config).to(self.device)
        if self.dist.is_main:  # one checkpoint (weights + AdamW's two moments, fp32) must fit beside the newest
            check_free_space(self.out_dir, 3 * 4 * self.model.num_parameters() + (1 << 20), "--out-dir")
        self.step, ckpt = 0, None
        if resume_from is not None:  # the whole weights, before they are split (any mode wrote them)
            ckpt = load_checkpoint(resume_from, self.model, None, self.model_config.to_dict())
            if "optimizer" not in ckpt.trainer_state:
                raise CheckpointError(f"checkpoint {ckpt.path} has no optimizer state")
            self.step = ckpt.step
            self.log(f"resumed from {ckpt.path} at step {self.step}")
            if self.dist.is_main:  # records the crashed run wrote after its checkpoint would repeat steps
                dropped = truncate_metrics(self.out_dir / "metrics.jsonl", self.step)
                if dropped:
                    self.log(f"dropped {dropped} metrics.jsonl record(s) past step {self.step} (or torn)")
        if c.activation_checkpointing:
            apply_activation_checkpointing(self.model)
        self.dtype = self._autocast_dtype()
        mode = c.parallel if self.dist.enabled else None
        if self.sharded:  # split first, so that torch.compile sees the sharded modules
            shard_model(self.model, mode, self.dist.world_size, self.device)
        self.forward = torch.compile(self.model) if c.compile else self.model
        if mode in ("ddp", "zero1"):
            self.forward = shard_model(self.forward, mode, self.dist.world_size, self.device)  # DDP's wrapper
        self.optimizer = make_parallel_optimizer(
            self.model, mode, c.lr, c.weight_decay, (c.beta1, c.beta2), self.device.type
        )  # minillm/train/step.py's AdamW; under zero1 each rank keeps 1/N of its states
        if ckpt is not None:
            load_optimizer_state(self.optimizer, ckpt.trainer_state["optimizer"], self.model)
        self.optimizer_step = TrainStep(  # minillm/train/step.py: accumulation, clipping, schedule, AdamW
            self.model,
            self.optimizer,
            lr=c.lr,
            max_steps=c.max_steps,
            warmup_steps=c.warmup_steps,
            min_lr=c.min_lr,
            grad_clip=c.grad_clip,
            grad_accum=c.grad_accum,
            autocast_dtype=self.dtype,
            device_type=self.device.type,
            ddp=self.forward if mode in ("ddp", "zero1") else None,
        )
        self.loss_history: list[float] = []  # one per step of this process's run, all ranks averaged

    # -- the sample prompt, the RNG, autocast ---------------------------------------------------
    def _prompt_ids(self, prompt: str) -> list[int]:
        """The sample prompt's ids; one it cannot encode (a character the data never had) falls back
        to the first token of the training data, which the tokenizer always can."""
        try:
            ids = self.tokenizer.encode(prompt)
        except (KeyError, ValueError) as err:  # the char tokenizer has no id for an unseen character
            ids, why = [], f"cannot be encoded ({err})"
        else:
            why = "encodes to no tokens"
        if not ids:
            ids = [int(self.data.train[0])]
            self.log(f"sample_prompt {prompt!r} {why}; sampling from {self.tokenizer.decode(ids)!r} instead")
        return ids

    def _own_rng(self):
        """Fork torch's RNG: the run seeds it freely (weights, per-step dropout masks), the caller's state
        comes back untouched. Resume stays exact because every step reseeds from (seed, step, rank)."""
        devices = (
            [self.device.index if self.device.index is not None else torch.cuda.current_device()]
            if self.device.type == "cuda"
            else []
        )
        return torch.random.fork_rng(devices=devices)

    def _seed(self, seed: int) -> None:
        """Seed the generator this run draws from. ``torch.manual_seed`` also queues seeding for every
        accelerator backend on each call (0.15-0.25 ms measured, a few tenths of a per cent of a small CPU step);
        a CPU run draws only from the CPU generator."""
        if self.device.type == "cpu":
            torch.default_generator.manual_seed(seed)
        else:
            torch.manual_seed(seed)

    def _autocast_dtype(self) -> torch.dtype | None:
        want = self.config.dtype
        if want == "auto":
            cuda_bf16 = self.device.type == "cuda" and torch.cuda.is_bf16_supported()
            return torch.bfloat16 if cuda_bf16 else None
        return torch.bfloat16 if want == "bfloat16" else None

    def _autocast(self):
        return autocast(self.device.type, self.dtype)

    # -- batches -----------------------------------------------------------------------------
    def _micro_batches(self, split: str, step: int, seed: int):
        """This rank's micro-batches of the global batch of ``step``."""
        c, d = self.config, self.dist
        x, y = self.data.batch(split, c.batch_size, c.model.block_size, seed, step)  # (batch_size, T)
        r, slices = data_rank(c.parallel, d.rank, d.world_size, c.model)  # a tensor-parallel group shares a slice
        per_rank = c.batch_size // slices
        x, y = x[r * per_rank : (r + 1) * per_rank], y[r * per_rank : (r + 1) * per_rank]
        for xm, ym in zip(x.chunk(c.grad_accum), y.chunk(c.grad_accum)):  # (micro_batch / world, T) each
            yield xm.to(self.device, non_blocking=True), ym.to(self.device, non_blocking=True)

    # -- one step ----------------------------------------------------------------------------
    # --8<-- [start:train-step]
    def train_step(self) -> torch.Tensor:
        """One optimizer step (minillm/train/step.py); returns this rank's mean loss (a tensor: no device sync)."""
        c = self.config
        self._seed(step_seed(c.seed, self.step, self.dist.rank))  # dropout masks: a function of the step
        if not self.model.training:  # .train() walks every module: ~1 % of a small step, so only when needed
            self.model.train()
        batches = self._micro_batches("train", self.step, c.seed)  # grad_accum (x, y) pairs of this rank
        result = self.optimizer_step(self.step, batches, lambda xy: self.forward(*xy)[1])
        self.step += 1
        return result.loss

    # --8<-- [end:train-step]

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Mean loss on ``eval_iters`` fixed batches of each split (the same batches every time)."""
        c = self.config
        self.model.eval()
        out = {}
        for split in ("train", "val"):
            losses = torch.zeros(c.eval_iters, device=self.device)
            for i in range(c.eval_iters):
                for x, y in self._micro_batches(split, i, c.seed + 1):
                    with self._autocast():
                        losses[i] += self.forward(x, y)[1].float() / c.grad_accum
            out[f"{split}_loss"] = dist_utils.all_reduce_mean(losses.mean(), self.dist).item()
        self.model.train()
        return out

    def sample(self, max_new_tokens: int | None = None, temperature: float = 0.8, top_k: int = 50) -> str:
        """Text generated from ``sample_prompt``, with a fixed generator (the training RNG is untouched)."""
        if self.tokenizer is None:
            raise ValueError("sampling needs sample_tokens > 0 in the config (it loads the tokenizer)")
        n = self.config.sample_tokens if max_new_tokens is None else max_new_tokens
        g = torch.Generator(device=self.device).manual_seed(self.config.seed)
        idx = torch.tensor([self.prompt_ids[-self.config.model.block_size :]], device=self.device)
        with self._autocast():
            out = self.model.generate(idx, n, temperature=temperature, top_k=top_k, generator=g)
        return self.tokenizer.decode(out[0, idx.shape[1] :].tolist())

    # -- the loop ----------------------------------------------------------------------------
    def _record(self, record: dict) -> None:
        if self.dist.is_main:
            line = json.dumps(record, ensure_ascii=False) + "\n"
            try:
                with open(self.out_dir / "metrics.jsonl", "a", encoding="utf-8") as f:
                    f.write(line)
            except OSError as err:  # a full disk: one line; the newest checkpoint is untouched
                newest = latest_checkpoint(self.out_dir)
                raise CheckpointError(
                    f"could not append to {self.out_dir / 'metrics.jsonl'}: {err.strerror or err}; "
                    f"the newest checkpoint {newest} is intact"
                ) from None

    def save(self, metrics: dict | None = None) -> Path | None:
        path, model, optimizer = None, self.model, self.optimizer
        if self.dist.enabled and self.config.parallel != "ddp":  # gather whole tensors (every rank takes part)
            optimizer = full_optimizer_state(self.optimizer, self.model)
            if self.sharded:
                weights = full_model_state(self.model)
                if self.dist.is_main:  # the usual file: one unsplit model holds the gathered weights
                    model = build_model(self.model_config)
                    model.load_state_dict(weights)
        if self.dist.is_main:
            configs = {"train": self.config.to_dict(), "model": self.model_config.to_dict()}
            tok = self.data.data_dir / "tokenizer.json"
            path = save_checkpoint(
                self.out_dir,
                self.step,
                model,
                optimizer,
                configs,
                metrics,
                tok if tok.is_file() else None,
                self.config.keep_last,
            )
        dist_utils.barrier(self.dist)
        return path

    def train(self) -> dict:
        """Run until ``max_steps``; returns the final step, losses, throughput and checkpoint path.
        Torch's global RNG is left as the caller had it (each step reseeds inside a fork)."""
        if self.dist.is_main:
            self.lock.acquire()  # no-op while __init__'s lock is held; again after an earlier train()
        try:
            with self._own_rng():
                return self._run()
        finally:
            self.lock.release()  # the run is done writing: a later Trainer may resume it

    def _run(self) -> dict:
        c = self.config
        tokens_per_step = c.batch_size * c.model.block_size
        show = c.progress and self.dist.is_main
        bar = tqdm(
            total=c.max_steps,
            initial=self.step,
            disable=None if show else True,  # None: off without a TTY
            unit="step",
            dynamic_ncols=True,
        )
        write = bar.write if c.progress else self.log
        pending: list[torch.Tensor] = []
        evals: dict[str, float] = {}
        ckpt, started, t0, steps_timed = None, time.perf_counter(), time.perf_counter(), 0
        if self.step >= c.max_steps:  # resumed a finished run: nothing to train, still report where it stands
            evals = self.evaluate()
        while self.step < c.max_steps:
            pending.append(self.train_step())
            steps_timed += 1
            bar.update(1)
            done = self.step == c.max_steps
            if self.step % c.log_interval == 0 or done:
                losses = dist_utils.all_reduce_mean(torch.stack(pending), self.dist).tolist()  # syncs the device
                self.loss_history += losses
                speed = steps_timed * tokens_per_step / (time.perf_counter() - t0)
                lr = self.optimizer.param_groups[0]["lr"]
                bar.set_postfix(loss=f"{losses[-1]:.4f}", lr=f"{lr:.2e}", tok_s=f"{speed:,.0f}")
                self._record({"step": self.step, "loss": sum(losses) / len(losses), "lr": lr, "tokens_per_s": speed})
                pending, t0, steps_timed = [], time.perf_counter(), 0
            if self.step % c.eval_interval == 0 or done:
                evals = self.evaluate()
                self._record({"step": self.step, **evals})
                if self.dist.is_main:  # every rank has the same numbers (all-reduced); one prints them
                    write(f"step {self.step}: train loss {evals['train_loss']:.4f}, val loss {evals['val_loss']:.4f}")
                if c.sample_tokens and self.dist.is_main and not self.sharded:  # sharded: `minillm sample`
                    text = self.sample()
                    self._record({"step": self.step, "sample": text})
                    write(f"sample: {text!r}")
            if self.step % c.checkpoint_interval == 0 or done:
                ckpt = self.save(evals)
        bar.close()
        if self.dist.is_main:
            self.plot()
        elapsed = time.perf_counter() - started
        return {"step": self.step, **evals, "seconds": elapsed, "checkpoint": str(ckpt) if ckpt else None}

    def plot(self) -> Path | None:
        """Draw train and val loss from metrics.jsonl (the whole run, resumes included) to loss.png."""
        return plot_metrics(self.out_dir / "metrics.jsonl", self.out_dir / "loss.png")

    def close(self) -> None:
        self.lock.release()
        dist_utils.shutdown(self.dist)
