"""Supervised fine-tuning (minillm/rlhf/sft.py): the batch masks prompt and padding, prompt tokens get
exactly zero gradient, and bad input is refused by name (the stage configs' checks with it)."""

import pytest
import torch
from helpers.sort_task import ENC, TOK, tiny_gpt

from minillm.rlhf import DPOConfig, PPOConfig, SFTConfig, SFTTrainer, sft_batch


def test_sft_batch_masks_prompt_and_padding():
    inputs, targets = sft_batch([("\n31>", "13\n"), ("\n5>", "5\n")], ENC, pad_id=0, block_size=16)
    assert inputs.shape == targets.shape == (2, 6)
    assert targets[0].tolist() == [-100, -100, -100] + ENC("13\n")
    assert targets[1].tolist() == [-100, -100] + ENC("5\n") + [-100, -100]


def test_prompt_tokens_get_zero_gradient():
    model = tiny_gpt()
    inputs, targets = sft_batch([("\n3142>", "1234\n")], ENC, pad_id=0, block_size=16)
    emb = model.wte(inputs).detach().requires_grad_()

    # Run the model from the embeddings so we can read the gradient at every input position.
    x = model.drop(emb + model.wpe(torch.arange(emb.shape[1])))  # GPT-2's input part: token + position
    for block in model.blocks:
        x = block(x)
    logits = model.lm_head(model.ln_f(x))
    loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100)
    d_logits = torch.autograd.grad(loss, logits)[0]  # (1, T, V)
    prompt_positions = targets[0] == -100
    assert torch.all(d_logits[0, prompt_positions] == 0)
    assert torch.all(d_logits[0, ~prompt_positions].abs().sum(-1) > 0)


def test_sft_bad_input():
    with pytest.raises(ValueError, match="non-empty"):
        SFTTrainer(tiny_gpt(), [], TOK, pad_id=0)
    with pytest.raises(ValueError, match="exceed block_size"):
        SFTTrainer(tiny_gpt(), [("\n" + "1" * 20 + ">", "1\n")], TOK, pad_id=0)
    with pytest.raises(ValueError, match="max_steps must be positive"):
        SFTConfig(max_steps=0)
    with pytest.raises(ValueError, match="lr='1e-3' is not a valid float"):
        SFTConfig(lr="1e-3")
    with pytest.raises(ValueError, match="finite"):
        DPOConfig(lr=float("inf"))
    with pytest.raises(ValueError, match="max_steps=True is not a valid int"):
        PPOConfig(max_steps=True)
