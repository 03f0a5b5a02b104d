# Notebook source (percent format): tools/make_notebooks.py writes notebooks/02_training.ipynb from it.
# ruff: noqa: F821  (QUICK is defined by the setup cell that tools/make_notebooks.py puts first)

# %% [markdown]
# # §1.2 Pre-training: the objective, the data, the loop, checkpoints
#
# Pre-training is next-token prediction on a large text. Here everything is small enough for a
# CPU: the text is the Python manual that ships with Python (nothing is downloaded), the model a
# GPT with one or two layers. The chapter is [docs/training.md](../docs/training.md); the command
# line version is `minillm prepare` / `minillm train` / `minillm sample`.

# %% [markdown]
# ## The objective
#
# The loss is the cross-entropy of the next token. An untrained model spreads its probability
# evenly, so its loss starts near ln V for a vocabulary of V tokens: a number to check before
# training anything.

# %%
import math
import tempfile
from pathlib import Path

import torch

from minillm import GPT, GPTConfig

torch.manual_seed(0)
model = GPT(GPTConfig(vocab_size=100, block_size=16, n_layer=1, n_head=2, n_embd=32))
x = torch.randint(0, 100, (4, 16))  # (B, T) random tokens
_, loss = model(x, torch.roll(x, -1, dims=1))
print(f"loss at initialisation {loss.item():.3f}   ln V = {math.log(100):.3f}")

# %% [markdown]
# ## Data: a token file on disk
#
# `prepare_tokens` tokenizes the sources once into a flat array of ids; a batch is then a pure
# function of (seed, split, step), which is what makes a resumed run identical to an unbroken one.

# %%
from minillm.data.tokens import TokenData, prepare_tokens

work = Path(tempfile.mkdtemp())  # everything this notebook writes goes here
meta = prepare_tokens(["python-docs"], work / "data", tokenizer="char")
data = TokenData.open(work / "data")
x, y = data.batch("train", batch_size=4, block_size=8, seed=0, step=0)
print(f"vocabulary {meta['vocab_size']} characters, {meta['train_tokens']:,} training tokens")
assert (x[:, 1:] == y[:, :-1]).all()  # the targets are the inputs shifted by one
x2, _ = data.batch("train", batch_size=4, block_size=8, seed=0, step=0)
assert torch.equal(x, x2)  # same (seed, split, step), same batch

# %% [markdown]
# ## The learning-rate schedule
#
# Linear warm-up, then a cosine down to a floor: the schedule GPT-3 and most pre-training runs use.

# %%
from minillm.train.schedule import cosine_lr

for step in (0, 4, 9, 25, 50, 75, 99):
    lr = cosine_lr(step, max_lr=1e-3, total_steps=100, warmup_steps=10, min_lr=1e-4)
    print(f"step {step:3d}  lr {lr:.2e}  " + "#" * round(lr * 4e4))

# %% [markdown]
# ## The training loop, and a resume that is bit for bit
#
# `Trainer` runs the one training step of minillm (AdamW, warm-up + cosine, gradient clipping,
# accumulation), evaluates, samples and writes checkpoints atomically. We train once straight
# through, and once in two halves with a restart in between: the losses are *equal*, not close.

# %%
from minillm.train import TrainConfig, Trainer

steps = 12 if QUICK else 200


def config(out: str, **changes) -> TrainConfig:
    values = {
        "data_dir": str(work / "data"),
        "out_dir": str(work / out),
        "n_layer": 1 if QUICK else 2,
        "n_head": 2,
        "n_embd": 32 if QUICK else 64,
        "block_size": 32,
        "batch_size": 8 if QUICK else 16,
        "max_steps": steps,
        "lr": 3e-3,
        "log_interval": steps // 2,
        "eval_interval": steps // 2,
        "eval_iters": 2,
        "checkpoint_interval": steps // 2,
        "sample_tokens": 0 if QUICK else 80,
        "progress": False,
        "device": "cpu",
    }
    return TrainConfig.from_dict({**values, **changes})


straight = Trainer(config("straight"), log=lambda *a: None)
result = straight.train()
straight.close()  # releases the run directory's lock
print(f"after {result['step']} steps: train loss {result['train_loss']:.3f}, val loss {result['val_loss']:.3f}")

# %%
half = Trainer(config("halves"), log=lambda *a: None)
while half.step < steps // 2:  # stop halfway, as if the job were killed after the checkpoint
    half.loss_history.append(half.train_step().item())
half.save()
half.close()  # the job "died": its lock goes with it
resumed = Trainer(config("halves", resume=True), log=lambda *a: None)
print("resumed at step", resumed.step)
resumed.train()
resumed.close()
assert straight.loss_history[steps // 2 :] == resumed.loss_history  # exact float equality
print("the resumed run repeats the unbroken one exactly:", resumed.loss_history[-3:])
print("checkpoints:", sorted(p.name for p in (work / "halves").glob("ckpt-*")))

# %% [markdown]
# ## Load it back
#
# A checkpoint directory is enough to get a model and its tokenizer back: `minillm.load`.

# %%
import minillm

model, tokenizer = minillm.load(result["checkpoint"])
prompt = torch.tensor([tokenizer.encode("def ")])
text = tokenizer.decode(minillm.generate(model, prompt, max_new_tokens=40, temperature=0.8)[0].tolist())
print(repr(text))

# %% [markdown]
# ## Look inside it
#
# `minillm.explain` runs the model once on a prompt and makes one offline page: every layer's and
# head's attention as a heat map (hover a cell), what each layer would predict (the logit lens), and
# the next-token distribution under temperature, top-k and top-p, recomputed with minillm's sampling
# rules ([docs/explain.md](../docs/explain.md)). The notebook shows the page inline; `page.save(path)`
# writes the file, and `minillm explain --ckpt RUN --prompt "..." --out page.html` does it from a shell.

# %%
from minillm.explain import explain

page = explain(model, tokenizer, "def __init__(self):")
print(
    f"page: {len(page.html) / 1e3:.0f} kB, {len(page.data['tokens'])} tokens, saved to {page.save(work / 'explain.html')}"
)
page  # noqa: B018 (a cell's last expression: Jupyter shows the page)

# %% [markdown]
# **Next:** [docs/training.md](../docs/training.md) (DDP, GPT-2 weights, throughput), and
# `python examples/04_pretrain_gpt.py` for a BPE GPT trained for real.
