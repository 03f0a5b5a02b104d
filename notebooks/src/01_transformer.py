# Notebook source (percent format): tools/make_notebooks.py writes notebooks/01_transformer.ipynb from it.
# ruff: noqa: F821  (QUICK is defined by the setup cell that tools/make_notebooks.py puts first)

# %% [markdown]
# # §1.2.1 The Transformer, cell by cell
#
# The report's four parts — input part, encoder, decoder, output part — built from minillm's pieces
# and checked against PyTorch as we go. The long explanation is the chapter
# [docs/transformer.md](../docs/transformer.md); the exercises 1–6 ([exercises/](../exercises/README.md))
# ask you to write these pieces yourself.

# %% [markdown]
# ## Self-attention by hand
#
# softmax(Q Kᵀ / √d) V: every query scores every key, the scores become weights that sum to 1, and
# the output is the weighted sum of the values. We write it out, then compare with minillm's
# explicit kernel and with PyTorch's fused one.

# %%
import math

import torch
import torch.nn.functional as F

import minillm

torch.manual_seed(0)
q, k, v = torch.randn(1, 4, 8), torch.randn(1, 4, 8), torch.randn(1, 4, 8)  # (batch, T, d)

scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (1, T_q, T_k)
weights = scores.softmax(dim=-1)  # each row sums to 1
by_hand = weights @ v  # (1, T_q, d)

ours, ours_weights = minillm.scaled_dot_product_attention(q, k, v, return_weights=True)
torch.testing.assert_close(by_hand, ours)
torch.testing.assert_close(by_hand, F.scaled_dot_product_attention(q, k, v))
print("attention weights (rows: queries, columns: keys):")
print(ours_weights[0].round(decimals=2))

# %% [markdown]
# ## The causal mask
#
# A decoder may not look ahead. With T_q queries and T_k keys, the queries are the *last* T_q
# positions (what a KV cache needs): query i sees keys 0 … i + (T_k − T_q).

# %%
from minillm.kernels import causal_mask

print(causal_mask(4, 4).int())  # the lower triangle
print(causal_mask(2, 4).int())  # two new tokens after two cached ones
out, w = minillm.scaled_dot_product_attention(q, k, v, causal=True, return_weights=True)
assert torch.all(w[0].triu(1) == 0)  # no weight on a later key
print(w[0].round(decimals=2))

# %% [markdown]
# ## Multi-head attention
#
# The report: split into groups (heads), each with its own projections, attend in parallel,
# concatenate. `MultiHeadAttention` does the split and merge with einops.

# %%
from minillm import MultiHeadAttention

mha = MultiHeadAttention(n_embd=32, n_head=4)
x = torch.randn(2, 5, 32)  # (B, T, n_embd)
print("output shape:", tuple(mha(x).shape), "| parameters:", sum(p.numel() for p in mha.parameters()))

# %% [markdown]
# ## Positions
#
# Attention is a weighted *sum*: shuffle the keys and values together and the output does not
# change. The sinusoidal table gives every position its own pattern.

# %%
from minillm.nn.embeddings import sinusoidal_table

perm = torch.tensor([2, 0, 3, 1])
torch.testing.assert_close(
    minillm.scaled_dot_product_attention(q, k[:, perm], v[:, perm]), minillm.scaled_dot_product_attention(q, k, v)
)
print("attention alone is blind to order; the sinusoidal table adds it:")
print(sinusoidal_table(4, 6).round(decimals=3))

# %% [markdown]
# ## The encoder-decoder learns to reverse digit strings
#
# The report's original Transformer: the encoder reads "3 1 4", the decoder writes "4 1 3" one
# token at a time, attending to the source through cross-attention. A small model learns it in a
# few hundred steps on a CPU (`examples/02_transformer_reverse.py` is the full run).

# %%
import time

from minillm import Transformer, TransformerConfig
from minillm.data.tasks import BOS, EOS, PAD, DigitTask, make_digit_batch
from minillm.train.step import TrainStep, make_optimizer

task = DigitTask("reverse", min_digits=1, max_digits=4 if QUICK else 6)
steps, batch_size = (30, 32) if QUICK else (400, 64)
config = TransformerConfig(
    src_vocab_size=task.vocab_size,
    tgt_vocab_size=task.vocab_size,
    n_embd=32 if QUICK else 64,
    n_head=4,
    n_encoder_layers=2,
    n_decoder_layers=2,
    d_ff=128 if QUICK else 256,
    dropout=0.0,
    block_size=16,
    share_embeddings=True,
    pad_id=PAD,
)
torch.manual_seed(0)
model = Transformer(config)
train_step = TrainStep(model, make_optimizer(model, 2e-3), lr=2e-3, max_steps=steps)


def loss_fn(batch):
    src, tgt = batch
    logits = model(src, tgt[:, :-1])  # (B, T_tgt - 1, vocab): predict tgt[1:] from tgt[:-1]
    return F.cross_entropy(logits.flatten(0, 1), tgt[:, 1:].flatten(), ignore_index=PAD)


gen, start = torch.Generator().manual_seed(1), time.time()
model.train()
for step in range(steps):
    result = train_step(step, [make_digit_batch(task, batch_size, gen)], loss_fn)
    if step % (steps // 5) == 0 or step == steps - 1:
        print(f"step {step:4d}  loss {result.loss.item():.3f}  ({time.time() - start:.1f} s)")

# %%
model.eval()
n_test = 50 if QUICK else 200
src, tgt = make_digit_batch(task, n_test, torch.Generator().manual_seed(123))
out = model.translate(src, max_new_tokens=tgt.shape[1] - 1, bos_id=BOS, eos_id=EOS)
right = sum(task.decode(o.tolist()).startswith(task.decode(t.tolist())) for o, t in zip(out, tgt))
for b in range(3):
    print(f"{task.decode(src[b].tolist()):>8s} -> {task.decode(out[b].tolist())}")
print(f"held-out: {right} of {n_test} reversed correctly (more steps help: try QUICK = False)")

# %% [markdown]
# ## Decoder-only GPT and generation
#
# GPT keeps only the decoder (no cross-attention) and predicts the next token. Here a tiny GPT
# memorises one sentence, then continues a prompt with `minillm.generate`.

# %%
from minillm import GPT, CharTokenizer, GPTConfig, generate

text = "attention is all you need. " * 20
tok = CharTokenizer.from_text(text)
gpt = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=32, n_layer=2, n_head=2, n_embd=32))
data = torch.tensor(tok.encode(text))
x, y = data[:32][None], data[1:33][None]  # (1, 32): predict each next character
opt = torch.optim.AdamW(gpt.parameters(), lr=3e-3)
for step in range(30 if QUICK else 150):
    logits, loss = gpt(x, y)  # logits (1, 32, vocab); loss: cross-entropy against the next characters
    opt.zero_grad()
    loss.backward()
    opt.step()
print(f"loss {loss.item():.3f} (ln V = {math.log(tok.vocab_size):.2f} at the start)")
prompt = torch.tensor([tok.encode("attention ")])
print(repr(tok.decode(generate(gpt, prompt, max_new_tokens=20, temperature=0.01)[0].tolist())))

# %% [markdown]
# **Next:** [docs/transformer.md](../docs/transformer.md) for the whole chapter, then exercises 1–6:
# `pytest exercises/test_ex01_attention.py` and on.
