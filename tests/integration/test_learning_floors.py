"""Learning floors that only a model using its context can meet, and bf16 autocast against fp32.

- A previous-token task: inputs are uniform random tokens and the target at position t is the
  token at t - 1. Without attention a position sees only its own token, which says nothing about
  the previous one, so the best such model scores ln V (2.08 for V = 8). One attention layer
  learns to look one step back: measured 0.004 after 100 steps; the floor is 0.5, i.e. it must beat
  the attention-free bound by more than 1.5 nats. (The old `train_lm` test used targets = inputs,
  which a model with no attention at all solves by copying its own token.)
- SFT loss: the mean of -log p over the reply tokens only, rebuilt from the logits and the lengths
  of the prompt and reply strings (not from the targets under test).
- bf16 autocast: the GPT's logits and loss agree with fp32 within bf16's precision.
"""

import math

import pytest
import torch

from helpers.decoders import decoder

from minillm import GPT, GPTConfig
from minillm.models import Llama
from minillm.rlhf import SortTask, sft_batch
from minillm.train import train_lm

V = 8


def previous_token_batch(generator, batch_size=32, t=12):
    x = torch.randint(0, V, (batch_size, t), generator=generator)  # (B, T) uniform tokens
    y = torch.full_like(x, -100)
    y[:, 1:] = x[:, :-1]  # target at t: the token at t - 1; position 0 has none
    return x, y


@pytest.mark.learning
def test_train_lm_learns_a_task_that_needs_attention(seed, record_property):
    torch.manual_seed(seed)
    model = GPT(GPTConfig(vocab_size=V, block_size=12, n_layer=1, n_head=2, n_embd=32))
    g = torch.Generator().manual_seed(seed)
    losses = train_lm(model, lambda: previous_token_batch(g), steps=100, lr=1e-2, log=lambda *_: None)
    attention_free_bound = math.log(V)  # 2.08: the previous token is independent of the current one
    assert losses[0] > attention_free_bound - 0.1  # untrained: no better than guessing
    with torch.no_grad():
        held_out = model(*previous_token_batch(torch.Generator().manual_seed(99), batch_size=256))[1].item()
    record_property("below_bound", float(attention_free_bound - held_out))
    # held-out loss at most 0.004 over default/avx2/avx512 x 1 thread x seeds 0-2 (2.075 below the bound);
    # the floor asks for 1.5 below it, a margin of 0.575
    assert held_out < attention_free_bound - 1.5, held_out


def test_sft_loss_counts_only_the_reply_tokens():
    task = SortTask(3, 5)
    enc = task.tokenizer.encode
    pairs = [("\n3142>", "1234\n"), ("\n51>", "15\n")]
    inputs, targets = sft_batch(pairs, enc, pad_id=task.eos_id, block_size=16)
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=task.tokenizer.vocab_size, block_size=16, n_layer=1, n_head=2, n_embd=16))
    logits, loss = model(inputs, targets)
    logp = torch.log_softmax(logits.double(), dim=-1)  # (B, T, V)
    terms = []
    for b, (prompt, reply) in enumerate(pairs):
        ids = enc(prompt) + enc(reply)
        for pos in range(len(enc(prompt)) - 1, len(ids) - 1):  # positions whose next token is a reply token
            terms.append(-logp[b, pos, ids[pos + 1]])
    assert len(terms) == len("1234\n") + len("15\n")
    torch.testing.assert_close(loss.double(), torch.stack(terms).mean(), atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("pos", ["learned", "rope"])  # GPT; a Llama(LlamaConfig) like GPT-2 but for RoPE
def test_bf16_autocast_agrees_with_fp32(pos):
    torch.manual_seed(0)
    model = decoder(pos, vocab_size=64, block_size=32, n_layer=2, n_head=2, n_embd=64).eval()
    assert type(model) is (Llama if pos == "rope" else GPT)
    x = torch.randint(0, 64, (4, 32))
    with torch.no_grad():
        logits32, loss32 = model(x, x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits16, loss16 = model(x, x)
    assert logits16.dtype == torch.bfloat16  # autocast really ran the matmuls in bf16
    # bf16 keeps 8 significant bits (2^-8 ≈ 0.004 relative per rounding); logits here reach 1.3.
    # Measured: logits differ by at most 0.0044, the loss by 1e-4; the bounds leave 4x room.
    torch.testing.assert_close(logits16.float(), logits32, atol=0.02, rtol=0.02)
    assert abs(loss16.item() - loss32.item()) < 2e-3
